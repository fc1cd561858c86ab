"""Tips and their attachments. Everything a source wrote is stored sealed (age, newsroom key).

No column holds an IP, a user agent, a filename, a receipt code or any content in clear; the
receipt is kept only as a slow keyed hash (receipts.py) for lookup.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from . import clock

STAFF_TEXT_HELP = _(
    "Written by editors and stored unencrypted, so that it can be searched: never put a name, "
    "a place or anything else that could point to the source here."
)


class Label(models.Model):
    name = models.CharField(max_length=40, unique=True, help_text=STAFF_TEXT_HELP)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tip(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("new")
        IN_REVIEW = "in_review", _("in review")
        VERIFYING = "verifying", _("verifying")
        PUBLISHED = "published", _("published")
        DISMISSED = "dismissed", _("dismissed")
        SPAM = "spam", _("spam")

    OPEN = (Status.NEW, Status.IN_REVIEW, Status.VERIFYING)

    class Priority(models.IntegerChoices):
        LOW = 1, _("low")
        NORMAL = 2, _("normal")
        HIGH = 3, _("high")
        URGENT = 4, _("urgent")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Rounded down to the hour (clock.py): within it, the order tips arrived in is not kept.
    created_at = models.DateTimeField(default=clock.coarse_now, editable=False, db_index=True)
    receipt_hash = models.CharField(max_length=64, unique=True, editable=False)
    # age ciphertext of {"note": str, "links": [str]} to the newsroom key, bound to this row.
    sealed_content = models.BinaryField(editable=False)
    # The public half of the source's key (derived from the receipt code): replies are sealed
    # to it and to the newsroom. Empty for tips from before replies existed.
    source_recipient = models.CharField(max_length=100, blank=True, editable=False)
    # How many links the source sent (the links themselves are sealed): for the queue.
    link_count = models.PositiveSmallIntegerField(default=0, editable=False)
    # Triage, by editors.
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="assigned_tips", limit_choices_to={"is_staff": True, "is_active": True},
    )  # fmt: skip
    labels = models.ManyToManyField(Label, blank=True, related_name="tips")
    # Never purged while set, by hand or by the retention policy (a legal obligation, say).
    legal_hold = models.BooleanField(
        default=False, help_text="Keep this tip: no purge, by hand or by the retention policy."
    )
    title = models.CharField(max_length=120, blank=True, help_text=STAFF_TEXT_HELP)
    summary = models.TextField(max_length=2000, blank=True, help_text=STAFF_TEXT_HELP)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("tip")
        verbose_name_plural = _("tips")
        indexes = [
            models.Index(fields=["status", "-created_at"], name="tip_status_created"),
            models.Index(fields=["assignee", "status"], name="tip_assignee_status"),
            models.Index(fields=["priority", "-created_at"], name="tip_priority_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["new", "in_review", "verifying", "published", "dismissed", "spam"]
                ),
                name="tip_status_valid",
            ),
        ]

    def __str__(self) -> str:
        # Never the title: Django's admin log keeps this text after a tip is purged.
        return f"Tip {str(self.id)[:8]}"


class TipChange(models.Model):
    """The history of a tip's triage: who changed which field from what to what, and when."""

    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="changes")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.CharField(max_length=150)
    field = models.CharField(max_length=40)
    old = models.CharField(max_length=200, blank=True)
    new = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["tip", "-at"], name="tipchange_tip_at")]

    def __str__(self) -> str:
        return f"{self.field}: {self.old} → {self.new}"


class SourceMessage(models.Model):
    """What a source sent after the tip, signed in with its receipt code: a note and links
    (sealed to the newsroom key only: the source's code cannot show them again) and files
    (attachments, through the same cleaning). Unread until an editor opens the tip."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="source_messages")
    # Rounded down to the hour (clock.py); `number` (1, 2… per tip) keeps the order.
    created_at = models.DateTimeField(default=clock.coarse_now, editable=False)
    number = models.PositiveIntegerField(editable=False)
    # age ciphertext of {"note": str, "links": [str]} to the newsroom key, bound to this row.
    sealed_content = models.BinaryField(editable=False)
    link_count = models.PositiveSmallIntegerField(default=0, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)  # by an editor
    read_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["tip", "number"]
        constraints = [
            models.UniqueConstraint(fields=["tip", "number"], name="message_number_unique"),
        ]
        indexes = [
            models.Index(fields=["tip", "created_at"], name="message_tip_created"),
            # The queue's "unread" counts and filter: the unread rows, straight from it.
            models.Index(fields=["read_at", "tip"], name="message_read_tip"),
        ]

    def __str__(self) -> str:
        return f"Message {str(self.id)[:8]}"


class Attachment(models.Model):
    class State(models.TextChoices):
        RECEIVED = "received", _("received")
        SCRUBBING = "scrubbing", _("scrubbing")
        CLEAN = "clean", _("clean")
        REJECTED = "rejected", _("rejected")
        FAILED = "failed", _("failed")

    TERMINAL = (State.CLEAN, State.REJECTED, State.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="attachments")
    # The source's later message it came with; empty for the tip's own files.
    message = models.ForeignKey("SourceMessage", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="attachments")  # fmt: skip
    position = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    # Why it was rejected or failed, for editors; never content or a filename.
    reason = models.CharField(max_length=200, blank=True)
    # Sniffed from content by the worker (e.g. "jpeg"); empty until then.
    kind = models.CharField(max_length=16, blank=True)
    # image, video, audio, document or archive, once cleaned (scrub.category): for the queue.
    category = models.CharField(max_length=16, blank=True)
    size = models.BigIntegerField(help_text="plaintext bytes of the current blob")
    # Random storage name of the current ciphertext: raw (intake key) until clean, then the
    # cleaned file (newsroom key). Empty once a rejected or failed raw blob is destroyed.
    blob_name = models.CharField(max_length=100, blank=True)
    # The current blob's own key, sealed (filekeys.py): to the intake key for the upload, to
    # the newsroom key for the cleaned file. Gone with the row: a backup copy of the blob no
    # longer opens. Empty for rows from before file keys.
    blob_key = models.BinaryField(null=True, editable=False)
    # age ciphertext of {"filename", "content_type"} as the client sent them, newsroom key.
    sealed_meta = models.BinaryField(editable=False)
    # age ciphertext of the scrub report (names/categories removed, never values).
    sealed_report = models.BinaryField(null=True, editable=False)
    # age ciphertext of a small JPEG made from the cleaned file (previews.py), if any.
    sealed_preview = models.BinaryField(null=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)  # "host:pid" of the scrub
    # When it arrived, rounded down to the hour (clock.py). While it is received or being
    # cleaned, lease_until is the deadline after which it is queued again.
    created_at = models.DateTimeField(default=clock.coarse_now, editable=False)

    class Meta:
        ordering = ["tip", "position"]
        constraints = [
            models.UniqueConstraint(fields=["tip", "position"], name="attachment_position_unique"),
            models.CheckConstraint(
                condition=models.Q(
                    state__in=["received", "scrubbing", "clean", "rejected", "failed"]
                ),
                name="attachment_state_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="clean") | ~models.Q(blob_name=""),
                name="attachment_clean_has_blob",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "lease_until"], name="attachment_state_lease"),
            models.Index(fields=["tip", "category"], name="attachment_tip_category"),
            # The queue's "with videos" / "being cleaned" filters: the tips, straight from it.
            models.Index(fields=["category", "tip"], name="attachment_category_tip"),
            models.Index(fields=["state", "tip"], name="attachment_state_tip"),
        ]

    def __str__(self) -> str:
        return f"Attachment {str(self.id)[:8]} ({self.state})"

    @property
    def blob_purpose(self) -> str:
        """Which key and binding the current blob uses."""
        return "clean" if self.state == self.State.CLEAN else "raw"


class SealedMessage(models.Model):
    """A message about a tip, sealed (age) and bound to its row; `author` is the editor."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    author = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    sealed = models.BinaryField(editable=False)

    class Meta:
        abstract = True
        ordering = ["created_at"]


class Comment(SealedMessage):
    """An editors' note on a tip, for other editors only: sealed to the newsroom key like
    everything about a tip, never shown to the source."""

    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="comments")

    class Meta(SealedMessage.Meta):
        indexes = [models.Index(fields=["tip", "created_at"], name="comment_tip_created")]

    def __str__(self) -> str:
        return f"comment by {self.author}"


class Reply(SealedMessage):
    """A message from the newsroom to the source: sealed to the source's key (derived from
    their receipt code) and to the newsroom key. The source sees "the newsroom", never
    `author`."""

    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="replies")
    read_at = models.DateTimeField(null=True, blank=True)  # by the source, to the hour
    # The source deleted it after reading: its stanza is gone, only the newsroom can open it.
    source_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta(SealedMessage.Meta):
        indexes = [models.Index(fields=["tip", "created_at"], name="reply_tip_created")]
        verbose_name_plural = "replies"

    def __str__(self) -> str:
        return f"reply by {self.author}"


class SourceSession(models.Model):
    """A source signed in with their receipt code, for a short while (sources.py).

    The cookie holds a random token and nothing else; this row is found by the token's
    SHA-256 and holds the source's key sealed under the token. So the row alone (a database
    copy) neither opens the replies nor lets anyone take the session over; the code itself
    is in neither."""

    key = models.CharField(max_length=64, primary_key=True)  # SHA-256 of the cookie's token
    tip = models.ForeignKey(Tip, on_delete=models.CASCADE, related_name="+")
    sealed_identity = models.BinaryField()
    created_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return "source session"


class SourceThrottle(models.Model):
    """Attempts counted in fixed windows, never per address (behind Tor all are one):
    receipt-code checks for everyone, sign-ins and messages per tip."""

    key = models.CharField(max_length=80, primary_key=True)
    window_start = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.key
