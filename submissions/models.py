"""Tips and their attachments. Everything a source wrote is stored sealed (age, newsroom key).

No column holds an IP, a user agent, a filename, a receipt code or any content in clear; the
receipt is kept only as a slow keyed hash (receipts.py) for lookup.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Tip(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    receipt_hash = models.CharField(max_length=64, unique=True, editable=False)
    # age ciphertext of {"note": str, "links": [str]} to the newsroom key, bound to this row.
    sealed_content = models.BinaryField(editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("tip")
        verbose_name_plural = _("tips")

    def __str__(self) -> str:
        return f"Tip {str(self.id)[:8]}"


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
    position = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    # Why it was rejected or failed, for editors; never content or a filename.
    reason = models.CharField(max_length=200, blank=True)
    # Sniffed from content by the worker (e.g. "jpeg"); empty until then.
    kind = models.CharField(max_length=16, blank=True)
    size = models.BigIntegerField(help_text="plaintext bytes of the current blob")
    # Random storage name of the current ciphertext: raw (intake key) until clean, then the
    # cleaned file (newsroom key). Empty once a rejected or failed raw blob is destroyed.
    blob_name = models.CharField(max_length=100, blank=True)
    # age ciphertext of {"filename", "content_type"} as the client sent them, newsroom key.
    sealed_meta = models.BinaryField(editable=False)
    # age ciphertext of the scrub report (names/categories removed, never values).
    sealed_report = models.BinaryField(null=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
        indexes = [models.Index(fields=["state", "lease_until"], name="attachment_state_lease")]

    def __str__(self) -> str:
        return f"Attachment {str(self.id)[:8]} ({self.state})"

    @property
    def blob_purpose(self) -> str:
        """Which key and binding the current blob uses."""
        return "clean" if self.state == self.State.CLEAN else "raw"
