"""Keep the source unidentifiable from the first line of request handling to the last.

Runs first: it deletes the client address, forwarding headers and user agent from the request,
so no view, log line, error report or third-party app can record them. On public pages it also
drops the Referer, forbids every cookie and sets a strict Content-Security-Policy (no script, no
third-party anything).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

IDENTIFYING_META = (
    "REMOTE_ADDR",
    "REMOTE_HOST",
    "REMOTE_PORT",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_VIA",
    "HTTP_CLIENT_IP",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_USER_AGENT",
)
PUBLIC_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def is_staff_path(path: str) -> bool:
    return path.startswith(settings.STAFF_URL_PREFIX)


class PrivacyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key in IDENTIFYING_META:
            request.META.pop(key, None)
        public = not is_staff_path(request.path_info)
        if public:
            request.META.pop("HTTP_REFERER", None)
            request.META.pop("HTTP_COOKIE", None)
            request.COOKIES = {}
        response = self.get_response(request)
        if public:
            response.cookies.clear()
            response.headers.setdefault("Content-Security-Policy", PUBLIC_CSP)
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers.setdefault("Cache-Control", "no-store")
        return response
