"""A source coming back with the receipt code, through Django's test client on PostgreSQL:
sign-in and its answers, the session and its cookie, replies read and deleted, answers with
files, throttles, and the editors' unread messages. The whole flow in a real browser with
JavaScript off, with a real worker and a canary sweep, is in test_browser_followup.py."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from submissions import clock, crypto, receipts, services, sources
from submissions.models import Attachment, Reply, SourceMessage, SourceSession, Tip
from tests import fixtures
from tests.sources import receipt_code, tip_of
from tests.staff import make_staff, sign_in
from tests.tools import database_bytes

pytestmark = pytest.mark.django_db

NOTE = "CANARY-FOLLOWUP the second boat is blue"


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    """Files are cleaned by calling the service here; test_browser_followup runs a worker."""
    enqueued: list[object] = []
    monkeypatch.setattr("submissions.services._enqueue_scrub", enqueued.append)
    return enqueued


def submit(
    note: str = "first tip", files: list[tuple[str, bytes]] | None = None
) -> tuple[Tip, str]:
    uploads = [SimpleUploadedFile(name, data) for name, data in files or []]
    response = Client().post("/en/", {"note": note, "files": uploads})
    assert response.status_code == 200, response.content.decode()[-2000:]
    code = receipt_code(response.content.decode())
    return tip_of(code), code


def signed_in(code: str, lang: str = "en") -> Client:
    client = Client()
    response = client.post(f"/{lang}/check/", {"code": code})
    assert response.status_code == 303, response.content.decode()[-2000:]
    assert response["Location"] == f"/{lang}/check/tip/"
    return client


def page(client: Client, lang: str = "en") -> str:
    response = client.get(f"/{lang}/check/tip/")
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def token(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]{64})"', html).group(1)


def clean_all(tip: Tip) -> None:
    for attachment in tip.attachments.exclude(state="clean"):
        services.attachment_scrub(attachment_id=str(attachment.pk))


# ------------------------------------------------------------------------- signing in


def test_sign_in_sets_one_cookie_holding_a_random_token(blob_dir):
    tip, code = submit()
    client = Client()
    response = client.post("/en/check/", {"code": code})
    assert response.status_code == 303
    cookies = response.cookies
    assert list(cookies) == [sources.COOKIE]
    morsel = cookies[sources.COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["max-age"] and not morsel["expires"]  # gone when the browser closes
    value = morsel.value
    assert len(value) == 44 and code not in value
    for word in code.split():
        assert word not in value
    # The row is found by the token's hash: it holds neither the token nor the code.
    row = SourceSession.objects.get()
    assert row.tip_id == tip.pk
    assert row.key == hashlib.sha256(base64.urlsafe_b64decode(value)).hexdigest()
    assert value.encode() not in database_bytes()


def test_over_https_or_onion_the_cookie_is_secure_and_host_only(blob_dir, settings):
    settings.SECURE_COOKIES = True  # TIPLINE_HTTPS or TIPLINE_ONION
    _, code = submit()
    client = Client()
    response = client.post("/en/check/", {"code": code})
    assert list(response.cookies) == ["__Host-tipline_source"]
    morsel = response.cookies["__Host-tipline_source"]
    assert morsel["secure"] and morsel["path"] == "/" and not morsel["domain"]
    assert client.get("/en/check/tip/").status_code == 200


@pytest.mark.parametrize("lang", ["es", "en"])
def test_the_code_is_forgiving_about_case_spaces_and_hyphens(blob_dir, lang):
    _, code = submit()
    sloppy = "  " + "-".join(word.upper() for word in code.split()) + " "
    signed_in(sloppy, lang)


WRONG = {
    "unknown": None,  # a well-formed code of no tip (filled in below)
    "empty": "",
    "short": "one two",
    "garbage": "'; DROP TABLE tips; -- <script>",
    "huge": "word " * 5000,
}


def _wrong(kind: str) -> str:
    return receipts.generate() if kind == "unknown" else WRONG[kind]


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_wrong_code_gets_the_same_page_and_status(blob_dir, lang):
    tip, code = submit()
    purged_code = code
    Tip.objects.filter(pk=tip.pk).delete()  # a code whose tip is gone is just wrong
    bodies = set()
    for kind in [*WRONG, "purged"]:
        entered = purged_code if kind == "purged" else _wrong(kind)
        response = Client().post(f"/{lang}/check/", {"code": entered})
        assert response.status_code == 400, kind
        assert not response.cookies
        body = response.content.decode()
        if entered.strip():
            assert entered.strip()[:40] not in body  # what was typed is never echoed
        bodies.add(body)
    assert len(bodies) == 1
    message = {"es": "Este código no abre ningún envío", "en": "This code does not open a tip"}
    assert message[lang] in bodies.pop()
    assert not SourceSession.objects.exists()


def test_a_wrong_code_costs_what_a_right_one_costs(blob_dir, monkeypatch):
    """The same one scrypt derivation whatever the input: counted exactly here, and timed
    (the side-by-side numbers are in bench/receipt_timing.py)."""
    _, code = submit()
    calls: list[int] = []
    stretch = receipts._stretch
    monkeypatch.setattr(receipts, "_stretch",
                        lambda text, salt: calls.append(1) or stretch(text, salt))  # fmt: skip
    timings: dict[str, list[float]] = {"right": [], "wrong": []}
    for _ in range(5):
        for kind, entered in (("right", code), ("wrong", receipts.generate()), ("wrong", "")):
            calls.clear()
            started = time.perf_counter()
            Client().post("/en/check/", {"code": entered})
            timings[kind].append(time.perf_counter() - started)
            assert len(calls) == 1, (kind, len(calls))
    right, wrong = statistics.median(timings["right"]), statistics.median(timings["wrong"])
    assert abs(wrong - right) / right < 0.35, timings


def test_a_tip_from_before_the_one_scrypt_scheme_still_opens_with_its_code(blob_dir):
    """A v1 tip keeps scrypt(code) as its digest and a key from a second scrypt: its source
    still signs in with the same code and reads a reply sealed to that key."""
    tip, code = submit()
    legacy = receipts.legacy_source_identity(code, tip.pk)
    Tip.objects.filter(pk=tip.pk).update(receipt_hash=receipts.Secret(code).legacy_digest,
                                         source_recipient=str(legacy.recipient))  # fmt: skip
    tip.refresh_from_db()
    services.reply_add(tip=tip, author="editor", body="Sealed to the old key")
    assert "Sealed to the old key" in page(signed_in(code))
    assert legacy.recipient != receipts.source_identity(code, tip.pk).recipient
    wrong = Client().post("/en/check/", {"code": receipts.generate()})
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_SEC_FETCH_SITE": "cross-site"}, {"HTTP_ORIGIN": "https://evil.example"},
     {"HTTP_SEC_FETCH_SITE": "same-site", "HTTP_ORIGIN": "null"}],
)  # fmt: skip
def test_cross_site_sign_in_is_refused(blob_dir, headers):
    """Another site cannot sign a visitor into its own tip (their answers would go there)."""
    _, code = submit()
    response = Client().post("/en/check/", {"code": code}, **headers)
    assert response.status_code == 403
    assert not response.cookies and not SourceSession.objects.exists()


def test_code_checks_are_limited_for_everyone_together(blob_dir, settings):
    settings.CODE_CHECKS_PER_MINUTE = 3
    _, code = submit()
    for _ in range(3):
        assert Client().post("/en/check/", {"code": "wrong words"}).status_code == 400
    response = Client().post("/es/check/", {"code": code})  # even the right code waits
    assert response.status_code == 429
    assert "Espera 1 minuto(s)" in response.content.decode()
    assert not SourceSession.objects.exists()


def test_sign_ins_are_limited_per_tip(blob_dir, settings):
    settings.SOURCE_SIGNINS_PER_HOUR = 2
    _, code = submit()
    _, other = submit()
    signed_in(code)
    signed_in(code)
    response = Client().post("/en/check/", {"code": code})
    assert response.status_code == 429
    assert "used to sign in many times" in response.content.decode()
    signed_in(other)  # another tip is not affected


# ---------------------------------------------------------------------------- the session


def test_no_session_no_page(blob_dir):
    for cookie in ("", "x" * 44, "A" * 200):
        client = Client()
        client.cookies[sources.COOKIE] = cookie
        response = client.get("/en/check/tip/")
        assert response.status_code == 303
        assert response["Location"] == "/en/check/?ended=1"


def test_the_session_ends_after_inactivity_and_at_its_maximum(blob_dir, settings):
    _, code = submit()
    client = signed_in(code)
    page(client)
    idle = timedelta(seconds=settings.SOURCE_SESSION_IDLE_SECONDS + 1)
    SourceSession.objects.update(last_seen=timezone.now() - idle)
    assert client.get("/en/check/tip/").status_code == 303
    assert not SourceSession.objects.exists()  # ended sessions are deleted, not kept
    client = signed_in(code)
    oldest = timedelta(seconds=settings.SOURCE_SESSION_MAX_SECONDS + 1)
    SourceSession.objects.update(created_at=timezone.now() - oldest)
    assert client.get("/en/check/tip/").status_code == 303


def test_idle_timeout_is_at_most_thirty_minutes():
    """The settings refuse a longer one (read as production reads them, in a new process)."""
    env = {**os.environ, "TIPLINE_SOURCE_SESSION_IDLE_SECONDS": "1801"}
    result = subprocess.run([sys.executable, "-c", "import tipline.settings"], env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0
    assert "TIPLINE_SOURCE_SESSION_IDLE_SECONDS must be at most 1800" in result.stderr


def test_expiry_task_deletes_ended_sessions(blob_dir, settings):
    _, code = submit()
    signed_in(code)
    signed_in(code)
    SourceSession.objects.filter(pk=SourceSession.objects.first().pk).update(
        last_seen=timezone.now() - timedelta(hours=1)
    )
    assert sources.expire() == 1
    assert SourceSession.objects.count() == 1


def test_sign_out_ends_the_session_and_removes_the_cookie(blob_dir):
    _, code = submit()
    client = signed_in(code)
    page(client)
    response = client.post("/en/check/sign-out/", {})  # an old tab's form works too
    assert response.status_code == 303 and response["Location"] == "/en/check/?out=1"
    assert response.cookies[sources.COOKIE].value == ""
    assert not SourceSession.objects.exists()
    assert "You are signed out" in client.get("/en/check/?out=1").content.decode()


def test_signing_in_again_ends_the_previous_session(blob_dir):
    _, code = submit()
    client = signed_in(code)
    first = SourceSession.objects.get().key
    response = client.post("/en/check/", {"code": code})
    assert response.status_code == 303
    assert list(SourceSession.objects.values_list("key", flat=True)) != [first]
    assert SourceSession.objects.count() == 1


def test_posts_without_the_page_token_or_from_another_site_are_refused(blob_dir):
    tip, code = submit()
    reply = services.reply_add(tip=tip, author="editor", body="read me")
    client = signed_in(code)
    html = page(client)
    delete = {"token": token(html), "reply": str(reply.pk)}
    assert (
        client.post("/en/check/tip/delete-reply/", {**delete, "token": "0" * 64}).status_code == 403
    )
    foreign = [{"HTTP_SEC_FETCH_SITE": "cross-site"}, {"HTTP_SEC_FETCH_SITE": "same-site"},
               {"HTTP_ORIGIN": "https://evil.example"}]  # fmt: skip
    for headers in foreign:
        assert client.post("/en/check/tip/delete-reply/", delete, **headers).status_code == 403
        assert client.post("/en/check/sign-out/", {}, **headers).status_code == 403
    response = client.post("/en/check/tip/", {"note": "x", "token": "f" * 64})
    assert response.status_code == 403
    reply.refresh_from_db()
    assert reply.source_deleted_at is None
    assert SourceSession.objects.exists() and not SourceMessage.objects.exists()
    # The site's own posts: same-origin, or an Origin of "null" (our no-referrer policy).
    same = {"HTTP_ORIGIN": "null"}
    assert client.post("/en/check/tip/delete-reply/", delete, **same).status_code == 303


def test_the_cookie_reaches_only_the_check_pages(blob_dir, monkeypatch):
    _, code = submit()
    client = signed_in(code)
    client.cookies["other"] = "tracking"
    seen: dict[str, dict[str, str]] = {}
    from submissions.views import followup, public

    for module, name in ((public, "_form_page"), (followup, "_page")):
        original = getattr(module, name)

        def spy(request, *args, _original=original, _name=name, **kwargs):
            seen[_name] = dict(request.COOKIES)
            return _original(request, *args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    response = client.get("/en/")
    assert seen["_form_page"] == {} and not response.cookies
    response = client.get("/en/check/tip/")
    assert response.status_code == 200
    assert list(seen["_page"]) == [sources.COOKIE]  # not "other", nor anything else


# -------------------------------------------------------------------- what the source sees


@pytest.mark.parametrize(
    ("status", "en", "es"),
    [
        ("new", "Received", "Recibido"),
        ("in_review", "Being reviewed", "En revisión"),
        ("verifying", "Being reviewed", "En revisión"),
        ("published", "Closed", "Cerrado"),
        ("dismissed", "Closed", "Cerrado"),
        ("spam", "Closed", "Cerrado"),
    ],
)
def test_status_is_neutral(blob_dir, status, en, es):
    tip, code = submit()
    Tip.objects.filter(pk=tip.pk).update(status=status)
    client = signed_in(code)
    assert f'<strong id="status">{en}</strong>' in page(client, "en")
    assert f'<strong id="status">{es}</strong>' in page(client, "es")


def test_the_source_sees_what_was_removed_from_each_file(blob_dir):
    tip, code = submit(files=[("photo.jpg", fixtures.jpeg_with_gps()),
                              ("report.pdf", fixtures.pdf_with_history()),
                              ("bad.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")])  # fmt: skip
    client = signed_in(code)
    html = page(client)
    assert html.count("being cleaned of identifying data") == 3
    clean_all(tip)
    html = page(client)
    assert "File 1 (photo): cleaned. Removed: location (GPS), camera or device details" in html
    assert "File 2 (document): cleaned. Removed:" in html and "names of people" in html
    assert "File 3 (file) was not kept" in html
    es = page(client, "es")
    assert "Archivo 1 (foto): limpio. Se quitó: ubicación (GPS)" in es
    # A report sealed before reports were sealed for sources: "cleaned", no claim either way.
    photo = tip.attachments.get(position=1)
    Attachment.objects.filter(pk=photo.pk).update(sealed_report=services.seal_json(
        {"removed": ["EXIF tags: GPSInfo"]}, aad=crypto.binding("attachment", photo.pk, "report")
    ))  # fmt: skip
    html = page(client)
    assert "File 1 (photo): cleaned.</li>" in html and "no identifying data" not in html
    # A file the worker could not finish: kept for the newsroom, not "being cleaned" forever.
    Attachment.objects.filter(pk=photo.pk).update(state="failed", reason="internal error")
    assert "File 1 (photo): could not be cleaned automatically yet" in page(client)


def test_replies_are_read_with_the_code_marked_read_and_deleted(blob_dir, newsroom_identity):
    tip, code = submit()
    reply = services.reply_add(tip=tip, author="editor-ana", body="Where was this taken?")
    client = signed_in(code)
    html = page(client)
    assert "Where was this taken?" in html and "editor-ana" not in html
    reply.refresh_from_db()
    assert reply.read_at == clock.coarse(reply.read_at)  # kept to the hour only (clock.py)
    response = client.post("/en/check/tip/delete-reply/",
                           {"token": token(html), "reply": str(reply.pk)})  # fmt: skip
    assert response.status_code == 303
    assert "Where was this taken?" not in page(client)
    reply.refresh_from_db()
    assert reply.source_deleted_at == clock.coarse(reply.source_deleted_at)
    # The source's code no longer opens it; the newsroom still does.
    identity = receipts.source_identity(code, tip.pk)
    aad = crypto.binding("reply", reply.pk, "body")
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(reply.sealed), identities=[identity], aad=aad)
    plain = crypto.open_bytes(bytes(reply.sealed), identities=[newsroom_identity], aad=aad)
    assert plain == b"Where was this taken?"


def test_an_unread_reply_cannot_be_deleted_blind(blob_dir):
    tip, code = submit()
    client = signed_in(code)
    html = page(client)
    reply = services.reply_add(tip=tip, author="editor", body="new after the page loaded")
    client.post("/en/check/tip/delete-reply/", {"token": token(html), "reply": str(reply.pk)})
    reply.refresh_from_db()
    assert reply.source_deleted_at is None


def test_a_source_cannot_touch_another_tips_replies(blob_dir):
    tip, _ = submit()
    _, other_code = submit()
    reply = services.reply_add(tip=tip, author="editor", body="for the first source")
    Reply.objects.filter(pk=reply.pk).update(read_at=timezone.now())
    client = signed_in(other_code)
    html = page(client)
    assert "for the first source" not in html
    client.post("/en/check/tip/delete-reply/", {"token": token(html), "reply": str(reply.pk)})
    reply.refresh_from_db()
    assert reply.source_deleted_at is None


# ---------------------------------------------------------------------- answering


def test_the_source_answers_with_a_note_links_and_a_photo(blob_dir, newsroom_identity):
    tip, code = submit(files=[("first.jpg", fixtures.jpeg_with_gps())])
    client = signed_in(code)
    html = page(client)
    photo = SimpleUploadedFile("IMG_second.jpg", fixtures.jpeg_with_gps())
    data = {"token": token(html), "note": NOTE, "links": "example.com/boat", "files": [photo]}
    response = client.post("/en/check/tip/", data)
    assert response.status_code == 303, response.content.decode()[-2000:]
    assert response["Location"] == "/en/check/tip/?sent=1"
    message = SourceMessage.objects.get()
    assert message.tip_id == tip.pk and message.link_count == 1 and message.read_at is None
    assert message.number == 1 and message.created_at == clock.coarse(message.created_at)
    added = Attachment.objects.get(message=message)
    assert added.position == 2 and added.state == "received"
    # Sealed to the newsroom alone: the source's code cannot show it again.
    plain = crypto.open_bytes(bytes(message.sealed_content), identities=[newsroom_identity],
                              aad=crypto.binding("message", message.pk, "content"))  # fmt: skip
    assert NOTE.encode() in plain
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(message.sealed_content),
                          identities=[receipts.source_identity(code, tip.pk)],
                          aad=crypto.binding("message", message.pk, "content"))  # fmt: skip
    assert NOTE.encode() not in database_bytes()
    clean_all(tip)
    html = page(client)
    assert "Your message" in html and "1 link" in html
    assert "File 2 (photo): cleaned. Removed: location (GPS)" in html
    assert NOTE not in html


@pytest.mark.parametrize(
    ("lang", "data", "message"),
    [
        ("en", {}, "The form is empty"),
        ("es", {}, "El formulario está vacío"),
        ("en", {"links": "not a link at all"}, "is not a web address"),
    ],
)
def test_invalid_answers_are_explained(blob_dir, lang, data, message):
    _, code = submit()
    client = signed_in(code, lang)
    html = page(client, lang)
    response = client.post(f"/{lang}/check/tip/", {"token": token(html), **data})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SourceMessage.objects.exists()


def test_unsupported_files_in_an_answer_are_refused_in_the_sources_language(blob_dir):
    _, code = submit()
    client = signed_in(code, "es")
    html = page(client, "es")
    exe = SimpleUploadedFile("tool.exe", b"MZ\x90\x00" + b"\x00" * 200)
    response = client.post("/es/check/tip/", {"token": token(html), "note": "keep me",
                                              "files": [exe]})  # fmt: skip
    assert response.status_code == 400
    body = response.content.decode()
    assert "no podemos quitar los datos" in body and "keep me" in body
    assert not SourceMessage.objects.exists() and Attachment.objects.count() == 0


def test_messages_are_limited_per_tip(blob_dir, settings):
    settings.SOURCE_MESSAGES_PER_HOUR = 1
    _, code = submit()
    client = signed_in(code)
    html = page(client)
    assert client.post("/en/check/tip/", {"token": token(html), "note": "one"}).status_code == 303
    response = client.post("/en/check/tip/", {"token": token(html), "note": "two"})
    assert response.status_code == 429
    assert "Many messages were sent" in response.content.decode()
    assert SourceMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_answers_at_once_number_their_files_one_after_the_other(blob_dir):
    """Real PostgreSQL, two sessions posting at once: the tip's row lock orders them."""
    tip, code = submit(files=[("a.jpg", fixtures.jpeg_with_gps())])
    clients = [signed_in(code) for _ in range(2)]
    tokens = [token(page(client)) for client in clients]
    start = threading.Barrier(2)
    statuses: list[int] = []

    def answer(n: int) -> None:
        try:
            photos = [SimpleUploadedFile(f"{n}-{i}.jpg", fixtures.jpeg_with_gps())
                      for i in range(3)]  # fmt: skip
            start.wait()
            response = clients[n].post("/en/check/tip/", {"token": tokens[n], "files": photos,
                                                          "note": f"answer {n}"})  # fmt: skip
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303, 303]
    positions = sorted(Attachment.objects.filter(tip=tip).values_list("position", flat=True))
    assert positions == list(range(1, 8))
    assert SourceMessage.objects.filter(tip=tip).count() == 2


# --------------------------------------------------------------------- the editors' side


def test_editors_see_new_messages_unread_until_they_open_the_tip(blob_dir, newsroom_identity):
    tip, code = submit()
    quiet, _ = submit()
    client = signed_in(code)
    client.post("/en/check/tip/", {"token": token(page(client)), "note": NOTE})
    editor = make_staff("editor", newsroom_identity)
    staff = sign_in(editor)
    queue = staff.get("/staff/submissions/tip/").content.decode()
    assert "1 unread" in queue
    only = staff.get("/staff/submissions/tip/?view=unread").content.decode()
    assert f"Tip {str(tip.pk)[:8]}" in only and f"Tip {str(quiet.pk)[:8]}" not in only
    html = staff.get(f"/staff/submissions/tip/{tip.pk}/change/").content.decode()
    assert NOTE in html and "unread" in html
    message = SourceMessage.objects.get()
    assert message.read_at is not None and message.read_by == "editor"
    assert "1 unread" not in staff.get("/staff/submissions/tip/").content.decode()


# ------------------------------------------------------- replies at rest, on the server


def test_replies_cannot_be_opened_with_everything_the_server_holds(
    blob_dir, newsroom_identity, intake_key_file, tmp_path, settings
):
    """A seized server: every row (staff and source sessions included), every file under
    the data directory, the intake key, the settings' secrets. Without the code or an
    editor's password, no key in there opens a reply; with either, the `age` CLI does."""
    from django.contrib.sessions.models import Session

    from newsroom.models import StaffKey
    from submissions.crypto import password as passwords
    from tests.staff import PASSWORD
    from tests.tools import age_decrypt, require

    tip, code = submit()
    editor = make_staff("editor", newsroom_identity)
    sign_in(editor)  # a live staff session: the newsroom key sealed under its cookie
    signed_in(code)  # a live source session: the source's key sealed under its cookie
    reply = services.reply_add(tip=tip, author="editor", body="CANARY-REPLY come on Tuesday")
    sealed = tmp_path / "reply.age"
    sealed.write_bytes(bytes(Reply.objects.get(pk=reply.pk).sealed))
    aad = crypto.binding("reply", reply.pk, "body")

    held = bytearray(database_bytes())
    for path in [*settings.DATA_DIR.rglob("*"), intake_key_file]:
        if path.is_file():
            held += path.read_bytes()
    held += f"{settings.SECRET_KEY} {settings.RECEIPT_SALT}".encode()
    assert b"CANARY-REPLY" not in held and code.encode() not in held
    found = {m.decode() for m in re.findall(rb"AGE-SECRET-KEY-1[0-9A-Z]{58}", bytes(held))}
    identities = [crypto.Identity.parse(text) for text in found]
    intake = crypto.read_identity_file(intake_key_file)[0]
    assert intake.secret_str() in found  # the sweep does see the keys the server has
    assert newsroom_identity.secret_str() not in found
    for identity in identities:
        with pytest.raises(crypto.DecryptionError):
            crypto.open_bytes(bytes(reply.sealed), identities=[identity], aad=aad)
    # What the server could derive itself: a source key from any other code, the sessions'
    # sealed keys opened with what the rows hold, an editor's key with the server's secrets.
    other_code = receipts.source_identity(receipts.generate(), tip.pk)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(reply.sealed), identities=[other_code], aad=aad)
    row = SourceSession.objects.get()
    session_aad = crypto.binding("source-session", row.key, "identity")
    for guess in (row.key.encode()[:32], bytes.fromhex(row.key), settings.SECRET_KEY[:32].encode()):
        with pytest.raises(crypto.DecryptionError):
            passwords.session_open(bytes(row.sealed_identity), guess, aad=session_aad)
    assert Session.objects.count() == 1  # the staff session: see test_custody for its cookie
    staff_key = StaffKey.objects.get(user=editor)
    for guess in ("", settings.SECRET_KEY, settings.RECEIPT_SALT):
        with pytest.raises(crypto.DecryptionError):
            passwords.unwrap(bytes(staff_key.wrapped), guess, parameters=staff_key.kdf,
                             aad=crypto.binding("staff-key", editor.pk, "identity"))  # fmt: skip
    failed = subprocess.run([require("age"), "--decrypt", "-i", str(intake_key_file),
                             str(sealed)], capture_output=True)  # fmt: skip
    assert failed.returncode != 0

    # With the code: the source's key, derived again, opens it (the standard age tool).
    source_file = tmp_path / "source.key"
    crypto.write_identity_file(source_file, receipts.source_identity(code, tip.pk))
    assert age_decrypt(sealed, source_file) == b"CANARY-REPLY come on Tuesday"
    # With an editor's password: their key, then the newsroom's.
    from newsroom import custody

    newsroom_file = tmp_path / "newsroom.key"
    crypto.write_identity_file(newsroom_file, custody.unlock(editor, PASSWORD)[0])
    assert age_decrypt(sealed, newsroom_file) == b"CANARY-REPLY come on Tuesday"


def test_after_a_key_rotation_the_source_still_reads_and_editors_still_read_the_source(
    blob_dir, newsroom_identity
):
    from newsroom import custody, rotation
    from tests.staff import PASSWORD

    tip, code = submit(files=[("photo.jpg", fixtures.jpeg_with_gps())])
    clean_all(tip)
    services.reply_add(tip=tip, author="editor", body="REPLY-BEFORE-ROTATION")
    client = signed_in(code)
    client.post("/en/check/tip/", {"token": token(page(client)), "note": NOTE})
    editor = make_staff("editor", newsroom_identity)
    progress = rotation.rotate([newsroom_identity], actor=editor)
    assert progress.finished
    new = custody.unlock(editor, PASSWORD)
    assert [str(key.recipient) for key in new] != [str(newsroom_identity.recipient)]
    html = page(client)
    assert "REPLY-BEFORE-ROTATION" in html  # the source's stanza was kept
    assert "File 1 (photo): cleaned. Removed: location (GPS)" in html  # the report's too
    message = SourceMessage.objects.get()
    aad = crypto.binding("message", message.pk, "content")
    assert NOTE.encode() in crypto.open_bytes(bytes(message.sealed_content), identities=new,
                                              aad=aad)  # fmt: skip
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(message.sealed_content), identities=[newsroom_identity], aad=aad)


@pytest.mark.parametrize(
    ("removed", "kinds"),
    [
        (["EXIF tags: GPSInfo, Make, Model, DateTime, Artist"],
         ["location", "device", "people", "dates"]),
        (["container metadata (title, location, creation_time)"], ["location", "dates", "other"]),
        (["document information (author, creator, dates)", "thumbnails"],
         ["people", "dates", "hidden"]),
        (["handler name", "ICC profile"], ["device", "other"]),
        ([], []),
    ],
)  # fmt: skip
def test_what_was_removed_is_told_in_kinds_anyone_understands(removed, kinds):
    from submissions.scrub.report import source_kinds

    assert source_kinds(removed) == kinds


def test_language_links_stay_on_the_page(blob_dir):
    _, code = submit()
    client = signed_in(code, "es")
    html = page(client, "es")
    assert 'href="/en/check/tip/" hreflang="en"' in html
    refused = client.post("/es/check/sign-out/", {}, HTTP_SEC_FETCH_SITE="cross-site")
    refused = refused.content.decode()
    assert 'href="/en/check/" hreflang="en"' in refused  # not to the sign-out post


def test_an_answer_posted_after_the_session_ended_is_given_back_not_lost(blob_dir):
    _, code = submit()
    client = signed_in(code, "es")
    html = page(client, "es")
    SourceSession.objects.all().delete()  # timed out while the source was writing
    photo = SimpleUploadedFile("IMG_late.jpg", fixtures.jpeg_with_gps())
    data = {"token": token(html), "note": "MY LONG ACCOUNT", "links": "example.com/x",
            "files": [photo]}  # fmt: skip
    response = client.post("/es/check/tip/", data)
    assert response.status_code == 401
    body = response.content.decode()
    assert "NO se envió" in body and "MY LONG ACCOUNT" in body and "example.com/x" in body
    assert not SourceMessage.objects.exists() and Attachment.objects.count() == 0
    from django.conf import settings

    assert not [p for p in blob_dir.rglob("*") if p.is_file()]
    assert not [p for p in settings.SPOOL_DIR.rglob("*") if p.is_file()]  # discarded unread


def test_messages_from_the_source_stay_unread_for_an_editor_who_cannot_open_them(
    blob_dir, newsroom_identity
):
    tip, code = submit()
    client = signed_in(code)
    client.post("/en/check/tip/", {"token": token(page(client)), "note": NOTE})
    locked = make_staff("newcomer", None)  # signed in, but not granted the newsroom key
    staff = sign_in(locked)
    html = staff.get(f"/staff/submissions/tip/{tip.pk}/change/").content.decode()
    assert NOTE not in html and "locked" in html
    assert SourceMessage.objects.get().read_at is None


def test_a_reply_that_cannot_be_deleted_just_now_stays_and_the_source_is_told(
    blob_dir, monkeypatch
):
    tip, code = submit()
    reply = services.reply_add(tip=tip, author="editor", body="keep me")
    client = signed_in(code, "es")
    html = page(client, "es")

    def broken(*args: object, **kwargs: object) -> bytes:
        raise crypto.DecryptionError("header MAC mismatch")

    monkeypatch.setattr(services, "rewrap_header", broken)
    response = client.post("/es/check/tip/delete-reply/", {"token": token(html),
                                                           "reply": str(reply.pk)})  # fmt: skip
    assert response.status_code == 503
    body = response.content.decode()
    assert "No se pudo borrar el mensaje" in body and "keep me" in body
    reply.refresh_from_db()
    assert reply.source_deleted_at is None
