"""Writes. Each service is one transaction; Celery work is enqueued on commit, ids only.

What a source does (a tip, a message, the cleaning of their files) is logged at DEBUG only:
log lines carry the second (and Docker adds its own), which would undo clock.py. Production
logs INFO and up: failures, and upkeep that no source's action starts."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import BinaryIO, TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from newsroom import audit

from . import budget, clock, crypto, filekeys, keys, previews, receipts, scrub, storage
from .crypto.rewrap import rewrap_header
from .models import Attachment, Comment, Reply, SourceMessage, Tip, TipChange
from .scrub.verify import Tee
from .uploads import EncryptedUpload

logger = logging.getLogger(__name__)

T = TypeVar("T")


def seal_json(value: object, *, aad: str, recipient: crypto.Recipient | None = None,
              also: list[crypto.Recipient] | None = None) -> bytes:  # fmt: skip
    """`value` as JSON, sealed to the newsroom key (or `recipient`) and to `also`."""
    return crypto.seal_bytes(
        json.dumps(value, ensure_ascii=False).encode(),
        recipients=[recipient or keys.newsroom_recipient(), *(also or [])],
        aad=aad,
    )


def _enqueue_scrub(attachment_id: uuid.UUID) -> None:
    from .tasks import scrub_attachment

    scrub_attachment.delay(str(attachment_id))


def _enqueue_after_commit(attachment_ids: list[uuid.UUID]) -> None:
    """Runs after the tip is committed: from here on nothing may undo the submission.

    A broker outage only delays scrubbing; the rows stay `received` and the beat task
    re-enqueues them. So every failure is logged (by class name only) and swallowed.
    """
    for attachment_id in attachment_ids:
        try:
            _enqueue_scrub(attachment_id)
        except Exception as exc:  # noqa: BLE001 - see docstring: the tip is already safe
            logger.warning(
                "attachment.enqueue_failed id=%s error=%s", attachment_id, type(exc).__name__
            )


def _new_attachments(tip_id: uuid.UUID, uploads: list[EncryptedUpload], stored: list[str], *,
                     recipient: crypto.Recipient, first: int,
                     message_id: uuid.UUID | None = None) -> list[Attachment]:  # fmt: skip
    """Rows for spooled uploads now in storage, numbered from `first`, names sealed."""
    return [
        Attachment(
            id=upload.attachment_id, tip_id=tip_id, message_id=message_id, position=position,
            size=upload.size, blob_name=name, blob_key=upload.sealed_key,
            lease_until=timezone.now() + _requeue_after(),
            sealed_meta=seal_json(
                {"filename": upload.name, "content_type": upload.content_type},
                recipient=recipient,
                aad=crypto.binding("attachment", upload.attachment_id, "meta"),
            ),
        )
        for position, (upload, name) in enumerate(zip(uploads, stored, strict=True), first)
    ]  # fmt: skip


def _store_then(uploads: list[EncryptedUpload], write: Callable[[list[str]], T]) -> T:
    """Move the uploads' ciphertext into storage (the slow part, before any transaction),
    then run `write(names)`, which commits the rows. If it does not commit, the blobs go."""
    stored: list[str] = []
    committed = False
    try:
        for upload in uploads:
            stored.append(storage.save_spool(upload.spool))
        result = write(stored)
        committed = True
        return result
    except BaseException:
        if not committed:  # once committed, the blobs belong to the tip: never delete them
            for name in stored:
                storage.delete(name)
        raise
    finally:
        for upload in uploads:
            upload.close()


@sensitive_variables("code", "secret")
def submission_create(*, note: str, links: list[str], uploads: list[EncryptedUpload]) -> str:
    """Store a tip with its sealed note, links and encrypted files. Returns the receipt code.

    The code is returned to be shown once and is not kept anywhere but as a slow keyed hash.
    """
    code = receipts.generate()
    secret = receipts.Secret(code)
    receipt_hash = secret.digest
    tip_id = uuid.uuid4()
    source = str(secret.identity(tip_id).recipient)

    def write(stored: list[str]) -> None:
        with transaction.atomic():
            # Sealed with the key's row locked until commit: a rotation cannot retire the
            # key between this seal and this commit.
            recipient = keys.newsroom_recipient(lock=True)
            content = seal_json({"note": note, "links": links}, recipient=recipient,
                                aad=crypto.binding("tip", tip_id, "content"))  # fmt: skip
            Tip.objects.create(id=tip_id, receipt_hash=receipt_hash, sealed_content=content,
                               link_count=len(links), source_recipient=source)  # fmt: skip
            attachments = _new_attachments(tip_id, uploads, stored, recipient=recipient, first=1)
            Attachment.objects.bulk_create(attachments)
            ids = [attachment.pk for attachment in attachments]
            transaction.on_commit(partial(_enqueue_after_commit, ids))

    _store_then(uploads, write)
    logger.debug("tip.created attachments=%d", len(uploads))
    return code


def source_message_add(*, tip_id: uuid.UUID, note: str, links: list[str],
                       uploads: list[EncryptedUpload]) -> SourceMessage:  # fmt: skip
    """What a signed-in source adds to their tip: as a submission, sealed to the newsroom key
    (not to the source's: their code must not show it again), files through the same
    cleaning, numbered after the tip's others."""
    message_id = uuid.uuid4()

    def write(stored: list[str]) -> SourceMessage:
        with transaction.atomic():
            # The tip's row locked: two messages at once number their files one after another.
            tip = Tip.objects.select_for_update().only("pk").get(pk=tip_id)
            recipient = keys.newsroom_recipient(lock=True)
            last = tip.attachments.aggregate(last=Max("position"))["last"] or 0
            content = seal_json({"note": note, "links": links}, recipient=recipient,
                                aad=crypto.binding("message", message_id, "content"))  # fmt: skip
            number = (tip.source_messages.aggregate(last=Max("number"))["last"] or 0) + 1
            message = SourceMessage.objects.create(id=message_id, tip=tip, number=number,
                                                   sealed_content=content,
                                                   link_count=len(links))  # fmt: skip
            attachments = _new_attachments(tip.pk, uploads, stored, recipient=recipient,
                                           first=last + 1, message_id=message_id)  # fmt: skip
            Attachment.objects.bulk_create(attachments)
            ids = [attachment.pk for attachment in attachments]
            transaction.on_commit(partial(_enqueue_after_commit, ids))
            return message

    message = _store_then(uploads, write)
    logger.debug("message.created attachments=%d", len(uploads))
    return message


def _requeue_after() -> timedelta:
    return timedelta(seconds=settings.SCRUB_REQUEUE_AFTER_SECONDS)


def _lease_owner() -> str:
    """Who holds a lease: this host and process (a Celery pool process)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _abandoned(owner: str) -> bool:
    """Whether the lease's holder is surely gone: a process of this host that no longer
    exists (a pool process killed mid-scrub, its message delivered again at once). Another
    host's lease, or a process that may still exist, waits for the lease to run out."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claim(attachment_id: str) -> Attachment | None:
    """Take the row with a lease (conditional UPDATE). None if someone else has it or it's done."""
    now = timezone.now()
    claimable = Q(state=Attachment.State.RECEIVED) | Q(
        state=Attachment.State.SCRUBBING, lease_until__lt=now
    )
    holder = (Attachment.objects.filter(pk=attachment_id, state=Attachment.State.SCRUBBING)
              .values_list("lease_owner", flat=True).first())  # fmt: skip
    if holder and _abandoned(holder):
        claimable |= Q(state=Attachment.State.SCRUBBING, lease_owner=holder)
    claimed = Attachment.objects.filter(claimable, pk=attachment_id).update(
        state=Attachment.State.SCRUBBING,
        lease_until=now + timedelta(seconds=settings.SCRUB_LEASE_SECONDS),
        lease_owner=_lease_owner(),
        attempts=F("attempts") + 1,
    )
    if not claimed:
        return None
    return Attachment.objects.get(pk=attachment_id)


def _finish(attachment: Attachment, **changes: object) -> bool:
    """Move a claimed row to its outcome, only if our lease still holds (attempts is the token)."""
    updated = Attachment.objects.filter(
        pk=attachment.pk, state=Attachment.State.SCRUBBING, attempts=attachment.attempts
    ).update(lease_until=None, lease_owner="", **changes)
    return bool(updated)


def _end(attachment: Attachment, state: str, reason: str, *, destroy_raw: bool) -> None:
    with transaction.atomic():
        changes: dict[str, object] = {"state": state, "reason": reason[:200]}
        if destroy_raw:
            changes["blob_name"] = ""
        if _finish(attachment, **changes) and destroy_raw:
            transaction.on_commit(partial(storage.delete, attachment.blob_name))
    logger.debug("attachment.%s", state)


class ScrubCrashed(Exception):
    """The scrubber failed in a way it did not foresee: terminal, raw upload kept for a retry."""


class StorageFailed(Exception):
    """Reading the upload or writing the result failed (disk, S3): transient, retried."""


class _Watched:
    """A stream whose I/O failures are remembered.

    Parsers (Pillow, FFmpeg, pikepdf) raise OSError for damaged input too, and some wrap or
    swallow the errors of the stream they read. What decides between "this file is bad"
    (terminal) and "storage hiccuped" (retry, never destroy the upload) is whether our own
    streams failed, not the type of the exception that came out.
    """

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self.failure: OSError | None = None

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self._stream, name)
        if not callable(attribute):
            return attribute

        def watched(*args: object, **kwargs: object) -> object:
            try:
                return attribute(*args, **kwargs)
            except OSError as exc:
                self.failure = exc
                raise

        return watched


def _scrub(kind: str, plain: BinaryIO, sealed: BinaryIO) -> scrub.Report:
    source, sink = _Watched(plain), _Watched(sealed)
    try:
        return scrub.scrub_verified(
            kind, source, sink, max_pixels=settings.MAX_IMAGE_PIXELS,  # type: ignore[arg-type]
            reencode_images=settings.REENCODE_IMAGES,
        )  # fmt: skip
    except (crypto.DecryptionError, SoftTimeLimitExceeded):
        raise
    except Exception as exc:
        failure = source.failure or sink.failure
        if failure is not None:
            raise StorageFailed(type(failure).__name__) from exc
        if budget.exhausted(exc):  # a parser that says "malformed" for any error included
            raise ScrubCrashed("it needed more memory than TIPLINE_SCRUB_MEMORY allows") from exc
        if isinstance(exc, scrub.Rejected):
            raise
        raise ScrubCrashed(type(exc).__name__) from exc


@dataclass(frozen=True)
class _Cleaned:
    blob_name: str
    blob_key: bytes  # the cleaned blob's own key, sealed to the newsroom key
    size: int
    report: scrub.Report
    preview: bytes | None


def _scrub_to_new_blob(attachment: Attachment) -> _Cleaned:
    """Decrypt the raw blob, scrub it, encrypt the result to a new key of its own (sealed to
    the newsroom key), store it; and a preview made from the cleaned bytes on their way."""
    spool = storage.Spool()
    try:
        with storage.open_blob(attachment.blob_name) as raw:
            opener = filekeys.identities(attachment.blob_key, opener=keys.intake_identities(),
                                         attachment_id=attachment.pk, purpose="raw")  # fmt: skip
            # Seekable: containers such as MP4 keep their index at the end.
            plain = crypto.open_seekable(
                raw, identities=opener, aad=crypto.binding("attachment", attachment.pk, "raw")
            )
            kind = scrub.sniff(plain.peek(scrub.SNIFF_BYTES)[: scrub.SNIFF_BYTES])
            key = filekeys.new()
            sealed_key = filekeys.seal(key, to=[keys.newsroom_recipient()],
                                       attachment_id=attachment.pk, purpose="clean")  # fmt: skip
            sealed = crypto.seal_stream(
                spool.file,
                recipients=[key.recipient],
                aad=crypto.binding("attachment", attachment.pk, "clean"),
            )
            cleaned = previews.Buffer(previews.BUFFER_LIMIT if previews.wanted(kind) else 0)
            report = _scrub(kind, plain, Tee(sealed, cleaned))  # type: ignore[arg-type]
            sealed.close()
        preview = previews.make(scrub.category(report), report.output_kind, cleaned)
        return _Cleaned(storage.save_spool(spool), sealed_key, sealed.plaintext_size, report,
                        preview)  # fmt: skip
    finally:
        spool.close()


def attachment_scrub(*, attachment_id: str) -> None:
    """Claim, scrub, store the clean blob, flip the pointer, delete the raw blob. Idempotent."""
    attachment = _claim(attachment_id)
    if attachment is None:
        logger.debug("attachment.skip")
        return
    if attachment.attempts > settings.SCRUB_MAX_ATTEMPTS:
        _end(
            attachment,
            Attachment.State.FAILED,
            "gave up after repeated worker failures",
            destroy_raw=False,
        )
        return
    try:
        with budget.memory_budget(settings.SCRUB_MEMORY_BYTES):
            cleaned = _scrub_to_new_blob(attachment)
    except scrub.Rejected as exc:
        _end(attachment, Attachment.State.REJECTED, f"{exc.code}: {exc.detail}", destroy_raw=True)
        return
    except SoftTimeLimitExceeded:
        _end(
            attachment,
            Attachment.State.REJECTED,
            "timeout: cleaning took too long",
            destroy_raw=True,
        )
        return
    except ScrubCrashed as exc:
        # Our bug or an input we did not foresee: keep the upload so a fixed worker can retry
        # it (`manage.py tipline_retry`), and say so to editors.
        _end(
            attachment,
            Attachment.State.FAILED,
            f"internal error while cleaning ({exc}); upload kept for retry",
            destroy_raw=False,
        )
        return
    except crypto.DecryptionError:
        # Keep the blob: a wrong intake key on this worker must not destroy what was sent.
        _end(
            attachment,
            Attachment.State.FAILED,
            "the stored upload does not decrypt",
            destroy_raw=False,
        )
        return
    except Exception:
        # Transient (storage, database): release the lease so a retry or the beat picks it up.
        _release(attachment)
        raise
    try:
        _flip(attachment, cleaned)
    except Exception:
        # The database went away, say: the cleaned blob must not outlive this attempt.
        _release(attachment, discard=cleaned.blob_name)
        raise


def _release(attachment: Attachment, *, discard: str = "") -> None:
    """After a transient failure: give the row back (`received`, no lease) so the task's
    retry or beat takes it at once, and delete the blob this attempt made (`discard`) unless
    a row points at it after all (a commit whose answer was lost). Best effort: if the database
    can't answer, the lease runs out and the hourly reconcile deletes a surely orphaned blob."""
    try:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # a dropped one: the next query reconnects
        Attachment.objects.filter(pk=attachment.pk, state=Attachment.State.SCRUBBING,
                                  attempts=attachment.attempts).update(
            state=Attachment.State.RECEIVED, lease_until=None, lease_owner="")  # fmt: skip
        if discard and not Attachment.objects.filter(blob_name=discard).exists():
            storage.delete(discard)
    except Exception as exc:  # noqa: BLE001 - an orphan or a late retry is safe, a loss is not
        logger.warning("attachment.release_failed error=%s", type(exc).__name__)


def _flip(attachment: Attachment, cleaned: _Cleaned) -> None:
    """Point the row at the cleaned blob (if our lease still holds), and delete the raw
    one once that is committed (or the new one, if someone else finished first)."""
    with transaction.atomic():
        flipped = _finish(
            attachment,
            state=Attachment.State.CLEAN,
            reason="",
            kind=cleaned.report.output_kind,
            category=scrub.category(cleaned.report),
            size=cleaned.size,
            blob_name=cleaned.blob_name,
            blob_key=cleaned.blob_key,
            # The source reads it too (what was removed, never values), with their code.
            sealed_report=seal_json(
                cleaned.report.as_dict(),
                aad=crypto.binding("attachment", attachment.pk, "report"),
                also=_source_recipients(attachment.tip_id),
            ),
            sealed_preview=None if cleaned.preview is None else crypto.seal_bytes(
                cleaned.preview, recipients=[keys.newsroom_recipient()],
                aad=crypto.binding("attachment", attachment.pk, "preview"),
            ),
        )  # fmt: skip
        old = attachment.blob_name if flipped else cleaned.blob_name
        transaction.on_commit(partial(storage.delete, old))
    logger.debug("attachment.clean kind=%s flipped=%s", cleaned.report.kind, flipped)


def _source_recipients(tip_id: uuid.UUID) -> list[crypto.Recipient]:
    value = Tip.objects.filter(pk=tip_id).values_list("source_recipient", flat=True).first()
    return [crypto.Recipient.parse(value)] if value else []


def attachments_retry_failed(*, ids: list[str] | None = None) -> int:
    """Put failed attachments whose upload was kept back in the queue (after a fix or outage)."""
    failed = Attachment.objects.filter(state=Attachment.State.FAILED).exclude(blob_name="")
    if ids:
        failed = failed.filter(pk__in=ids)
    pks = list(failed.values_list("pk", flat=True))
    Attachment.objects.filter(pk__in=pks, state=Attachment.State.FAILED).update(
        state=Attachment.State.RECEIVED,
        attempts=0,
        reason="",
        lease_until=timezone.now() + _requeue_after(),
    )
    transaction.on_commit(partial(_enqueue_after_commit, pks))
    logger.info("attachment.retry count=%d", len(pks))
    return len(pks)


def attachments_requeue_stale() -> int:
    """Re-enqueue rows whose message may have been lost or whose worker died (lease expired)."""
    now = timezone.now()
    stale = Attachment.objects.filter(
        Q(state__in=[Attachment.State.RECEIVED, Attachment.State.SCRUBBING], lease_until__lt=now)
        | Q(state=Attachment.State.RECEIVED, lease_until=None)
    ).values_list("pk", flat=True)
    count = 0
    for pk in stale.iterator():
        # A waiting file's deadline moves on: it is queued again once per period.
        Attachment.objects.filter(pk=pk, state=Attachment.State.RECEIVED).update(
            lease_until=now + _requeue_after()
        )
        _enqueue_scrub(pk)
        count += 1
    if count:
        logger.info("attachment.requeued count=%d", count)
    return count


def tips_purge(tip_ids: Iterable[uuid.UUID], *, actor: object = None, reason: str = "") -> int:
    """Purge tips: their rows (notes, messages, replies, file keys) first, then, once that is
    committed, their blobs. With the rows go the files' own keys (filekeys.py): a copy of a
    blob from a backup no longer opens. Tips on legal hold are never purged. Each purge goes
    on the audit log. Returns how many tips were purged."""
    with transaction.atomic():
        tips = list(Tip.objects.filter(pk__in=list(tip_ids), legal_hold=False)
                    .select_for_update().values_list("pk", flat=True))  # fmt: skip
        blobs = list(Attachment.objects.filter(tip__in=tips).exclude(blob_name="")
                     .values_list("blob_name", flat=True))  # fmt: skip
        Tip.objects.filter(pk__in=tips).delete()
        for pk in tips:
            audit.record("tip_purged", actor=actor, target=f"tip:{pk}", detail=reason)
        transaction.on_commit(lambda: [storage.delete(name) for name in blobs])
    logger.info("tip.purged count=%d", len(tips))
    return len(tips)


def _latest(model: type[Model], field: str) -> Subquery:
    """The latest `field` of `model`'s rows for the outer tip: one indexed lookup each, no
    join that multiplies a busy tip's rows."""
    rows = model.objects.filter(tip=OuterRef("pk")).order_by(f"-{field}").values(field)[:1]  # type: ignore[attr-defined]
    return Subquery(rows)


def _retention_queryset(now: datetime) -> QuerySet[Tip] | None:
    """Tips the policy (settings.RETENTION_DAYS) says to purge at `now`: those whose last
    activity (arrival, a source's message, a reply or comment, a triage change) is older than
    their status's period; never one on legal hold. None when the policy purges nothing."""
    last = Greatest(
        "created_at",
        Coalesce(_latest(SourceMessage, "created_at"), "created_at"),
        Coalesce(_latest(TipChange, "at"), "created_at"),
        Coalesce(_latest(Reply, "created_at"), "created_at"),
        Coalesce(_latest(Comment, "created_at"), "created_at"),
    )
    own = [status for status in settings.RETENTION_DAYS if status != "*"]
    due = Q(pk__in=[])
    for status, days in settings.RETENTION_DAYS.items():
        if days:
            # `*`: every status without a period of its own.
            matches = ~Q(status__in=own) if status == "*" else Q(status=status)
            due |= matches & Q(last__lt=now - timedelta(days=days))
    if due == Q(pk__in=[]):
        return None
    return Tip.objects.filter(legal_hold=False).annotate(last=last).filter(due)


def retention_due(now: datetime | None = None) -> list[uuid.UUID]:
    """The ids of the tips the retention policy would purge now."""
    rows = _retention_queryset(now or timezone.now())
    return [] if rows is None else list(rows.values_list("pk", flat=True))


def retention_purge(now: datetime | None = None) -> int:
    """Purge what the retention policy says (beat, daily; `manage.py tipline_retention`). The
    candidates are locked, then asked again: a tip that came back to life meanwhile (a
    source's message locks its tip too) stays."""
    now = now or timezone.now()
    candidates = retention_due(now)
    if not candidates:
        return 0
    with transaction.atomic():
        locked = list(Tip.objects.select_for_update().filter(pk__in=candidates)
                      .values_list("pk", flat=True))  # fmt: skip
        rows = _retention_queryset(now)
        due = [] if rows is None else list(rows.filter(pk__in=locked).values_list("pk", flat=True))
        return tips_purge(due, reason="retention policy")


def comment_add(*, tip: Tip, author: str, body: str) -> Comment:
    """An editors' comment, sealed to the newsroom key and bound to its row."""
    comment_id = uuid.uuid4()
    with transaction.atomic():  # the key's row held until commit, as for submissions
        sealed = crypto.seal_bytes(body.encode(), recipients=[keys.newsroom_recipient(lock=True)],
                                   aad=crypto.binding("comment", comment_id, "body"))  # fmt: skip
        return Comment.objects.create(id=comment_id, tip=tip, author=author, sealed=sealed)


class NoSourceKey(Exception):
    """The tip predates replies: its source has no key to read one with."""


def reply_add(*, tip: Tip, author: str, body: str) -> Reply:
    """A reply to the source, sealed to their key and to the newsroom's."""
    if not tip.source_recipient:
        raise NoSourceKey("this tip was sent before replies existed: its source cannot read one")
    reply_id = uuid.uuid4()
    with transaction.atomic():  # the key's row held until commit, as for submissions
        recipients = [crypto.Recipient.parse(tip.source_recipient),
                      keys.newsroom_recipient(lock=True)]  # fmt: skip
        sealed = crypto.seal_bytes(body.encode(), recipients=recipients,
                                   aad=crypto.binding("reply", reply_id, "body"))  # fmt: skip
        return Reply.objects.create(id=reply_id, tip=tip, author=author, sealed=sealed)


def reply_forget(*, tip_id: uuid.UUID, reply_id: uuid.UUID, identity: crypto.Identity) -> bool:
    """The source deletes a reply of their tip that they have read: its header is re-addressed
    without the source's stanza (crypto.rewrap), so their code no longer opens it; editors
    still can. False if there is no such reply (another tip's, unread, or deleted already).

    Written only over the ciphertext it was made from: if a key rotation re-addressed the
    reply meanwhile, it is read again and done again (never marked deleted while it opens)."""
    aad = crypto.binding("reply", reply_id, "body")
    mine = Reply.objects.filter(pk=reply_id, tip_id=tip_id, read_at__isnull=False,
                                source_deleted_at__isnull=True)  # fmt: skip
    for _ in range(5):
        sealed = mine.values_list("sealed", flat=True).first()
        if sealed is None:
            return False
        stream = io.BytesIO(bytes(sealed))
        header = rewrap_header(stream, identities=[identity], recipients=[], aad=aad)
        if mine.filter(sealed=sealed).update(sealed=header + stream.read(),
                                             source_deleted_at=clock.coarse_now()):  # fmt: skip
            logger.debug("reply.deleted_by_source")
            return True
    raise crypto.DecryptionError("the reply kept changing while it was being deleted")


def source_messages_read(*, ids: list[uuid.UUID], reader: str) -> int:
    """Mark these of a source's messages as read: an editor was shown them, decrypted."""
    return SourceMessage.objects.filter(pk__in=ids, read_at__isnull=True).update(
        read_at=timezone.now(), read_by=reader
    )
