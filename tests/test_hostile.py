"""Hostile uploads, end to end: refused at the door when their content shows it (whatever their
name), and `rejected` with a reason when a file gets past the door and the worker meets it, in
bounded time; a local listener stands for any server such a file would call, and hears nothing.
(The scrubbers' own bombs, polyglots and nesting limits are in the test_scrub* files.)"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from submissions import services
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.conftest import raw_attachment

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
