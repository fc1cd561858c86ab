"""Staff reads: the one access gate. Missing and forbidden both raise Http404.

Everything decrypted here is decrypted per request, in memory, for a staff user who holds the
permission; nothing decrypted is cached or logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import Http404

from newsroom import audit

from . import crypto, filekeys, keys, storage
from .models import Attachment, Tip

logger = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser


@dataclass(frozen=True)
class TipContent:
    note: str
    links: list[str]


@dataclass(frozen=True)
class AttachmentMeta:
    filename: str
    content_type: str


def _open_json(data: bytes | memoryview | None, aad: str) -> dict[str, object]:
    if data is None:
        return {}
    plain = crypto.open_bytes(bytes(data), identities=keys.newsroom_identities(), aad=aad)
    value = json.loads(plain)
    return value if isinstance(value, dict) else {}


def _can_view(user: User) -> bool:
    """Staff, signed in with a second factor on this session, allowed to read tips."""
    verified = getattr(user, "is_verified", None)
    return bool(
        user.is_active
        and user.is_staff
        and verified is not None
        and verified()
        and user.has_perm("submissions.view_tip")
    )


def tip_get(*, user: User, tip_id: object) -> Tip:
    if not _can_view(user):
        raise Http404
    try:
        return Tip.objects.get(pk=tip_id)
    except (Tip.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def _content(value: dict[str, object]) -> TipContent:
    note, links = value.get("note"), value.get("links")
    return TipContent(
        note=note if isinstance(note, str) else "",
        links=[str(link) for link in links] if isinstance(links, list) else [],
    )


def tip_content(tip: Tip) -> TipContent:
    return _content(_open_json(tip.sealed_content, crypto.binding("tip", tip.pk, "content")))


def attachment_meta(attachment: Attachment) -> AttachmentMeta:
    value = _open_json(attachment.sealed_meta, crypto.binding("attachment", attachment.pk, "meta"))
    return AttachmentMeta(
        filename=str(value.get("filename", "")), content_type=str(value.get("content_type", ""))
    )


def attachment_report(attachment: Attachment) -> dict[str, object]:
    return _open_json(
        attachment.sealed_report, crypto.binding("attachment", attachment.pk, "report")
    )


def attachment_for_download(*, user: User, attachment_id: object) -> Attachment:
    """Only cleaned files are downloadable: raw uploads still carry the source's metadata."""
    if not _can_view(user):
        raise Http404
    try:
        attachment = Attachment.objects.get(pk=attachment_id, state=Attachment.State.CLEAN)
    except (Attachment.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    return attachment


def attachment_preview(*, user: User, attachment_id: object) -> bytes:
    """The JPEG preview of a cleaned file (made by the worker from the cleaned bytes)."""
    attachment = attachment_for_download(user=user, attachment_id=attachment_id)
    if attachment.sealed_preview is None:
        raise Http404
    aad = crypto.binding("attachment", attachment.pk, "preview")
    sealed = bytes(attachment.sealed_preview)
    return crypto.open_bytes(sealed, identities=keys.newsroom_identities(), aad=aad)


# Cleaned audio and video the browser can play inline, by kind (what the remux writes).
PLAYABLE = {"isobmff": "video/mp4", "matroska": "video/webm", "mp3": "audio/mpeg",
            "ogg": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav"}  # fmt: skip


def attachment_media(*, user: User, attachment_id: object) -> tuple[Attachment, str]:
    """A cleaned audio or video file and its media type, for the tip page's player."""
    attachment = attachment_for_download(user=user, attachment_id=attachment_id)
    if attachment.category not in ("audio", "video") or attachment.kind not in PLAYABLE:
        raise Http404
    media_type = PLAYABLE[attachment.kind]
    if attachment.category == "audio" and media_type.startswith("video/"):
        media_type = "audio/" + media_type.split("/")[1]
    return attachment, media_type


def clean_identities(attachment: Attachment) -> list[crypto.Identity]:
    """What opens a cleaned file: its own key, unsealed with the newsroom key (filekeys.py)."""
    return filekeys.identities(attachment.blob_key, opener=keys.newsroom_identities(),
                               attachment_id=attachment.pk, purpose="clean")  # fmt: skip


def attachment_range(attachment: Attachment, start: int, end: int) -> Iterator[bytes]:
    """Bytes start..end (inclusive) of the cleaned file, decrypted chunk by chunk from a
    seekable copy of the blob (a player seeks: it asks for ranges)."""
    source = storage.open_blob(attachment.blob_name)
    try:
        aad = crypto.binding("attachment", attachment.pk, "clean")
        reader = crypto.open_seekable(source, identities=clean_identities(attachment), aad=aad)
    except BaseException:
        source.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            reader.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := reader.read(min(left, crypto.CHUNK_SIZE))):
                left -= len(chunk)
                yield chunk
        finally:
            source.close()

    return chunks()


def attachment_plaintext(attachment: Attachment, *, user: User) -> Iterator[bytes]:
    """Stream the decrypted clean file, one 64 KiB chunk at a time (on the audit record)."""
    identities = clean_identities(attachment)  # locked: refused before anything is recorded
    audit.record("file_downloaded", actor=user, target=f"attachment:{attachment.pk}")
    logger.info("attachment.download id=%s", attachment.pk)
    return crypto.iter_plaintext(
        storage.open_blob(attachment.blob_name),
        identities=identities,
        aad=crypto.binding("attachment", attachment.pk, "clean"),
    )


@dataclass(frozen=True)
class CommentView:
    author: str
    created_at: object
    body: str
    reply: bool = False  # to the source (else a comment between editors)
    read_at: object = None  # replies: when the source read it
    source_deleted_at: object = None  # replies: when the source deleted it


def tip_comments(tip: Tip) -> list[CommentView]:
    """The editors' comments on a tip, decrypted (KeyUnavailable when locked)."""
    return _messages(tip.comments.all(), "comment")


def tip_replies(tip: Tip) -> list[CommentView]:
    """The newsroom's replies to the source, decrypted with the newsroom key."""
    return _messages(tip.replies.all(), "reply")


def _messages(rows: object, kind: str) -> list[CommentView]:
    identities = keys.newsroom_identities()
    return [
        CommentView(row.author, row.created_at, crypto.open_bytes(
            bytes(row.sealed), identities=identities, aad=crypto.binding(kind, row.pk, "body"),
        ).decode(), kind == "reply", getattr(row, "read_at", None),
        getattr(row, "source_deleted_at", None))
        for row in rows  # type: ignore[attr-defined]
    ]  # fmt: skip


@dataclass(frozen=True)
class SourceMessageView:
    id: object
    created_at: object
    unread: bool
    content: TipContent
    positions: list[int]  # of the files that came with it


def tip_source_messages(tip: Tip) -> list[SourceMessageView]:
    """What the source sent after the tip, decrypted with the newsroom key, oldest first."""
    views = []
    # The files' positions come with the messages: two queries, however many messages.
    for message in tip.source_messages.order_by("number").prefetch_related("attachments"):
        aad = crypto.binding("message", message.pk, "content")
        content = _content(_open_json(message.sealed_content, aad))
        positions = sorted(attachment.position for attachment in message.attachments.all())
        views.append(SourceMessageView(message.pk, message.created_at, message.read_at is None,
                                       content, positions))  # fmt: skip
    return views
