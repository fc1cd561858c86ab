"""Hostile uploads, end to end: refused at the door when their content shows it (whatever their
name), and `rejected` with a reason when a file gets past the door and the worker meets it, in
bounded time; a local listener stands for any server such a file would call, and hears nothing.
(The scrubbers' own bombs, polyglots and nesting limits are in the test_scrub* files.)"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from submissions import services
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.conftest import raw_attachment
from tests.test_scrub import _chunk
from tests.test_scrub_pdf_archive_review import _gz, _multi_member_bomb, _tar

pytestmark = pytest.mark.django_db


class Listener:
    """A TCP server on 127.0.0.1 that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_worker(monkeypatch):
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)


def hostile(port: int) -> dict[str, bytes]:
    url = f"http://127.0.0.1:{port}"
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}/a.ts\n#EXT-X-ENDLIST\n"
    page = f"<html><body><img src='{url}/x.png'><script>fetch('{url}')</script></body></html>"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("{url}")</script>'
           f'<image href="{url}/i.png"/></svg>')  # fmt: skip
    concat = f"ffconcat version 1.0\nfile {url}/b.mp4\n"
    return {"playlist.mp4": playlist.encode(), "photo.jpg": page.encode(),
            "drawing.svg": svg.encode(), "concat.mp4": concat.encode()}  # fmt: skip


@pytest.mark.parametrize("name", ["playlist.mp4", "photo.jpg", "drawing.svg", "concat.mp4"])
def test_refused_at_the_door_whatever_their_name(client, blob_dir, listener, name):
    data = hostile(listener.port)[name]
    upload = SimpleUploadedFile(name, data, content_type="image/jpeg")
    response = Client().post("/en/", {"note": "x", "files": [upload]})
    assert response.status_code == 400
    assert "a type we cannot clean" in response.content.decode()
    assert not Tip.objects.exists() and not list(blob_dir.rglob("*.age"))
    time.sleep(0.3)
    assert listener.connections == 0


def _mp4_pointing_at(url: str) -> bytes:
    """A valid MP4 whose data reference (dref) points at an outside URL instead of itself."""
    data = fixtures.mov_with_location(container="mp4")
    box = url.encode() + b"\0"
    original = b"url \x00\x00\x00\x01"  # the self-contained data reference
    assert original in data
    replaced = struct.pack(">I", 12 + len(box)) + b"url \x00\x00\x00\x00" + box
    start = data.index(original) - 4
    patched = data[:start] + replaced + data[start + 12 :]
    # The boxes around it grow by the difference: fix the sizes of dref, dinf, minf, mdia,
    # trak and moov that contain it (each is found by walking from the file's top).
    grow = len(replaced) - 12
    for kind in (b"dref", b"dinf", b"minf", b"mdia", b"trak", b"moov"):
        at = patched.rfind(kind, 0, start) - 4
        size = struct.unpack(">I", patched[at : at + 4])[0]
        patched = patched[:at] + struct.pack(">I", size + grow) + patched[at + 4 :]
    return patched


def test_rejected_by_the_worker_in_bounded_time_and_the_listener_hears_nothing(blob_dir, listener):
    response = Client().post("/en/", {"note": "carrier"})
    assert response.status_code == 200
    tip = Tip.objects.get()
    files = [*hostile(listener.port).values(),
             _mp4_pointing_at(f"http://127.0.0.1:{listener.port}/outside.mp4")]  # fmt: skip
    attachments = [raw_attachment(tip, position, data) for position, data in enumerate(files, 1)]
    for attachment in attachments:
        started = time.monotonic()
        services.attachment_scrub(attachment_id=str(attachment.pk))
        assert time.monotonic() - started < 20
    states = {a.position: (a.state, a.reason) for a in Attachment.objects.filter(tip=tip)}
    for position in range(1, 5):
        assert states[position][0] == "rejected" and states[position][1], states[position]
    # The MP4 is cleaned from its own bytes (or refused): never fetched from elsewhere.
    assert states[5][0] in ("clean", "rejected"), states[5]
    time.sleep(0.3)
    assert listener.connections == 0
    assert not [a for a in Attachment.objects.filter(tip=tip, state="rejected") if a.blob_name]


def _zip_bomb() -> bytes:
    """A ZIP of ~1 MB whose one member inflates to 1 GiB of zeros."""
    out = io.BytesIO()
    block = bytes(16 * 1024 * 1024)
    with (zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
          archive.open("report.txt", "w", force_zip64=True) as member):  # fmt: skip
        for _ in range(64):
            member.write(block)
    return out.getvalue()


def _nested(depth: int) -> bytes:
    """A tar.gz inside a tar.gz inside… `depth` times, a note at the bottom."""
    data = _gz(_tar([("note.txt", b"bottom")]))
    for level in range(depth):
        data = _gz(_tar([(f"level{level}.tar.gz", data)]))
    return data


def _bombs() -> dict[str, bytes]:
    jpeg = bytearray(fixtures.jpeg_with_gps())
    sof = fixtures.segment_offset(bytes(jpeg), 0xC0)
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65535, 65535)  # 4.3 gigapixels claimed
    ihdr = struct.pack(">IIBBBBB", 100, 100, 8, 0, 0, 0, 0)
    idat = zlib.compress(bytes(200_000_000), 9)
    png = b"\x89PNG\r\n\x1a\n" + b"".join(
        _chunk(k, v) for k, v in [(b"IHDR", ihdr), (b"IDAT", idat), (b"IEND", b"")]
    )
    return {"huge dimensions (JPEG)": bytes(jpeg), "decompression bomb (PNG)": png,
            "gzip bomb": _multi_member_bomb(), "zip bomb": _zip_bomb(),
            "deeply nested archive": _nested(40)}  # fmt: skip


def test_bombs_are_rejected_within_a_small_memory_budget_and_in_seconds(blob_dir, settings):
    """Each bomb ends `rejected` with a reason, in seconds, while the scrub may take no more
    than 256 MiB beyond the process's own (budget.py): past it the file would end `failed`
    ("needed more memory"), so `rejected` shows the memory stayed bounded."""
    settings.SCRUB_MEMORY_BYTES = 256 * 1024 * 1024
    assert Client().post("/en/", {"note": "carrier"}).status_code == 200
    tip = Tip.objects.get()
    for position, (name, data) in enumerate(_bombs().items(), 1):
        attachment = raw_attachment(tip, position, data)
        started = time.monotonic()
        services.attachment_scrub(attachment_id=str(attachment.pk))
        seconds = time.monotonic() - started
        attachment.refresh_from_db()
        assert (attachment.state, seconds < 20) == ("rejected", True), (
            name, attachment.reason, seconds)  # fmt: skip
        assert attachment.reason and not attachment.blob_name, (name, attachment.reason)


def test_a_scrub_past_its_memory_budget_fails_keeping_the_upload(blob_dir, settings,
                                                                  monkeypatch):  # fmt: skip
    """A decoder we don't know to limit meets the budget: MemoryError, the file ends `failed`
    with that reason (the upload kept for a retry with more memory), and the limit is lifted
    again after: the worker goes on."""
    settings.SCRUB_MEMORY_BYTES = 64 * 1024 * 1024

    def greedy(*args: object, **kwargs: object) -> None:
        hoard = bytearray(512 * 1024 * 1024)
        raise AssertionError(f"allocated {len(hoard)} bytes past the budget")

    assert Client().post("/en/", {"note": "carrier"}).status_code == 200
    attachment = raw_attachment(Tip.objects.get(), 1)
    monkeypatch.setattr("submissions.scrub.scrub_verified", greedy)
    services.attachment_scrub(attachment_id=str(attachment.pk))
    attachment.refresh_from_db()
    assert attachment.state == "failed" and "more memory" in attachment.reason
    assert attachment.blob_name  # kept: `manage.py tipline_retry` can try again
    assert len(bytearray(512 * 1024 * 1024)) > 0  # the limit is gone once the scrub ends


def test_a_real_decoder_past_the_budget_fails_keeping_the_upload(blob_dir, settings):
    """The converter turns any decoding error into "malformed"; running out of memory must
    not be taken for that (which would destroy the upload): it ends `failed`, kept."""
    from PIL import Image

    settings.SCRUB_MEMORY_BYTES = 160 * 1024 * 1024  # reads the file, then fails to decode it
    scan = io.BytesIO()
    Image.new("RGB", (6000, 4000), (9, 9, 9)).save(scan, "TIFF")  # 72 MB, uncompressed
    assert Client().post("/en/", {"note": "carrier"}).status_code == 200
    attachment = raw_attachment(Tip.objects.get(), 1, scan.getvalue())
    services.attachment_scrub(attachment_id=str(attachment.pk))
    attachment.refresh_from_db()
    assert (attachment.state, "more memory" in attachment.reason) == ("failed", True), (
        attachment.reason)  # fmt: skip
    assert attachment.blob_name and (blob_dir / attachment.blob_name).exists()
