"""The whole system as processes on this machine, for the fault tests: its own PostgreSQL
cluster and Redis server (so a test may restart or kill them without touching the machine's),
a gunicorn web process in the production serving configuration, Celery workers and beat, all
on the production settings module; blobs on the filesystem, where a test can see every one."""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from submissions import crypto
from tests.conftest import ROOT, free_port, stop_process, wait_for
from tests.tools import require

TERMINAL = ("clean", "rejected", "failed")
PASSWORD = "a-long-staff-password-42"


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL's tools refuse to run as root: as its own user, then."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.getuid() == 0 else argv


class Postgres:
    """A throwaway cluster (initdb) on a free port, trust authentication on 127.0.0.1."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not found:
            pytest.fail("PostgreSQL's server binaries are missing: run scripts/system-deps")
        self.bin = Path(found[-1])
        # Its own directory, outside pytest's (which only root may enter).
        self.home = Path(tempfile.mkdtemp(prefix="tipline-pg-"))
        self.dir, self.log = self.home / "data", self.home / "pg.log"
        self.port = free_port()
        self.dir.mkdir(mode=0o700)
        if os.getuid() == 0:
            self.home.chmod(0o755)
            shutil.chown(self.home, "postgres")
            shutil.chown(self.dir, "postgres")
        subprocess.run(_as_postgres([str(self.bin / "initdb"), "-D", str(self.dir), "-U",
                                     "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        self.start()
        subprocess.run(_as_postgres([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p",
                                     str(self.port), "-U", "postgres", "tipline"]),
                       check=True, capture_output=True, timeout=60)  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/tipline"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off"
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.dir), "-l",
                                     str(self.log), "-o", options, "-w", *args]),
                       check=True, capture_output=True, timeout=120)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class Redis:
    """A redis-server of the test's own; with `persist`, every write appended and fsynced."""

    def __init__(self, root: Path, *, persist: bool) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        durability = (["--appendonly", "yes", "--appendfsync", "always"] if self.persist
                      else ["--appendonly", "no"])  # fmt: skip
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen([require("redis-server"), "--port", str(self.port),
                                         "--bind", "127.0.0.1", "--dir", str(self.dir),
                                         "--save", "", *durability],
                                        stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        assert wait_for(self.ping, 20), (self.dir / "redis.log").read_text()[-2000:]

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)


@dataclass
class Stack:
    root: Path
    postgres: Postgres
    redis: Redis
    env: dict[str, str]
    web_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def hooks(self) -> Path:
        return Path(self.env["TIPLINE_HOOK_DIR"])

    @property
    def blob_dir(self) -> Path:
        return Path(self.env["TIPLINE_DATA_DIR"]) / "blobs"

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]

    def logs(self) -> dict[str, str]:
        return {name: self.log(name) for name in self.processes}

    def _start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        env = {**self.env, **extra}
        process = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.processes[name] = process
        return process

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result.stdout

    def start_web(self) -> None:
        self.web_port = free_port()
        self._start("web", ["-m", "gunicorn", "tipline.wsgi", "--config",
                            "python:tipline.gunicorn_conf", "--bind",
                            f"127.0.0.1:{self.web_port}"])  # fmt: skip

        def up() -> bool:
            import requests

            try:
                return requests.get(f"{self.url}/healthz", timeout=2).text == "ok"
            except requests.RequestException:
                return False

        assert wait_for(up, 60, 0.3), self.log("web")

    def start_worker(self, name: str = "worker", concurrency: int = 1) -> None:
        log = self.root / f"{name}.log"
        before = log.read_bytes().count(b"ready.") if log.exists() else 0
        self._start(name, ["-m", "tests.hooked_celery", "-A", "tipline", "worker", "--queues",
                           "scrub,celery", "--loglevel",
                           "INFO", "--concurrency", str(concurrency), "-n", f"{name}@%h",
                           "--without-gossip", "--without-mingle"])  # fmt: skip
        assert wait_for(lambda: log.read_bytes().count(b"ready.") > before, 60, 0.2), (
            self.log(name))  # fmt: skip

    def start_beat(self) -> None:
        self._start("beat", ["-m", "celery", "-A", "tipline", "beat", "--loglevel", "INFO",
                             "--schedule", str(self.root / "beat-schedule")])  # fmt: skip

    def kill(self, name: str) -> None:
        """kill -9 of the process and every process it started (its session)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None and not stop_process(process, signal.SIGTERM):
                os.killpg(process.pid, signal.SIGKILL)

    def submit(self, note: str, files: list[tuple[str, bytes]], timeout: float = 60) -> str:
        """A source sends a tip; returns the receipt code (the page must show one)."""
        import requests

        upload = [("files", (name, data, "application/octet-stream")) for name, data in files]
        sent = requests.post(f"{self.url}/en/", data={"note": note}, files=upload,
                             timeout=timeout)  # fmt: skip
        assert sent.status_code == 200, sent.text[-2000:]
        match = re.search(r'id="receipt-code">([^<]+)<', sent.text)
        assert match, sent.text[-2000:]
        return match.group(1)

    def tip_of(self, code: str) -> str:
        """The id of the tip this receipt code opens (its keyed digest, with the stack's salt)."""
        from django.test import override_settings

        from submissions import receipts

        with override_settings(RECEIPT_SALT=self.env["TIPLINE_RECEIPT_SALT"]):
            digest = receipts.digest(code)
        ((tip_id,),) = self.sql("SELECT id::text FROM submissions_tip WHERE receipt_hash = %s",
                                digest)  # fmt: skip
        return str(tip_id)

    def sql(self, query: str, *params: object) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.postgres.url.replace("postgres://", "postgresql://")) as db:
            return db.execute(query, params).fetchall()  # type: ignore[arg-type]

    def attachments(self) -> list[tuple[str, str, str, int, str]]:
        return self.sql("SELECT id::text, state, blob_name, attempts, reason "  # type: ignore[return-value]
                        "FROM submissions_attachment ORDER BY position")  # fmt: skip

    def settled(self) -> bool:
        return all(state in TERMINAL for _, state, *_ in self.attachments())

    def wait_settled(self, timeout: float = 120) -> None:
        assert wait_for(self.settled, timeout, 0.5), (self.attachments(), self.logs())

    def stored(self) -> set[str]:
        return {str(path.relative_to(self.blob_dir)) for path in self.blob_dir.rglob("*")
                if path.is_file()}  # fmt: skip

    def assert_whole(self, accepted: int) -> None:
        """Every accepted attachment in a terminal state, one blob each (the cleaned file, or
        a failed one's upload kept for a retry), nothing in storage that no row points to."""
        rows = self.attachments()
        assert len(rows) == accepted, rows
        assert all(state in TERMINAL for _, state, *_ in rows), rows
        for _, state, blob, *_ in rows:
            assert (state == "rejected") == (blob == ""), rows
        referenced = {blob for _, _, blob, *_ in rows if blob}
        assert len(referenced) == len([row for row in rows if row[2]])
        assert self.stored() == referenced, (self.stored() - referenced,
                                             referenced - self.stored())  # fmt: skip


def build_stack(root: Path, *, persist_redis: bool = False, **settings: str) -> Stack:
    """Databases, keys, migrations and the first editor (with the newsroom key): the rest is
    started by each test, which knows what it means to break."""
    postgres = Postgres()
    redis = Redis(root, persist=persist_redis)
    intake = crypto.Identity.generate()
    keyfile = root / "intake.key"
    crypto.write_identity_file(keyfile, intake)
    hooks = root / "hooks"
    hooks.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "DJANGO_"))}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "tipline.settings",  # production settings
        "TIPLINE_SECRET_KEY": base64.b64encode(os.urandom(48)).decode(),
        "TIPLINE_RECEIPT_SALT": base64.b64encode(os.urandom(48)).decode(),
        "TIPLINE_DATABASE_URL": postgres.url,
        "TIPLINE_BROKER_URL": redis.url,
        "TIPLINE_DATA_DIR": str(root / "data"),
        "TIPLINE_STATIC_ROOT": str(root / "static"),
        "TIPLINE_HTTPS": "false",
        "TIPLINE_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TIPLINE_ROLE": "all",
        "TIPLINE_INTAKE_RECIPIENT": str(intake.recipient),
        "TIPLINE_INTAKE_IDENTITY_FILE": str(keyfile),
        "TIPLINE_KDF_MEMORY_KIB": "65536",
        "TIPLINE_WEB_WORKERS": "2",
        # Short clocks, so that recovery fits in a test: a scrub may take 20 s, a vanished
        # worker's lease ends 2 s after that, a waiting file is queued again after 3 s, beat
        # looks every 2 s, and a file that crashes its worker twice has failed.
        "TIPLINE_TASK_TIME_LIMIT": "20",
        "TIPLINE_LEASE_GRACE": "2",
        "TIPLINE_REQUEUE_AFTER": "3",
        "TIPLINE_REQUEUE_EVERY": "2",
        "TIPLINE_SCRUB_MAX_ATTEMPTS": "2",
        "TIPLINE_HOOK_DIR": str(hooks),
        **settings,
    }
    stack = Stack(root, postgres, redis, env)
    stack.manage("collectstatic", "--noinput")  # as the image's build does
    stack.manage("migrate", "--noinput")
    password = root / "password"
    password.write_text(PASSWORD)
    stack.manage("tipline_bootstrap", "--username", "editor", "--password-file", str(password))
    return stack


def scrubbing_pid(stack: Stack, timeout: float = 60) -> int:
    """The pid of the process that started scrubbing a SLOW-SCRUB file (tests/hooked_celery)."""
    assert wait_for(lambda: any(stack.hooks.glob("scrubbing-*")), timeout, 0.1), stack.logs()
    marker = next(stack.hooks.glob("scrubbing-*"))
    marker.unlink()
    return int(marker.name.split("-")[1])


def tagged_jpeg(tag: bytes) -> bytes:
    """A photo (with GPS) carrying `tag` in a comment segment: the hooks look for it."""
    from tests import fixtures

    jpeg = fixtures.jpeg_with_gps()
    segment = b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag
    return jpeg[:2] + segment + jpeg[2:]


def elapsed(start: float) -> float:
    return time.monotonic() - start
