"""The public form, through Django's test client against PostgreSQL: limits, errors in both
languages, no cookies, no trace of the client, nothing stored in clear."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from submissions import crypto, keys, receipts, storage
from submissions.models import Attachment, Tip
from submissions.views import public as public_views
from tests import fixtures
from tests.sources import receipt_code
from tests.tools import database_bytes

pytestmark = pytest.mark.django_db

NOTE = "CANARY-NOTE the shipment leaves pier 7 at 03:00"
LINKS = "https://example.com/CANARY-LINK?utm_source=x\nexample.org/other"
CLIENT_IP = "203.0.113.77"
USER_AGENT = "CanaryAgent/9.9 (CANARY-UA)"


@pytest.fixture
def client() -> Client:
    return Client(
        REMOTE_ADDR=CLIENT_IP,
        HTTP_USER_AGENT=USER_AGENT,
        HTTP_X_FORWARDED_FOR="198.51.100.5",
        HTTP_REFERER="https://evil.example/",
    )


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    """These tests stop at the database; the pipeline tests run a real worker."""
    enqueued: list[object] = []
    monkeypatch.setattr("submissions.services._enqueue_scrub", enqueued.append)
    return enqueued


def files(*items: tuple[str, bytes, str]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type=ctype) for name, data, ctype in items]


def photo_and_png() -> list[SimpleUploadedFile]:
    return files(
        ("IMG_20261127_juana.jpg", fixtures.jpeg_with_gps(), "image/jpeg"),
        ("captura.png", fixtures.png_with_text(), "image/png"),
    )


def post(client: Client, lang: str = "es", **data: object):
    return client.post(f"/{lang}/", data)


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("es", "Envía fotos, vídeos, notas, enlaces o información"),
        ("en", "Send photos, videos, notes, links or information"),
    ],
)
def test_form_in_both_languages_without_cookies_or_outside_scripts(client, lang, heading):
    response = client.get(f"/{lang}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert heading in body
    assert f'<html lang="{lang}">' in body
    assert "Set-Cookie" not in str(response.headers) and not response.cookies
    # One script, ours (resumable uploads; the form works without it), nothing inline.
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/tipline/upload.js" defer>']
    assert not re.search(r'(src|href)="(https?:)?//', body), "third-party asset"
    assert "script-src 'self';" in response["Content-Security-Policy"]
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "20" in body and "GB" in body  # the limits are shown


def test_root_redirects_to_spanish(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US")
    assert response.status_code == 302 and response["Location"] == "/es/"


def test_submission_stores_only_ciphertext(
    client, blob_dir, _no_worker, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, note=NOTE, links=LINKS, files=photo_and_png())
    assert response.status_code == 200, response.content.decode()[:2000]
    assert not response.cookies
    code = receipt_code(response.content.decode())
    assert len(code.split()) == receipts.WORDS

    tip = Tip.objects.get()
    assert tip.receipt_hash == receipts.digest(code)
    attachments = list(tip.attachments.all())
    assert [a.state for a in attachments] == ["received", "received"]
    assert sorted(_no_worker) == sorted(a.pk for a in attachments)  # ids only, after commit

    # The note and links decrypt with the newsroom key, bound to this tip.
    content = crypto.open_bytes(
        bytes(tip.sealed_content),
        identities=keys.newsroom_identities(),
        aad=crypto.binding("tip", tip.pk, "content"),
    )
    assert NOTE.encode() in content and b"CANARY-LINK" in content

    # Nothing identifying anywhere: database, blobs, spool, logs.
    needles = [
        NOTE.encode(),
        b"CANARY-LINK",
        b"juana",
        code.encode(),
        CLIENT_IP.encode(),
        b"198.51.100.5",
        b"CANARY-UA",
        *fixtures.canaries(),
    ]
    dump = database_bytes()
    for needle in needles:
        assert needle not in dump, needle
    for path in blob_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert data.startswith(b"age-encryption.org/v1\n")
            assert not [n for n in needles if n in data]
    assert not list(Path(blob_dir).parent.joinpath("spool").glob("*"))
    log_text = caplog.text
    for needle in needles:
        assert needle.decode() not in log_text


def test_links_are_normalised(client, blob_dir):
    post(client, "en", links="example.org/a\n\n  https://example.com/b?utm_source=tw&fbclid=x  ")
    tip = Tip.objects.get()
    content = crypto.open_bytes(
        bytes(tip.sealed_content),
        identities=keys.newsroom_identities(),
        aad=crypto.binding("tip", tip.pk, "content"),
    )
    assert b'"links": ["https://example.org/a", "https://example.com/b"]' in content


@pytest.mark.parametrize(
    ("lang", "data", "status", "message"),
    [
        ("es", {}, 400, "El formulario está vacío"),
        ("en", {"note": "   "}, 400, "The form is empty"),
        ("en", {"links": "not a link at all"}, 400, "is not a web address"),
        ("es", {"links": "no es un enlace"}, 400, "no es una dirección web"),
    ],
)
def test_invalid_submissions_explained(client, blob_dir, lang, data, status, message):
    response = post(client, lang, **data)
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Tip.objects.exists()


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("es", "es de un tipo al que no podemos quitar"),
        ("en", "is a type we cannot clean"),
    ],
)
def test_unsupported_type_refused_with_accepted_list(client, blob_dir, lang, message):
    response = post(
        client,
        lang,
        note="x",
        files=files(
            ("ok.jpg", fixtures.jpeg_with_gps(), "image/jpeg"),
            ("mapa.svg", b"<?xml version='1.0'?><svg/>" + b" " * 100, "image/jpeg"),  # it lies
        ),
    )
    body = response.content.decode()
    assert response.status_code == 400
    assert message in body and "(XML/SVG)" in body and "JPEG, PNG" in body
    assert "mapa.svg" in body  # echoed to the source, never stored
    assert not Tip.objects.exists()
    assert _stored_files(blob_dir) == []


def test_empty_file_refused(client, blob_dir):
    response = post(client, "en", files=files(("empty.jpg", b"", "image/jpeg")))
    assert response.status_code == 400
    assert "is empty" in response.content.decode()


@pytest.mark.parametrize("lang", ["es", "en"])
def test_too_many_files(client, blob_dir, settings, lang):
    settings.MAX_FILES = 2
    png = fixtures.png_with_text()
    response = post(client, lang, files=files(*[(f"{i}.png", png, "image/png") for i in range(3)]))
    assert response.status_code == 413
    expected = {"es": "como máximo 2 archivos", "en": "at most 2 files"}[lang]
    assert expected in response.content.decode()
    assert not Tip.objects.exists()
    assert _stored_files(blob_dir) == []


@pytest.mark.parametrize(("lang", "message"), [("es", "pesa más de"), ("en", "is larger than")])
def test_file_too_large(client, blob_dir, settings, lang, message):
    settings.MAX_FILE_BYTES = 1000
    response = post(
        client, lang, note=NOTE, files=files(("big.jpg", fixtures.jpeg_with_gps(), "image/jpeg"))
    )
    body = response.content.decode()
    assert response.status_code == 413
    assert message in body and "big.jpg" in body
    assert NOTE in body  # the note is kept in the form so the source need not retype it
    assert not Tip.objects.exists()
    assert _stored_files(blob_dir) == []


def test_submission_too_large(client, blob_dir, settings):
    settings.MAX_SUBMISSION_BYTES = 1000
    png = fixtures.png_with_text()
    response = post(client, "en", files=files(*[(f"{i}.png", png, "image/png") for i in range(5)]))
    assert response.status_code == 413
    assert "All files together are larger than" in response.content.decode()
    assert _stored_files(blob_dir) == []


@pytest.mark.parametrize(("lang", "message"), [("es", "demasiado larga"), ("en", "too long")])
def test_note_too_long(client, settings, lang, message):
    settings.MAX_NOTE_CHARS = 50
    response = post(client, lang, note="x" * 51)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_note_over_memory_limit(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(client, "en", note="x" * 5000)
    assert response.status_code == 413
    assert "too long" in response.content.decode()


@pytest.mark.parametrize(
    "body",
    [
        # no closing boundary
        b'--boundary\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi',
        b"garbage",
        b"",
    ],
)
def test_malformed_multipart_never_500(client, body):
    response = client.generic(
        "POST", "/en/", body, content_type="multipart/form-data; boundary=boundary"
    )
    assert response.status_code in (200, 400)
    assert not Tip.objects.exists() or response.status_code == 200


def test_missing_boundary_is_a_clear_error(client):
    response = client.generic("POST", "/es/", b"x", content_type="multipart/form-data")
    assert response.status_code == 400
    assert "No pudimos leer el envío" in response.content.decode()


def test_storage_failure_is_a_clear_error_and_keeps_nothing(client, blob_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("submissions.storage.save", broken)
    response = post(client, "en", note="x", files=photo_and_png())
    assert response.status_code == 503
    assert "could not store your submission" in response.content.decode()
    assert not Tip.objects.exists()
    assert _stored_files(blob_dir) == []


def _stored_files(root: Path) -> list[Path]:
    spool = root.parent / "spool"
    return [p for base in (root, spool) for p in base.rglob("*") if p.is_file()]


def test_attachment_rows_hold_no_client_metadata(client, blob_dir):
    post(client, "en", files=photo_and_png())
    for attachment in Attachment.objects.all():
        assert attachment.kind == ""  # set by the worker from content, not by the client
        assert len(attachment.blob_name) == 35 and "/" in attachment.blob_name


def test_unexpected_errors_get_a_friendly_bilingual_page(client, monkeypatch, settings):
    def explode(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("submissions.views.public.TipForm", explode)
    client.raise_request_exception = False
    response = client.get("/es/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Algo falló de nuestro lado" in body and "Something failed on our side" in body
    assert "bug" not in body and "Traceback" not in body


def test_unknown_page_is_a_plain_404(client):
    response = client.get("/es/nothing-here/")
    assert response.status_code == 404
    assert "Esta página no existe" in response.content.decode()


def test_broker_outage_still_gives_a_receipt_and_keeps_the_files(
    client, blob_dir, monkeypatch, django_capture_on_commit_callbacks
):
    """Once committed, a tip is never undone: the rows wait in `received` for the beat task."""
    from kombu.exceptions import OperationalError

    def broker_down(pk):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr("submissions.services._enqueue_scrub", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "en", note=NOTE, files=photo_and_png())
    assert response.status_code == 200
    assert "receipt-code" in response.content.decode()
    attachments = list(Attachment.objects.all())
    assert [a.state for a in attachments] == ["received", "received"]
    for attachment in attachments:
        assert (blob_dir / attachment.blob_name).is_file()


def test_only_allowlisted_headers_reach_the_view(client, monkeypatch):
    seen: dict[str, str] = {}
    real = public_views._form_page

    def spy(request, *args, **kwargs):
        seen.update(request.META)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(public_views, "_form_page", spy)
    client.get(
        "/es/",
        HTTP_X_CLUSTER_CLIENT_IP="192.0.2.44",
        HTTP_FASTLY_CLIENT_IP="192.0.2.45",
        HTTP_X_ORIGINAL_FORWARDED_FOR="192.0.2.46",
        HTTP_COOKIE="a=b",
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert seen["HTTP_ACCEPT_LANGUAGE"] == "es"
    for key, value in seen.items():
        assert "192.0.2" not in str(value), key
        assert CLIENT_IP not in str(value) and "CANARY-UA" not in str(value), key
    assert "HTTP_COOKIE" not in seen and "HTTP_REFERER" not in seen and "REMOTE_ADDR" not in seen


def test_public_role_treats_staff_paths_as_public(client, settings):
    settings.ROLE = "public"
    response = client.get("/staff/", HTTP_COOKIE="sessionid=x; csrftoken=y")
    assert response.wsgi_request.COOKIES == {}
    assert "HTTP_COOKIE" not in response.wsgi_request.META
    assert not response.cookies
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_public_role_mounts_no_staff_route(settings):
    import importlib

    import tipline.urls

    settings.ROLE = "public"
    try:
        module = importlib.reload(tipline.urls)
        routes = [str(pattern.pattern) for pattern in module.urlpatterns]
        assert routes and not [route for route in routes if "staff" in route]
    finally:
        settings.ROLE = "all"
        importlib.reload(tipline.urls)


def test_links_with_backslashes_are_refused(client, blob_dir):
    """Browsers read "\\" as "/": https://evil.example\\@good.example/ goes to evil.example,
    while a parser would show editors good.example."""
    response = post(client, "en", links="https://evil.example\\@good.example/")
    assert response.status_code == 400 and "is not a web address" in response.content.decode()
    assert not Tip.objects.exists()


def test_every_message_has_its_spanish_translation_and_the_catalogue_is_compiled(tmp_path):
    """No message shows in English on the Spanish site, and the compiled catalogue served is
    the one the translations say (msgfmt, as `make messages` runs it)."""
    import subprocess

    from tests.tools import require

    po = Path(__file__).resolve().parent.parent / "locale/es/LC_MESSAGES/django.po"
    compiled = tmp_path / "django.mo"
    result = subprocess.run([require("msgfmt"), "--check-format", "--statistics", "-o",
                             str(compiled), str(po)], capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), "run `make messages`"


@pytest.mark.parametrize(("lang", "message"), [
    ("en", "Too many files are waiting to be cleaned right now"),
    ("es", "Ahora mismo hay demasiados archivos esperando"),
])  # fmt: skip
def test_uploads_wait_when_the_backlog_is_deep_or_the_disk_low(
    client, blob_dir, settings, monkeypatch, lang, message
):
    post(client, "en", note="first", files=photo_and_png())  # two files now wait (no worker)
    settings.MAX_BACKLOG = 2
    response = post(client, lang, note="second", files=photo_and_png())
    assert response.status_code == 503 and response["Retry-After"] == "300"
    assert message in response.content.decode()
    assert Tip.objects.count() == 1 and Attachment.objects.count() == 2
    settings.MAX_BACKLOG = 100
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10, 10))
    response = post(client, lang, note="third", files=photo_and_png())
    assert response.status_code == 503 and message in response.content.decode()
    assert Tip.objects.count() == 1
    monkeypatch.undo()
    assert post(client, lang, note="fourth").status_code == 200  # welcome again


@pytest.mark.parametrize(("lang", "message"), [
    ("en", "Many people are sending right now"),
    ("es", "Ahora mismo hay mucha gente enviando"),
])  # fmt: skip
def test_posts_are_limited_per_minute_for_everyone_together(client, blob_dir, settings, lang,
                                                            message, monkeypatch):  # fmt: skip
    """Counted in the shared cache (Redis here, as in production) under the endpoint and the
    minute only: nothing about who posted."""
    import types

    import redis

    from submissions import ratelimit

    # The three posts fall in one minute of the limiter's clock, even when the wall clock's
    # minute turns between them.
    frozen = time.time()
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: frozen))

    server = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def forget() -> None:  # only the counters: the same database holds Celery's queue
        for key in server.keys("*rl:*"):
            server.delete(key)

    forget()
    settings.SUBMISSIONS_PER_MINUTE = 2
    assert post(client, lang, note="one").status_code == 200
    assert post(client, lang, note="two").status_code == 200
    response = post(client, lang, note="three", files=photo_and_png())
    assert response.status_code == 429 and int(response["Retry-After"]) <= 61
    assert message in response.content.decode()
    assert Tip.objects.count() == 2
    keys = [k.decode() for k in server.keys("*rl:*")]
    assert keys and all(re.fullmatch(r"tipline:\d+:rl:submit:\d+", key) for key in keys), keys
    forget()


def test_a_filled_honeypot_refuses_the_form_and_shows_the_field(blob_dir):
    """Bots fill every field; people never see this one. Filled (a browser's autofill, say),
    nothing is kept and the field appears with its error, in the source's language."""
    empty = Client().get("/es/").content.decode()
    assert re.search(r'<p class="hp" aria-hidden="true">\s*<label for="id_website">', empty)
    assert 'tabindex="-1"' in empty and 'autocomplete="off"' in empty
    photo = SimpleUploadedFile("a.jpg", fixtures.jpeg_with_gps())
    form = {"note": "real note", "website": "http://spam.example", "files": [photo]}
    response = Client().post("/es/", form)
    page = response.content.decode()
    assert response.status_code == 400
    assert "Este campo debe quedar vacío: borre lo que contiene" in page
    assert 'class="hp"' not in page and "real note" in page  # shown, what they wrote kept
    assert not Tip.objects.exists() and not list(storage.walk())
