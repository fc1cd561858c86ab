"""The Celery app. Tasks live in submissions/tasks.py and carry ids only."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tipline.settings")

app = Celery("tipline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
