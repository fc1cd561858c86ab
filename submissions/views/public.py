"""Source-facing views. Thin: validate, call one service, render. No cookies, no JavaScript."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from .. import services
from ..forms import TipForm, limits_text, refusal_message, request_error_message
from ..uploads import upload_state

logger = logging.getLogger(__name__)

LIMIT_CODES = {"too_many_files", "file_too_large", "submission_too_large", "too_big"}


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    # Spanish by default; never guessed from headers (Tor Browser sends en-US to everyone).
    return HttpResponseRedirect("/es/")


def _form_page(
    request: HttpRequest, form: TipForm, *, error: str = "", status: int = 200
) -> HttpResponse:
    context = {"form": form, "limits": limits_text(), "error": error}
    return render(request, "submissions/submit.html", context, status=status)


# Public pages set no cookie at all, so there is no CSRF cookie to check. Cross-site posting
# can only create a tip (no identity, no session is involved); it is not a CSRF target.
@csrf_exempt
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form_page(request, TipForm())
    state = upload_state(request)
    try:
        data, files = request.POST, request.FILES
    except (RequestDataTooBig, TooManyFieldsSent) as exc:
        state.discard()
        code = "too_big" if isinstance(exc, RequestDataTooBig) else "malformed"
        return _form_page(
            request,
            TipForm(),
            error=request_error_message(code),
            status=413 if code in LIMIT_CODES else 400,
        )
    except TooManyFilesSent:
        state.discard()
        return _form_page(
            request, TipForm(), error=request_error_message("too_many_files"), status=413
        )
    except MultiPartParserError:
        state.discard()
        return _form_page(request, TipForm(), error=request_error_message("malformed"), status=400)
    if state.refusal is not None:
        state.discard()
        status = 413 if state.refusal.code in LIMIT_CODES else 400
        form = TipForm(initial={"note": data.get("note", ""), "links": data.get("links", "")})
        return _form_page(request, form, error=refusal_message(state.refusal), status=status)
    form = TipForm(data, files)
    if not form.is_valid():
        state.discard()
        return _form_page(request, form, status=400)
    try:
        code = services.submission_create(
            note=form.cleaned_data["note"],
            links=form.cleaned_data["links"],
            uploads=form.cleaned_data["files"],
        )
    except Exception as exc:  # noqa: BLE001 - the source gets a clear page, never a 500
        state.discard()
        # Class name only: database errors can quote the values they failed on.
        logger.error("tip.store_failed error=%s", type(exc).__name__)
        return _form_page(
            request,
            form,
            status=503,
            error=_(
                "We could not store your submission just now. Nothing was kept. "
                "Please try again in a few minutes."
            ),
        )
    return render(request, "submissions/receipt.html", {"code": code})
