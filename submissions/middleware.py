"""Keep the source unidentifiable from the first line of request handling to the last.

Runs first: it deletes the client address, forwarding headers and user agent from the request,
so no view, log line, error report or third-party app can record them. On public pages it also
drops the Referer, forbids every cookie and sets a strict Content-Security-Policy (no script, no
third-party anything). The one exception: a source who signed in with their receipt code keeps
one cookie, a random token, on the pages under /<language>/check/ only (submissions/sources.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.cookie import parse_cookie

from .sources import cookie_name

# Allowlist, not blocklist: of the client's headers only these reach Django. Proxies invent new
# client-address headers all the time (X-Cluster-Client-IP, Fastly-Client-IP...); none of them
# can be listed here by accident, and REMOTE_ADDR/REMOTE_HOST are removed too.
ALLOWED_HEADERS = frozenset({
    "HTTP_HOST", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING", "HTTP_ACCEPT_LANGUAGE",
    "HTTP_CONNECTION", "HTTP_CACHE_CONTROL", "HTTP_PRAGMA", "HTTP_ORIGIN",
    "HTTP_X_FORWARDED_PROTO",  # HTTPS detection behind the proxy (TIPLINE_BEHIND_PROXY)
    "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE",
    "HTTP_UPGRADE_INSECURE_REQUESTS", "HTTP_SEC_FETCH_SITE", "HTTP_SEC_FETCH_MODE",
    "HTTP_SEC_FETCH_DEST", "HTTP_SEC_FETCH_USER",
    "HTTP_X_UPLOAD_TOKEN",  # a resumable upload's own token (submissions/chunked.py)
})  # fmt: skip
# Only the staff site needs these: its session and CSRF cookies, and Referer for CSRF over HTTPS.
STAFF_HEADERS = frozenset({"HTTP_COOKIE", "HTTP_REFERER"})
CLIENT_ADDRESS = ("REMOTE_ADDR", "REMOTE_HOST", "REMOTE_PORT", "REMOTE_USER", "REMOTE_IDENT")
# Our own script only (resumable uploads, static/tipline/upload.js), talking to us only; with
# JavaScript off the pages work the same.
PUBLIC_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


# Staff pages: the admin's own scripts and styles only. No inline script or style, nothing from
# elsewhere (a source's link or file name can never load or run anything). Downloads set a
# stricter policy of their own.
STAFF_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Every response: no camera, microphone, location or the like for any page; other origins may
# not embed or read our responses (CORP), nor share a browsing context with them (COOP).
PERMISSIONS_POLICY = (
    "accelerometer=(), autoplay=(), camera=(), clipboard-read=(), display-capture=(), "
    "geolocation=(), gyroscope=(), hid=(), interest-cohort=(), magnetometer=(), microphone=(), "
    "midi=(), payment=(), publickey-credentials-get=(), screen-wake-lock=(), serial=(), usb=(), "
    "xr-spatial-tracking=()"
)


def is_source_session_request(path: str) -> bool:
    """The pages of a source signed in with their code: /es/check/..., /en/check/..."""
    parts = path.split("/", 3)
    return (len(parts) > 3 and parts[2] == "check"
            and parts[1] in {code for code, _ in settings.LANGUAGES})  # fmt: skip


def is_staff_request(path: str) -> bool:
    """A public process has no staff pages at all: everything it serves is public."""
    return settings.ROLE != "public" and path.startswith(settings.STAFF_URL_PREFIX)


class PrivacyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        public = not is_staff_request(request.path_info)
        source_session = public and is_source_session_request(request.path_info)
        allowed = ALLOWED_HEADERS if public else ALLOWED_HEADERS | STAFF_HEADERS
        meta = request.META
        kept: dict[str, str] = {}
        source_cookie = cookie_name()
        if source_session:
            token = parse_cookie(meta.get("HTTP_COOKIE", "")).get(source_cookie)
            kept = {source_cookie: token} if token else {}
        for key in [k for k in meta if k.startswith("HTTP_") and k not in allowed]:
            del meta[key]
        for key in CLIENT_ADDRESS:
            meta.pop(key, None)
        if public:
            request.COOKIES = kept
        response = self.get_response(request)
        response.headers["Permissions-Policy"] = PERMISSIONS_POLICY
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        host = request.META.get("HTTP_HOST", "").split(":")[0]
        if public and settings.ONION_ADDRESS and not host.endswith(".onion"):
            # The clearnet host points Tor Browser to the onion service (same path).
            response.headers["Onion-Location"] = (
                f"http://{settings.ONION_ADDRESS}{request.get_full_path()}"
            )
        if not public:
            response.headers.setdefault("Content-Security-Policy", STAFF_CSP)
            # Nothing of the newsroom's in any cache (static files say otherwise themselves).
            response.headers.setdefault("Cache-Control", "no-store")
            # With "no-referrer" browsers send "Origin: null" with the staff forms, which
            # Django's CSRF check rightly refuses: staff pages name their origin to themselves.
            response.headers["Referrer-Policy"] = "same-origin"
        if public:
            morsel = response.cookies.get(source_cookie) if source_session else None
            response.cookies.clear()
            if morsel is not None:
                response.cookies[source_cookie] = morsel
            response.headers.setdefault("Content-Security-Policy", PUBLIC_CSP)
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers.setdefault("Cache-Control", "no-store")
        return response
