"""Source-facing views. Thin: validate, call one service, render. No cookies. JavaScript is
optional: with it, files go up in resumable pieces first (chunked.py, static/tipline/upload.js);
without it, in the form itself."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from .. import capacity, chunked, ratelimit, services
from ..forms import (
    TipForm,
    busy_sending_message,
    busy_server_message,
    limits_text,
    refusal_message,
    request_error_message,
)
from ..uploads import Refusal, assemble, upload_state

logger = logging.getLogger(__name__)

LIMIT_CODES = {"too_many_files", "file_too_large", "submission_too_large", "too_big"}


@require_GET
def root(request: HttpRequest) -> HttpResponse:
    # Spanish by default; never guessed from headers (Tor Browser sends en-US to everyone).
    return HttpResponseRedirect("/es/")


@require_GET
def guide(request: HttpRequest) -> HttpResponse:
    return render(request, "submissions/guide.html")


@require_GET
def kept(request: HttpRequest) -> HttpResponse:
    return render(request, "submissions/kept.html")


def _form_page(
    request: HttpRequest, form: TipForm, *, error: str = "", files_error: str = "",
    status: int = 200, resumable: tuple[tuple[str, str], ...] = (),
) -> HttpResponse:  # fmt: skip
    context = {"form": form, "limits": limits_text(), "error": error, "files_error": files_error,
               "resumable": resumable}  # fmt: skip
    return render(request, "submissions/submit.html", context, status=status)


@dataclass(frozen=True)
class Upload:
    """A post's fields and files; or, refused, what the fields held (if they could be read),
    the source's error, its status, and whether it is about the files (shown next to them)."""

    data: QueryDict | None
    files: MultiValueDict | None
    error: str = ""
    status: int = 200
    about_files: bool = False
    # Resumable uploads ("id.token", name) the post named, still stored: given back with the
    # form when the post is refused, deleted once it is stored.
    resumable: tuple[tuple[str, str], ...] = ()


def read_upload(request: HttpRequest) -> Upload:
    """Read the post; a refused one's uploads are discarded already."""
    state = upload_state(request)
    try:
        data, files = request.POST, request.FILES
    except (RequestDataTooBig, TooManyFieldsSent) as exc:
        state.discard()
        code = "too_big" if isinstance(exc, RequestDataTooBig) else "malformed"
        return Upload(None, None, request_error_message(code), 413 if code in LIMIT_CODES else 400)
    except TooManyFilesSent:
        state.discard()
        return Upload(None, None, request_error_message("too_many_files"), 413, about_files=True)
    except MultiPartParserError:
        state.discard()
        return Upload(None, None, request_error_message("malformed"), 400)
    if state.refusal is not None:
        state.discard()
        status = 413 if state.refusal.code in LIMIT_CODES else 400
        return Upload(data, None, refusal_message(state.refusal), status, about_files=True)
    return Upload(data, files)


def with_resumable(request: HttpRequest, upload: Upload) -> Upload:
    """The form's files and the resumable uploads it names (`resumable`: "id.token", with
    `resumable_name`), read back through the upload handler; refused like a plain upload. The
    uploads stay stored (`Upload.resumable`) until the submission is: a refused or failed post
    gives them back with the form (`forget_resumable` once stored)."""
    data = upload.data
    refs = data.getlist("resumable")[: settings.MAX_FILES] if data is not None else []
    if not refs or data is None:
        return upload
    names = data.getlist("resumable_name")
    pending = [(ref, names[i] if i < len(names) else "") for i, ref in enumerate(refs)]
    files = list(upload.files.getlist("files")) if upload.files is not None else []
    for ref, name in pending:
        upload_id, _, token = ref.partition(".")
        others = tuple(item for item in pending if item[0] != ref)
        try:
            assembled = assemble(request, upload_id, token, name)
        except OSError as exc:  # the disk: nothing is lost, the uploads stay for a retry
            upload_state(request).discard()
            return Upload(data, None, store_failed_message(exc), 503, resumable=tuple(pending))
        except chunked.Invalid:  # expired, or not all there: that file must be sent again
            upload_state(request).discard()
            return Upload(data, None, request_error_message("malformed"), 400,
                          about_files=True, resumable=others)  # fmt: skip
        state = upload_state(request)
        if assembled is None or state.refusal is not None:
            state.discard()
            chunked.discard(upload_id)  # refused for good: its type, its size
            refusal = state.refusal
            message = refusal_message(refusal) if refusal else request_error_message("malformed")
            status = 413 if refusal and refusal.code in LIMIT_CODES else 400
            return Upload(data, None, message, status, about_files=True, resumable=others)
        files.append(assembled)
    merged = MultiValueDict()
    merged.setlist("files", files)
    return Upload(data, merged, resumable=tuple(pending))


def forget_resumable(upload: Upload) -> None:
    """The submission is stored: its resumable uploads' pieces go."""
    for ref, _name in upload.resumable:
        chunked.discard(ref.partition(".")[0])


def _json_error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_http_methods(["POST"])
def upload_start(request: HttpRequest) -> HttpResponse:
    """A resumable upload begins (JavaScript only): its declared size in, an id and a token out."""
    if refused := must_wait("upload"):
        message, status, _ = refused
        return _json_error(message, status)
    try:
        size = json.loads(request.read(1000))["size"]
        if type(size) is not int:
            raise TypeError(size)
    except (ValueError, KeyError, TypeError):
        return _json_error(request_error_message("malformed"), 400)
    if size <= 0:
        return _json_error(refusal_message(Refusal("empty_file", 1)), 400)
    if size > settings.MAX_FILE_BYTES:
        return _json_error(refusal_message(Refusal("file_too_large", 1)), 413)
    try:
        upload_id, token = chunked.start(size)
    except OSError as exc:
        return _json_error(store_failed_message(exc), 503)
    return JsonResponse({"id": upload_id, "token": token, "chunk": chunked.CHUNK})


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def upload_piece(request: HttpRequest, upload_id: str, index: int | None = None) -> HttpResponse:
    """PUT a piece (sent again after a failure, it replaces itself); GET the next one due."""
    token = request.META.get("HTTP_X_UPLOAD_TOKEN", "")
    try:
        if request.method == "GET":
            return JsonResponse({"next": chunked.next_missing(upload_id, token)})
        if index is None:
            raise chunked.Invalid("no piece")
        if capacity.refusal():  # the disk guard holds for pieces too
            return _json_error(busy_server_message(), 503)
        chunked.put(upload_id, token, index, request.read(chunked.CHUNK + 1))
    except chunked.Invalid:
        return _json_error(request_error_message("malformed"), 400)
    except OSError as exc:  # a dropped connection, a full disk: the script sends it again
        return _json_error(store_failed_message(exc), 503)
    return JsonResponse({"stored": index})


def must_wait(endpoint: str) -> tuple[str, int, int] | None:
    """Whether a post to a public form must wait, asked before its body is read: the source's
    message, the status and the seconds for Retry-After. Too many posts this minute (for
    everyone together), or too much waiting to be cleaned / too little disk (capacity.py)."""
    if seconds := ratelimit.wait(endpoint, settings.SUBMISSIONS_PER_MINUTE):
        return busy_sending_message(seconds), 429, seconds
    if capacity.refusal():
        return busy_server_message(), 503, 300
    return None


def store_failed_message(exc: Exception) -> str:
    # Class name only: database errors can quote the values they failed on.
    logger.error("tip.store_failed error=%s", type(exc).__name__)
    return _(
        "We could not store your submission just now. Nothing was kept. "
        "Please try again in a few minutes."
    )


def kept_fields(data: QueryDict | None) -> TipForm:
    """The form again with what the source wrote (never the files), after a refusal."""
    data = data or QueryDict()
    return TipForm(initial={"note": data.get("note", ""), "links": data.get("links", "")})


# Public pages set no cookie at all, so there is no CSRF cookie to check. Cross-site posting
# can only create a tip (no identity, no session is involved); it is not a CSRF target.
@csrf_exempt
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _form_page(request, TipForm())
    if refused := must_wait("submit"):  # before the body is read: nothing of it is stored
        message, status, retry = refused
        response = _form_page(request, TipForm(), error=message, status=status)
        response["Retry-After"] = str(retry)
        return response
    upload = read_upload(request)
    if not upload.error:
        upload = with_resumable(request, upload)
    if upload.error:
        where = "files_error" if upload.about_files else "error"
        return _form_page(request, kept_fields(upload.data), status=upload.status,
                          resumable=upload.resumable, **{where: upload.error})  # fmt: skip
    form = TipForm(upload.data, upload.files)
    if not form.is_valid():
        upload_state(request).discard()
        return _form_page(request, form, status=400, resumable=upload.resumable)
    try:
        code = services.submission_create(
            note=form.cleaned_data["note"],
            links=form.cleaned_data["links"],
            uploads=form.cleaned_data["files"],
        )
    except Exception as exc:  # noqa: BLE001 - the source gets a clear page, never a 500
        upload_state(request).discard()
        return _form_page(request, form, status=503, error=store_failed_message(exc),
                          resumable=upload.resumable)  # fmt: skip
    forget_resumable(upload)
    return render(request, "submissions/receipt.html", {"code": code})
