from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from newsroom import custody
from submissions import crypto, keys

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> Iterator[None]:
    keys.clear_cache()
    yield
    keys.clear_cache()


@pytest.fixture(scope="session")
def newsroom_identity() -> crypto.Identity:
    return crypto.read_identity_file(settings.NEWSROOM_TEST_KEY)[0]


@pytest.fixture(autouse=True)
def _newsroom_key(
    request: pytest.FixtureRequest, newsroom_identity: crypto.Identity
) -> Iterator[None]:
    """Database tests get the tests' newsroom key as the current one (as after bootstrap),
    and code run directly by a test (not through a request) holds it unlocked. Requests
    unlock what their session holds, as in production (newsroom.middleware)."""
    if request.node.get_closest_marker("django_db") is not None:
        from newsroom.models import NewsroomKey

        NewsroomKey.objects.get_or_create(
            recipient=str(newsroom_identity.recipient), defaults={"current": True}
        )
    with custody.unlocked([newsroom_identity]):
        yield


@pytest.fixture
def blob_dir(settings: object) -> Iterator[Path]:
    """A clean blob directory and spool for this test."""
    root = Path(settings.STORAGES["blobs"]["OPTIONS"]["location"])  # type: ignore[attr-defined]
    for path in (root, settings.SPOOL_DIR):  # type: ignore[attr-defined]
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    yield root


@pytest.fixture
def newsroom_key_file() -> Path:
    return Path(settings.NEWSROOM_TEST_KEY)


@pytest.fixture
def intake_key_file() -> Path:
    return Path(settings.INTAKE_IDENTITY_FILE)


def corpus_dir() -> Path | None:
    path = Path(os.environ.get("TIPLINE_CORPUS", SHARED / "corpus"))
    return path if path.is_dir() else None


ROOT = Path(__file__).resolve().parent.parent


def start_python(args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Run `python ARGS` from the project root, output to `log`. Without the browser tests'
    DJANGO_ALLOW_ASYNC_UNSAFE: servers and workers refuse to start with it (async.E001)."""
    env = {k: v for k, v in env.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop_process(process: subprocess.Popen[bytes], sig: int) -> bool:
    """Send `sig` and wait; kill after 30 s. True if it stopped by itself."""
    process.send_signal(sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return False
    return True


def wait_for(predicate: object, timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate()` until it is true or `timeout` seconds pass."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup: None, django_db_blocker: object) -> Iterator[object]:
    """A real `celery worker` process on real Redis, using the test PostgreSQL database."""
    import redis
    from django.db import connection

    broker = os.environ["TIPLINE_BROKER_URL"]
    redis.Redis.from_url(broker).flushdb()
    db = connection.settings_dict
    env = {
        **os.environ,
        "TIPLINE_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    log = Path(os.environ["TIPLINE_TEST_DIR"]) / "worker.log"
    process = start_python(
        ["-m", "celery", "-A", "tipline", "worker", "--queues", "scrub,celery", "--loglevel",
         "INFO", "--concurrency", "2",
         "--without-gossip", "--without-mingle"],
        env=env, log=log,
    )  # fmt: skip
    try:
        if not wait_for(lambda: b"ready." in log.read_bytes() or process.poll() is not None, 60):
            pytest.fail("the Celery worker did not start:\n" + log.read_text()[-3000:])
        if process.poll() is not None:
            pytest.fail("the Celery worker exited:\n" + log.read_text()[-3000:])
        process.log_path = log  # type: ignore[attr-defined]
        yield process
    finally:
        stop_process(process, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[str]:
    """moto's standalone S3-compatible server, as a separate process over HTTP."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        server = str(Path(sys.executable).parent / "moto_server")
        process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                   stderr=out)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        assert wait_for(up, timeout=30), log.read_text()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def s3_client(url: str):
    import boto3

    keys = {"aws_access_key_id": "tipline", "aws_secret_access_key": "tipline-secret"}
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys)


def raw_attachment(tip: object, position: int = 99, data: bytes | None = None) -> object:
    """A stored raw upload (intake key) attached to `tip`, as the upload handler leaves it;
    with `data`, any bytes (as if a file had got past the upload's sniffing)."""
    import uuid

    from submissions import services, storage
    from submissions.models import Attachment
    from tests import fixtures

    data = fixtures.jpeg_with_gps() if data is None else data
    pk = uuid.uuid4()
    spool = storage.Spool()
    encryptor = crypto.seal_stream(spool.file, recipients=[keys.intake_recipient()],
                                   aad=crypto.binding("attachment", pk, "raw"))  # fmt: skip
    encryptor.write(data)
    encryptor.close()
    name = storage.save_spool(spool)
    return Attachment.objects.create(
        id=pk, tip=tip, position=position, size=len(data), blob_name=name,
        sealed_meta=services.seal_json({}, aad=crypto.binding("attachment", pk, "meta")),
    )  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, driven by Playwright (requirements-dev.txt), for one test module."""
    from playwright.sync_api import sync_playwright

    from tests.tools import require

    executable = shutil.which("chromium") or require("chromium")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, headless=True,
                                          args=["--no-sandbox"])  # fmt: skip
        yield launched
        launched.close()


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG, Django's own loggers included (settings.LOGGING stops them from
    propagating to the root): what canary sweeps search."""
    import logging

    caplog.set_level(logging.DEBUG)
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    yield caplog
    django_logger.removeHandler(caplog.handler)
