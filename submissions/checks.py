"""System checks with stable ids. Run by `manage.py check` and at every start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from . import keys


@register()
def keys_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for loader, hint in (
        (keys.intake_recipient, "set TIPLINE_INTAKE_RECIPIENT (age1...)"),
        (keys.newsroom_recipient, "set TIPLINE_NEWSROOM_RECIPIENT (age1...)"),
    ):
        try:
            loader()
        except keys.KeyUnavailable as exc:
            messages.append(Error(str(exc), hint=hint, id="submissions.E001"))
    holds_private = settings.INTAKE_IDENTITY_FILE or settings.NEWSROOM_IDENTITY_FILE
    if settings.ROLE == "public" and holds_private:
        messages.append(
            Error(
                "the public web role must not hold a private key",
                hint="unset TIPLINE_INTAKE_IDENTITY_FILE and TIPLINE_NEWSROOM_IDENTITY_FILE "
                "on public web processes",
                id="submissions.E002",
            )
        )
    if settings.ROLE in ("staff", "all") and not settings.NEWSROOM_IDENTITY_FILE:
        messages.append(
            Warning(
                "no newsroom identity: editors will not be able to read tips here",
                hint="set TIPLINE_NEWSROOM_IDENTITY_FILE on the staff site",
                id="submissions.W001",
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
