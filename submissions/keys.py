"""Which keys this process holds, from settings. Loaded lazily, so a role only needs its own.

- public web: intake and newsroom *recipients* (public halves) only;
- worker: the intake *identity* file as well (to open raw uploads);
- staff web: the newsroom identity file (per-editor key custody replaces this later).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import crypto


class KeyUnavailable(ImproperlyConfigured):
    """This process was not given the key it needs (by design on some roles)."""


def _recipient(value: str | None, name: str) -> crypto.Recipient:
    if not value:
        raise KeyUnavailable(f"{name} is not set")
    try:
        return crypto.Recipient.parse(value)
    except ValueError as exc:
        raise KeyUnavailable(f"{name} is not an age recipient (age1...)") from exc


def _identities(path: str | None, name: str) -> list[crypto.Identity]:
    if not path:
        raise KeyUnavailable(f"{name} is not set on this process")
    try:
        return crypto.read_identity_file(Path(path))
    except (OSError, ValueError) as exc:
        raise KeyUnavailable(f"{name}: cannot read an age identity from {path}") from exc


@cache
def intake_recipient() -> crypto.Recipient:
    return _recipient(settings.INTAKE_RECIPIENT, "TIPLINE_INTAKE_RECIPIENT")


@cache
def newsroom_recipient() -> crypto.Recipient:
    return _recipient(settings.NEWSROOM_RECIPIENT, "TIPLINE_NEWSROOM_RECIPIENT")


@cache
def intake_identities() -> list[crypto.Identity]:
    return _identities(settings.INTAKE_IDENTITY_FILE, "TIPLINE_INTAKE_IDENTITY_FILE")


@cache
def newsroom_identities() -> list[crypto.Identity]:
    return _identities(settings.NEWSROOM_IDENTITY_FILE, "TIPLINE_NEWSROOM_IDENTITY_FILE")


def create_key_files(directory: Path) -> dict[str, crypto.Recipient]:
    """Create intake.key and newsroom.key (age-keygen format, 0600); never overwrite."""
    created: dict[str, crypto.Recipient] = {}
    for name in ("intake", "newsroom"):
        path = directory / f"{name}.key"
        if path.exists():
            raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    for name in ("intake", "newsroom"):
        identity = crypto.Identity.generate()
        crypto.write_identity_file(directory / f"{name}.key", identity)
        created[name] = identity.recipient
    return created


def clear_cache() -> None:
    for loader in (intake_recipient, newsroom_recipient, intake_identities, newsroom_identities):
        loader.cache_clear()
