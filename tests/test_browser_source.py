"""The source's pages in a real browser (Debian's chromium, Playwright): both languages,
JavaScript off (Tor Browser's safest mode) and on, a phone's width and a desktop's; every
public page checked by axe-core and for strings left untranslated; screenshots of the form,
the receipt and the errors written for review (TIPLINE_SCREENSHOTS, default var/screenshots).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import polib
import pytest
from playwright.sync_api import expect

from submissions.models import Tip
from tests.conftest import ROOT
from tests.test_browser_followup import photo

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"phone": {"width": 360, "height": 780}, "desktop": {"width": 1280, "height": 900}}
SHOTS = Path(os.environ.get("TIPLINE_SCREENSHOTS", ROOT / "var" / "screenshots"))
# What the source reads, per language: the form's refusal of a program, and of a big file.
UNSUPPORTED = {
    "es": "no podemos quitar los datos que identifican (no reconocido)",
    "en": "a type we cannot clean of identifying data (unrecognised)",
}
TOO_LARGE = {"es": "pesa más de", "en": "is larger than"}
RECEIVED = {"es": "Recibido", "en": "Received"}


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_source_sends_and_meets_errors_next_to_the_files(
    browser, live_server, blob_dir, newsroom_identity, settings, lang, javascript, size
):
    settings.MAX_FILE_BYTES = 50_000  # a "big" file, small enough for a test
    context = browser.new_context(java_script_enabled=javascript, viewport=SIZES[size])
    page = context.new_page()
    page.goto(f"{live_server.url}/{lang}/")
    assert page.get_attribute("html", "lang") == lang
    name = f"{lang}-{size}-{'js' if javascript else 'nojs'}"
    if not javascript:  # the pages are the same either way: one set of pictures is enough
        _shot(page, f"form-{name}")
    else:  # readable at a phone's width: nothing sticks out sideways
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[size]["width"], width
    # Limits and accepted types are said before a file is picked, tied to the field.
    limits = page.locator("#limits")
    assert limits.is_visible() and page.get_attribute("#id_files", "aria-describedby") == "limits"
    # A program: refused, the error right by the files field, in the page's language.
    page.set_input_files("#id_files", [{"name": "tool.exe", "mimeType": "application/x-msdos",
                                        "buffer": b"MZ" + b"\0" * 300}])  # fmt: skip
    page.fill("#id_note", "a note that must come back")
    page.click("button[type=submit]")
    expect(page.locator("#files-error")).to_contain_text(UNSUPPORTED[lang])
    assert page.locator("#limits + #files-error + input#id_files").count() == 1  # by the field
    assert page.input_value("#id_note") == "a note that must come back"  # nothing retyped
    if not javascript:
        _shot(page, f"error-unsupported-{name}")
    # Over the size limit: the same place, the same language.
    big = photo("big.jpg") | {"buffer": b"\xff\xd8\xff" + bytes(60_000)}
    page.set_input_files("#id_files", [big])
    page.click("button[type=submit]")
    expect(page.locator("#files-error")).to_contain_text(TOO_LARGE[lang])
    if not javascript:
        _shot(page, f"error-too-large-{name}")
    # A note, links and a photo: the receipt.
    page.fill("#id_note", f"CANARY {name}")
    page.fill("#id_links", "https://example.com/a\nexample.org/b")
    page.set_input_files("#id_files", [photo("IMG_1.jpg")])
    page.click("button[type=submit]")
    page.wait_for_selector("#receipt-code", timeout=30_000)
    assert RECEIVED[lang] in page.inner_text("h1")
    assert re.fullmatch(r"[a-z-]+( [a-z-]+){6}", page.inner_text("#receipt-code").strip())
    if not javascript:
        _shot(page, f"receipt-{name}")
    tip = Tip.objects.get()
    assert tip.link_count == 2 and tip.attachments.count() == 1
    assert context.cookies() == []
    context.close()


def _public_pages(browser: object, base: str, lang: str) -> dict[str, object]:
    """Every page a source can reach, opened in a fresh context each: name -> page."""
    pages = {}

    def open_page(name: str, path: str, context: object | None = None) -> object:
        context = context or browser.new_context(bypass_csp=True)  # type: ignore[attr-defined]
        page = context.new_page()  # type: ignore[attr-defined]
        page.goto(f"{base}{path}")
        pages[name] = page
        return page

    for name, path in [("form", "/"), ("check", "/check/"), ("guide", "/guide/"),
                       ("kept", "/what-we-keep/"), ("not-found", "/no-such-page/")]:  # fmt: skip
        open_page(name, f"/{lang}{path}")
    form = open_page("errors", f"/{lang}/")
    form.set_input_files("#id_files", [{"name": "tool.exe", "mimeType": "application/x-msdos",
                                        "buffer": b"MZ" + b"\0" * 300}])  # fmt: skip
    form.fill("#id_links", "not a link at all")
    form.click("button[type=submit]")
    receipt = open_page("receipt", f"/{lang}/")
    receipt.fill("#id_note", "for the receipt")
    receipt.click("button[type=submit]")
    code = receipt.inner_text("#receipt-code").strip()
    followup = open_page("followup", f"/{lang}/check/")
    followup.fill("#id_code", code)
    followup.click("button[type=submit]")
    assert followup.url.endswith("/check/tip/"), followup.url
    return pages


def _visible_strings(page: object) -> str:
    return page.inner_text("body")  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_public_page_passes_axe_and_is_all_in_its_language(
    browser, live_server, newsroom_identity, blob_dir, lang
):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    catalogue = polib.pofile(str(ROOT / "locale/es/LC_MESSAGES/django.po"))
    translated = [(e.msgid, e.msgstr) for e in catalogue
                  if e.msgstr and e.msgstr != e.msgid and not e.obsolete]  # fmt: skip
    pages = _public_pages(browser, live_server.url, lang)
    assert set(pages) == {"form", "check", "guide", "kept", "not-found", "errors", "receipt",
                          "followup"}  # fmt: skip
    problems = {}
    for name, page in pages.items():
        results = axe.run(page)
        if results.violations_count:
            problems[name] = results.generate_report()
        if name == "not-found":  # error pages speak both languages, each marked as such
            assert page.locator("p[lang=es]").count() == page.locator("p[lang=en]").count() == 1
        else:
            assert page.get_attribute("html", "lang") == lang, name
        text = _visible_strings(page)
        # Whole sentences of the other language are untranslated strings.
        foreign = [source if lang == "es" else target for source, target in translated]
        leftovers = [s for s in foreign if len(s) > 12 and s in text]
        assert leftovers == [], (name, leftovers)
        page.context.close()
    # Dark mode (the browser's own, as on many phones) keeps the contrast too.
    dark = browser.new_context(color_scheme="dark", bypass_csp=True)
    page = dark.new_page()
    page.goto(f"{live_server.url}/{lang}/")
    results = axe.run(page)
    if results.violations_count:
        problems["form, dark"] = results.generate_report()
    dark.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_a_large_file_resumes_after_a_dropped_connection(browser, live_server, blob_dir,
                                                         newsroom_identity, settings):  # fmt: skip
    """JavaScript on: the file goes up in pieces with a progress bar; the second piece's
    first try is cut off, the upload asks where to resume and finishes; the stored blob opens
    (intake key) to the exact bytes that were sent, and no piece is left behind."""
    from submissions import crypto, filekeys, keys
    from tests import fixtures

    context = browser.new_context(java_script_enabled=True)
    cut: list[str] = []

    def flaky(route: object) -> None:
        if not cut:
            cut.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    context.route("**/uploads/*/1", flaky)
    page = context.new_page()
    page.goto(f"{live_server.url}/en/")
    data = fixtures.jpeg_with_gps() + os.urandom(2_600_000)  # three pieces of 1 MiB
    page.set_input_files("#id_files", [{"name": "IMG_big.jpg", "mimeType": "image/jpeg",
                                        "buffer": data}])  # fmt: skip
    page.fill("#id_note", "the big one")
    page.click("button[type=submit]")
    page.wait_for_selector("#receipt-code", timeout=60_000)
    assert cut and cut[0].endswith("/1")
    (attachment,) = Tip.objects.get().attachments.all()
    opener = filekeys.identities(attachment.blob_key, opener=keys.intake_identities(),
                                 attachment_id=attachment.pk, purpose="raw")  # fmt: skip
    stored = (blob_dir / attachment.blob_name).read_bytes()
    aad = crypto.binding("attachment", attachment.pk, "raw")
    assert crypto.open_bytes(stored, identities=opener, aad=aad) == data
    assert not list((settings.SPOOL_DIR / "resumable").iterdir())
    context.close()


def test_partial_uploads_are_encrypted_under_the_browsers_token_and_expire(settings):
    import time

    from submissions import chunked

    upload_id, token = chunked.start(chunked.CHUNK + 10)
    piece = (b"CANARY-PARTIAL " * 70_000)[: chunked.CHUNK]
    chunked.put(upload_id, token, 0, piece)
    where = settings.SPOOL_DIR / "resumable" / upload_id
    assert not [p for p in where.iterdir() if b"CANARY-PARTIAL" in p.read_bytes()]
    assert chunked.next_missing(upload_id, token) == 1
    with pytest.raises(chunked.Invalid):  # another token opens nothing
        chunked.next_missing(upload_id, "not-the-token")
    with pytest.raises(chunked.Invalid):  # a piece that does not fit
        chunked.put(upload_id, token, 1, b"x" * 11)
    assert chunked.sweep_expired(time.time() + 60) == 0
    assert chunked.sweep_expired(time.time() + chunked.EXPIRE_SECONDS + 60) == 1
    assert not where.exists()


def test_a_signed_in_source_answers_with_a_file_through_resumable_upload(
    browser, live_server, blob_dir, newsroom_identity
):
    from django.test import Client

    from submissions.models import SourceMessage
    from tests.sources import receipt_code

    code = receipt_code(Client().post("/en/", {"note": "first"}).content.decode())
    context = browser.new_context(java_script_enabled=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/en/check/")
    page.fill("#id_code", code)
    page.click("button[type=submit]")
    page.wait_for_url("**/check/tip/")
    page.fill("#id_note", "and a photo")
    page.set_input_files("#id_files", [photo("IMG_2.jpg")])
    page.click("#tip-form button[type=submit]")
    page.wait_for_url("**/check/tip/?sent=1")
    message = SourceMessage.objects.get()
    assert message.attachments.count() == 1
    context.close()


def test_a_refused_or_failed_post_gives_the_uploaded_files_back(
    blob_dir, newsroom_identity, monkeypatch, settings
):
    """Nothing already uploaded is lost when the final post fails: the page carries the
    uploads back (hidden fields, and their names said), the pieces stay; once a post is
    stored, they go."""
    from django.test import Client

    from submissions import chunked
    from tests import fixtures

    data = fixtures.jpeg_with_gps()
    upload_id, token = chunked.start(len(data))
    chunked.put(upload_id, token, 0, data)
    post = {"note": "with an uploaded file", "resumable": f"{upload_id}.{token}",
            "resumable_name": "IMG_9.jpg"}  # fmt: skip

    def broken(**kwargs: object) -> str:
        raise OSError("storage went away")

    monkeypatch.setattr("submissions.services.submission_create", broken)
    page = Client().post("/en/", post).content.decode()
    assert f'name="resumable" value="{upload_id}.{token}"' in page and "IMG_9.jpg" in page
    assert (settings.SPOOL_DIR / "resumable" / upload_id).exists()
    monkeypatch.undo()
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    sent = Client().post("/en/", post)
    assert sent.status_code == 200 and "receipt-code" in sent.content.decode()
    assert Tip.objects.get().attachments.count() == 1
    assert not (settings.SPOOL_DIR / "resumable" / upload_id).exists()


def test_upload_paths_never_reach_the_log():
    import logging

    (handler,) = [h for h in logging.getLogger("django").handlers if h.filters]  # the console
    path = "/es/uploads/" + "0" * 32 + "/1"
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Bad Request: %s",
                               (path,), None)  # fmt: skip
    assert not handler.filter(record)
    record.args = ("/es/check/",)
    assert handler.filter(record)


def test_disk_failures_on_resumable_uploads_answer_clearly_and_keep_the_uploads(
    blob_dir, newsroom_identity, monkeypatch, settings
):
    """A disk that fails while a piece or the final post is stored: a clear "try again" (503,
    never a 500), and the pieces already there kept for that retry."""
    from django.test import Client

    from submissions import chunked
    from tests import fixtures

    data = fixtures.jpeg_with_gps()
    upload_id, token = chunked.start(len(data))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("submissions.chunked.put", full)
    piece = Client().put(f"/en/uploads/{upload_id}/0", data,
                         content_type="application/octet-stream",
                         HTTP_X_UPLOAD_TOKEN=token)  # fmt: skip
    assert piece.status_code == 503 and "try again in a few minutes" in piece.json()["error"]
    monkeypatch.undo()
    chunked.put(upload_id, token, 0, data)
    monkeypatch.setattr("submissions.chunked.read", full)
    post = {"note": "n", "resumable": f"{upload_id}.{token}", "resumable_name": "IMG_9.jpg"}
    page = Client().post("/es/", post)
    assert page.status_code == 503 and "Inténtalo de nuevo" in page.content.decode()
    assert f'value="{upload_id}.{token}"' in page.content.decode()
    assert (settings.SPOOL_DIR / "resumable" / upload_id).exists() and not Tip.objects.exists()
