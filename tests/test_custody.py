"""Key custody and staff access: what a seized server gives away (nothing), the second factor,
grant / revoke / password change / rotation end to end, the offline export, the audit chain
and per-account throttling."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from newsroom import audit, custody
from newsroom.models import AuditEvent, Envelope, NewsroomKey, SignInThrottle
from submissions import crypto, filekeys, services
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.staff import PASSWORD, code, make_staff, sign_in
from tests.tools import age_decrypt_file, database_bytes

pytestmark = pytest.mark.django_db

NOTE = "CANARY-NOTE the harbour master takes the envelopes"
LINK = "https://example.com/CANARY-LINK"
SECRET_KEY = re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{58}")


@pytest.fixture
def tip(blob_dir, monkeypatch, django_capture_on_commit_callbacks) -> Tip:
    """A tip as the pipeline leaves it: note and link sealed, a photo cleaned and sealed."""
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/en/", {
            "note": NOTE, "links": LINK,
            "files": [SimpleUploadedFile("IMG_1.jpg", fixtures.jpeg_with_gps())],
        })  # fmt: skip
    assert response.status_code == 200
    tip = Tip.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.attachment_scrub(attachment_id=str(tip.attachments.get().pk))
    return tip


@pytest.fixture
def editor(newsroom_identity) -> User:
    return make_staff("editor", newsroom_identity, role="Admins")


def _download(client: Client, attachment: Attachment) -> bytes | int:
    response = client.get(f"/staff/tips/attachments/{attachment.pk}/download/")
    if response.status_code != 200:
        return response.status_code
    return b"".join(response.streaming_content)


def _legacy_clean_attachment(tip: Tip, newsroom: crypto.Identity) -> tuple[Attachment, bytes]:
    """A cleaned file as stored before file keys: addressed to the newsroom key itself."""
    import uuid

    from submissions import storage

    pk, plain = uuid.uuid4(), fixtures.jpeg_with_gps()
    spool = storage.Spool()
    stream = crypto.seal_stream(spool.file, recipients=[newsroom.recipient],
                                aad=crypto.binding("attachment", pk, "clean"))  # fmt: skip
    stream.write(plain)
    stream.close()
    name = storage.save_spool(spool)
    attachment = Attachment.objects.create(
        id=pk, tip=tip, position=50, state="clean", kind="jpeg", category="image",
        size=len(plain), blob_name=name, blob_key=None, sealed_meta=services.seal_json(
            {}, aad=crypto.binding("attachment", pk, "meta")),
    )  # fmt: skip
    return attachment, plain


def _tip_page(client: Client, tip: Tip) -> str:
    return client.get(f"/staff/submissions/tip/{tip.pk}/change/").content.decode()


# ---------------------------------------------------------------- 1. a seized server


def _everything_on_the_server() -> list[bytes]:
    """What a copy of the staff server holds: the database (sessions included), storage and
    the data directory, and the settings (environment and the files they name)."""
    import os

    found = [database_bytes()]
    for root in (Path(settings.DATA_DIR), Path(settings.STORAGES["blobs"]["OPTIONS"]["location"])):
        found += [path.read_bytes() for path in root.rglob("*") if path.is_file()]
    found.append(repr(sorted(os.environ.items())).encode())
    for name in ("TIPLINE_INTAKE_IDENTITY_FILE", "TIPLINE_SECRET_KEY_FILE"):
        if os.environ.get(name):
            found.append(Path(os.environ[name]).read_bytes())
    return found


def test_a_copy_of_the_server_decrypts_nothing_without_a_password(tip, editor, blob_dir):
    client = sign_in(editor)  # a live session too: its sealed keys sit in the database
    assert NOTE in _tip_page(client, tip)
    attachment = tip.attachments.get()
    blob = (blob_dir / attachment.blob_name).read_bytes()
    sealed = {
        "note": (bytes(tip.sealed_content), crypto.binding("tip", tip.pk, "content")),
        "name": (bytes(attachment.sealed_meta),
                 crypto.binding("attachment", attachment.pk, "meta")),
        "report": (bytes(attachment.sealed_report),
                   crypto.binding("attachment", attachment.pk, "report")),
        "file": (blob, crypto.binding("attachment", attachment.pk, "clean")),
        "file key": (bytes(attachment.blob_key),
                     crypto.binding("attachment", attachment.pk, "clean-key")),
    }  # fmt: skip
    disk = _everything_on_the_server()
    # Every private key anywhere on the server: the intake key (workers'), nothing else.
    identities = {
        crypto.Identity.parse(m.decode()) for data in disk for m in SECRET_KEY.findall(data)
    }
    assert identities, "the intake key file should have been found"
    for label, (data, aad) in sealed.items():
        with pytest.raises(crypto.DecryptionError):
            crypto.open_bytes(data, identities=list(identities), aad=aad)
        assert NOTE.encode() not in b"".join(disk) and b"CANARY-LINK" not in b"".join(disk), label
    # The wrapped personal key does not open without the password (nor with a guess).
    for guess in ("", "password", "editor", settings.SECRET_KEY, PASSWORD.upper()):
        assert custody.personal_key(editor, guess) is None
    # With the password, it all opens: the test above failed for the right reason.
    with custody.unlocked(custody.unlock(editor, PASSWORD)):
        for label, (data, aad) in sealed.items():
            opener = custody.current_identities()
            if label == "file":  # through its own key (filekeys.py)
                opener = filekeys.identities(
                    attachment.blob_key, opener=opener, attachment_id=attachment.pk, purpose="clean"
                )
            crypto.open_bytes(data, identities=opener, aad=aad)


def test_session_keys_do_not_open_without_the_cookie(tip, editor):
    client = sign_in(editor)
    assert custody.COOKIE in client.cookies
    cookie = client.cookies[custody.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    client.cookies.pop(custody.COOKIE)
    assert "locked: sign in again" in _tip_page(client, tip)
    assert NOTE not in _tip_page(client, tip)
    assert _download(client, tip.attachments.get()) == 404


# ------------------------------------------------------------ 2. the second factor


def test_editor_with_code_reads_notes_and_downloads(tip, editor):
    client = sign_in(editor)
    page = _tip_page(client, tip)
    assert NOTE in page and "CANARY-LINK" in page
    body = _download(client, tip.attachments.get())
    assert isinstance(body, bytes) and body.startswith(b"\xff\xd8")


def test_without_the_second_factor_nothing_is_reachable(tip, editor):
    client = Client()
    response = client.post("/staff/login/", {"username": "editor", "password": PASSWORD})
    # One answer for any wrong part: a right password does not show before the code is right.
    assert response.status_code == 200
    assert "Wrong username, password or authenticator code" in response.content.decode()
    unknown = client.post("/staff/login/", {"username": "nobody", "password": PASSWORD})
    assert "Wrong username, password or authenticator code" in unknown.content.decode()
    wrong = client.post("/staff/login/", {"username": "editor", "password": PASSWORD,
                                          "otp_token": "000000"})  # fmt: skip
    assert wrong.status_code == 200
    client.force_login(editor)  # a valid password session, no code on it
    for url in ("/staff/", "/staff/submissions/tip/", f"/staff/submissions/tip/{tip.pk}/change/",
                f"/staff/tips/attachments/{tip.attachments.get().pk}/download/",
                "/staff/newsroom/auditevent/"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 302 and "/staff/login/" in response["Location"], url


def test_a_code_is_accepted_once(editor):
    device = TOTPDevice.objects.get(user=editor)
    token = code(device)
    first = Client().post("/staff/login/", {"username": "editor", "password": PASSWORD,
                                            "otp_token": token})  # fmt: skip
    assert first.status_code == 302
    again = Client().post("/staff/login/", {"username": "editor", "password": PASSWORD,
                                            "otp_token": token})  # fmt: skip
    assert again.status_code == 200 and "Wrong username" in again.content.decode()


def test_enrolment_only_for_the_signed_in_account(tip, newsroom_identity):
    newcomer = make_staff("newcomer", newsroom_identity, enrolled=False)
    client = Client()
    response = client.post("/staff/login/", {"username": "newcomer", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/staff/account/enrol/"
    assert client.get("/staff/submissions/tip/").status_code == 302  # not before enrolling
    page = client.get("/staff/account/enrol/").content.decode()
    intruder = Client()
    intruder.post("/staff/login/", {"username": "newcomer", "password": PASSWORD})
    intruder_page = intruder.get("/staff/account/enrol/").content.decode()
    secrets = [re.search(r"<code>([A-Z2-7]+)</code>", p).group(1) for p in (page, intruder_page)]
    assert secrets[0] != secrets[1]  # each session its own secret
    assert "<svg" in page and not re.search(r'(src|href)="(https?:)?//', page)  # inline QR
    device = TOTPDevice.objects.get(pk=client.session["tipline_enrolling_device"])
    refused = client.post("/staff/account/enrol/", {"password": "wrong", "otp_token": code(device)})
    assert refused.status_code == 200 and not TOTPDevice.objects.get(pk=device.pk).confirmed
    done = client.post("/staff/account/enrol/", {"password": PASSWORD, "otp_token": code(device)})
    assert done.status_code == 302
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert NOTE in _tip_page(client, tip)
    # Another session with the same password never saw this secret, and its own is gone.
    assert TOTPDevice.objects.filter(user=newcomer, confirmed=False).count() == 0
    # Someone already enrolled cannot use the page to add a second device.
    other = Client()
    other.force_login(newcomer)
    assert other.get("/staff/account/enrol/").status_code == 302
    assert TOTPDevice.objects.filter(user=newcomer).count() == 1


# -------------------------------------------- 3. grant, revoke, password change, rotate


def _action(client: Client, url: str, action: str, pks: list[object]) -> None:
    response = client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]})
    assert response.status_code == 302, response.content.decode()[-1500:]


def test_grant_password_change_and_revoke_end_to_end(tip, editor):
    newcomer = make_staff("newcomer", None)  # an editor role, no key yet
    assert "locked" in _tip_page(sign_in(newcomer), tip)
    admin_client = sign_in(editor)
    _action(admin_client, "/staff/auth/user/", "grant_access", [newcomer.pk])
    assert Envelope.objects.filter(user=newcomer).count() == 1
    reader = sign_in(newcomer)
    assert NOTE in _tip_page(reader, tip)

    # Password change: the key is re-wrapped; the old password opens nothing any more.
    response = reader.post("/staff/password_change/", {
        "old_password": PASSWORD, "new_password1": "another-long-passphrase-42",
        "new_password2": "another-long-passphrase-42",
    })  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/staff/login/"
    assert reader.get("/staff/").status_code == 302  # that session is over
    assert custody.personal_key(newcomer, PASSWORD) is None
    reader = sign_in(newcomer, "another-long-passphrase-42")
    assert NOTE in _tip_page(reader, tip)

    # Revoke: the open session loses the key at its next request, and so does a new one.
    _action(admin_client, "/staff/auth/user/", "revoke_access", [newcomer.pk])
    assert _download(reader, tip.attachments.get()) == 404
    assert NOTE not in _tip_page(sign_in(newcomer, "another-long-passphrase-42"), tip)
    with pytest.raises(custody.Locked):
        custody.unlock(newcomer, "another-long-passphrase-42")


def test_password_set_by_someone_else_loses_the_key_never_the_last_holders(
    tip, editor, newsroom_identity
):
    from newsroom.forms import GuardedAdminPasswordChangeForm

    # The only holder: refused, from the admin's form and from anywhere else (shell, command).
    new = {"password1": "reset-by-an-admin-77", "password2": "reset-by-an-admin-77"}
    form = GuardedAdminPasswordChangeForm(editor, new)
    assert not form.is_valid() and "only one holding the newsroom key" in str(form.errors)
    editor.set_password("reset-by-an-admin-77")
    with pytest.raises(custody.WouldLoseKey):
        editor.save()
    editor.refresh_from_db()
    # With another holder, a reset is allowed and costs this account its access (until granted
    # again): the envelope sealed to the old personal key stays, useless; nothing is deleted.
    other = make_staff("other", newsroom_identity, role="Admins")
    editor.set_password("reset-by-an-admin-77")
    editor.save()
    client = sign_in(editor, "reset-by-an-admin-77")
    assert "locked" in _tip_page(client, tip)
    assert Envelope.objects.filter(user=editor).exists()
    _action(sign_in(other), "/staff/auth/user/", "grant_access", [editor.pk])
    assert NOTE in _tip_page(sign_in(editor, "reset-by-an-admin-77"), tip)


def test_the_last_holder_cannot_be_revoked_and_unenrolled_accounts_cannot_be_granted(
    editor, tmp_path
):
    (tmp_path / "pw").write_text(PASSWORD)
    with pytest.raises(CommandError, match="only holder"):
        call_command("tipline_access", "revoke", "editor", "--by", "editor",
                     "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert Envelope.objects.filter(user=editor).exists()
    newcomer = make_staff("newcomer", None, enrolled=False)
    with pytest.raises(CommandError, match="authenticator"):
        call_command("tipline_access", "grant", "newcomer", "--by", "editor",
                     "--password-file", str(tmp_path / "pw"))  # fmt: skip
    assert not Envelope.objects.filter(user=newcomer).exists()


def test_rotation_rewraps_without_reencrypting_and_destroys_the_old_key(
    tip, editor, newsroom_identity, newsroom_key_file, blob_dir, tmp_path
):
    second = make_staff("second", newsroom_identity)
    open_before = sign_in(second).session.session_key
    attachment = tip.attachments.get()
    old_blob = (blob_dir / attachment.blob_name).read_bytes()
    old_key = bytes(attachment.blob_key)
    legacy, legacy_plain = _legacy_clean_attachment(tip, newsroom_identity)
    old_legacy_blob = (blob_dir / legacy.blob_name).read_bytes()
    old_note = bytes(tip.sealed_content)
    services.comment_add(tip=tip, author="editor", body="COMMENT-BEFORE-ROTATION")
    source = crypto.Identity.generate()  # as if derived from the receipt code
    Tip.objects.filter(pk=tip.pk).update(source_recipient=str(source.recipient))
    tip.refresh_from_db()
    reply = services.reply_add(tip=tip, author="editor", body="REPLY-BEFORE-ROTATION")
    (tmp_path / "pw").write_text(PASSWORD)
    call_command("tipline_rotate", "--by", "editor", "--password-file", str(tmp_path / "pw"),
                 stdout=io.StringIO())  # fmt: skip

    (key,) = NewsroomKey.objects.all()
    assert key.current and key.recipient != str(newsroom_identity.recipient)
    assert Envelope.objects.filter(key=key).count() == 2  # both holders keep access
    tip.refresh_from_db()
    attachment.refresh_from_db()
    # The file is untouched: only its own key, in its row, was sealed anew (filekeys.py).
    assert (blob_dir / attachment.blob_name).read_bytes() == old_blob
    assert bytes(attachment.blob_key) != old_key
    # A file from before file keys got a key of its own on the way: only the blob's header
    # changed (the payload, nonce and chunks, byte for byte the same).
    legacy.refresh_from_db()
    new_legacy_blob = (blob_dir / legacy.blob_name).read_bytes()
    assert legacy.blob_key and new_legacy_blob != old_legacy_blob
    assert (
        new_legacy_blob.split(b"\n---", 1)[1].split(b"\n", 1)[1]
        == (old_legacy_blob.split(b"\n---", 1)[1].split(b"\n", 1)[1])
    )
    new_key_file = tmp_path / "new-newsroom.key"
    (current,) = custody.unlock(editor, PASSWORD)
    crypto.write_identity_file(new_key_file, current)
    assert age_decrypt_file(blob_dir / legacy.blob_name, legacy.blob_key,
                            new_key_file) == legacy_plain  # fmt: skip
    assert bytes(tip.sealed_content) != old_note
    # The old key opens nothing any more (the age CLI agrees), the new one opens everything.
    with pytest.raises(AssertionError, match="could not decrypt"):
        age_decrypt_file(blob_dir / attachment.blob_name, attachment.blob_key, newsroom_key_file)
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(tip.sealed_content), identities=[newsroom_identity],
                          aad=crypto.binding("tip", tip.pk, "content"))  # fmt: skip
    for user in (editor, second):
        client = sign_in(user)
        assert NOTE in _tip_page(client, tip)
        assert "COMMENT-BEFORE-ROTATION" in _tip_page(client, tip)
        assert _download(client, attachment).startswith(b"\xff\xd8")  # type: ignore[union-attr]
    # The reply was re-addressed too, and the source's own stanza kept: they still read it.
    reply.refresh_from_db()
    reply_aad = crypto.binding("reply", reply.pk, "body")
    assert b"REPLY-BEFORE" in crypto.open_bytes(bytes(reply.sealed), identities=[source],
                                                aad=reply_aad)  # fmt: skip
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(bytes(reply.sealed), identities=[newsroom_identity], aad=reply_aad)
    # No trace of the old private key: its envelopes are gone with it, and so are the
    # sessions that held it (sealed under their cookies' keys).
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=open_before).exists()
    assert not Envelope.objects.exclude(key=key).exists()
    assert newsroom_identity.secret_str().encode() not in database_bytes()
    # Run again: a new rotation, as idempotent as the first.
    call_command("tipline_rotate", "--by", "second", "--password-file", str(tmp_path / "pw"),
                 stdout=io.StringIO())  # fmt: skip
    assert NewsroomKey.objects.get().recipient != key.recipient


def test_rotation_resumes_after_an_interruption(tip, editor, tmp_path, monkeypatch,
                                                newsroom_identity):  # fmt: skip
    from newsroom import rotation

    legacy, plain = _legacy_clean_attachment(tip, newsroom_identity)  # its blob is rewritten

    calls = {"n": 0}
    real = rotation._rewrap_blob

    def crash_once(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("storage went away")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rotation, "_rewrap_blob", crash_once)
    (tmp_path / "pw").write_text(PASSWORD)
    with pytest.raises(OSError, match="storage went away"):
        call_command("tipline_rotate", "--by", "editor", "--password-file", str(tmp_path / "pw"))
    assert NewsroomKey.objects.count() == 2  # started: new key current, old kept
    call_command("tipline_rotate", "--by", "editor", "--password-file", str(tmp_path / "pw"),
                 stdout=io.StringIO())  # fmt: skip
    assert NewsroomKey.objects.count() == 1
    assert NOTE in _tip_page(sign_in(editor), tip)
    assert _download(sign_in(editor), legacy) == plain


def test_grant_needs_an_unlocked_key_holder(tip, newsroom_identity, tmp_path):
    make_staff("holder", newsroom_identity)
    outsider = make_staff("outsider", None)
    (tmp_path / "pw").write_text(PASSWORD)
    with pytest.raises(CommandError, match="holds no newsroom key"):
        call_command("tipline_access", "grant", "holder", "--by", "outsider",
                     "--password-file", str(tmp_path / "pw"))  # fmt: skip
    (tmp_path / "bad").write_text("not-the-password")
    with pytest.raises(CommandError, match="wrong username or password"):
        call_command("tipline_access", "grant", "outsider", "--by", "holder",
                     "--password-file", str(tmp_path / "bad"))  # fmt: skip
    call_command("tipline_access", "grant", "outsider", "--by", "holder",
                 "--password-file", str(tmp_path / "pw"), stdout=io.StringIO())  # fmt: skip
    assert custody.unlock(outsider, PASSWORD)


# ------------------------------------------------------------------- 4. offline export


def test_exported_identity_opens_a_stored_blob_with_age(tip, editor, blob_dir, tmp_path):
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "phrase").write_text("sixteen or more characters")
    call_command("tipline_export_identity", "--by", "editor", "--password-file",
                 str(tmp_path / "pw"), "--passphrase-file", str(tmp_path / "phrase"),
                 "-o", str(tmp_path / "newsroom.key.age"), stdout=io.StringIO())  # fmt: skip
    exported = (tmp_path / "newsroom.key.age").read_bytes()
    assert b"-> scrypt " in exported and not SECRET_KEY.search(exported)
    (tmp_path / "newsroom.key").write_bytes(
        crypto.open_with_passphrase(exported, "sixteen or more characters")
    )
    attachment = tip.attachments.get()
    plain = age_decrypt_file(blob_dir / attachment.blob_name, attachment.blob_key,
                             tmp_path / "newsroom.key")  # fmt: skip
    assert plain.startswith(b"\xff\xd8")
    assert AuditEvent.objects.filter(action="identity_exported", actor="editor").exists()


# ---------------------------------------------------------------------- 5. the audit log


def test_staff_actions_are_on_record_without_content(tip, editor):
    client = sign_in(editor)
    _tip_page(client, tip)
    _download(client, tip.attachments.get())
    client.post("/staff/logout/")
    actions = list(AuditEvent.objects.values_list("actor", "action", "target"))
    assert ("editor", "signed_in", "") in actions
    assert ("editor", "tip_viewed", f"tip:{tip.pk}") in actions
    assert ("editor", "file_downloaded", f"attachment:{tip.attachments.get().pk}") in actions
    assert ("editor", "signed_out", "") in actions
    dump = repr(list(AuditEvent.objects.values())).encode()
    assert NOTE.encode() not in dump and b"IMG_1" not in dump and b"CANARY" not in dump


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "append forged"])
def test_tampering_with_the_audit_log_is_reported(tamper):
    for n in range(5):
        audit.record("tip_viewed", actor="editor", target=f"tip:{n}")
    out = io.StringIO()
    call_command("tipline_audit", "verify", stdout=out)
    assert "intact: 5 records" in out.getvalue()
    events = list(AuditEvent.objects.order_by("sequence"))
    if tamper == "edit":
        AuditEvent.objects.filter(pk=events[2].pk).update(target="tip:someone-else")
        first_bad = events[2]
    elif tamper == "delete":
        events[2].delete()
        first_bad = events[3]
    elif tamper == "reorder":
        AuditEvent.objects.filter(pk=events[1].pk).update(at=events[3].at)
        first_bad = events[1]
    else:
        AuditEvent.objects.create(at=events[-1].at, actor="x", action="y",
                                  previous="f" * 64, digest="e" * 64)  # fmt: skip
        first_bad = AuditEvent.objects.order_by("-sequence").first()
    with pytest.raises(CommandError, match=rf"broken at record #{first_bad.sequence}\b"):
        call_command("tipline_audit", "verify")


def test_the_admin_cannot_change_or_delete_audit_records(editor):
    audit.record("tip_viewed", actor="editor", target="tip:1")
    client = sign_in(editor)
    event = AuditEvent.objects.last()
    assert client.get("/staff/newsroom/auditevent/").status_code == 200
    assert client.post(f"/staff/newsroom/auditevent/{event.pk}/delete/",
                       {"post": "yes"}).status_code == 403  # fmt: skip
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# -------------------------------------------------------------------- 6. throttling


def test_brute_force_on_one_account_does_not_lock_another(editor, newsroom_identity):
    other = make_staff("other", newsroom_identity)
    attacker = Client()
    for _ in range(6):
        response = attacker.post("/staff/login/", {"username": "editor", "password": "guess-1234"})
        assert response.status_code == 200
    device = TOTPDevice.objects.get(user=editor)
    locked = Client().post("/staff/login/", {"username": "editor", "password": PASSWORD,
                                             "otp_token": code(device)})  # fmt: skip
    assert locked.status_code == 200 and "Too many failed attempts" in locked.content.decode()
    assert SignInThrottle.objects.get(username="editor").failures >= 5
    sign_in(other)  # unaffected, from the same (Tor: 127.0.0.1) address
    assert not SignInThrottle.objects.filter(username="other").exists()


# ------------------------------------------------------------- accounts and sessions


def test_production_hashes_passwords_with_argon2_and_refuses_weak_ones(settings):
    from django.contrib.auth import password_validation
    from django.contrib.auth.hashers import make_password
    from django.core.exceptions import ValidationError

    import tipline.settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert make_password("a-long-password-123").startswith("argon2$argon2id$")
    for weak in ("short-pw", "password1234"):  # under 12 characters; a common password
        with pytest.raises(ValidationError):
            password_validation.validate_password(weak)


def test_sessions_end_at_their_absolute_lifetime_and_logout_is_post_only(tip, editor):
    from newsroom.middleware import SIGNED_IN_AT

    client = sign_in(editor)
    assert client.get("/staff/logout/").status_code == 405
    session = client.session
    session[SIGNED_IN_AT] -= settings.SESSION_MAX_SECONDS + 1
    session.save()
    response = client.get(f"/staff/submissions/tip/{tip.pk}/change/")
    assert response.status_code == 302 and "/staff/login/" in response["Location"]
    assert custody.SESSION_SEALED not in client.session  # the sealed keys went with it
    assert settings.SESSION_COOKIE_AGE <= 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST


def test_rotation_from_the_admin_uses_the_sessions_unlocked_keys(tip, editor, newsroom_identity):
    client = sign_in(editor)
    old = NewsroomKey.objects.get()
    _action(client, "/staff/newsroom/newsroomkey/", "rotate", [old.pk])
    (key,) = NewsroomKey.objects.all()
    assert key.pk != old.pk
    assert AuditEvent.objects.filter(action="key_rotated", actor="editor").exists()
    # The old key went with the rotation: this session's keys are gone, a new sign-in works.
    assert "locked" in _tip_page(client, tip)
    assert NOTE in _tip_page(sign_in(editor), tip)
    # An editor without manage_keys cannot rotate.
    reader = sign_in(make_staff("reader", None))
    form = {"action": "rotate", "_selected_action": [str(key.pk)]}
    response = reader.post("/staff/newsroom/newsroomkey/", form)
    assert response.status_code == 403
    assert NewsroomKey.objects.get().pk == key.pk


def test_records_cut_off_the_end_show_against_the_logged_head(caplog):
    caplog.set_level("INFO", logger="newsroom.audit")
    for n in range(3):
        audit.record("tip_viewed", actor="editor", target=f"tip:{n}")
    logged = re.findall(r"audit\.appended seq=\d+ digest=([0-9a-f]{64})", caplog.text)[-1]
    out = io.StringIO()
    call_command("tipline_audit", "verify", stdout=out)
    assert f"last digest {logged}" in out.getvalue()
    AuditEvent.objects.order_by("-sequence").first().delete()
    out = io.StringIO()
    call_command("tipline_audit", "verify", stdout=out)
    assert "intact: 2 records" in out.getvalue() and logged not in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_rotation_waits_for_a_submission_that_sealed_with_the_old_key(newsroom_identity):
    """Real PostgreSQL: a submission holds the current key's row from seal to commit, so the
    switch to a new key waits for it, and the re-wrap passes after the switch see its rows."""
    import threading
    import time

    from django.db import connection, transaction

    from newsroom import rotation
    from submissions import keys

    assert connection.vendor == "postgresql"
    make_staff("holder", newsroom_identity, role=None)
    sealed, release, order = threading.Event(), threading.Event(), []

    def submission() -> None:
        with transaction.atomic():
            keys.newsroom_recipient(lock=True)
            sealed.set()
            release.wait(10)
            order.append("submission committed")
        connection.close()

    def switch() -> None:
        sealed.wait(10)
        rotation._start(NewsroomKey.objects.get(current=True), actor=None)
        order.append("switched")
        connection.close()

    threads = [threading.Thread(target=submission), threading.Thread(target=switch)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    assert order == []  # the switch is waiting for the submission's commit
    release.set()
    for thread in threads:
        thread.join(20)
    assert order == ["submission committed", "switched"]


def test_administrators_reset_authenticators_without_ever_seeing_one(newsroom_identity):
    """After a seizure the TOTP seeds must be replaced: an administrator deletes an account's
    authenticator (on the audit log) and it sets up a new one at its next sign-in. Nobody, not
    even an administrator, is shown a seed (django-otp's own pages would)."""
    admin = make_staff("boss", newsroom_identity, role="Admins")
    editor = make_staff("editor", newsroom_identity)
    device = TOTPDevice.objects.get(user=editor)
    client = sign_in(admin)
    listing = client.get("/staff/otp_totp/totpdevice/").content.decode()
    assert "editor" in listing and device.key not in listing
    page = client.get(f"/staff/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    assert device.key not in page and "otpauth://" not in page
    for view in ("config", "qrcode"):
        assert client.get(f"/staff/otp_totp/totpdevice/{device.pk}/{view}/").status_code != 200
    assert sign_in(editor).get("/staff/otp_totp/totpdevice/").status_code == 403
    response = client.post(f"/staff/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=editor).exists()
    assert AuditEvent.objects.filter(action="second_factor_reset", actor="boss",
                                     target=f"user:{editor.pk}").exists()  # fmt: skip
    # The editor's next sign-in sets up a new authenticator.
    fresh = Client()
    fresh.post("/staff/login/", {"username": "editor", "password": PASSWORD, "otp_token": "",
                                 "next": "/staff/"})  # fmt: skip
    assert fresh.get("/staff/").status_code == 302
    assert fresh.get("/staff/account/enrol/").status_code == 200
