"""Sign-in throttling per account, never per address: behind Tor every client is 127.0.0.1.

A few failures are free (typos); after that each failure doubles the wait before the account
accepts another attempt, up to an hour. A success clears it. Other accounts are unaffected.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import SignInThrottle

FREE_FAILURES = 5
MAX_WAIT = timedelta(hours=1)


def attempt(username: str) -> int:
    """Count an attempt on this account before it is checked (so parallel guesses cannot
    all slip through a check made before any of them failed). Returns the seconds to wait
    when the account is resting (the attempt is then not made), else 0."""
    with transaction.atomic():
        row, _ = SignInThrottle.objects.select_for_update().get_or_create(username=username)
        now = timezone.now()
        if row.locked_until is not None and row.locked_until > now:
            return int((row.locked_until - now).total_seconds()) + 1
        row.failures += 1  # taken back by succeeded()
        if row.failures > FREE_FAILURES:
            row.locked_until = now + min(
                MAX_WAIT, timedelta(seconds=2 ** (row.failures - FREE_FAILURES))
            )
        row.save(update_fields=["failures", "locked_until"])
        return 0


def succeeded(username: str) -> None:
    SignInThrottle.objects.filter(username=username).delete()
