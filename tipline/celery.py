"""The Celery app. Tasks live in submissions/tasks.py and carry ids only."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipline.settings")

app = Celery("tipline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _worker_checks(**kwargs: Any) -> None:
    from tipline.startup import refuse_on_errors

    refuse_on_errors("the Celery worker")


@beat_init.connect
def _beat_checks(**kwargs: Any) -> None:
    from tipline.startup import refuse_on_errors

    refuse_on_errors("Celery beat")
