"""Editor-facing views outside the admin's own pages: the decrypted download."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from .. import scrub, selectors


@staff_member_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: str) -> StreamingHttpResponse:
    attachment = selectors.attachment_for_download(user=request.user, attachment_id=attachment_id)
    response = StreamingHttpResponse(
        selectors.attachment_plaintext(attachment), content_type="application/octet-stream"
    )
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
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
