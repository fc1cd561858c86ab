"""Newsroom key rotation: a new key pair, every ciphertext re-addressed to it, the old one gone.

No file body is re-encrypted: each age header is rewritten for the new key (crypto.rewrap) and
the payload copied as it is. Resumable and idempotent, in three steps a rerun picks up where a
crash left off:

1. start: a new key, sealed for everyone who holds the current one, becomes current (new
   tips are sealed to it from now on);
2. re-wrap: every ciphertext still addressed to an old key is addressed to the new one;
3. finish: once nothing is left (and no worker is sealing with a key it read before the
   switch), the old keys and every envelope of them are deleted.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Model

from submissions import crypto, filekeys, storage
from submissions.crypto.rewrap import addressed_to, rewrap_header
from submissions.models import Attachment, Comment, Reply, SourceMessage, Tip

from . import audit, custody
from .models import Envelope, NewsroomKey

logger = logging.getLogger(__name__)


class RotationError(Exception):
    pass


@dataclass
class Progress:
    rewrapped: int = 0
    already: int = 0
    finished: bool = False
    notes: list[str] = field(default_factory=list)


# Every column sealed to the newsroom key, with the purpose it is bound to.
SEALED_COLUMNS: list[tuple[type[Model], str, str, str, dict[str, str]]] = [
    (Tip, "sealed_content", "tip", "content", {}),
    (SourceMessage, "sealed_content", "message", "content", {}),
    (Attachment, "sealed_meta", "attachment", "meta", {}),
    (Attachment, "sealed_report", "attachment", "report", {}),  # the source's stanza is kept
    (Attachment, "sealed_preview", "attachment", "preview", {}),
    # A cleaned file's own key (an upload's is sealed to the intake key, not ours).
    (Attachment, "blob_key", "attachment", "clean-key", {"state": "clean"}),
    (Comment, "sealed", "comment", "body", {}),
    (Reply, "sealed", "reply", "body", {}),  # the source's stanza is kept, as for reports
]


def rotate(identities: list[crypto.Identity], *, actor: object,
           own_session: str | None = None) -> Progress:  # fmt: skip
    """Run (or resume) a rotation with the keys `actor` unlocked; they must hold them all."""
    by_recipient = {str(identity.recipient): identity for identity in identities}
    keys = list(NewsroomKey.objects.all())
    if not keys:
        raise RotationError("there is no newsroom key yet: run tipline_bootstrap")
    if any(key.recipient not in by_recipient for key in keys):
        raise RotationError("you do not hold every newsroom key; ask someone who does")
    current = next(key for key in keys if key.current)
    if len(keys) == 1:
        current, by_recipient[current.recipient] = _start(current, actor)
    new = by_recipient[current.recipient]
    old = [by_recipient[key.recipient] for key in keys if key.pk != current.pk]
    progress = Progress()
    _rewrap_all(old, new, progress)
    if Attachment.objects.filter(state=Attachment.State.SCRUBBING).exists():
        # A worker may have read the old recipient before the switch and seal with it later.
        progress.notes.append("files are being cleaned: run the rotation again when they are done")
        return progress
    with transaction.atomic():
        # Submissions seal with the current key's row locked until they commit, so the switch
        # in _start waited for any that had read the old key; none can read it now.
        old_keys = list(NewsroomKey.objects.select_for_update().filter(current=False))
        _rewrap_all(old, new, progress)  # anything sealed to an old key meanwhile
        NewsroomKey.objects.filter(pk__in=[key.pk for key in old_keys]).delete()
    progress.finished = True
    ended = _end_sessions_holding({str(key.pk) for key in old_keys}, own_session)
    detail = f"{progress.rewrapped} ciphertexts re-wrapped, {ended} sessions ended"
    audit.record("key_rotated", actor=actor, target=f"newsroom-key:{current.pk}", detail=detail)
    return progress


def _end_sessions_holding(key_ids: set[str], own_session: str | None) -> int:
    """Delete staff sessions that hold a retired key (sealed under their cookie's key):
    they could not use it any more, and it should not outlive the rotation. The caller's
    own session (`own_session`, an admin action) drops its keys itself."""
    from django.contrib.sessions.models import Session

    ended = 0
    for session in Session.objects.exclude(session_key=own_session).iterator():
        if key_ids & set(session.get_decoded().get(custody.SESSION_KEYS) or []):
            session.delete()
            ended += 1
    return ended


def _start(current: NewsroomKey, actor: object) -> tuple[NewsroomKey, crypto.Identity]:
    """A new key, sealed for every holder of the current one, made current."""
    identity = crypto.Identity.generate()
    with transaction.atomic():
        NewsroomKey.objects.filter(pk=current.pk).update(current=False)
        new = NewsroomKey.objects.create(recipient=str(identity.recipient), current=True)
        for envelope in Envelope.objects.filter(key=current).select_related("user"):
            custody.seal_for(new, identity, envelope.user)
    audit.record("key_rotation_started", actor=actor, target=f"newsroom-key:{new.pk}")
    return new, identity


def _rewrap_all(old: list[crypto.Identity], new: crypto.Identity, progress: Progress) -> None:
    recipients = [new.recipient]
    for model, column, kind, purpose, where in SEALED_COLUMNS:
        rows = model.objects.filter(**where).exclude(**{column: None})  # type: ignore[attr-defined]
        for pk, data in rows.values_list("pk", column).iterator():
            aad = crypto.binding(kind, pk, purpose)
            stream = io.BytesIO(bytes(data))
            try:
                header = rewrap_header(stream, identities=old, recipients=recipients, aad=aad)
            except crypto.DecryptionError:
                if not addressed_to(io.BytesIO(bytes(data)), [new]):
                    raise
                progress.already += 1
                continue
            # Only if unchanged meanwhile: a concurrent writer's value is re-wrapped next pass.
            model.objects.filter(pk=pk, **{column: data}).update(**{column: header + stream.read()})
            progress.rewrapped += 1
    # Cleaned files from before file keys, still addressed to the newsroom key itself: each
    # gets a key of its own (filekeys.py), sealed to the new newsroom key.
    legacy = Attachment.objects.filter(state=Attachment.State.CLEAN, blob_key=None)
    for attachment in legacy.iterator():
        _rewrap_blob(attachment, old, new, progress)


def _rewrap_blob(attachment: Attachment, old: list[crypto.Identity], new: crypto.Identity,
                 progress: Progress) -> None:  # fmt: skip
    aad = crypto.binding("attachment", attachment.pk, "clean")
    key = filekeys.new()
    with storage.open_blob(attachment.blob_name) as source:
        try:
            header = rewrap_header(source, identities=old, recipients=[key.recipient], aad=aad)
        except crypto.DecryptionError:
            source.seek(0)
            if not addressed_to(source, [new]):
                raise
            progress.already += 1
            return
        spool = storage.Spool()
        try:
            spool.file.write(header)
            while chunk := source.read(1024 * 1024):
                spool.file.write(chunk)
            spool.file.flush()
            new_name = storage.save_spool(spool)
        finally:
            spool.close()
    with transaction.atomic():
        sealed_key = filekeys.seal(key, to=[new.recipient], attachment_id=attachment.pk,
                                   purpose="clean")  # fmt: skip
        moved = Attachment.objects.filter(pk=attachment.pk, blob_name=attachment.blob_name).update(
            blob_name=new_name, blob_key=sealed_key
        )
        transaction.on_commit(lambda: storage.delete(attachment.blob_name if moved else new_name))
    progress.rewrapped += 1
