"""Per request: the signed-in editor's newsroom keys, unlocked for this request only.

Also ends a staff session past its absolute lifetime (the idle timeout is the session
cookie's age, renewed on every request) and sets or clears the unlock cookie.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from submissions.middleware import is_staff_request

from . import custody

SIGNED_IN_AT = "tipline_signed_in_at"


class UnlockMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_staff_request(request.path_info):
            return self.get_response(request)
        user = request.user
        identities = []
        if user.is_authenticated:
            started = request.session.get(SIGNED_IN_AT, 0)
            if time.time() - started > settings.SESSION_MAX_SECONDS:
                logout(request)  # flushes the session, sealed keys included
            else:
                identities = custody.load(request.session, request.COOKIES.get(custody.COOKIE),
                                          user)  # fmt: skip
        with custody.unlocked(identities):
            response = self.get_response(request)
        cookie = getattr(request, "_tipline_unlock_cookie", None)
        if cookie is not None:
            response.set_cookie(
                custody.COOKIE, cookie, path=settings.SESSION_COOKIE_PATH,
                secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Strict",
            )  # fmt: skip
        elif request.COOKIES.get(custody.COOKIE) and not request.user.is_authenticated:
            response.delete_cookie(custody.COOKIE, path=settings.SESSION_COOKIE_PATH,
                                   samesite="Strict")  # fmt: skip
        return response
