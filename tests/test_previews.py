"""Previews: made by the worker from the cleaned bytes (never the upload), sealed, served as
images we made, with no metadata (exiftool), upright."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from submissions import crypto, filekeys, previews, services
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.staff import make_staff, sign_in
from tests.tools import disallowed_tags, exiftool_tags

pytestmark = pytest.mark.django_db


def _cleaned(blob_dir, monkeypatch, django_capture_on_commit_callbacks, name: str,
             data: bytes) -> Attachment:  # fmt: skip
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/en/", {"files": [SimpleUploadedFile(name, data)]})
    attachment = Attachment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.attachment_scrub(attachment_id=str(attachment.pk))
    attachment.refresh_from_db()
    assert attachment.state == Attachment.State.CLEAN, attachment.reason
    return attachment


def _preview(attachment: Attachment, identity: crypto.Identity) -> bytes:
    assert attachment.sealed_preview is not None
    aad = crypto.binding("attachment", attachment.pk, "preview")
    return crypto.open_bytes(bytes(attachment.sealed_preview), identities=[identity], aad=aad)


@pytest.mark.parametrize(
    ("name", "make"),
    [("photo.jpg", lambda: fixtures.jpeg_with_gps((800, 400), orientation=6)),
     ("video.mov", fixtures.mov_with_location),
     ("history.pdf", fixtures.pdf_with_history),
     ("phone.heic", lambda: fixtures.heic_with_gps(orientation=6))],
)  # fmt: skip
def test_previews_are_clean_small_jpegs(
    name, make, blob_dir, monkeypatch, tmp_path, django_capture_on_commit_callbacks,
    newsroom_identity,
):  # fmt: skip
    attachment = _cleaned(blob_dir, monkeypatch, django_capture_on_commit_callbacks, name, make())
    data = _preview(attachment, newsroom_identity)
    path = tmp_path / "preview.jpg"
    path.write_bytes(data)
    assert disallowed_tags(path) == {}
    tags = exiftool_tags(path)
    assert not [key for key in tags if "GPS" in key or "Make" in key or "Model" in key], tags
    for needle in [*fixtures.canaries(), *fixtures.gps_bytes()]:
        assert needle not in data
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and max(image.size) <= previews.MAX_SIDE
        assert not image.info.get("exif") and not image.info.get("icc_profile")
        if name == "photo.jpg":  # 800x400 stored sideways (orientation 6): upright is tall
            assert image.size[1] > image.size[0]


def test_previews_come_from_the_cleaned_bytes(blob_dir, monkeypatch, newsroom_identity,
                                              django_capture_on_commit_callbacks):  # fmt: skip
    seen: list[bytes] = []
    real = previews.make

    def spy(category: str, kind: str, buffer: previews.Buffer) -> bytes | None:
        seen.append(buffer.data)
        return real(category, kind, buffer)

    monkeypatch.setattr(previews, "make", spy)
    source = fixtures.jpeg_with_gps()
    attachment = _cleaned(blob_dir, monkeypatch, django_capture_on_commit_callbacks, "a.jpg",
                          source)  # fmt: skip
    aad = crypto.binding("attachment", attachment.pk, "clean")
    blob = (blob_dir / attachment.blob_name).read_bytes()
    opener = filekeys.identities(
        attachment.blob_key,
        opener=[newsroom_identity],
        attachment_id=attachment.pk,
        purpose="clean",
    )
    cleaned = crypto.open_bytes(blob, identities=opener, aad=aad)
    assert seen == [cleaned] and cleaned != source


def test_preview_is_served_as_an_image_to_verified_editors_only(
    blob_dir, monkeypatch, django_capture_on_commit_callbacks, newsroom_identity
):
    attachment = _cleaned(blob_dir, monkeypatch, django_capture_on_commit_callbacks, "a.jpg",
                          fixtures.jpeg_with_gps())  # fmt: skip
    url = f"/staff/tips/attachments/{attachment.pk}/preview/"
    client = sign_in(make_staff("editor", newsroom_identity))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    page = client.get(f"/staff/submissions/tip/{Tip.objects.get().pk}/change/").content.decode()
    assert f'<img src="{url}"' in page
    assert Client().get(url).status_code == 302  # not signed in: to the sign-in page


def test_cleaned_video_plays_with_byte_ranges(blob_dir, monkeypatch, newsroom_identity,
                                              django_capture_on_commit_callbacks):  # fmt: skip
    attachment = _cleaned(blob_dir, monkeypatch, django_capture_on_commit_callbacks, "v.mov",
                          fixtures.mov_with_location())  # fmt: skip
    assert attachment.category == "video"
    aad = crypto.binding("attachment", attachment.pk, "clean")
    opener = filekeys.identities(
        attachment.blob_key,
        opener=[newsroom_identity],
        attachment_id=attachment.pk,
        purpose="clean",
    )
    cleaned = crypto.open_bytes((blob_dir / attachment.blob_name).read_bytes(),
                                identities=opener, aad=aad)  # fmt: skip
    client = sign_in(make_staff("editor", newsroom_identity))
    url = f"/staff/tips/attachments/{attachment.pk}/media/"
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4"
    assert b"".join(whole.streaming_content) == cleaned
    part = client.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-299/{len(cleaned)}"
    assert b"".join(part.streaming_content) == cleaned[100:300]
    tail = client.get(url, HTTP_RANGE=f"bytes={len(cleaned) - 10}-")
    assert b"".join(tail.streaming_content) == cleaned[-10:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(cleaned)}-").status_code == 416
    assert client.get(url, HTTP_RANGE="bytes=9-3").status_code == 200  # ignored
    assert client.get(url, HTTP_RANGE="bytes=" + "9" * 5000 + "-").status_code == 200
    assert b"".join(client.get(url, HTTP_RANGE="bytes=1-").streaming_content) == cleaned[1:]
    assert "sandbox" in whole["Content-Security-Policy"]
    page = client.get(f"/staff/submissions/tip/{attachment.tip_id}/change/").content.decode()
    assert f'<video controls preload="none" src="{url}" poster=' in page
    assert "length 0:01" in page  # ten frames at ten a second
    from newsroom.models import AuditEvent

    assert AuditEvent.objects.filter(action="file_played").count() == 1  # ranges: once
