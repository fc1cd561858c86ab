"""The editors' view of tips. Read-only: everything shown is decrypted per request.

Notes and links from sources are shown as escaped text, never as live links or HTML: a source
(or an attacker posing as one) controls them.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from newsroom import audit

from . import crypto, selectors
from .keys import KeyUnavailable
from .models import Attachment, Tip

UNAVAILABLE = "(locked: sign in again with your password to read this)"


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AttachmentInline(ReadOnlyMixin, admin.TabularInline):
    model = Attachment
    extra = 0
    can_delete = False
    fields = ["position", "state", "reason", "kind", "size", "original_name", "removed", "download"]
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Attachments are part of the tip: whoever may view the tip sees its files.
        return request.user.has_perm("submissions.view_tip")

    @admin.display(description="original name")
    def original_name(self, obj: Attachment) -> str:
        try:
            return selectors.attachment_meta(obj).filename
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE

    @admin.display(description="metadata removed")
    def removed(self, obj: Attachment) -> SafeString | str:
        try:
            report = selectors.attachment_report(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        items = [*(report.get("removed") or []), *(report.get("notes") or [])]
        if not items:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((i,) for i in items))
        )

    @admin.display(description="file")
    def download(self, obj: Attachment) -> SafeString | str:
        if obj.state != Attachment.State.CLEAN:
            return "—"
        url = reverse("staff:download", args=[obj.pk])
        return format_html('<a href="{}">download cleaned file</a>', url)


@admin.register(Tip)
class TipAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["short_id", "created_at", "file_count", "states", "kinds"]
    list_filter = ["created_at"]
    date_hierarchy = "created_at"
    fields = ["short_id", "created_at", "note", "links"]
    readonly_fields = fields
    inlines = [AttachmentInline]
    show_full_result_count = False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, object] | None = None) -> HttpResponse:  # fmt: skip
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            audit.record("tip_viewed", actor=request.user, target=f"tip:{object_id}")
        return response

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tip]:
        states = {
            f"n_{state}": Count("attachments", filter=Q(attachments__state=state))
            for state in Attachment.State.values
        }
        return (
            super()
            .get_queryset(request)
            .annotate(n_files=Count("attachments"), **states)
            .prefetch_related("attachments")
        )

    @admin.display(description="tip")
    def short_id(self, obj: Tip) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="files", ordering="n_files")
    def file_count(self, obj: Tip) -> int:
        return getattr(obj, "n_files", obj.attachments.count())

    @admin.display(description="state")
    def states(self, obj: Tip) -> str:
        parts = [
            f"{getattr(obj, f'n_{state}', 0)} {label}"
            for state, label in Attachment.State.choices
            if getattr(obj, f"n_{state}", 0)
        ]
        return ", ".join(parts) or "no files"

    @admin.display(description="kinds")
    def kinds(self, obj: Tip) -> str:
        counts: dict[str, int] = {}
        for attachment in obj.attachments.all():
            kind = attachment.kind or "pending"
            counts[kind] = counts.get(kind, 0) + 1
        return ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items())) or "—"

    @admin.display(description="note")
    def note(self, obj: Tip) -> SafeString | str:
        try:
            content = selectors.tip_content(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', content.note or "—")

    @admin.display(description="links (not clickable: copy them into a safe browser)")
    def links(self, obj: Tip) -> SafeString | str:
        try:
            content = selectors.tip_content(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        if not content.links:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li><code>{}</code></li>", ((link,) for link in content.links)),
        )
