"""The audit log: append-only records, each chained to the one before by SHA-256.

Records say who (a username), what (an action name), on which object (by id) and when; never
content, never anything a source sent. `verify()` recomputes the chain and names the first
record that does not match: an edited, deleted, inserted or reordered record shows.

Records cut off the end leave a shorter chain that is still whole. Against that, every append
logs its sequence number and digest (logs can be shipped off the server), and `verify` prints
the head of the chain to compare with such a copy.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AuditEvent

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
ATTEMPTS = 20  # concurrent writers: each retry appends after the record that won


def _digest(previous: str, at: str, actor: str, action: str, target: str, detail: str) -> str:
    fields = json.dumps([previous, at, actor, action, target, detail], ensure_ascii=False)
    return hashlib.sha256(fields.encode()).hexdigest()


def _stamp(event: AuditEvent) -> str:
    return event.at.isoformat(timespec="microseconds")


def record(action: str, *, actor: object = None, target: str = "", detail: str = "") -> None:
    """Append one record. `actor`: a user, a username, or None for the system."""
    name = getattr(actor, "get_username", lambda: actor or "")()
    for _ in range(ATTEMPTS):
        try:
            with transaction.atomic():
                last = AuditEvent.objects.order_by("-sequence").values_list("digest", flat=True)
                previous = last.first() or GENESIS
                event = AuditEvent(at=timezone.now(), actor=str(name)[:150], action=action,
                                   target=target[:100], detail=detail[:200],
                                   previous=previous)  # fmt: skip
                event.digest = _digest(previous, _stamp(event), event.actor, action,
                                       event.target, event.detail)  # fmt: skip
                event.save()
            logger.info("audit.appended seq=%d digest=%s", event.sequence, event.digest)
            return
        except IntegrityError:
            continue  # another record took this place in the chain: append after it
    raise RuntimeError("could not append to the audit log")


def verify() -> tuple[int, AuditEvent | None, str]:
    """(records checked, the first broken record or None, why it is broken — or, when the
    chain is whole, the digest of its last record)."""
    previous = GENESIS
    checked = 0
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000):
        if event.previous != previous:
            return checked, event, "it does not follow the record before it"
        expected = _digest(previous, _stamp(event), event.actor, event.action, event.target,
                           event.detail)  # fmt: skip
        if event.digest != expected:
            return checked, event, "its content does not match its digest"
        previous = event.digest
        checked += 1
    return checked, None, previous
