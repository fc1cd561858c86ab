"""The Celery app. Tasks live in submissions/tasks.py and carry ids only."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipline.settings")

app = Celery("tipline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _refuse(process: str) -> None:
    """Celery logs and swallows a receiver's exceptions: only SystemExit stops the process."""
    from django.core.exceptions import ImproperlyConfigured

    from tipline.startup import refuse_on_errors

    try:
        refuse_on_errors(process)
    except ImproperlyConfigured:
        raise SystemExit(78) from None  # EX_CONFIG


@worker_init.connect
def _worker_checks(**kwargs: Any) -> None:
    _refuse("the Celery worker")


@beat_init.connect
def _beat_checks(**kwargs: Any) -> None:
    _refuse("Celery beat")
