"""The editors' side in a real browser (Debian's chromium, driven by Playwright): sign in with a
code, work the queue and a tip, download a cleaned file; and a corpus of script injections in
everything a source (or an editor) can write, which must neither run nor become a live link."""

from __future__ import annotations

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from submissions import crypto, filekeys, services
from submissions.models import Attachment, Label, Tip
from tests import fixtures
from tests.sources import receipt_code, tip_of
from tests.staff import PASSWORD, code, make_staff

# Playwright's sync API runs an event loop in this thread; the ORM calls made here between
# browser steps are ordinary synchronous test code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright = pytest.importorskip("playwright.sync_api")  # installed by requirements-dev.txt

pytestmark = pytest.mark.django_db(transaction=True)


def _submit(monkeypatch: pytest.MonkeyPatch, files: list[tuple[str, bytes]], note: str = "",
            links: str = "") -> Tip:  # fmt: skip
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    response = Client().post("/en/", {"note": note, "links": links, "files": uploads})
    assert response.status_code == 200, response.content.decode()[-1500:]
    tip = tip_of(receipt_code(response.content.decode()))
    for attachment in tip.attachments.all():
        services.attachment_scrub(attachment_id=str(attachment.pk))
    return tip


def _sign_in(page: object, base: str, user: object) -> None:
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    page.goto(f"{base}/staff/login/")  # type: ignore[attr-defined]
    page.fill("#id_username", user.username)  # type: ignore[attr-defined]
    page.fill("#id_password", PASSWORD)  # type: ignore[attr-defined]
    page.fill("#id_otp_token", code(device))  # type: ignore[attr-defined]
    page.click("input[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/staff/")  # type: ignore[attr-defined]


def test_editor_signs_in_triages_a_tip_and_downloads_the_cleaned_file(
    browser, live_server, monkeypatch, blob_dir, newsroom_identity
):
    editor = make_staff("editor", newsroom_identity)
    Label.objects.create(name="customs")
    tip = _submit(monkeypatch, [("photo.jpg", fixtures.jpeg_with_gps((320, 240))),
                                ("clip.mov", fixtures.mov_with_location()),
                                ("report.pdf", fixtures.pdf_with_history())],
                  note="the harbour master")  # fmt: skip
    assert set(tip.attachments.values_list("state", flat=True)) == {"clean"}
    base = live_server.url
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, base, editor)

    page.goto(f"{base}/staff/submissions/tip/")
    page.click("text=Unassigned open tips")
    assert "view=unassigned" in page.url
    page.click(f"text=Tip {str(tip.pk)[:8]}")
    page.wait_for_selector("text=the harbour master")
    loaded = page.eval_on_selector_all(
        'img[alt^="preview"]', "images => images.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded == [True, True]  # the photo and the PDF's first page
    poster = page.evaluate(
        """() => new Promise(done => {
            const image = new Image();
            image.onload = () => done(image.naturalWidth > 0);
            image.onerror = () => done(false);
            image.src = document.querySelector("video[poster]").poster;
        })"""
    )
    assert poster  # the video's first frame, as the player's poster

    page.select_option("#id_status", "verifying")
    page.select_option("#id_assignee", str(editor.pk))
    page.select_option("#id_labels", label="customs")
    page.fill("#id_new_comment", "checked with the port registry")
    page.fill("#id_new_reply", "Thank you. Where was the photo taken?")
    page.click("input[name=_continue]")
    page.wait_for_selector("text=checked with the port registry")
    tip.refresh_from_db()
    assert (tip.status, tip.assignee, [label.name for label in tip.labels.all()]) == (
        "verifying", editor, ["customs"])  # fmt: skip
    assert tip.replies.count() == 1 and tip.comments.count() == 1

    photo = tip.attachments.get(position=1)
    with page.expect_download() as download:
        page.click(f'a[href="/staff/tips/attachments/{photo.pk}/download/"]')
    received = open(download.value.path(), "rb").read()  # noqa: SIM115
    opener = filekeys.identities(
        photo.blob_key, opener=[newsroom_identity], attachment_id=photo.pk, purpose="clean"
    )
    cleaned = crypto.open_bytes((blob_dir / photo.blob_name).read_bytes(),
                                identities=opener,
                                aad=crypto.binding("attachment", photo.pk, "clean"))  # fmt: skip
    assert received == cleaned and received.startswith(b"\xff\xd8")
    context.close()


XSS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload="window.__xss=3">',
    "javascript:window.__xss=4",
    '<a href="javascript:window.__xss=5">click</a>',
    '{{ 7*7 }}<iframe srcdoc="<script>parent.__xss=6</script>"></iframe>',
]


def test_script_injections_neither_run_nor_link(browser, live_server, monkeypatch, blob_dir,
                                                newsroom_identity):  # fmt: skip
    editor = make_staff("editor", newsroom_identity)
    note = "\n".join(XSS)
    links = "\n".join([
        "https://evil.example/0?q=%22%3E%3Cscript%3Ewindow.__xss=7%3C/script%3E",
        "https://evil.example/%22%3E%3Cimg%20src=x%20onerror=window.__xss=8%3E",
    ])  # fmt: skip
    files = [(f"{payload[:40]}.png", fixtures.png_with_text()) for payload in XSS[:3]]
    tip = _submit(monkeypatch, files, note=note, links=links)
    Tip.objects.filter(pk=tip.pk).update(title=XSS[0], summary=XSS[1])
    for payload in XSS[:3]:
        tip.labels.add(Label.objects.create(name=payload[:40]))
    base = live_server.url
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, base, editor)
    for url in (f"{base}/staff/submissions/tip/", f"{base}/staff/submissions/tip/?q=img",
                f"{base}/staff/submissions/tip/{tip.pk}/change/"):  # fmt: skip
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, url
        # Nothing of the payloads became markup (the CSP would stop inline scripts anyway:
        # this checks the escaping itself).
        injected = "img[onerror], svg[onload], iframe, script:not([src]), [onload], [onerror]"
        assert page.query_selector_all(injected) == [], url
        hrefs = page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
        assert not [h for h in hrefs if "evil.example" in h or h.startswith("javascript:")], url
    assert "window.__xss=1" in page.content().replace("&quot;", '"')  # shown, as text
    assert dialogs == []
    assert Attachment.objects.filter(tip=tip, state="clean").count() == 3
    context.close()
