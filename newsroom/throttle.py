"""Sign-in throttling per account, never per address: behind Tor every client is 127.0.0.1.

A few failures are free (typos); after that each failure doubles the wait before the account
accepts another attempt, up to an hour. A success clears it. Other accounts are unaffected.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import SignInThrottle

FREE_FAILURES = 5
MAX_WAIT = timedelta(hours=1)


def wait(username: str) -> int:
    """Seconds before this account accepts another attempt (0: now)."""
    row = SignInThrottle.objects.filter(username=username).first()
    if row is None or row.locked_until is None:
        return 0
    return max(0, int((row.locked_until - timezone.now()).total_seconds()) + 1)


def failed(username: str) -> None:
    with transaction.atomic():
        row, _ = SignInThrottle.objects.select_for_update().get_or_create(username=username)
        SignInThrottle.objects.filter(pk=row.pk).update(failures=F("failures") + 1)
        row.refresh_from_db()
        if row.failures >= FREE_FAILURES:
            delay = min(MAX_WAIT, timedelta(seconds=2 ** (row.failures - FREE_FAILURES + 1)))
            row.locked_until = timezone.now() + delay
            row.save(update_fields=["locked_until"])


def succeeded(username: str) -> None:
    SignInThrottle.objects.filter(username=username).delete()
