"""The source's way back, in a real browser with JavaScript off (Tor Browser's "Safest"), with a
real Celery worker on Redis and PostgreSQL: submit, get the code, an editor replies, the source
signs in with the code, reads the reply and answers with text and a photo; the editor sees it
unread, the photo cleaned (judged by exiftool). Then a canary sweep: the code is nowhere the
server keeps or sends anything (database, sessions, cache, Redis, logs, files, responses)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session

from submissions.models import Attachment, SourceMessage, Tip
from tests import fixtures
from tests.conftest import wait_for
from tests.staff import make_staff
from tests.test_browser import _sign_in
from tests.tools import database_bytes, exiftool_tags, files_containing

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright = pytest.importorskip("playwright.sync_api")  # installed by requirements-dev.txt

pytestmark = pytest.mark.django_db(transaction=True)

FIRST = "CANARY-FIRST the trucks cross at night"
REPLY = "Thank you. Where was the photo taken?"
ANSWER = "CANARY-ANSWER at the old customs yard, north gate"


class Recorder:
    """Every response the source's browser got: URL, status, headers and body."""

    def __init__(self) -> None:
        self.pending: list[object] = []
        self.seen: list[tuple[str, int, str, bytes]] = []

    def __call__(self, response: object) -> None:
        self.pending.append(response)

    def collect(self) -> None:
        """Read the bodies now, while the page that got them is still open."""
        for response in self.pending:
            headers = json.dumps(response.headers_array())  # type: ignore[attr-defined]
            try:
                body = response.body()  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a redirect has no body
                body = b""
            self.seen.append((response.url, response.status, headers, body))  # type: ignore[attr-defined]
        self.pending.clear()


def photo(name: str) -> dict[str, object]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": fixtures.jpeg_with_gps((320, 240))}


def redis_values() -> bytes:
    """Every key and value in every Redis database the tests use, Celery bodies decoded."""
    import redis

    out = bytearray()
    client = redis.Redis.from_url(os.environ["TIPLINE_BROKER_URL"])
    for key in client.scan_iter():
        kind = client.type(key).decode()
        values: list[bytes] = []
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind in ("set", "zset"):
            values = list(client.smembers(key) if kind == "set" else client.zrange(key, 0, -1))
        out += key
        for value in values:
            out += value or b""
            try:  # a kombu message: its body is base64
                body = json.loads(value).get("body")
                out += base64.b64decode(body) if isinstance(body, str) else b""
            except (ValueError, AttributeError, TypeError):
                pass
    return bytes(out)


def needles(code: str) -> list[bytes]:
    words = code.split()
    variants = [code, "+".join(words), "-".join(words), "".join(words), code.upper(),
                " ".join(words[1:4])]  # fmt: skip
    return [variant.encode() for variant in variants]


def test_source_and_editor_converse_with_javascript_off(
    browser,
    live_server,
    celery_worker_process,
    blob_dir,
    newsroom_identity,
    tmp_path,
    every_log,
    request,
):
    base = live_server.url
    editor = make_staff("editor", newsroom_identity)
    source = browser.new_context(java_script_enabled=False, locale="es-ES")
    recorder = Recorder()
    source.on("response", recorder)
    page = source.new_page()

    # 1. The tip, with a photo; the receipt code is shown once.
    page.goto(f"{base}/es/")
    page.fill("#id_note", FIRST)
    page.set_input_files("#id_files", [photo("IMG_first.jpg")])
    page.click("button[type=submit]")
    code = page.inner_text("#receipt-code").strip()
    recorder.collect()
    receipt = [url for url, _, _, body in recorder.seen if code.encode() in body]
    assert receipt == [f"{base}/es/"]  # the receipt page, and nothing else, shows it
    assert source.cookies() == []  # no cookie before signing in
    tip = Tip.objects.get()
    assert wait_for(lambda: tip.attachments.get().state == "clean", timeout=30), (
        celery_worker_process.log_path.read_text()[-3000:]
    )

    # 2. An editor replies, on the staff site (JavaScript on there: the admin's own scripts).
    staff = browser.new_context()
    desk = staff.new_page()
    _sign_in(desk, base, editor)
    desk.goto(f"{base}/staff/submissions/tip/{tip.pk}/change/")
    desk.fill("#id_new_reply", REPLY)
    desk.click("input[name=_continue]")
    desk.wait_for_selector("text=not read by the source yet")

    # 3. The source comes back: first a typo (the whole code and one word more, so that any
    # trace of what was typed would show in the sweep), then the code.
    page.goto(f"{base}/es/check/")
    page.fill("#id_code", f"{code} typo")
    page.click("main button[type=submit]")
    assert "Este código no abre ningún envío" in page.inner_text("[role=alert]")
    assert page.input_value("#id_code") == ""  # what was typed is not sent back
    recorder.collect()
    page.fill("#id_code", code)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/es/check/tip/")
    assert [c["name"] for c in source.cookies()] == ["tipline_source"]
    cookie = source.cookies()[0]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] == -1
    assert REPLY in page.inner_text("#replies")
    assert page.inner_text("#status") == "Recibido"
    assert "Archivo 1 (foto): limpio. Se quitó: ubicación (GPS)" in page.inner_text("#sent")
    page.click("#answer button[type=submit]")  # empty: refused, explained
    assert "El formulario está vacío" in page.inner_text("#answer")
    recorder.collect()
    page.fill("#id_note", ANSWER)
    page.set_input_files("#id_files", [photo("IMG_second.jpg")])
    page.click("#answer button[type=submit]")
    page.wait_for_url(f"{base}/es/check/tip/?sent=1")
    assert "Enviado. Gracias." in page.content()
    recorder.collect()
    message = SourceMessage.objects.get()
    second = Attachment.objects.get(message=message)
    assert wait_for(lambda: Attachment.objects.get(pk=second.pk).state == "clean", timeout=30), (
        celery_worker_process.log_path.read_text()[-3000:]
    )
    page.reload()
    assert "Archivo 2 (foto): limpio. Se quitó: ubicación (GPS)" in page.inner_text("#sent")
    assert tip.replies.get().read_at is not None
    recorder.collect()

    # 4. The editor sees the answer unread in the queue, reads it, and the photo is clean.
    desk.goto(f"{base}/staff/submissions/tip/")
    row = desk.locator("tr", has_text=f"Tip {str(tip.pk)[:8]}")
    assert "1 unread" in row.inner_text()
    desk.goto(f"{base}/staff/submissions/tip/?view=unread")
    desk.click(f"text=Tip {str(tip.pk)[:8]}")
    desk.wait_for_selector(f"text={ANSWER}")
    assert desk.locator(".source-message mark").inner_text() == "unread"
    assert "read by the source" in desk.content()
    with desk.expect_download() as download:
        desk.click(f'a[href="/staff/tips/attachments/{second.pk}/download/"]')
    cleaned = tmp_path / "second.jpg"
    cleaned.write_bytes(Path(download.value.path()).read_bytes())
    tags = exiftool_tags(cleaned)
    assert not [key for key in tags if "GPS" in key or key.startswith(("IFD0:", "ExifIFD:"))]
    assert cleaned.read_bytes().startswith(b"\xff\xd8")
    assert SourceMessage.objects.get().read_at is not None
    desk.goto(f"{base}/staff/submissions/tip/")
    assert "1 unread" not in desk.locator("tr", has_text=f"Tip {str(tip.pk)[:8]}").inner_text()
    staff.close()

    # 5. The source signs out; the session is gone on the server and in the browser.
    page.click("form.sign-out button")
    page.wait_for_url(f"{base}/es/check/?out=1")
    recorder.collect()
    assert source.cookies() == []
    page.goto(f"{base}/es/check/tip/")
    assert page.url == f"{base}/es/check/?ended=1"
    recorder.collect()
    source.close()

    # The canary sweep: after all this, the code is nowhere.
    canaries = needles(code)
    sessions = b"".join(json.dumps(s.get_decoded()).encode() for s in Session.objects.all())
    from django.core.cache import caches

    local = getattr(caches["default"], "_cache", None)  # a local-memory cache: pickled values
    cache = b"".join(bytes(v) for v in local.values()) if isinstance(local, dict) else b""
    # (a Redis cache is in Redis, swept below with the queue)
    logs = "\n".join(record.getMessage() for record in every_log.records).encode()
    worker_log = celery_worker_process.log_path.read_bytes()
    kept = {
        "database": database_bytes(),
        "sessions": sessions,
        "cache": cache,
        "redis": redis_values(),
        "logs": logs + worker_log,
    }
    # The sweep sees what it should: the server's own log lines, the queue, the rows.
    assert b"source.signed_in" in logs and b"ready." in worker_log  # (DEBUG here, not in prod)
    assert b"Bad Request: /es/check/" in logs  # Django's request log, for the typo
    assert b"_kombu" in kept["redis"] and str(tip.pk).encode() in kept["database"]
    for where, data in kept.items():
        assert not [n for n in canaries if n in data], where
    data_dir = Path(settings.DATA_DIR)
    assert files_containing(data_dir, canaries) == []
    assert files_containing(Path(os.environ["TIPLINE_TEST_DIR"]), canaries) == []
    after_receipt = [item for item in recorder.seen if item[0] != f"{base}/es/" or item[1] != 200]
    assert len(after_receipt) >= 8
    for url, status, headers, body in after_receipt:
        assert not [n for n in canaries if n in headers.encode() or n in body], (url, status)


def test_the_submission_flow_sets_no_cookie_and_asks_no_other_origin(
    browser, live_server, blob_dir, monkeypatch
):
    """JavaScript off, as in Tor Browser's safest mode: the form, a refusal, a submission and
    the receipt set no cookie and make no request to any other origin."""
    from urllib.parse import urlsplit

    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    context = browser.new_context(java_script_enabled=False)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.goto(f"{live_server.url}/es/")
    honeypot = page.locator("#id_website").bounding_box()  # off the screen, for people
    assert honeypot is not None and honeypot["x"] + honeypot["width"] <= 0, honeypot
    page.set_input_files("#id_files", [{"name": "tool.exe", "mimeType": "application/x-msdos",
                                        "buffer": b"MZ" + b"\0" * 300}])  # fmt: skip
    page.click("button[type=submit]")
    assert "no podemos quitar" in page.inner_text("[role=alert]")
    page.fill("#id_note", "CANARY no cookies")
    page.fill("#id_links", "https://example.com/?utm_source=x")
    page.set_input_files("#id_files", [photo("IMG_1.jpg")])
    page.click("button[type=submit]")
    assert page.inner_text("#receipt-code")
    page.goto(f"{live_server.url}/en/check/")
    assert context.cookies() == []
    ours = urlsplit(live_server.url).netloc
    assert requested and all(urlsplit(url).netloc == ours for url in requested), requested
    assert any(url.endswith(".css") for url in requested)  # the page's own stylesheet loaded
    context.close()
