"""The admin site: staff pages need a password *and* a second factor on this session.

An account without an authenticator signs in with its password and can do one thing: enrol
an authenticator for itself (there is no way to name another account). Every other page, and
every decrypted download (submissions.selectors), needs the session verified by a code.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.views import PasswordChangeView, redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import audit
from .forms import EnrolForm, RewrappingPasswordChangeForm, SignInForm, confirmed_device

ENROLLING = "tipline_enrolling_device"


def is_verified(user: Any) -> bool:
    """Signed in with a second factor on this session (OTPMiddleware's flag; right after
    login() the request's user is the bare user, with the device it was verified by)."""
    if not user.is_authenticated:
        return False
    check = getattr(user, "is_verified", None)
    return bool(check()) if check is not None else getattr(user, "otp_device", None) is not None


class ReadOnlyMixin:
    """For records no one edits from the admin: what sources sent, history, keys, the audit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def verified_staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For staff views outside the admin: the admin's own rule (staff, second factor on this
    session), else the sign-in page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_active and user.is_staff and is_verified(user)):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return wrapped


class TiplineAdminSite(admin.AdminSite):
    site_header = "Tipline"
    site_title = "Tipline"
    index_title = "Newsroom"
    login_form = SignInForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_staff and is_verified(user))

    def get_urls(self) -> list[Any]:
        return [
            path("account/enrol/", never_cache(csrf_protect(self.enrol)), name="enrol"),
            *super().get_urls(),
        ]

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().login(request, extra_context)
        user = request.user
        if user.is_authenticated and user.is_staff and not is_verified(user):
            if confirmed_device(user) is None:
                return HttpResponseRedirect(reverse("admin:enrol"))
            logout(request)  # signed in elsewhere without the code: start again
            return HttpResponseRedirect(reverse("admin:login"))
        return response

    def enrol(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return HttpResponseRedirect(reverse("admin:login"))
        if is_verified(user):
            return HttpResponseRedirect(reverse("admin:index"))
        if confirmed_device(user) is not None:
            logout(request)
            return HttpResponseRedirect(reverse("admin:login"))
        # A secret of this session's own: another session signed in with the same password
        # never sees it, and confirming one discards every other unconfirmed secret.
        device = TOTPDevice.objects.filter(
            user=user, confirmed=False, pk=request.session.get(ENROLLING)
        ).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
            request.session[ENROLLING] = device.pk
        form = EnrolForm(request.POST or None, request=request, device=device)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                if confirmed_device(user) is not None:  # another session got there first
                    logout(request)
                    return HttpResponseRedirect(reverse("admin:login"))
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            del request.session[ENROLLING]
            otp_login(request, device)
            audit.record("second_factor_enrolled", actor=user)
            return HttpResponseRedirect(reverse("admin:index"))
        context = {
            **self.each_context(request),
            "title": "Set up your authenticator",
            "form": form,
            "qr": segno.make(device.config_url, error="m").svg_inline(scale=4),
            "secret": device.config_url.split("secret=")[1].split("&")[0],
        }
        return TemplateResponse(request, "newsroom/enrol.html", context)

    def password_change(self, request: HttpRequest,
                        extra_context: dict[str, Any] | None = None) -> HttpResponse:  # fmt: skip
        """Changing the password re-wraps the personal key, then ends the session: the keys
        it unlocked go with it, and the next sign-in uses the new password."""
        view = PasswordChangeView.as_view(
            form_class=RewrappingPasswordChangeForm,
            template_name="registration/password_change_form.html",
            success_url=reverse("admin:login"),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )
        response = view(request)
        if response.status_code == 302:
            logout(request)
            messages.success(request, "Password changed. Sign in again with the new one.")
            return HttpResponseRedirect(reverse("admin:login"))
        return response
