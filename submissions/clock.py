"""The times kept of what a source does, no finer than the product needs.

A second-precise "received at" beside a network log (a suspect's Tor connection at 14:03:27)
is a correlation an adversary holding the database could use. Editors need the order and the
hour tips arrive; retention and the digest need the day or the hour. So every time stored of
a source's action (a tip, a later message, an attachment's arrival, a reply read or deleted by
the source) is rounded down to SOURCE_TIME_GRANULARITY, one hour by default. Within the hour
the rows sort by number, never by arrival. Times of editors' actions stay precise: they are
the audit trail, and editors are not the ones being protected from it.

Kept finer, on purpose and briefly: a source's session (idle expiry needs the minute; the row
is deleted at sign-out or expiry), a file's pipeline deadline (cleared when it ends). Throttle
windows start on the clock's own boundaries (a tip's sign-ins: the hour), not at a sign-in.
Logs carry the second, so no log line is written when a source acts (only failures are).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone


def granularity() -> timedelta:
    return timedelta(seconds=settings.SOURCE_TIME_GRANULARITY_SECONDS)


def coarse(at: datetime, step: int | None = None) -> datetime:
    """`at` rounded down to the granularity, or to `step` seconds (whole steps since the
    epoch, in UTC)."""
    step = step or settings.SOURCE_TIME_GRANULARITY_SECONDS
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, tz=UTC)


def coarse_now() -> datetime:
    """Now, rounded down: the default of every source-side timestamp."""
    return coarse(timezone.now())
