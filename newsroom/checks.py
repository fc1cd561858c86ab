"""System checks for the staff site, with stable ids."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def second_factor_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A process serving the staff site must demand the second factor: the OTP middleware
    and the admin site that checks it (newsroom.sites.TiplineAdminSite)."""
    if settings.ROLE not in ("staff", "all"):
        return []
    from django.contrib import admin

    from .sites import TiplineAdminSite

    problems = []
    if "django_otp.middleware.OTPMiddleware" not in settings.MIDDLEWARE:
        problems.append("django_otp.middleware.OTPMiddleware is not in MIDDLEWARE")
    if not isinstance(admin.site, TiplineAdminSite):
        problems.append("the admin site is not newsroom.sites.TiplineAdminSite")
    return [Error(f"the staff site would not require a second factor: {problem}",
                  id="newsroom.E001") for problem in problems]  # fmt: skip
