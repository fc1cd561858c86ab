"""A source's way back: the receipt code opens a short server-side session, and nothing keeps it.

    code --scrypt, deployment secret--> receipt digest  (finds the tip)
    code --scrypt, tip id + secret---> source identity (opens replies sealed to the source)

At sign-in both are computed, the code is dropped, and the identity is sealed under a random
token that goes to the browser as the only content of its cookie; the database keeps the
token's SHA-256 and the sealed identity. So a copy of the database (or Redis, or the logs) holds
no code and opens nothing, and a stolen cookie dies with the session: after
SOURCE_SESSION_IDLE_SECONDS without a request, SOURCE_SESSION_MAX_SECONDS after sign-in, or at
sign-out.

A wrong code costs what a right one costs (both derivations always run, on any input) and gets
the same answer whatever made it wrong. Checks are limited for everyone together and sign-ins
per tip, in fixed windows counted in the database: never per address (behind Tor every source
is 127.0.0.1, and no address is kept anyway).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import clock, crypto, receipts
from .crypto import password as passwords
from .models import Attachment, Reply, SourceMessage, SourceSession, SourceThrottle, Tip
from .scrub.report import source_kinds

logger = logging.getLogger(__name__)

COOKIE = "tipline_source"
# Over HTTPS or an onion service the "__Host-" prefix: the browser then refuses one set by a
# sibling domain (a planted session) and one without Secure or with a Domain.
SECURE_COOKIE = "__Host-" + COOKIE
TOKEN_BYTES = 32
# A code is 7 words of at most 9 letters; anything longer is still checked, cut to this.
MAX_CODE_CHARS = 300
HOUR = timedelta(hours=1)


class Busy(Exception):
    """Too many code checks for everyone just now: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class TooOften(Busy):
    """This tip was signed into (or written to) too often in the last hour."""


def cookie_name() -> str:
    return SECURE_COOKIE if settings.SECURE_COOKIES else COOKIE


# ------------------------------------------------------------------------------ throttles


def waiting(key: str, *, limit: int, window: timedelta) -> int:
    """Seconds until `key` may be counted again (0: now), without counting anything."""
    now = timezone.now()
    start = clock.coarse(now, int(window.total_seconds()))
    row = SourceThrottle.objects.filter(key=key, window_start=start).first()
    if row is None or row.count < limit:
        return 0
    return int((start + window - now).total_seconds()) + 1


def take(key: str, *, limit: int, window: timedelta) -> None:
    """Count one attempt under `key` in the current window; Busy (or TooOften for a tip's
    key) once `limit` were counted in it. Row-locked, so parallel attempts all count."""
    now = timezone.now()
    start = clock.coarse(now, int(window.total_seconds()))
    with transaction.atomic():
        row, _ = SourceThrottle.objects.select_for_update().get_or_create(
            key=key, defaults={"window_start": start}
        )
        if row.window_start != start:  # fixed windows on the clock's boundaries: a tip's row
            row.window_start, row.count = start, 0  # keeps the hour, not when it was used
        if row.count >= limit:
            retry = int((start + window - now).total_seconds()) + 1
            raise (TooOften if key.startswith("tip:") else Busy)(retry)
        row.count += 1
        row.save(update_fields=["window_start", "count"])


# ------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class Session:
    key: str
    tip: Tip
    identity: crypto.Identity
    form_token: str  # proves a form came from this session's own page (hidden field)


def _key(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def _aad(key: str, tip_id: object) -> str:
    """Bound to the session and its tip: a row pointed at another tip no longer opens."""
    return crypto.binding("source-session", key, f"identity:{tip_id}")


def _form_token(token: bytes) -> str:
    return hmac.new(token, b"tipline/v1/source-form", hashlib.sha256).hexdigest()


def _token(cookie: str | None) -> bytes | None:
    if not cookie or len(cookie) > 64:
        return None
    try:
        token = base64.urlsafe_b64decode(cookie.encode())
    except (binascii.Error, ValueError):
        return None
    return token if len(token) == TOKEN_BYTES else None


@sensitive_variables("code", "secret", "identity")
def sign_in(code: str) -> str | None:
    """The cookie value of a new session for the tip this code belongs to; None if it belongs
    to none. Busy when everyone's checks are used up for the minute; TooOften when this tip
    was signed into too often this hour (only a right code can learn that)."""
    take("codes", limit=settings.CODE_CHECKS_PER_MINUTE, window=timedelta(minutes=1))
    code = code[:MAX_CODE_CHARS]
    # One scrypt whether the code is right or not: a wrong one costs what a right one costs.
    secret = receipts.Secret(code)
    tip = (Tip.objects.filter(receipt_hash__in=[secret.digest, secret.legacy_digest])
           .only("pk", "receipt_hash").first())  # fmt: skip
    identity = secret.identity(tip.pk if tip else uuid.uuid4())
    if tip is None:
        return None
    if tip.receipt_hash == secret.legacy_digest:  # a v1 tip: its right code pays once more
        identity = receipts.legacy_source_identity(code, tip.pk)
    take(f"tip:{tip.pk}:sign-in", limit=settings.SOURCE_SIGNINS_PER_HOUR, window=HOUR)
    token = os.urandom(TOKEN_BYTES)
    key = _key(token)
    now = timezone.now()
    sealed = passwords.session_seal(identity.secret_str().encode(), token,
                                    aad=_aad(key, tip.pk))  # fmt: skip
    SourceSession.objects.create(key=key, tip=tip, sealed_identity=sealed, created_at=now,
                                 last_seen=now)  # fmt: skip
    logger.debug("source.signed_in")
    return base64.urlsafe_b64encode(token).decode()


def _expired(session: SourceSession, now: datetime) -> bool:
    return session.last_seen <= now - timedelta(
        seconds=settings.SOURCE_SESSION_IDLE_SECONDS
    ) or session.created_at <= now - timedelta(seconds=settings.SOURCE_SESSION_MAX_SECONDS)


def open_session(cookie: str | None) -> Session | None:
    """The live session this cookie opens (and it is kept alive), or None."""
    token = _token(cookie)
    if token is None:
        return None
    key = _key(token)
    row = SourceSession.objects.select_related("tip").filter(key=key).first()
    if row is None:
        return None
    now = timezone.now()
    if _expired(row, now):
        row.delete()
        return None
    try:
        secret = passwords.session_open(bytes(row.sealed_identity), token,
                                        aad=_aad(key, row.tip_id))  # fmt: skip
    except crypto.DecryptionError:
        return None
    SourceSession.objects.filter(key=key).update(last_seen=now)
    return Session(key=key, tip=row.tip, identity=crypto.Identity.parse(secret.decode()),
                   form_token=_form_token(token))  # fmt: skip


def sign_out(session: Session) -> None:
    SourceSession.objects.filter(key=session.key).delete()
    logger.debug("source.signed_out")


def expire() -> int:
    """Delete sessions past their time and throttle windows long over (a beat task)."""
    now = timezone.now()
    idle = now - timedelta(seconds=settings.SOURCE_SESSION_IDLE_SECONDS)
    oldest = now - timedelta(seconds=settings.SOURCE_SESSION_MAX_SECONDS)
    ended, _ = SourceSession.objects.filter(last_seen__lte=idle).delete()
    ended += SourceSession.objects.filter(created_at__lte=oldest).delete()[0]
    SourceThrottle.objects.filter(window_start__lte=now - HOUR).delete()
    return ended


def form_token_valid(session: Session, value: str) -> bool:
    return hmac.compare_digest(session.form_token.encode(), value.encode())


# ------------------------------------------------------------------ what the source sees


# Editors' statuses, as a source is told them: nothing about what editors think of the tip.
NEUTRAL_STATUS = {
    Tip.Status.NEW: "received",
    Tip.Status.IN_REVIEW: "in_review",
    Tip.Status.VERIFYING: "in_review",
    Tip.Status.PUBLISHED: "closed",
    Tip.Status.DISMISSED: "closed",
    Tip.Status.SPAM: "closed",
}


@dataclass(frozen=True)
class FileView:
    position: int
    category: str  # image, video, audio, document, archive; empty until cleaned
    state: str  # cleaning, clean, refused, stuck (failed: kept for an editor to retry)
    # Kinds of data (scrub.report.SOURCE_KIND_ORDER) removed, once clean; None when the
    # report does not open with the source's key (cleaned before it was sealed for them).
    removed: list[str] | None
    refusal: str  # the rejection's code, when refused


@dataclass(frozen=True)
class Sent:
    at: datetime
    first: bool  # the tip itself, not a later message
    link_count: int
    files: list[FileView]


@dataclass(frozen=True)
class Received:
    id: uuid.UUID
    at: datetime
    body: str


def _file(attachment: Attachment, identity: crypto.Identity) -> FileView:
    state = {
        Attachment.State.CLEAN: "clean",
        Attachment.State.REJECTED: "refused",
        Attachment.State.FAILED: "stuck",
    }.get(attachment.state, "cleaning")
    removed: list[str] | None = None
    if state == "clean" and attachment.sealed_report is not None:
        try:
            report = json.loads(crypto.open_bytes(
                bytes(attachment.sealed_report), identities=[identity],
                aad=crypto.binding("attachment", attachment.pk, "report"),
            ))  # fmt: skip
            removed = source_kinds([str(item) for item in report.get("removed", [])])
        except (crypto.DecryptionError, ValueError, AttributeError):
            pass  # cleaned before reports were sealed for the source: "cleaned", no details
    refusal = attachment.reason.split(":", 1)[0] if state == "refused" else ""
    return FileView(attachment.position, attachment.category, state, removed, refusal)


def sent(session: Session) -> list[Sent]:
    """What the source sent, oldest first, without its content: when, how many links, and
    each file's cleaning. The note and links are sealed to the newsroom alone."""
    tip = session.tip
    by_message: dict[uuid.UUID | None, list[FileView]] = {}
    for attachment in Attachment.objects.filter(tip=tip).order_by("position"):
        files = by_message.setdefault(attachment.message_id, [])
        files.append(_file(attachment, session.identity))
    items = [Sent(tip.created_at, True, tip.link_count, by_message.get(None, []))]
    for message in SourceMessage.objects.filter(tip=tip).order_by("number"):
        items.append(Sent(message.created_at, False, message.link_count,
                          by_message.get(message.pk, [])))  # fmt: skip
    return items


def replies(session: Session) -> list[Received]:
    """The newsroom's replies the source has not deleted, opened with the source's key; the
    unread ones are marked read."""
    shown = []
    rows = Reply.objects.filter(tip=session.tip, source_deleted_at__isnull=True)
    for reply in rows.order_by("created_at"):
        try:
            body = crypto.open_bytes(bytes(reply.sealed), identities=[session.identity],
                                     aad=crypto.binding("reply", reply.pk, "body"))  # fmt: skip
        except crypto.DecryptionError:
            continue  # not sealed to this source (it cannot be read here at all)
        shown.append(Received(reply.pk, reply.created_at, body.decode()))
    Reply.objects.filter(pk__in=[item.id for item in shown], read_at__isnull=True).update(
        read_at=clock.coarse_now()
    )
    return shown
