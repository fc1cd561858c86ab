"""The editors' queue: counts, saved views and filters, triage changes on record, bulk actions,
purging, search, and a number of queries that does not grow with the page."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from newsroom.models import AuditEvent
from submissions import clock, services
from submissions.admin import TipAdmin
from submissions.models import Attachment, Label, Tip, TipChange
from tests import fixtures
from tests.sources import receipt_code
from tests.staff import make_staff, sign_in
from tests.tools import database_bytes, scrub_bytes

pytestmark = pytest.mark.django_db

QUEUE = "/staff/submissions/tip/"
CATEGORIES = ["image", "video", "audio", "document"]


def seed(count: int, **fields: object) -> list[Tip]:
    """Tips as the queue sees them (no content needed): two files each, some labels."""
    labels = [Label.objects.get_or_create(name=name)[0] for name in ("harbour", "customs")]
    tips = Tip.objects.bulk_create(
        Tip(receipt_hash=secrets.token_hex(32), sealed_content=b"", link_count=n % 3, **fields)
        for n in range(count)
    )
    Attachment.objects.bulk_create(
        Attachment(tip=tip, position=position, size=1, blob_name="seed/none", sealed_meta=b"",
                   state=Attachment.State.CLEAN, category=CATEGORIES[(n + position) % 4])
        for n, tip in enumerate(tips) for position in (1, 2)
    )  # fmt: skip
    for tip in tips:
        tip.labels.add(*labels)
    return tips


@pytest.fixture
def editor(newsroom_identity):
    return make_staff("editor", newsroom_identity, role="Editors")


@pytest.fixture
def client(editor) -> Client:
    return sign_in(editor)


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_queue_queries_do_not_depend_on_the_page_size(client, monkeypatch):
    seed(120)
    counts = {}
    for per_page in (10, 100):
        monkeypatch.setattr(TipAdmin, "list_per_page", per_page)
        counts[per_page] = (_queries(client, QUEUE),
                            _queries(client, QUEUE + "?status__exact=new&files=image"))  # fmt: skip
    assert counts[10] == counts[100], counts


def test_queue_shows_counts_and_files_state(client):
    (tip,) = seed(1)
    Attachment.objects.filter(tip=tip, position=2).update(state=Attachment.State.REJECTED)
    body = client.get(QUEUE).content.decode()
    assert "1 clean, 1 rejected or failed" in body
    # A clean video counts; the rejected audio file counts as a problem, not as audio.
    for column, count in (("photos", 0), ("videos", 1), ("audio", 0), ("documents", 0)):
        assert f'<td class="field-{column}">{count}</td>' in body, column
    assert "customs, harbour" in body


def test_saved_views_and_filters(client, editor):
    mine = seed(1, title="MINE-OPEN", assignee=editor, status=Tip.Status.IN_REVIEW)[0]
    seed(1, title="MINE-DONE", assignee=editor, status=Tip.Status.PUBLISHED)
    seed(1, title="NOBODYS", status=Tip.Status.NEW)
    old = seed(1, title="OLD-SPAM", status=Tip.Status.SPAM)[0]
    Tip.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))

    def shown(query: str) -> set[str]:
        body = client.get(QUEUE + query).content.decode()
        return {t for t in ("MINE-OPEN", "MINE-DONE", "NOBODYS", "OLD-SPAM") if t in body}

    assert shown("?view=mine") == {"MINE-OPEN"}
    assert shown("?view=unassigned") == {"NOBODYS"}
    assert shown("?view=week") == {"MINE-OPEN", "MINE-DONE", "NOBODYS"}
    assert shown("?status__exact=spam") == {"OLD-SPAM"}
    assert shown(f"?assignee__id__exact={editor.pk}") == {"MINE-OPEN", "MINE-DONE"}
    assert mine.pk


def test_search_looks_only_at_what_editors_wrote(client, blob_dir, monkeypatch,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/en/", {"note": "SECRET-NOTE-WORD about the port"})
    Tip.objects.update(title="Port shipments")
    assert "Port shipments" in client.get(QUEUE + "?q=shipments").content.decode()
    assert "Port shipments" not in client.get(QUEUE + "?q=SECRET-NOTE-WORD").content.decode()


@pytest.fixture
def real_tip(blob_dir, monkeypatch, django_capture_on_commit_callbacks) -> Tip:
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        photo = SimpleUploadedFile("a.jpg", fixtures.jpeg_with_gps())
        Client().post("/en/", {"note": "a note", "links": "https://example.com/a",
                               "files": [photo]})  # fmt: skip
    tip = Tip.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.attachment_scrub(attachment_id=str(tip.attachments.get().pk))
    return tip


def test_triage_changes_go_into_the_history_and_the_audit_log(client, editor, real_tip):
    assert real_tip.link_count == 1
    attachment = real_tip.attachments.get()
    assert attachment.category == "image", attachment.reason
    label = Label.objects.create(name="customs")
    url = f"/staff/submissions/tip/{real_tip.pk}/change/"
    page = client.get(url).content.decode()
    form = {
        "status": "verifying", "priority": "3", "assignee": str(editor.pk),
        "labels": [str(label.pk)], "title": "Harbour bribes", "summary": "",
        "attachments-TOTAL_FORMS": "1", "attachments-INITIAL_FORMS": "1",
        "attachments-MIN_NUM_FORMS": "0", "attachments-MAX_NUM_FORMS": "1000",
        "attachments-0-id": str(real_tip.attachments.get().pk),
        "attachments-0-tip": str(real_tip.pk),
        "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0",
        "changes-MIN_NUM_FORMS": "0", "changes-MAX_NUM_FORMS": "1000",
        "new_comment": "COMMENT-CANARY: call the port <b>authority</b>",
    }  # fmt: skip
    assert "Triage" in page
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    real_tip.refresh_from_db()
    assert (real_tip.status, real_tip.priority, real_tip.assignee) == ("verifying", 3, editor)
    history = {(c.field, c.old, c.new) for c in TipChange.objects.filter(tip=real_tip)}
    assert {("status", "new", "verifying"), ("priority", "normal", "high"),
            ("assignee", "", "editor"), ("labels", "", "customs"),
            ("title", "", "(edited)")} <= history  # fmt: skip
    assert AuditEvent.objects.filter(action="tip_changed", target=f"tip:{real_tip.pk}").count() == 5
    page = client.get(url).content.decode()
    assert "verifying" in page and "Harbour bribes" in page
    assert "editor — tip viewed" in page and "editor — tip changed" in page  # the trail
    assert '<button type="button" data-copy="https://example.com/a">copy</button>' in page
    # The comment: shown escaped to editors, stored sealed, on record.
    assert "COMMENT-CANARY: call the port &lt;b&gt;authority&lt;/b&gt;" in page
    assert b"COMMENT-CANARY" not in database_bytes()
    assert AuditEvent.objects.filter(action="comment_added", actor="editor").exists()


def _action(client: Client, action: str, tips: list[Tip], **extra: str) -> object:
    return client.post(QUEUE, {"action": action, "_selected_action": [str(t.pk) for t in tips],
                               **extra})  # fmt: skip


def test_bulk_actions(client, editor):
    tips = seed(3)
    label = Label.objects.get(name="harbour")
    Tip.labels.through.objects.filter(label=label).delete()
    assert _action(client, "assign_to_me", tips).status_code == 302
    assert set(Tip.objects.values_list("assignee", flat=True)) == {editor.pk}
    _action(client, "set_status_verifying", tips[:2])
    assert sorted(Tip.objects.values_list("status", flat=True)) == ["new", "verifying", "verifying"]
    _action(client, f"add_label_{label.pk}", tips[:1])
    assert list(label.tips.all()) == [tips[0]]
    _action(client, "mark_spam", tips[2:])
    assert Tip.objects.get(pk=tips[2].pk).status == "spam"
    assert TipChange.objects.count() == 3 + 2 + 1 + 1
    # Editors do not purge: the action is not theirs ("no action selected").
    assert _action(client, "delete_selected", tips, post="yes").status_code == 302
    assert Tip.objects.count() == 3


def test_purge_asks_first_then_deletes_rows_and_files(
    real_tip, newsroom_identity, blob_dir, django_capture_on_commit_callbacks
):
    admin = sign_in(make_staff("boss", newsroom_identity, role="Admins"))
    blob = blob_dir / real_tip.attachments.get().blob_name
    assert blob.exists()
    confirm = _action(admin, "delete_selected", [real_tip])
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    assert Tip.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = _action(admin, "delete_selected", [real_tip], post="yes")
    assert done.status_code == 302
    assert not Tip.objects.exists() and not Attachment.objects.exists()
    assert not blob.exists()
    assert AuditEvent.objects.filter(action="tip_purged", target=f"tip:{real_tip.pk}").exists()


def test_media_reports_say_video_or_audio_and_how_long():
    _, report = scrub_bytes(fixtures.mov_with_location())
    assert report.category == "video"
    assert report.duration is not None and 0.5 <= report.duration <= 2  # 10 frames at 10 fps
    _, report = scrub_bytes(fixtures.mp3_with_tags())
    assert report.category == "audio"


def test_a_reply_opens_with_the_sources_code_and_the_newsroom_key_only(
    client, blob_dir, monkeypatch, django_capture_on_commit_callbacks, newsroom_identity, tmp_path
):

    from submissions import crypto, receipts
    from tests.tools import age_decrypt

    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        page = Client().post("/en/", {"note": "the note"}).content.decode()
    code = receipt_code(page)
    tip = Tip.objects.get()
    url = f"/staff/submissions/tip/{tip.pk}/change/"
    form = {"status": "new", "priority": "2", "title": "", "summary": "",
            "changes-TOTAL_FORMS": "0", "changes-INITIAL_FORMS": "0",
            "attachments-TOTAL_FORMS": "0", "attachments-INITIAL_FORMS": "0",
            "new_reply": "REPLY-CANARY: where was the photo taken?"}  # fmt: skip
    assert client.post(url, form).status_code == 302
    reply = tip.replies.get()
    assert reply.author == "editor"
    sealed, aad = bytes(reply.sealed), crypto.binding("reply", reply.pk, "body")
    source = receipts.source_identity(code, tip.pk)
    assert str(source.recipient) == tip.source_recipient
    for identity in (source, newsroom_identity):
        assert b"REPLY-CANARY" in crypto.open_bytes(sealed, identities=[identity], aad=aad)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(sealed, identities=[receipts.source_identity(code + "x", tip.pk)],
                          aad=aad)  # fmt: skip
    crypto.write_identity_file(tmp_path / "source.key", source)  # and the age CLI agrees
    (tmp_path / "reply.age").write_bytes(sealed)
    assert b"REPLY-CANARY" in age_decrypt(tmp_path / "reply.age", tmp_path / "source.key")
    assert b"REPLY-CANARY" not in database_bytes() and code.encode() not in database_bytes()
    assert "REPLY-CANARY" in client.get(url).content.decode()
    assert AuditEvent.objects.filter(action="reply_sent", actor="editor").exists()


def test_the_digest_counts_new_tips_and_says_nothing_else(newsroom_identity, mailoutbox):
    from newsroom.notify import SUBJECT, send_digest

    make_staff("editor", newsroom_identity).__class__.objects.filter(username="editor").update(
        email="editor@newsroom.example"
    )
    make_staff("admin-only", newsroom_identity, role="Admins").__class__.objects.filter(
        username="admin-only"
    ).update(email="admin@newsroom.example")
    from newsroom.models import Watermark

    assert send_digest() == 0  # the first run starts the clock
    tips = seed(3, title="SECRET-TITLE")
    # Times are kept to the hour (clock.py): a tip stamped this hour may still be committing.
    this_hour = clock.coarse_now()
    assert {tip.created_at for tip in Tip.objects.all()} == {this_hour}
    Watermark.objects.update(at=this_hour - timedelta(hours=3))  # the clock started earlier
    assert send_digest() == 0 and not mailoutbox  # not yet: this hour is not over
    Tip.objects.update(created_at=this_hour - timedelta(hours=2))  # an hour that is
    assert send_digest() == 1
    (message,) = mailoutbox
    assert message.subject == SUBJECT and message.to == ["editor@newsroom.example"]
    assert message.body.startswith("3 new tips since the last e-mail.")
    for tip in tips:
        assert str(tip.pk)[:8] not in message.body + message.subject
    assert "SECRET-TITLE" not in message.body and "harbour" not in message.body
    assert send_digest() == 0 and len(mailoutbox) == 1  # nothing new: nothing sent
    # A source's message counts too, and says as little.
    from submissions.models import SourceMessage

    SourceMessage.objects.create(tip=tips[0], number=1, sealed_content=b"x",
                                 created_at=this_hour - timedelta(hours=2))  # fmt: skip
    Watermark.objects.update(at=this_hour - timedelta(hours=3))
    Tip.objects.update(created_at=this_hour - timedelta(hours=4))
    assert send_digest() == 1
    assert mailoutbox[1].body.startswith("1 new message from sources since the last e-mail.")


def test_saving_the_queue_does_not_undo_a_colleagues_change(client):
    """An editor loads the queue; a colleague marks a tip as spam; the editor then changes
    another tip's priority in the list and saves: the spam mark stays."""
    first, second = seed(2)
    page = client.get(QUEUE).content.decode()
    assert 'name="initial-form-0-status"' in page  # what each row showed goes back too
    Tip.objects.filter(pk=first.pk).update(status="spam")  # the colleague, meanwhile
    rows = {}
    for n, tip in enumerate(Tip.objects.order_by("-created_at", "-pk")):  # the queue's order
        shown = "new"
        rows.update({f"form-{n}-id": str(tip.pk), f"form-{n}-status": shown,
                     f"initial-form-{n}-status": shown, f"form-{n}-priority": "2",
                     f"initial-form-{n}-priority": "2"})  # fmt: skip
        if tip.pk == second.pk:
            rows[f"form-{n}-priority"] = "4"
    form = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "2", "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000", "_save": "Save", **rows}  # fmt: skip
    assert client.post(QUEUE, form).status_code == 302
    assert Tip.objects.get(pk=first.pk).status == "spam"
    assert Tip.objects.get(pk=second.pk).priority == 4
