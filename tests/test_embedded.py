"""The README's first command, for real: `python -m tipline.embedded` on a fresh data directory
(SQLite, filesystem broker, a real Celery worker beside gunicorn), driven with curl."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import fixtures
from tests.conftest import ROOT, free_port, start_python, stop_process, wait_for
from tests.sources import receipt_code
from tests.tools import (
    age_decrypt,
    age_decrypt_file,
    disallowed_tags,
    files_containing,
    require,
    run_on_tty,
)

NOTE = "CANARY-NOTE: the mayor's driver, white pickup, plates 4-CANARY"
LINKS = ["https://example.com/CANARY-LINK-ONE", "https://example.org/CANARY-LINK-TWO?x=1"]


@dataclass
class Portal:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def states(self) -> list[tuple[str, str]]:
        """Every attachment's state and kind, in the order they were stored (SQLite's rowid:
        the rows keep no finer time than the hour)."""
        db = sqlite3.connect(f"file:{self.data_dir / 'tipline.sqlite3'}?mode=ro", uri=True)
        try:
            return db.execute(
                "SELECT state, kind FROM submissions_attachment ORDER BY rowid"
            ).fetchall()
        finally:
            db.close()

    def web_worker_pid(self) -> int:
        master = _children(self.process.pid, "gunicorn")[0]
        return _children(master, "gunicorn")[0]


def _children(parent: int, needle: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and needle.encode() in cmdline:
            found.append(int(proc.name))
    return sorted(found)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    data_dir = tmp_path_factory.mktemp("embedded") / "var"
    port = free_port()
    # A clean environment, as on a fresh machine: nothing of the test settings leaks in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TIPLINE_") and k != "DJANGO_SETTINGS_MODULE"
    }
    log = data_dir.parent / "embedded.log"
    process = start_python(
        ["-m", "tipline.embedded", "--data-dir", str(data_dir), "--port", str(port),
         "--web-workers", "1"],
        env=env, log=log,
    )  # fmt: skip
    portal = Portal(f"http://127.0.0.1:{port}", data_dir, process, log)
    try:

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return b"celery@" in log.read_bytes() and b"ready." in log.read_bytes()

        if not wait_for(up, timeout=90, interval=0.3):
            pytest.fail("the embedded portal did not come up:\n" + log.read_text()[-4000:])
        yield portal
    finally:
        if not stop_process(process, signal.SIGINT):
            pytest.fail("Ctrl-C did not stop the embedded portal")


def test_startup_announces_urls_and_demo_editor(portal):
    text = portal.log.read_text()
    assert f"{portal.url}/es/" in text and f"{portal.url}/staff/" in text
    assert "user: editor" in text and "generated" in text
    assert (portal.data_dir / "keys" / "intake.key").stat().st_mode & 0o777 == 0o600
    # The newsroom key is in no file: only sealed to the demo editor's password.
    assert not (portal.data_dir / "keys" / "newsroom.key").exists()


EXPORT_PASSPHRASE = "a passphrase for the offline machine"


def _exported_identity(portal: Portal, tmp_path: Path) -> Path:
    """The newsroom identity as an editor takes it to an air-gapped machine: exported with
    their password under a passphrase, opened with the age CLI (which asks on a terminal)."""
    from tipline.embedded import prepare

    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env = {**clean, **prepare(portal.data_dir, [])}
    (tmp_path / "passphrase").write_text(EXPORT_PASSPHRASE)
    subprocess.run(
        [sys.executable, "manage.py", "tipline_export_identity", "--by", "editor",
         "--password-file", str(portal.data_dir / "secrets/demo_editor_password"),
         "--passphrase-file", str(tmp_path / "passphrase"), "-o", str(tmp_path / "key.age")],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    run_on_tty([require("age"), "-d", "-o", str(tmp_path / "newsroom.key"),
                str(tmp_path / "key.age")], [(b"passphrase", EXPORT_PASSPHRASE)])  # fmt: skip
    return tmp_path / "newsroom.key"


def test_curl_tip_is_cleaned_within_ten_seconds_and_stored_encrypted(portal, tmp_path):
    jpeg, png = tmp_path / "IMG_20261127.jpg", tmp_path / "Screenshot.png"
    jpeg.write_bytes(fixtures.jpeg_with_gps())
    png.write_bytes(fixtures.png_with_text())
    result = subprocess.run(
        [
            require("curl"),
            "--silent",
            "--show-error",
            "--fail-with-body",
            "--cookie-jar",
            str(tmp_path / "jar"),
            "-F",
            f"note={NOTE}",
            "-F",
            "links=" + "\n".join(LINKS),
            "-F",
            f"files=@{jpeg};type=image/jpeg",
            "-F",
            f"files=@{png};type=image/png",
            f"{portal.url}/es/",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    )
    started = time.monotonic()
    page = result.stdout.decode()
    code = receipt_code(page)
    assert "Recibido" in page
    assert "localhost" not in (tmp_path / "jar").read_text().split("#")[-1]  # no cookie set

    assert wait_for(lambda: portal.states() == [("clean", "jpeg"), ("clean", "png")], timeout=10), (
        portal.states(),
        portal.log.read_text()[-3000:],
    )
    assert time.monotonic() - started <= 10

    # No byte of the note, a link, a GPS value, a serial... anywhere under var/.
    needles = [
        NOTE.encode(),
        b"CANARY-NOTE",
        *(link.encode() for link in LINKS),
        b"CANARY-LINK",
        code.encode(),
        b"IMG_20261127",
        b"Screenshot",
        *fixtures.canaries(),
        *fixtures.gps_bytes(),
    ]
    assert files_containing(portal.data_dir, needles) == []

    # Every blob decrypts with the age CLI and the exported newsroom identity; it is clean.
    newsroom = _exported_identity(portal, tmp_path)
    blobs = sorted(p for p in (portal.data_dir / "blobs").rglob("*") if p.is_file())
    assert len(blobs) == 2
    db = sqlite3.connect(portal.data_dir / "tipline.sqlite3")
    file_keys = dict(db.execute("SELECT blob_name, blob_key FROM submissions_attachment"))
    db.close()
    kinds = []
    for blob in blobs:
        key = file_keys[str(blob.relative_to(portal.data_dir / "blobs"))]
        plain = age_decrypt_file(blob, key, newsroom)
        suffix = "jpg" if plain.startswith(b"\xff\xd8") else "png"
        kinds.append(suffix)
        out = tmp_path / f"decrypted.{suffix}"
        out.write_bytes(plain)
        assert disallowed_tags(out) == {}
    assert sorted(kinds) == ["jpg", "png"]
    db = sqlite3.connect(portal.data_dir / "tipline.sqlite3")
    (sealed,) = db.execute("SELECT sealed_content FROM submissions_tip").fetchone()
    (tmp_path / "note.age").write_bytes(sealed)
    assert NOTE.encode() in age_decrypt(tmp_path / "note.age", newsroom)


def test_curl_source_comes_back_with_the_code_and_answers(portal, tmp_path):
    """The follow-up on the embedded default (SQLite, filesystem broker): sign in with the
    code, see the file cleaned, answer with a photo that the worker cleans too."""
    jar, photo = tmp_path / "jar", tmp_path / "IMG_more.jpg"
    photo.write_bytes(fixtures.jpeg_with_gps())

    def curl(*args: str) -> str:
        command = [require("curl"), "--silent", "--show-error", "--fail-with-body", *args]
        return subprocess.run(command, capture_output=True, check=True, timeout=30).stdout.decode()

    sent = curl("-F", f"files=@{photo};type=image/jpeg", f"{portal.url}/en/")
    code = receipt_code(sent)
    signed = curl("-c", str(jar), "-b", str(jar), "-L", "--data-urlencode", f"code={code}",
                  f"{portal.url}/en/check/")  # fmt: skip
    assert "Your tip" in signed and "tipline_source" in jar.read_text()
    form_token = re.search(r'name="token" value="([0-9a-f]{64})"', signed).group(1)

    def page() -> str:
        return curl("-b", str(jar), f"{portal.url}/en/check/tip/")

    assert wait_for(lambda: "File 1 (photo): cleaned. Removed: location" in page(), timeout=20)
    curl("-b", str(jar), "-F", f"token={form_token}", "-F", "note=more",
         "-F", f"files=@{photo};type=image/jpeg", f"{portal.url}/en/check/tip/")  # fmt: skip
    assert wait_for(lambda: "File 2 (photo): cleaned. Removed: location" in page(), timeout=20)
    assert code.encode() not in (portal.data_dir / "tipline.sqlite3").read_bytes()


def test_malformed_http_leaves_no_address_in_logs(portal):
    port = int(portal.url.rsplit(":", 1)[1])
    for request in (b"GARBAGE\r\n\r\n", b"GET /es/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request)
            sock.recv(4096)
    wait_for(lambda: b"Invalid request" in portal.log.read_bytes(), timeout=3)
    text = portal.log.read_text()
    assert "Invalid request" in text  # gunicorn did log the event...
    assert "ip=127.0.0.1" not in text and "ip=" not in text  # ...but not who sent it


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
def test_one_gib_upload_streams_in_constant_memory_without_plaintext_on_disk(portal):
    size = 1024**3
    needle = b"PLAIN" + b"TEXT-CANARY"  # spelt apart so this source file never matches
    canary = (needle + b"-") * 3855 + b"\n"  # 65,536 bytes
    block = canary * 16  # 1 MiB
    head = b"\xff\xd8\xff\xe0"  # sniffs as JPEG; the worker will reject it as malformed

    # Warm the web worker up (imports, templates) so that only the upload is measured.
    _post_small(portal)
    pid = portal.web_worker_pid()
    rss_before = _status_kib(pid, "VmRSS")

    leaks: list[Path] = []
    stop = threading.Event()
    since = time.time() - 1

    def watch() -> None:
        roots = [portal.data_dir, Path(tempfile.gettempdir())]
        while not stop.is_set():
            for root in roots:
                for path in root.rglob("*"):
                    try:
                        stat = path.stat()
                        if path.is_file() and stat.st_size and stat.st_mtime >= since:
                            with path.open("rb") as handle:
                                handle.seek(max(0, stat.st_size - 2 * len(canary)))
                                if needle in handle.read():
                                    leaks.append(path)
                    except OSError:
                        continue
            stop.wait(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    boundary = "----tiplineboundary7MA4YWxkTrZu0gW"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="big.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(part) + size + len(tail)
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", int(portal.url.rsplit(":", 1)[1]), timeout=300)
    conn.putrequest("POST", "/en/")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(part + head)
    sent = len(head)
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        conn.send(piece)
        sent += len(piece)
    conn.send(tail)
    response = conn.getresponse()
    body = response.read().decode()
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join()

    assert response.status == 200, body[:2000]
    assert "receipt-code" in body
    peak = _status_kib(pid, "VmHWM")
    growth_mib = (peak - rss_before) / 1024
    print(
        f"\n1 GiB upload: {elapsed:.1f} s ({size / elapsed / 1e6:.0f} MB/s), "
        f"web worker RSS {rss_before / 1024:.0f} MiB -> peak {peak / 1024:.0f} MiB "
        f"(+{growth_mib:.1f} MiB)"
    )
    assert growth_mib < 100
    assert sorted(set(leaks)) == []
    # The upload reaches a terminal state (this one is not a real JPEG) and leaves nothing.
    assert wait_for(lambda: portal.states()[-1][0] in ("clean", "rejected", "failed"), timeout=120)
    assert portal.states()[-1][0] == "rejected"
    assert files_containing(portal.data_dir, [needle]) == []


def _post_small(portal: Portal) -> None:
    subprocess.run(
        [require("curl"), "-sS", "-o", os.devnull, "-F", "note=warm-up", f"{portal.url}/en/"],
        check=True,
        timeout=30,
    )
