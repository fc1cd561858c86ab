"""Editor-facing views outside the admin's own pages: the decrypted download."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from newsroom import audit
from newsroom.sites import verified_staff_required

from .. import scrub, selectors
from ..crypto import DecryptionError
from ..keys import KeyUnavailable

# A file from a source, served to an editor: nothing in it may run, load or be framed.
FILE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"


@verified_staff_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: str) -> StreamingHttpResponse:
    # selectors is the gate: staff, second factor, permission; the same 404 otherwise.
    attachment = selectors.attachment_for_download(user=request.user, attachment_id=attachment_id)
    try:
        plaintext = selectors.attachment_plaintext(attachment, user=request.user)
    except KeyUnavailable:
        raise Http404 from None  # signed in without unlocking (or access revoked)
    response = StreamingHttpResponse(plaintext, content_type="application/octet-stream")
    # Always a download, never rendered by the browser: the file came from a stranger.
    report = selectors.attachment_report(attachment)
    extension = str(report.get("extension") or "") or scrub.EXTENSIONS.get(
        attachment.kind, attachment.kind or "bin"
    )
    name = f"tip-{str(attachment.tip_id)[:8]}-{attachment.position}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Content-Length"] = str(attachment.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = FILE_CSP
    return response


@verified_staff_required
@require_GET
def attachment_preview(request: HttpRequest, attachment_id: str) -> HttpResponse:
    """A JPEG we made ourselves from the cleaned file: shown inline, as nothing but an image."""
    try:
        image = selectors.attachment_preview(user=request.user, attachment_id=attachment_id)
    except (KeyUnavailable, DecryptionError):
        raise Http404 from None
    response = HttpResponse(image, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = FILE_CSP
    response["Content-Disposition"] = 'inline; filename="preview.jpg"'
    return response


RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@verified_staff_required
@require_GET
def attachment_media(request: HttpRequest, attachment_id: str) -> StreamingHttpResponse:
    """The cleaned audio or video, for the tip page's player: byte ranges, so it seeks."""
    attachment, media_type = selectors.attachment_media(user=request.user,
                                                        attachment_id=attachment_id)  # fmt: skip
    size = attachment.size
    start, end, status = 0, size - 1, 200
    match = RANGE.match(request.headers.get("Range", ""))
    if match and len(match.group(0)) < 50:  # else: not a range we serve; the whole file
        first = int(match.group(1))
        last = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
        if first >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response  # type: ignore[return-value]
        if first <= last:  # an inverted range is ignored (RFC 9110): the whole file
            start, end, status = first, last, 206
    try:
        body = selectors.attachment_range(attachment, start, end)
    except (KeyUnavailable, DecryptionError):
        raise Http404 from None
    # On record once per session and file, whatever ranges the player asks for.
    played = request.session.get("tipline_played", [])
    if str(attachment.pk) not in played:
        audit.record("file_played", actor=request.user, target=f"attachment:{attachment.pk}")
        request.session["tipline_played"] = [*played[-200:], str(attachment.pk)]
    response = StreamingHttpResponse(body, status=status, content_type=media_type)
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(end - start + 1)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    response["Content-Security-Policy"] = FILE_CSP
    response["Content-Disposition"] = "inline"
    return response
