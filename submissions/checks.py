"""System checks with stable ids. Run by `manage.py check` and at every start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from tipline.env import reads_models_only

from . import keys


@register()
def keys_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if reads_models_only():  # makemigrations: no key is used, none is needed
        return messages
    try:
        keys.intake_recipient()
    except keys.KeyUnavailable as exc:
        messages.append(
            Error(str(exc), hint="set TIPLINE_INTAKE_RECIPIENT (age1...)", id="submissions.E001")
        )
    if settings.ROLE == "public" and settings.INTAKE_IDENTITY_FILE:
        messages.append(
            Error(
                "the public web role must not hold a private key",
                hint="unset TIPLINE_INTAKE_IDENTITY_FILE on public web processes",
                id="submissions.E002",
            )
        )
    if settings.MAX_FILE_BYTES > settings.MAX_SUBMISSION_BYTES:
        messages.append(
            Error(
                "TIPLINE_MAX_FILE_BYTES is larger than TIPLINE_MAX_SUBMISSION_BYTES",
                id="submissions.E003",
            )
        )
    return messages
