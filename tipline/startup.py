"""Servers and workers refuse to start on a system-check error.

Django runs its checks for `manage.py` commands, not when gunicorn imports the WSGI application
or when Celery starts. Here every process runs them, deployment checks included (the bucket is
asked whether it is public), and stops on any error: a public process holding a private key, a
staff site without a second factor, a public bucket, debug on in production.
"""

from __future__ import annotations

import sys

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


def refuse_on_errors(process: str) -> None:
    errors = [
        message
        for message in checks.run_checks(include_deployment_checks=True)
        if message.level >= checks.ERROR
    ]
    if errors:
        lines = "\n".join(f"  {message.id}: {message.msg}" for message in errors)
        print(f"{process} refuses to start:\n{lines}", file=sys.stderr, flush=True)
        raise ImproperlyConfigured(f"{process}: " + ", ".join(str(m.id) for m in errors))
