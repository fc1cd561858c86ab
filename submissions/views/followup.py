"""A source coming back with their receipt code: sign in, read replies, answer, sign out.

No JavaScript. The code is posted (never in a URL), checked (sources.sign_in) and dropped; from
then on a cookie holding a random token is the session. Every form of a session carries a token
derived from the cookie's, and posts that come from another site are refused, so no other page
can act in a source's name.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from .. import crypto, services, sources
from ..forms import (
    CodeForm,
    TipForm,
    busy_message,
    file_text,
    limits_text,
    session_ended_message,
    status_text,
    too_often_message,
    wrong_code_message,
)
from ..uploads import upload_state
from .public import (
    forget_resumable,
    kept_fields,
    must_wait,
    read_upload,
    store_failed_message,
    with_resumable,
)

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]


def _cross_site(request: HttpRequest) -> bool:
    """A post another site made the browser send: by Fetch Metadata (Tor Browser and current
    browsers send it), else by an Origin naming another site ("null" under our no-referrer
    policy says nothing either way)."""
    fetch_site = request.META.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.META.get("HTTP_ORIGIN", "null")
    return origin != "null" and origin != f"{request.scheme}://{request.get_host()}"


def _refused(request: HttpRequest) -> HttpResponse:
    message = _("This form can only be sent from this site's own pages. Open the page again.")
    return _check_page(request, error=message, status=403)


def _check_page(request: HttpRequest, *, error: str = "", notice: str = "",
                status: int = 200) -> HttpResponse:  # fmt: skip
    # Never bound to what was typed: the page does not hold the code, even a wrong one.
    # Its language links lead to this page (not to the post that may have rendered it).
    context = {
        "form": CodeForm(),
        "error": error,
        "notice": notice,
        "language_view": "public:check",
    }
    return render(request, "submissions/check.html", context, status=status)


def _cookie(request: HttpRequest) -> str | None:
    return request.COOKIES.get(sources.cookie_name())


def _forget_cookie(response: HttpResponse) -> None:
    response.delete_cookie(sources.cookie_name(), path="/", samesite="Strict")


def _to(name: str, query: str = "") -> HttpResponseRedirect:
    response = HttpResponseRedirect(reverse(name) + (f"?{query}" if query else ""))
    response.status_code = 303  # after a post: the browser follows with a GET
    return response


@csrf_exempt  # no cookie to protect before sign-in; cross-site posts are refused below
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def check(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if sources.open_session(_cookie(request)) is not None:
            return _to("public:followup")
        notice = session_ended_message() if request.GET.get("ended") else ""
        if request.GET.get("out"):
            notice = _("You are signed out. If this is a shared device, close the browser now.")
        response = _check_page(request, notice=notice)
        if _cookie(request):  # a session that ended: its cookie goes too
            _forget_cookie(response)
        return response
    if _cross_site(request):
        return _refused(request)
    if (previous := sources.open_session(_cookie(request))) is not None:
        sources.sign_out(previous)  # one session per browser: the old one ends here
    try:
        cookie = sources.sign_in(request.POST.get("code", ""))
    except sources.TooOften as exc:
        return _check_page(request, error=too_often_message(exc.retry_after, what="sign-in"),
                           status=429)  # fmt: skip
    except sources.Busy as exc:
        return _check_page(request, error=busy_message(exc.retry_after), status=429)
    if cookie is None:
        return _check_page(request, error=wrong_code_message(), status=400)
    response = _to("public:followup")
    # A browser-session cookie (no expiry): the server ends the session well before.
    response.set_cookie(sources.cookie_name(), cookie, path="/", secure=settings.SECURE_COOKIES,
                        httponly=True, samesite="Strict")  # fmt: skip
    return response


def _signed_in(view: View, *, gives_back: bool = False) -> View:
    """The view gets the session; a post must come from this site. Without a session, a
    post that `gives_back` the source's text says it was not sent, and shows the text."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = sources.open_session(_cookie(request))
        if session is None:
            if gives_back and request.method == "POST":
                response = _not_sent(request)
            else:
                upload_state(request).discard()
                response = _to("public:check", "ended=1")
            _forget_cookie(response)
            return response
        if request.method == "POST" and _cross_site(request):
            return _refused(request)
        return view(request, session, *args, **kwargs)

    return wrapped


def _not_sent(request: HttpRequest) -> HttpResponse:
    """An answer posted after the session ended (a long text, a slow connection): not sent,
    and said so, with what the source wrote given back to copy (kept nowhere; the files are
    discarded unread)."""
    data = read_upload(request).data
    upload_state(request).discard()
    context = {
        "form": CodeForm(), "language_view": "public:check",
        "error": _("Your answer was NOT sent: you were signed out after a while without "
                   "activity. Copy your text below, enter your code again and send it again."),
        "unsent": kept_fields(data),
    }  # fmt: skip
    return render(request, "submissions/check.html", context, status=401)


def _token_ok(request: HttpRequest, session: sources.Session) -> bool:
    return sources.form_token_valid(session, request.POST.get("token", ""))


def _page(request: HttpRequest, session: sources.Session, *, form: TipForm | None = None,
          error: str = "", files_error: str = "", status: int = 200,
          resumable: tuple[tuple[str, str], ...] = ()) -> HttpResponse:  # fmt: skip
    label, meaning = status_text(sources.NEUTRAL_STATUS[session.tip.status])
    sent = [
        {"item": item, "files": [file_text(file) for file in item.files]}
        for item in sources.sent(session)
    ]
    notice = _("Sent. Thank you.") if request.GET.get("sent") else ""
    context = {
        "status": label, "status_meaning": meaning, "replies": sources.replies(session),
        "sent": sent, "form": form or TipForm(), "limits": limits_text(), "error": error,
        "files_error": files_error, "resumable": resumable,
        "notice": notice, "token": session.form_token,
    }  # fmt: skip
    return render(request, "submissions/followup.html", context, status=status)


@csrf_exempt  # the session's own token is checked instead (see _signed_in)
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def followup(request: HttpRequest) -> HttpResponse:
    return _signed_in(_followup, gives_back=True)(request)


def _followup(request: HttpRequest, session: sources.Session) -> HttpResponse:
    if request.method == "GET":
        return _page(request, session)
    throttle = f"tip:{session.tip.pk}:message"
    limit = {"limit": settings.SOURCE_MESSAGES_PER_HOUR, "window": sources.HOUR}
    # Before the upload is read and stored: this tip's hour, then everyone's minute and room.
    if wait := sources.waiting(throttle, **limit):
        return _page(request, session, status=429,
                     error=too_often_message(wait, what="message"))  # fmt: skip
    if refused := must_wait("answer"):
        message, status, retry = refused
        response = _page(request, session, status=status, error=message)
        response["Retry-After"] = str(retry)
        return response
    upload = read_upload(request)
    if upload.data is not None and not _token_ok(request, session):
        upload_state(request).discard()
        return _refused(request)
    if not upload.error:
        upload = with_resumable(request, upload)
    if upload.error:
        where = "files_error" if upload.about_files else "error"
        return _page(request, session, form=kept_fields(upload.data), status=upload.status,
                     resumable=upload.resumable, **{where: upload.error})  # fmt: skip
    form = TipForm(upload.data, upload.files)
    if not form.is_valid():
        upload_state(request).discard()
        return _page(request, session, form=form, status=400, resumable=upload.resumable)
    try:
        services.source_message_add(
            tip_id=session.tip.pk,
            note=form.cleaned_data["note"],
            links=form.cleaned_data["links"],
            uploads=form.cleaned_data["files"],
        )
    except Exception as exc:  # noqa: BLE001 - the source gets a clear page, never a 500
        upload_state(request).discard()
        return _page(request, session, form=form, status=503, error=store_failed_message(exc),
                     resumable=upload.resumable)  # fmt: skip
    forget_resumable(upload)
    # Counted once sent; if a parallel answer took the last slot, this one is stored anyway.
    with contextlib.suppress(sources.Busy):
        sources.take(throttle, **limit)
    return _to("public:followup", "sent=1")


@csrf_exempt  # the session's own token is checked instead
@sensitive_post_parameters()
@require_POST
@_signed_in
def reply_delete(request: HttpRequest, session: sources.Session) -> HttpResponse:
    if not _token_ok(request, session):
        return _refused(request)
    try:
        reply_id = uuid.UUID(request.POST.get("reply", ""))
    except ValueError:
        return _to("public:followup")
    try:
        services.reply_forget(tip_id=session.tip.pk, reply_id=reply_id, identity=session.identity)
    except (crypto.DecryptionError, DatabaseError) as exc:
        logger.warning("reply.delete_failed error=%s", type(exc).__name__)
        return _page(request, session, status=503, error=_(
            "The message could not be deleted just now. It is still here: try again in a few "
            "minutes."
        ))  # fmt: skip
    return _to("public:followup")


# No token needed: signing out is always safe to do, even from a page left open in an old
# tab (a post from another site is still refused, by _signed_in).
@csrf_exempt
@sensitive_post_parameters()
@require_POST
@_signed_in
def sign_out(request: HttpRequest, session: sources.Session) -> HttpResponse:
    sources.sign_out(session)
    response = _to("public:check", "out=1")
    _forget_cookie(response)
    return response
