"""Accounts, key access and the audit log in the admin. Key actions need `manage_keys`.

Granting and rotating use the newsroom keys the acting administrator's session unlocked;
nothing here ever shows a key.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import crypto
from submissions.keys import KeyUnavailable, newsroom_identities

from . import audit, custody, rotation
from .forms import GuardedAdminPasswordChangeForm
from .models import AuditEvent, NewsroomKey
from .sites import ReadOnlyMixin


class KeyActions:
    def has_manage_keys_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("newsroom.manage_keys")


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(KeyActions, UserAdmin):
    change_password_form = GuardedAdminPasswordChangeForm
    list_display = ["username", "is_active", "is_staff", "role_names", "key_access"]
    actions = ["grant_access", "revoke_access"]

    @admin.display(description="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(group.name for group in obj.groups.all()) or "—"

    @admin.display(description="can read tips", boolean=True)
    def key_access(self, obj: User) -> bool:
        return obj.envelopes.exists()

    @admin.action(description="Grant access to tips (seal the newsroom key for them)",
                  permissions=["manage_keys"])  # fmt: skip
    def grant_access(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        try:
            identities = newsroom_identities()
        except KeyUnavailable as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        for user in queryset:
            try:
                custody.grant(user, identities)
            except custody.Locked as exc:
                self.message_user(request, f"{user.get_username()}: {exc}", messages.WARNING)
                continue
            audit.record("access_granted", actor=request.user, target=f"user:{user.pk}")
            self.message_user(request, f"{user.get_username()} can now read tips.")

    @admin.action(description="Revoke access to tips", permissions=["manage_keys"])
    def revoke_access(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            try:
                custody.revoke(user)
            except custody.WouldLoseKey as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            audit.record("access_revoked", actor=request.user, target=f"user:{user.pk}")
            self.message_user(request, f"{user.get_username()} can no longer read tips.")


@admin.register(NewsroomKey)
class NewsroomKeyAdmin(KeyActions, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["recipient", "current", "created_at", "holders"]
    actions = ["rotate"]

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("newsroom.manage_keys")

    @admin.display(description="editors holding it")
    def holders(self, obj: NewsroomKey) -> int:
        return obj.envelopes.count()

    @admin.action(description="Rotate the newsroom key (re-wraps every file key)",
                  permissions=["manage_keys"])  # fmt: skip
    def rotate(self, request: HttpRequest, queryset: QuerySet[NewsroomKey]) -> None:
        try:
            progress = rotation.rotate(newsroom_identities(), actor=request.user,
                                       own_session=request.session.session_key)  # fmt: skip
        except (KeyUnavailable, rotation.RotationError, crypto.DecryptionError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        if progress.finished:  # this session's keys include the retired one: drop them
            request.session.pop(custody.SESSION_SEALED, None)
            request.session.pop(custody.SESSION_KEYS, None)
        done = "finished: sign in again" if progress.finished else "not finished: run it again"
        self.message_user(request, f"{progress.rewrapped} re-wrapped; {done}. "
                          + " ".join(progress.notes))  # fmt: skip


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["sequence", "at", "actor", "action", "target", "detail"]
    list_filter = ["action"]
    search_fields = ["actor", "target"]
    show_full_result_count = False


# django-otp's own admin for authenticators shows their secrets (a QR code and the key) to
# whoever may view them: replaced by a list that shows whose authenticator exists, and lets an
# administrator reset one (delete it; the account sets up a new one at its next sign-in).
admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields
    actions = ["delete_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: TOTPDevice) -> None:
        audit.record("second_factor_reset", actor=request.user, target=f"user:{obj.user_id}")
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TOTPDevice]) -> None:
        for device in queryset:
            audit.record("second_factor_reset", actor=request.user, target=f"user:{device.user_id}")
        super().delete_queryset(request, queryset)
