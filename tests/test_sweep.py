"""The canary sweep: a whole day of the site, sent from a known address through a proxy with a
known user agent, then every place the server writes searched for them.

Requests come with REMOTE_ADDR 203.0.113.77, X-Forwarded-For 198.51.100.9 and a canary user
agent; the source's note is a canary too. The flow: a tip with text, links, a photo, a video, a
PDF and a malformed file, cleaned by the real worker; a follow-up; a CSRF failure, a 404, a
forced 500, a scrub that crashes, the editors' digest e-mail. Then the database (every row),
Redis (keys and values, Celery bodies decoded), every log (ours, Django's, the worker's), the
storage and spool, temporary files written meanwhile and the outgoing mail must hold none of the
address, the forwarded address or the user agent, and the note only inside ciphertext."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from submissions import clock, services
from submissions.models import Attachment, SourceMessage, Tip
from tests import fixtures
from tests.conftest import ROOT, raw_attachment, wait_for
from tests.sources import receipt_code
from tests.staff import make_staff
from tests.test_browser_followup import redis_values
from tests.tools import database_bytes

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "203.0.113.77"
FORWARDED = "198.51.100.9"
AGENT = "CanaryAgent/7.7 (SweepCanaryUA)"
NOTE = "CANARY-SWEEP-NOTE the trucks leave at dawn"
IDENTIFYING = [ADDRESS.encode(), FORWARDED.encode(), b"SweepCanaryUA", b"CanaryAgent"]

HEADERS = {"REMOTE_ADDR": ADDRESS, "HTTP_X_FORWARDED_FOR": FORWARDED, "HTTP_USER_AGENT": AGENT,
           "HTTP_X_REAL_IP": ADDRESS, "HTTP_FORWARDED": f"for={FORWARDED};proto=https",
           "HTTP_REFERER": f"http://{ADDRESS}/from"}  # fmt: skip


def test_no_trace_of_the_source_anywhere(celery_worker_process, blob_dir, newsroom_identity,
                                         every_log, monkeypatch, settings):  # fmt: skip
    started = time.time()
    caplog = every_log
    source = Client(raise_request_exception=False, **HEADERS)

    files = [("IMG_1.jpg", fixtures.jpeg_with_gps()), ("clip.mov", fixtures.mov_with_location()),
             ("report.pdf", fixtures.pdf_with_history()),
             ("broken.jpg", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00" + b"\x00" * 40)]  # fmt: skip
    response = source.post("/en/", {
        "note": NOTE, "links": "https://example.com/story?utm_source=x\nexample.org/b",
        "files": [SimpleUploadedFile(name, data) for name, data in files]})  # fmt: skip
    assert response.status_code == 200, response.content.decode()[-1500:]
    code = receipt_code(response.content.decode())
    tip = Tip.objects.get()
    assert wait_for(lambda: all(a.state in Attachment.TERMINAL for a in tip.attachments.all()),
                    timeout=60), celery_worker_process.log_path.read_text()[-3000:]  # fmt: skip
    states = sorted(tip.attachments.values_list("state", flat=True))
    assert states == ["clean", "clean", "clean", "rejected"], states

    # The source comes back and answers.
    assert source.post("/en/check/", {"code": code}).status_code == 303
    page = source.get("/en/check/tip/").content.decode()
    token = re.search(r'name="token" value="([0-9a-f]{64})"', page).group(1)
    assert (
        source.post("/en/check/tip/", {"token": token, "note": NOTE + " again"}).status_code == 303
    )

    # Failures: a CSRF failure, a 404, a 500, a scrub that crashes.
    csrf = Client(enforce_csrf_checks=True, **HEADERS)
    assert csrf.post("/staff/login/", {"username": "x", "password": "y"}).status_code == 403
    assert source.get("/en/nothing-here/").status_code == 404
    from submissions.views import public

    monkeypatch.setattr(public, "_form_page", lambda *a, **k: 1 / 0)
    assert source.get("/es/").status_code == 500
    monkeypatch.undo()
    crashing = raw_attachment(tip, position=9)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("scrubber crashed")

    monkeypatch.setattr("submissions.scrub.scrub_verified", crash)
    services.attachment_scrub(attachment_id=str(crashing.pk))
    monkeypatch.undo()

    # The editors' digest.
    editor = make_staff("editor", newsroom_identity)
    type(editor).objects.filter(pk=editor.pk).update(email="editor@newsroom.example")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from newsroom.models import Watermark
    from newsroom.notify import send_digest

    send_digest()
    Watermark.objects.update(at=tip.created_at.replace(year=2000))
    Tip.objects.update(created_at=tip.created_at.replace(year=2001))
    assert send_digest() == 1

    # The sweep.
    logs = "\n".join(record.getMessage() for record in caplog.records).encode()
    assert b"Forbidden (CSRF" in logs and b"Internal Server Error" in logs  # it sees them
    places = {
        "database": database_bytes(),
        "redis": redis_values(),
        "logs": logs + celery_worker_process.log_path.read_bytes(),
        "mail": b"".join(str(m.message()).encode() for m in mail.outbox),
    }
    # It sees what it searches: the rows, the queue, the worker's lines, the mail.
    assert str(tip.pk).encode() in places["database"] and places["redis"]
    assert b"attachment.failed" in places["logs"] and b"new tip" in places["mail"]  # DEBUG
    # At the production level (the worker's INFO), no line tells when a file was cleaned.
    worker_log = celery_worker_process.log_path.read_bytes()
    assert b"ready." in worker_log
    assert b"] received" not in worker_log and b"succeeded in" not in worker_log
    for where, data in places.items():
        found = [needle for needle in [*IDENTIFYING, NOTE.encode()] if needle in data]
        assert found == [], (where, found)
    # Files: the data directory (storage, spool, SQLite if any), the tests' directory (the
    # worker's log) and whatever Python's tempfile made meanwhile.
    import os

    temporary = [p for p in Path(tempfile.gettempdir()).glob("tmp*")]
    roots = [Path(settings.DATA_DIR), Path(os.environ["TIPLINE_TEST_DIR"]), *temporary]
    swept = 0
    for root in roots:
        for path in [root] if root.is_file() else root.rglob("*"):
            if (not path.is_file() or path.is_symlink() or ROOT in path.parents
                    or path.stat().st_mtime < started):  # fmt: skip
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found = [needle for needle in [*IDENTIFYING, NOTE.encode()] if needle in data]
            assert found == [], (str(path), found)
            swept += 1
    assert swept >= 4  # the cleaned blobs and the worker's log at least
    # What the source did is kept to the hour (clock.py), and no log line names their tip,
    # message or files: the lines carry the second.
    stamps = [*Tip.objects.values_list("created_at", flat=True),
              *SourceMessage.objects.values_list("created_at", flat=True),
              *Attachment.objects.values_list("created_at", flat=True)]  # fmt: skip
    assert len(stamps) == 7 and all(at == clock.coarse(at) for at in stamps), stamps
    ids = [tip.pk, *SourceMessage.objects.values_list("pk", flat=True),
           *Attachment.objects.values_list("pk", flat=True)]  # fmt: skip
    named = [pk for pk in ids if str(pk).encode() in places["logs"]]
    assert named == [], named
    # The note is there, only as ciphertext: the newsroom opens it.
    from submissions import selectors

    assert selectors.tip_content(Tip.objects.get()).note == NOTE
