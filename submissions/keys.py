"""Which keys this process holds, from settings. Loaded lazily, so a role only needs its own.

- public web: intake and newsroom *recipients* (public halves) only;
- worker: the intake *identity* file as well (to open raw uploads);
- staff web: no private key at all; an editor's session unlocks the newsroom identities for
  its own requests (newsroom/custody.py). The newsroom *recipient* is the database's current
  key, so a rotation reaches every process at once.
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


def newsroom_recipient(*, lock: bool = False) -> crypto.Recipient:
    """The current newsroom key (read each time: cheap, and a rotation takes effect at once).

    `lock` (inside a transaction): hold the key's row until commit, so a rotation cannot
    retire the key between this seal and the commit of what it sealed."""
    from newsroom.models import NewsroomKey

    rows = NewsroomKey.objects.filter(current=True)
    if lock:
        rows = rows.select_for_update()
    value = rows.values_list("recipient", flat=True).first()
    if value is None:
        raise KeyUnavailable("there is no newsroom key yet: run manage.py tipline_bootstrap")
    return crypto.Recipient.parse(value)


@cache
def intake_identities() -> list[crypto.Identity]:
    return _identities(settings.INTAKE_IDENTITY_FILE, "TIPLINE_INTAKE_IDENTITY_FILE")


def newsroom_identities() -> list[crypto.Identity]:
    """The newsroom identities the signed-in editor unlocked for this request."""
    from newsroom.custody import Locked, current_identities

    try:
        return current_identities()
    except Locked as exc:
        raise KeyUnavailable(str(exc)) from exc


def create_intake_key_file(directory: Path) -> crypto.Recipient:
    """Create intake.key (age-keygen format, 0600); never overwrite."""
    path = directory / "intake.key"
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    identity = crypto.Identity.generate()
    crypto.write_identity_file(path, identity)
    return identity.recipient


def clear_cache() -> None:
    for loader in (intake_recipient, intake_identities):
        loader.cache_clear()
