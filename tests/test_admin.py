"""The editors' side: decrypted reading and downloads, for staff with permission only."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from submissions import crypto, services
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.staff import make_staff, sign_in
from tests.tools import age_decrypt_file

pytestmark = pytest.mark.django_db

HOSTILE_NOTE = "<script>alert('x')</script> CANARY"
HOSTILE_LINK = "https://example.com/?q=<b>bold</b>"


@pytest.fixture
def tip(blob_dir, monkeypatch, django_capture_on_commit_callbacks) -> Tip:
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    files = [
        SimpleUploadedFile("IMG_1.jpg", fixtures.jpeg_with_gps()),
        SimpleUploadedFile("x.png", fixtures.png_with_text()),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(
            "/en/", {"note": HOSTILE_NOTE, "links": HOSTILE_LINK, "files": files}
        )
    assert response.status_code == 200
    tip = Tip.objects.get()
    first = tip.attachments.get(position=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.attachment_scrub(attachment_id=str(first.pk))  # the second stays `received`
    return tip


def staff(perm: bool = True, is_staff: bool = True) -> Client:
    """An editor signed in with password and code (the admin follows their browser's language);
    without `perm` in no role; without `is_staff` not staff at all (only force-logged in)."""
    identity = crypto.read_identity_file(settings.NEWSROOM_TEST_KEY)[0]
    user = make_staff(f"ed{perm}{is_staff}", identity, role="Editors" if perm else None,
                      is_staff=is_staff)  # fmt: skip
    if not is_staff:
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        client.force_login(user)
        return client
    return sign_in(user)


def test_tip_list_shows_states_and_kinds(tip):
    body = staff().get("/staff/submissions/tip/").content.decode()
    assert str(tip.pk)[:8] in body
    assert "1 clean, 1 being cleaned" in body
    assert '<td class="field-photos">1</td>' in body  # the cleaned photo; the PNG is pending


def test_tip_page_shows_decrypted_note_and_inert_links(tip):
    body = staff().get(f"/staff/submissions/tip/{tip.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; CANARY" in body
    assert "<script>alert" not in body
    assert "<code>https://example.com/?q=&lt;b&gt;bold&lt;/b&gt;</code>" in body
    assert 'href="https://example.com' not in body
    assert "IMG_1.jpg" in body  # the original name, decrypted for editors only
    assert "GPS location" in body  # what the scrubber removed


def test_download_streams_the_decrypted_clean_file(tip, blob_dir, newsroom_key_file):
    attachment = tip.attachments.get(position=1)
    response = staff().get(f"/staff/tips/attachments/{attachment.pk}/download/")
    assert response.status_code == 200
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body == age_decrypt_file(blob_dir / attachment.blob_name, attachment.blob_key,
                                    newsroom_key_file)  # fmt: skip
    assert body.startswith(b"\xff\xd8")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "IMG_1" not in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    for needle in fixtures.canaries():
        assert needle not in body


@pytest.mark.parametrize(("perm", "is_staff", "status"), [(False, True, 404), (True, False, 302)])
def test_download_needs_staff_and_permission(tip, perm, is_staff, status):
    attachment = tip.attachments.get(position=1)
    response = staff(perm, is_staff).get(f"/staff/tips/attachments/{attachment.pk}/download/")
    assert response.status_code == status


def test_anonymous_is_sent_to_login(tip):
    attachment = tip.attachments.get(position=1)
    for url in ("/staff/submissions/tip/", f"/staff/tips/attachments/{attachment.pk}/download/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/staff/login/" in response["Location"]


def test_unscrubbed_and_missing_files_are_the_same_404(tip):
    raw = tip.attachments.get(position=2)
    assert raw.state == Attachment.State.RECEIVED
    client = staff()
    assert client.get(f"/staff/tips/attachments/{raw.pk}/download/").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/staff/tips/attachments/{missing}/download/").status_code == 404


def test_staff_cookies_never_reach_public_pages(tip):
    client = staff()
    response = client.get("/es/")
    assert not response.cookies
    assert response.wsgi_request.COOKIES == {}


def test_download_name_uses_the_cleaned_documents_extension(
    blob_dir, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(
            "/en/", {"files": [SimpleUploadedFile("r.docx", fixtures.docx_with_authors())]}
        )
    attachment = Attachment.objects.get()
    services.attachment_scrub(attachment_id=str(attachment.pk))
    response = staff().get(f"/staff/tips/attachments/{attachment.pk}/download/")
    assert response["Content-Disposition"].endswith('.docx"')


def test_links_show_their_domain_in_punycode_and_staff_pages_have_a_csp(tip):
    from submissions.admin import ascii_domain

    assert ascii_domain("https://\u0440\u0430ypal.com/login") == "xn--ypal-43d9g.com"
    assert ascii_domain("https://example.com/?q=1") == "example.com"
    assert ascii_domain("https://good.example@evil.example/").startswith("evil.example (")
    response = staff().get(f"/staff/submissions/tip/{tip.pk}/change/")
    assert "domain: <code>example.com</code>" in response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
