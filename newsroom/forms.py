"""Staff sign-in (password, second factor, key unlock), enrolment and password change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import AdminPasswordChangeForm, PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit, custody, throttle

TOKEN_WIDGET = forms.TextInput(
    attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}
)


def confirmed_device(user: object) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


class SignInForm(AdminAuthenticationForm):
    """Username, password and the authenticator code, checked together.

    Throttled per account. A correct password also unlocks the editor's newsroom keys for the
    session (custody.sign_in); the request carries them to the view that logs the user in.
    An account with no authenticator yet signs in unverified and can only enrol one.
    """

    otp_token = forms.CharField(
        label="Code from your authenticator app", required=False, max_length=8,
        widget=TOKEN_WIDGET,
    )  # fmt: skip
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        # One answer for a wrong name, password or code: a password guessed right must not
        # show before the second factor is passed too (it also protects the keys).
        "invalid_login": "Wrong username, password or authenticator code.",
        "throttled": "Too many failed attempts for this account. Try again in %(seconds)d s.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        password = self.cleaned_data.get("password") or ""
        if not username or not password:
            return self.cleaned_data
        if seconds := throttle.attempt(username):
            raise forms.ValidationError(
                self.error_messages["throttled"], code="throttled", params={"seconds": seconds}
            )
        user = authenticate(self.request, username=username, password=password)
        device = confirmed_device(user) if user is not None else None
        if user is None or (
            device is not None and not verify_once(device, self.cleaned_data.get("otp_token"))
        ):
            # Who tried is on record only when the account exists: a name typed wrong may be
            # a password typed in the wrong box.
            known = user is not None or get_user_model().objects.filter(username=username).exists()
            audit.record("sign_in_failed", actor=username if known else None,
                         detail="" if known else "unknown account")  # fmt: skip
            raise self.get_invalid_login_error()
        self.user_cache = user
        self.confirm_login_allowed(user)
        throttle.succeeded(username)
        if device is not None:
            user.otp_device = device  # django_otp marks the session verified at login()
        identities, key_ids = custody.sign_in(user, password)
        self.request._tipline_unlock = (identities, key_ids)  # type: ignore[union-attr]
        return self.cleaned_data


def verify_once(device: TOTPDevice, token: str | None) -> bool:
    """Check a code with the device row locked: two sign-ins racing with one code cannot both
    pass django-otp's "not used before" check."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        verified = bool(locked.verify_token(token))
    device.refresh_from_db()
    return verified


class EnrolForm(forms.Form):
    """Confirms a new authenticator: the code it shows now, and the account's password (so a
    session left open is not enough to attach someone else's phone to this account)."""

    password = forms.CharField(label="Your password", strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete":
                                                                 "current-password"}))  # fmt: skip
    otp_token = forms.CharField(label="Code shown by the app", max_length=8, widget=TOKEN_WIDGET)

    def __init__(self, *args: Any, request: HttpRequest, device: TOTPDevice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request, self.device = request, device

    def clean(self) -> dict[str, Any]:
        user = self.request.user
        username = user.get_username()
        if seconds := throttle.attempt(username):
            raise forms.ValidationError(f"Too many failed attempts. Try again in {seconds} s.")
        password = self.cleaned_data.get("password") or ""
        if not user.check_password(password) or not verify_once(
            self.device, self.cleaned_data.get("otp_token")
        ):
            raise forms.ValidationError("The password or the code is wrong. Try again.")
        throttle.succeeded(username)
        return self.cleaned_data


class RewrappingPasswordChangeForm(PasswordChangeForm):
    """Changing the password re-wraps the personal key under the new one."""

    def save(self, commit: bool = True) -> Any:
        with transaction.atomic():  # the new password and the re-wrapped key, or neither
            self.user._tipline_rewrapping = True  # type: ignore[attr-defined]
            user = super().save(commit=commit)
            custody.change_password(user, self.cleaned_data["old_password"],
                                    self.cleaned_data["new_password1"])  # fmt: skip
            audit.record("password_changed", actor=user)
        return user


class GuardedAdminPasswordChangeForm(AdminPasswordChangeForm):
    """Setting someone's password (not changing one's own) loses their personal key and
    with it their access: refused for the last holder of a newsroom key."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if custody.sole_holder(self.user):
            raise forms.ValidationError(
                "This account is the only one holding the newsroom key: setting its password "
                "would lose every tip. Grant access to someone else first, or let the account "
                "change its own password (which keeps the key)."
            )
        return cleaned
