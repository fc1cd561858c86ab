"""The editors' queue and tip pages. What the source sent is read-only and decrypted per
request; what editors write (status, priority, assignee, labels, title, summary) is theirs.

Notes, links and file names from sources are shown as escaped text, never as live links or
HTML: a source (or an attacker posing as one) controls them. Every triage change goes into the
tip's history and the audit log.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from newsroom import audit
from newsroom.models import AuditEvent
from newsroom.sites import ReadOnlyMixin

from . import crypto, selectors, services
from .keys import KeyUnavailable
from .models import Attachment, Label, SourceMessage, Tip, TipChange

UNAVAILABLE = "(locked: sign in again with your password to read this)"


class AttachmentInline(ReadOnlyMixin, admin.TabularInline):
    model = Attachment
    extra = 0
    can_delete = False
    fields = ["position", "sent_with", "preview", "state", "reason", "kind", "size",
              "original_name", "removed", "download"]  # fmt: skip
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Attachments are part of the tip: whoever may view the tip sees its files.
        return request.user.has_perm("submissions.view_tip")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attachment]:
        return super().get_queryset(request).select_related("message")

    @admin.display(description="sent with")
    def sent_with(self, obj: Attachment) -> str:
        if obj.message is None:
            return "the tip"
        return f"message of {date_format(obj.message.created_at, 'DATETIME_FORMAT')}"

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
        if isinstance(duration := report.get("duration"), int | float):
            minutes, seconds = divmod(round(duration), 60)
            items.insert(0, f"length {minutes}:{seconds:02d}")
        if not items:
            return "—"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((i,) for i in items))
        )

    @admin.display(description="preview")
    def preview(self, obj: Attachment) -> SafeString | str:
        if obj.state != Attachment.State.CLEAN:
            return "—"
        poster = "" if obj.sealed_preview is None else reverse("staff:preview", args=[obj.pk])
        if obj.category in ("audio", "video") and obj.kind in selectors.PLAYABLE:
            # A player over the cleaned file (byte ranges: it seeks); nothing loads until played.
            media = reverse("staff:media", args=[obj.pk])
            tag = "video" if obj.category == "video" else "audio"
            extra = format_html(' poster="{}"', poster) if poster else ""
            player = '<{} controls preload="none" src="{}"{} class="tipline-player"></{}>'
            return format_html(player, tag, media, extra, tag)
        if not poster:
            return "—"
        return format_html('<img src="{}" alt="preview of file {}" class="tipline-preview">',
                           poster, obj.position)  # fmt: skip

    @admin.display(description="file")
    def download(self, obj: Attachment) -> SafeString | str:
        if obj.state != Attachment.State.CLEAN:
            return "—"
        url = reverse("staff:download", args=[obj.pk])
        return format_html('<a href="{}">download cleaned file</a>', url)


PENDING = [Attachment.State.RECEIVED, Attachment.State.SCRUBBING]
PROBLEMS = [Attachment.State.REJECTED, Attachment.State.FAILED]


class QuickViewFilter(admin.SimpleListFilter):
    """Saved views: the links editors use every morning."""

    title = "view"
    parameter_name = "view"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("mine", "My open tips"), ("unassigned", "Unassigned open tips"),
                ("week", "New this week"),
                ("unread", "With unread messages from the source")]  # fmt: skip

    def queryset(self, request: HttpRequest, queryset: QuerySet[Tip]) -> QuerySet[Tip]:
        if self.value() == "mine":
            return queryset.filter(assignee=request.user, status__in=Tip.OPEN)
        if self.value() == "unassigned":
            return queryset.filter(assignee__isnull=True, status__in=Tip.OPEN)
        if self.value() == "week":
            return queryset.filter(created_at__gte=timezone.now() - timedelta(days=7))
        if self.value() == "unread":
            return queryset.filter(pk__in=_unread().values("tip_id"))
        return queryset


def _unread() -> QuerySet[SourceMessage]:
    return SourceMessage.objects.filter(read_at__isnull=True).order_by()


class FilesFilter(admin.SimpleListFilter):
    title = "files"
    parameter_name = "files"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Being cleaned"), ("problems", "Rejected or failed"),
                ("image", "With photos"), ("video", "With videos"), ("audio", "With audio"),
                ("document", "With documents"), ("none", "No files")]  # fmt: skip

    def queryset(self, request: HttpRequest, queryset: QuerySet[Tip]) -> QuerySet[Tip]:
        value = self.value()
        # tip IN (SELECT tip_id ...): one hashed pass over the files, not a probe per tip.
        if value == "pending":
            return queryset.filter(pk__in=_tips_with(state__in=PENDING))
        if value == "problems":
            return queryset.filter(pk__in=_tips_with(state__in=PROBLEMS))
        if value in ("image", "video", "audio", "document"):
            return queryset.filter(pk__in=_tips_with(category=value))
        if value == "none":
            return queryset.exclude(pk__in=_tips_with())
        return queryset


def _tips_with(**filters: object) -> QuerySet[Attachment]:
    return Attachment.objects.filter(**filters).order_by().values("tip_id")


class TipChangeList(ChangeList):
    """After the page is chosen, one grouped query counts the files of its tips (by kind and
    by state): a constant number of queries, and nothing computed for rows not shown."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Tip]:
        # The list shows none of the sealed content: it is not fetched (up to tens of KB a tip).
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer("sealed_content", "receipt_hash", "summary")

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        tips = list(self.result_list)  # evaluated once; the template and formset reuse it
        counts: dict[object, Counter[str]] = {tip.pk: Counter() for tip in tips}
        rows = (
            Attachment.objects.filter(tip__in=list(counts))
            .order_by()
            .values_list("tip", "category", "state")
            .annotate(n=Count("pk"))
        )
        for tip_id, category, state, n in rows:
            found = counts[tip_id]
            found["total"] += n
            if state in PENDING:
                found["pending"] += n
            elif state in PROBLEMS:
                found["problems"] += n
            elif category:
                found[category] += n
        unread = dict(
            _unread().filter(tip__in=list(counts)).values_list("tip").annotate(n=Count("pk"))
        )
        for tip in tips:
            tip.file_counts = counts[tip.pk]  # type: ignore[attr-defined]
            tip.unread_messages = unread.get(tip.pk, 0)  # type: ignore[attr-defined]


def _files(tip: Tip) -> Counter[str]:
    return getattr(tip, "file_counts", Counter())


class LabelFilter(admin.SimpleListFilter):
    """By label, through EXISTS: the stock M2M filter adds a DISTINCT over the whole table."""

    title = "label"
    parameter_name = "label"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(pk), name) for pk, name in Label.objects.values_list("pk", "name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Tip]) -> QuerySet[Tip]:
        if not (self.value() or "").isdigit():
            return queryset
        tagged = Tip.labels.through.objects.filter(label_id=self.value()).values("tip_id")
        return queryset.filter(pk__in=tagged)


class QuickSelect(forms.Select):
    """The queue's status and priority selects, 50 rows of them: written directly, their
    options once per language and value, instead of a template render per option (two thirds
    of the page's time). Choices are our constants; format_html still escapes everything."""

    _options: ClassVar[dict[tuple[object, ...], SafeString]] = {}

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:  # fmt: skip
        selected = "" if value is None else str(value)
        keys = tuple(str(key) for key, _ in self.choices)
        cache_key = (keys, get_language(), selected)
        options = self._options.get(cache_key)
        if options is None:
            options = format_html_join(
                "", "<option value=\"{}\"{}>{}</option>",
                ((key, " selected" if str(key) == selected else "", str(label))
                 for key, label in self.choices),
            )  # fmt: skip
            self._options[cache_key] = options
        final = self.build_attrs(self.attrs, attrs)
        attributes = format_html_join("", ' {}="{}"', final.items())
        return format_html('<select name="{}"{}>{}</select>', name, attributes, options)


class QuickHidden(forms.HiddenInput):
    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None,
               renderer: Any = None) -> SafeString:  # fmt: skip
        final = self.build_attrs(self.attrs, attrs)
        shown = "" if value is None else self.format_value(value)
        return format_html('<input type="hidden" name="{}" value="{}"{}>', name, shown or "",
                           format_html_join("", ' {}="{}"', final.items()))  # fmt: skip


class QuickFormSet(BaseModelFormSet):
    """The queue's formset, with its row ids in QuickHidden inputs."""

    def add_fields(self, form: Any, index: Any) -> None:
        super().add_fields(form, index)
        field = form.fields.get(self.model._meta.pk.name)
        if field is not None:
            field.widget = QuickHidden()


class TipChangeInline(ReadOnlyMixin, admin.TabularInline):
    model = TipChange
    extra = 0
    can_delete = False
    fields = ["at", "actor", "field", "old", "new"]
    readonly_fields = fields
    verbose_name_plural = "history"

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.has_perm("submissions.view_tip")


TRIAGE_FIELDS = ["status", "priority", "assignee", "title", "summary", "legal_hold"]


class TipForm(ModelForm):
    new_comment = forms.CharField(
        label="Add a comment", required=False, max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For editors only; stored encrypted. The source never sees it.",
    )  # fmt: skip

    new_reply = forms.CharField(
        label="Reply to the source", required=False, max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Encrypted to the source's key and the newsroom's: the source reads it with "
        "their receipt code. Signed as the newsroom, never with your name.",
    )  # fmt: skip

    class Meta:
        model = Tip
        fields = ["status", "priority", "assignee", "labels", "title", "summary"]

    def clean_new_reply(self) -> str:
        body = self.cleaned_data.get("new_reply", "").strip()
        if body and not self.instance.source_recipient:
            raise forms.ValidationError(
                "This tip was sent before replies existed: its source has no key to read one."
            )
        return body


@admin.register(Tip)
class TipAdmin(admin.ModelAdmin):
    list_display = ["tip", "created_at", "status", "priority", "assignee", "label_list",
                    "photos", "videos", "audio", "documents", "link_total", "files",
                    "new_messages"]  # fmt: skip
    list_display_links = ["tip"]
    list_editable = ["status", "priority"]
    list_filter = [QuickViewFilter, "status", "priority", "assignee", LabelFilter, FilesFilter,
                   "created_at"]  # fmt: skip
    list_select_related = ["assignee"]
    list_per_page = 25  # a laptop screen's worth
    search_fields = ["title", "summary", "labels__name"]
    search_help_text = "Searches what editors wrote (title, summary, labels), never the tips."
    ordering = ["-created_at"]
    # No date_hierarchy: its DISTINCT over every tip's date costs more than the whole page.
    # "New this week" and the date filter cover it.
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["short_id", "created_at", "note", "links"]}),
        ("Messages from the source", {"fields": ["source_messages"]}),
        (
            "Triage",
            {
                "fields": [
                    "status",
                    "priority",
                    "assignee",
                    "labels",
                    "title",
                    "summary",
                    "legal_hold",
                ]
            },
        ),
        ("Replies to the source", {"fields": ["reply_list", "new_reply"]}),
        ("Comments", {"fields": ["comment_list", "new_comment"]}),
        ("Who looked at it", {"fields": ["seen_by"], "classes": ["collapse"]}),
    ]
    form = TipForm
    readonly_fields = ["short_id", "created_at", "note", "links", "source_messages",
                       "reply_list", "comment_list", "seen_by"]  # fmt: skip
    inlines = [AttachmentInline, TipChangeInline]

    class Media:
        js = ["tipline/staff/copy.js"]

    actions = ["assign_to_me", "mark_spam", "delete_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tips come from sources only

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> Any:
        """Each row posts what it showed beside what it sends: a row an editor did not touch
        is not saved, so a colleague's change made meanwhile is not written back over."""
        base = super().get_changelist_form(request, **kwargs)

        class RowForm(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                for field in self.fields.values():
                    field.show_hidden_initial = True
                    field.hidden_widget = QuickHidden

        return RowForm

    def get_changelist_formset(self, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs["widgets"] = {"status": QuickSelect, "priority": QuickSelect}
        kwargs["formset"] = QuickFormSet
        return super().get_changelist_formset(request, **kwargs)

    def action_checkbox(self, obj: Tip) -> SafeString:
        """The stock checkbox, written directly (a template render per row otherwise)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" '
            'aria-label="Select this object for an action - {}">',
            helpers.ACTION_CHECKBOX_NAME, str(obj.pk), str(obj),
        )  # fmt: skip

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, object] | None = None) -> HttpResponse:  # fmt: skip
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            if hasattr(response, "render"):
                response.render()  # shown as unread on this page; read from now on
            audit.record("tip_viewed", actor=request.user, target=f"tip:{object_id}")
            # Only what this page showed decrypted: not what arrived meanwhile, nor what a
            # locked session could not open.
            context = getattr(response, "context_data", None) or {}
            shown = getattr(context.get("original"), "unread_shown", [])
            if shown and services.source_messages_read(
                ids=shown, reader=request.user.get_username()
            ):
                audit.record("source_messages_read", actor=request.user,
                             target=f"tip:{object_id}")  # fmt: skip
        return response

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tip]:
        return super().get_queryset(request).prefetch_related("labels")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return TipChangeList

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Tip],
                           search_term: str) -> tuple[QuerySet[Tip], bool]:  # fmt: skip
        """Title, summary or a label's name; labels through EXISTS, so no DISTINCT over the
        whole table (the stock search joined the labels and took seconds on 100 000 tips)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        labels = Label.objects.filter(name__icontains=term).values("pk")
        labelled = Tip.labels.through.objects.filter(label__in=labels).values("tip_id")
        matches = Q(title__icontains=term) | Q(summary__icontains=term) | Q(pk__in=labelled)
        return queryset.filter(matches), False

    # ------------------------------------------------------------------ columns

    @admin.display(description="tip", ordering="title")
    def tip(self, obj: Tip) -> str:
        return obj.title or f"Tip {str(obj.pk)[:8]}"

    @admin.display(description="tip")
    def short_id(self, obj: Tip) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="labels")
    def label_list(self, obj: Tip) -> str:
        return ", ".join(label.name for label in obj.labels.all()) or "—"

    @admin.display(description="photos")
    def photos(self, obj: Tip) -> int:
        return _files(obj)["image"]

    @admin.display(description="videos")
    def videos(self, obj: Tip) -> int:
        return _files(obj)["video"]

    @admin.display(description="audio")
    def audio(self, obj: Tip) -> int:
        return _files(obj)["audio"]

    @admin.display(description="documents")
    def documents(self, obj: Tip) -> int:
        return _files(obj)["document"]

    @admin.display(description="links", ordering="link_count")
    def link_total(self, obj: Tip) -> int:
        return obj.link_count

    @admin.display(description="files")
    def files(self, obj: Tip) -> str:
        counts = _files(obj)
        total = counts["total"]
        if not total:
            return "no files"
        parts = []
        if pending := counts["pending"]:
            parts.append(f"{pending} being cleaned")
        if problems := counts["problems"]:
            parts.append(f"{problems} rejected or failed")
        clean = total - pending - problems
        return ", ".join([f"{clean} clean", *parts]) if parts else f"{clean} clean"

    @admin.display(description="from the source")
    def new_messages(self, obj: Tip) -> str:
        unread = getattr(obj, "unread_messages", 0)
        return f"{unread} unread" if unread else "—"

    @admin.display(description="sent after the tip (newest last; not clickable)")
    def source_messages(self, obj: Tip) -> SafeString | str:
        try:
            sent = selectors.tip_source_messages(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        obj.unread_shown = [m.id for m in sent if m.unread]  # type: ignore[attr-defined]
        if not sent:
            return "—"
        return format_html_join("", "<div class=\"source-message\"><p><strong>{}</strong>{}{}</p>"
                                '<pre class="source-text">{}</pre>{}</div>', (
            (date_format(m.created_at, "DATETIME_FORMAT"),
             mark_safe(" <mark>unread</mark>") if m.unread else "",
             f" — files {', '.join(map(str, m.positions))} (below)" if m.positions else "",
             m.content.note or "—", _inert_links(m.content.links))
            for m in sent
        ))  # fmt: skip

    @admin.display(description="note")
    def note(self, obj: Tip) -> SafeString | str:
        try:
            content = selectors.tip_content(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        return format_html('<pre class="source-text">{}</pre>', content.note or "—")

    @admin.display(description="links (not clickable: copy them into a safe browser)")
    def links(self, obj: Tip) -> SafeString | str:
        try:
            content = selectors.tip_content(obj)
        except (KeyUnavailable, crypto.DecryptionError):
            return UNAVAILABLE
        return _inert_links(content.links) if content.links else "—"

    @admin.display(description="comments")
    def comment_list(self, obj: Tip) -> SafeString | str:
        return _messages(selectors.tip_comments, obj)

    @admin.display(description="audit trail (latest 50)")
    def seen_by(self, obj: Tip) -> SafeString | str:
        files = [f"attachment:{pk}" for pk in obj.attachments.values_list("pk", flat=True)]
        events = AuditEvent.objects.filter(target__in=[f"tip:{obj.pk}", *files])
        rows = [
            (date_format(e.at, "DATETIME_FORMAT"), e.actor or "system", e.action.replace("_", " "))
            for e in events.order_by("-sequence")[:50]
        ]
        if not rows:
            return "—"
        items = format_html_join("", "<li>{} — {} — {}</li>", rows)
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="replies sent")
    def reply_list(self, obj: Tip) -> SafeString | str:
        return _messages(selectors.tip_replies, obj)

    # ------------------------------------------------------------ changes on record

    def save_model(self, request: HttpRequest, obj: Tip, form: ModelForm, change: bool) -> None:
        if change and obj.pk:
            columns = ["assignee_id" if f == "assignee" else f for f in TRIAGE_FIELDS]
            before = Tip.objects.filter(pk=obj.pk).values(*columns).first()
            if before is not None:  # fields this form did not change keep their current value
                for field in TRIAGE_FIELDS:
                    if field in form.fields and field not in form.changed_data:
                        key = "assignee_id" if field == "assignee" else field
                        setattr(obj, key, before[key])
            super().save_model(request, obj, form, change)
            for field in form.changed_data:
                if field in TRIAGE_FIELDS and before is not None:
                    key = "assignee_id" if field == "assignee" else field
                    _record(request, obj, field, _shown(field, before[key]),
                            _shown(field, getattr(obj, key)))  # fmt: skip
            return
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: Any,
                     change: bool) -> None:  # fmt: skip
        before = sorted(label.name for label in form.instance.labels.all())
        super().save_related(request, form, formsets, change)
        after = sorted(label.name for label in form.instance.labels.all())
        if before != after:
            _record(request, form.instance, "labels", ", ".join(before), ", ".join(after))
        if reply := form.cleaned_data.get("new_reply", ""):
            sent = services.reply_add(tip=form.instance, author=request.user.get_username(),
                                      body=reply)  # fmt: skip
            audit.record("reply_sent", actor=request.user, target=f"reply:{sent.pk}")
        if body := form.cleaned_data.get("new_comment", "").strip():
            comment = services.comment_add(tip=form.instance, author=request.user.get_username(),
                                           body=body)  # fmt: skip
            audit.record("comment_added", actor=request.user, target=f"comment:{comment.pk}")

    # ----------------------------------------------------------------- bulk actions

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            return actions
        for value, label in Tip.Status.choices:
            name = f"set_status_{value}"
            actions[name] = (_status_action(value), name, f"Set status: {label}")
        for label_id, name in Label.objects.values_list("pk", "name"):
            key = f"add_label_{label_id}"
            actions[key] = (_label_action(label_id, name), key, f"Add label: {name}")
        if "delete_selected" in actions:
            function, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (function, name, "Purge selected tips and their files")
        return actions

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Tip]) -> None:
        _bulk_update(request, queryset, "assignee", request.user)

    @admin.action(description="Mark as spam", permissions=["change"])
    def mark_spam(self, request: HttpRequest, queryset: QuerySet[Tip]) -> None:
        _bulk_update(request, queryset, "status", Tip.Status.SPAM)

    # ------------------------------------------------------------------- purging

    def delete_model(self, request: HttpRequest, obj: Tip) -> None:
        self.delete_queryset(request, Tip.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tip]) -> None:
        """Purge (services.tips_purge); tips on legal hold are kept, and the editor told."""
        held = queryset.filter(legal_hold=True).count()
        services.tips_purge(queryset.values_list("pk", flat=True), actor=request.user)
        if held:
            self.message_user(request, f"{held} tip(s) on legal hold were kept.",
                              level=messages.WARNING)  # fmt: skip


def _messages(read: Any, tip: Tip) -> SafeString | str:
    """Comments or replies, decrypted and escaped, oldest first."""
    try:
        messages_ = read(tip)
    except (KeyUnavailable, crypto.DecryptionError):
        return UNAVAILABLE
    if not messages_:
        return "—"
    return format_html_join(
        "", '<p><strong>{}</strong>, {}{}</p><pre class="source-text">{}</pre>',
        ((m.author, date_format(m.created_at, "DATETIME_FORMAT"), _reply_state(m), m.body)
         for m in messages_),
    )  # fmt: skip


def _reply_state(message: selectors.CommentView) -> str:
    if not message.reply:
        return ""
    if message.source_deleted_at is not None:
        when = date_format(message.source_deleted_at, "DATETIME_FORMAT")
        return f" — read and deleted by the source ({when})"
    if message.read_at is not None:
        return f" — read by the source ({date_format(message.read_at, 'DATETIME_FORMAT')})"
    return " — not read by the source yet"


def _inert_links(links: list[str]) -> SafeString | str:
    """Links as text with a copy button and their real domain: never a live link."""
    if not links:
        return ""
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "", '<li><code>{}</code> <button type="button" data-copy="{}">copy</button><br>'
            "<small>domain: <code>{}</code></small></li>",
            ((link, link, ascii_domain(link)) for link in links),
        ),
    )  # fmt: skip


def ascii_domain(link: str) -> str:
    """The link's host as DNS sees it (punycode): a look-alike written with Cyrillic letters
    shows as xn--…, not as the brand it imitates."""
    parts = urlsplit(link.replace("\\", "/"))  # as browsers read it
    host = parts.hostname or ""
    try:
        shown = host.encode("idna").decode("ascii")
    except UnicodeError:
        shown = host.encode("ascii", "backslashreplace").decode("ascii")
    if parts.username is not None:  # https://good.example@evil.example/ goes to evil.example
        shown += " (the link starts with a user name before “@”: it does not go where it seems)"
    return shown


def _shown(field: str, value: object) -> str:
    """A triage value as the history shows it (a username for the assignee)."""
    if field == "assignee":
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.filter(pk=value).first() if value else None
        return user.get_username() if user else ""
    if field == "priority" and value:
        return str(Tip.Priority(value).label)
    if field == "status" and value:
        return str(Tip.Status(value).label)
    return str(value or "")[:200]


def _record(request: HttpRequest, tip: Tip, field: str, old: str, new: str) -> None:
    if field in ("title", "summary"):  # free text: what was removed from it must stay removed
        old, new = ("(edited)" if old else ""), ("(edited)" if new else "")
    TipChange.objects.create(tip=tip, actor=request.user.get_username(), field=field,
                             old=old[:200], new=new[:200])  # fmt: skip
    audit.record("tip_changed", actor=request.user, target=f"tip:{tip.pk}", detail=field)


def _bulk_update(request: HttpRequest, queryset: QuerySet[Tip], field: str, value: Any) -> None:
    key = "assignee_id" if field == "assignee" else field
    stored = value.pk if field == "assignee" else value
    changed = 0
    with transaction.atomic():
        ids = list(queryset.values_list("pk", flat=True))
        for tip in Tip.objects.select_for_update().filter(pk__in=ids).only("pk", key):
            old = getattr(tip, key)
            if old == stored:
                continue
            Tip.objects.filter(pk=tip.pk).update(**{key: stored})
            _record(request, tip, field, _shown(field, old), _shown(field, stored))
            changed += 1
    messages.success(request, f"{changed} tip(s) changed.")


def _status_action(value: str) -> Any:
    def action(model_admin: TipAdmin, request: HttpRequest, queryset: QuerySet[Tip]) -> None:
        _bulk_update(request, queryset, "status", value)

    action.allowed_permissions = ("change",)  # type: ignore[attr-defined]
    return action


def _label_action(label_id: int, name: str) -> Any:
    def action(model_admin: TipAdmin, request: HttpRequest, queryset: QuerySet[Tip]) -> None:
        added = 0
        with transaction.atomic():
            for tip in queryset.exclude(labels=label_id):
                tip.labels.add(label_id)
                _record(request, tip, "labels", "", f"+ {name}")
                added += 1
        messages.success(request, f"Label “{name}” added to {added} tip(s).")

    action.allowed_permissions = ("change",)  # type: ignore[attr-defined]
    return action


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "tip_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Label]:
        return super().get_queryset(request).annotate(n_tips=Count("tips"))

    @admin.display(description="tips", ordering="n_tips")
    def tip_count(self, obj: Label) -> int:
        return obj.n_tips  # type: ignore[attr-defined]
