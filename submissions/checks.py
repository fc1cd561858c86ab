"""System checks with stable ids. Run by `manage.py check` and at every start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

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


@register()
def debug_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Debug pages show settings, request data and tracebacks with local variables: never in
    production (a separate public or staff process, or any process of an HTTPS or onion
    deployment: workers and beat too)."""
    production = settings.ROLE in ("public", "staff") or settings.HTTPS or settings.ONION
    if settings.DEBUG and production:
        return [Error("TIPLINE_DEBUG is on in production (a public or staff role, HTTPS or onion)",
                      hint="unset TIPLINE_DEBUG (debug only with TIPLINE_ROLE=all, locally)",
                      id="submissions.E004")]  # fmt: skip
    return []


@register(Tags.security, deploy=True)
def bucket_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Asks the S3 server itself whether the bucket is readable by anyone: its ACL grants and
    its bucket policy. Blobs are ciphertext, but their number, sizes and times are not public
    business. Run by `check --deploy` and at every start of a production process."""
    if settings.STORAGE_BACKEND != "s3" or reads_models_only():
        return []
    from .storage import bucket_exposure

    try:
        exposure = bucket_exposure()
    except Exception as exc:  # noqa: BLE001 - unreachable storage is its own error
        return [Error(f"cannot ask the S3 server about the bucket ({type(exc).__name__})",
                      hint="check TIPLINE_S3_* and that the bucket exists",
                      id="submissions.E006")]  # fmt: skip
    if exposure:
        return [Error(f"the S3 bucket is public: {exposure}",
                      hint="make it private (MinIO: mc anonymous set none ALIAS/BUCKET) and "
                      "remove public grants and policies", id="submissions.E005")]  # fmt: skip
    return []
