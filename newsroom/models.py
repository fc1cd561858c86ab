"""Key custody, staff sign-in throttling and the audit log.

Nothing here can decrypt a tip without an editor's password: the newsroom identities are
stored only sealed to editors' personal keys, and each personal key only wrapped under a key
derived from its owner's password (custody.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class NewsroomKey(models.Model):
    """The public half of a newsroom key pair. Its private half exists only in Envelopes.

    Exactly one key is `current` (new tips are sealed to it). During a rotation the old key
    stays, not current, until every ciphertext has been re-wrapped to the new one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.CharField(max_length=100, unique=True)
    current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["current"], condition=models.Q(current=True), name="one_current_key"
            )
        ]
        permissions = [("manage_keys", "Can grant, revoke and rotate access to tips")]

    def __str__(self) -> str:
        return f"newsroom key {self.recipient[:16]}… ({'current' if self.current else 'old'})"


class StaffKey(models.Model):
    """An editor's personal age key pair: the private half wrapped under a key derived from
    the editor's password (Argon2id, parameters stored here). Grants and rotations seal the
    newsroom identity to the public half, so they never need the editor's password."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_key"
    )
    recipient = models.CharField(max_length=100)
    kdf = models.JSONField()  # {"algorithm": "argon2id", "salt": b64, "memory_kib", ...}
    wrapped = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"personal key of user {self.user_id}"


class Envelope(models.Model):
    """A newsroom identity sealed (age) to one editor's personal key: that editor's access."""

    key = models.ForeignKey(NewsroomKey, on_delete=models.CASCADE, related_name="envelopes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="envelopes"
    )
    sealed = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "user"], name="one_envelope_per_key_and_user")
        ]

    def __str__(self) -> str:
        return f"access of user {self.user_id} to {self.key_id}"


class SignInThrottle(models.Model):
    """Failed sign-ins per account name, never per address (behind Tor every client is
    127.0.0.1): each failure past a few doubles the wait before the next attempt."""

    username = models.CharField(max_length=150, unique=True)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"throttle for {self.username}"


class AuditEvent(models.Model):
    """One append-only, hash-chained record: who did what to which object, and when.

    Never content or anything a source sent: actions name objects by id only. `digest` is
    SHA-256 over the previous record's digest and this record's fields, so editing, deleting
    or reordering a record breaks the chain from there on (`manage.py tipline_audit verify`).
    """

    sequence = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    actor = models.CharField(max_length=150, blank=True)  # username at the time; "" = system
    action = models.CharField(max_length=40)
    target = models.CharField(max_length=100, blank=True)  # e.g. "tip:<uuid>"
    detail = models.CharField(max_length=200, blank=True)
    previous = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        # Two writers that read the same last record cannot both append after it.
        constraints = [models.UniqueConstraint(fields=["previous"], name="audit_chain_linear")]
        # A tip page lists who looked at it.
        indexes = [models.Index(fields=["target", "-sequence"], name="audit_target_sequence")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.target}"


class Watermark(models.Model):
    """How far a periodic job has got (e.g. the editors' digest): resumes where it stopped,
    never reporting the same tip twice or skipping one."""

    name = models.CharField(max_length=40, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M}"
