"""The production topology without Docker: the commands docker-compose.yml runs, with its
environment (secrets from files), as separate processes on this machine. Production settings
(`tipline.settings`, not the tests'); PostgreSQL; Redis with a password; an S3-compatible server
over HTTP (moto's); a public web process, a staff web process, a worker and beat.

A tip sent through the public process is cleaned by the worker, stored in the bucket as age
ciphertext, and read through the staff process by an editor who signs in and sets up their
authenticator as a new editor would. The public process has no staff route and no private key.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from submissions import crypto
from submissions.uploads import EncryptingUploadHandler
from tests import fixtures
from tests.conftest import ROOT, free_port, s3_client, stop_process, wait_for
from tests.tools import disallowed_tags, require

requests = pytest.importorskip("requests")  # comes with moto[server] (requirements-dev.txt)

DATABASE = "tipline_smoke"
PASSWORD = "a-long-staff-password-42"
NOTE = "CANARY-SMOKE the warehouse behind the church"


@dataclass
class Stack:
    root: Path
    env: dict[str, dict[str, str]]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    bucket: str = "tipline"
    s3: str = ""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log(self, service: str) -> str:
        return (self.root / f"{service}.log").read_text(errors="replace")[-3000:]

    def sql(self, query: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DATABASE}") as db:
            return db.execute(query).fetchall()  # type: ignore[arg-type]


def _database(root: Path) -> None:
    """A new database, and the app's role made by the compose stack's own init script."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        db.execute("DROP ROLE IF EXISTS tipline_app")
        db.execute(f'CREATE DATABASE "{DATABASE}"')
    password = root / "app_db_password"
    password.write_text("not-checked-here-trust-auth\n")
    env = {**os.environ, "POSTGRES_USER": "postgres", "POSTGRES_DB": DATABASE,
           "PGHOST": "127.0.0.1", "APP_DB_PASSWORD_FILE": str(password)}  # fmt: skip
    subprocess.run(["sh", str(ROOT / "deploy/postgres/init-app-role.sh")], env=env, check=True,
                   capture_output=True)  # fmt: skip


def _argv(command: list[str], port: int | None, root: Path) -> list[str]:
    """The compose command, run with this interpreter on this machine: the container's paths
    and address replaced by this run's (before the interpreter's own path is put in front)."""
    container_tmp = "/tmp/"  # noqa: S108 - a path inside the container, replaced here
    argv = [str(root / "celerybeat-schedule") if str(part).startswith(container_tmp)
            else f"127.0.0.1:{port}" if part == "0.0.0.0:8000" else str(part)
            for part in command]  # fmt: skip
    if argv[0] in ("gunicorn", "celery"):
        return [sys.executable, "-m", *argv]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, s3_server: str) -> Iterator[Stack]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    root = tmp_path_factory.mktemp("production")
    _database(root)
    redis_port, redis_password = free_port(), base64.b32encode(os.urandom(20)).decode()
    redis_log = (root / "redis.log").open("wb")
    redis = subprocess.Popen([require("redis-server"), "--port", str(redis_port), "--bind",
                              "127.0.0.1", "--requirepass", redis_password, "--save", "",
                              "--appendonly", "no", "--maxmemory-policy", "noeviction"],
                             stdout=redis_log, stderr=redis_log)  # fmt: skip
    bucket = f"tipline-smoke-{int(time.time())}"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    intake = crypto.Identity.generate()
    values = {
        "secret_key": base64.b64encode(os.urandom(48)).decode(),
        "receipt_salt": base64.b64encode(os.urandom(48)).decode(),
        "database_url": f"postgres://tipline_app@127.0.0.1:5432/{DATABASE}",
        "database_owner_url": f"postgres://postgres@127.0.0.1:5432/{DATABASE}",
        "broker_url": f"redis://:{redis_password}@127.0.0.1:{redis_port}/0",
        "s3_access_key": "tipline", "s3_secret_key": "tipline-secret",
    }  # fmt: skip
    secrets = {}
    for name, spec in compose["secrets"].items():
        path = root / spec["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "intake_key":
            crypto.write_identity_file(path, intake)
        else:
            path.write_text(values.get(name, "unused") + "\n")
        secrets[f"/run/secrets/{name}"] = str(path)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TIPLINE_", "DJANGO_"))}  # fmt: skip
    env: dict[str, dict[str, str]] = {}
    for service in ("migrate", "web-public", "web-staff", "worker", "beat"):
        spec = compose["services"][service]
        variables = {k: secrets.get(str(v), str(v)) for k, v in spec["environment"].items()}
        variables.update({
            "TIPLINE_S3_ENDPOINT_URL": s3_server, "TIPLINE_S3_BUCKET": bucket,
            "TIPLINE_ALLOWED_HOSTS": "127.0.0.1,localhost", "TIPLINE_HTTPS": "false",
            "TIPLINE_INTAKE_RECIPIENT": str(intake.recipient),
            "TIPLINE_DATA_DIR": str(root / f"data-{service}"),
            "TIPLINE_WEB_WORKERS": "1", "TIPLINE_WEB_THREADS": "8",
            "TIPLINE_STATIC_ROOT": str(root / "static-root"),
            "DJANGO_SETTINGS_MODULE": "tipline.settings",  # production settings
        })  # fmt: skip
        env[service] = {**base, **variables}
    stack = Stack(root, env, bucket=bucket, s3=s3_server)
    try:
        # What the image's build does (Dockerfile): static files collected, no secret needed.
        build = {**base, "TIPLINE_SECRET_KEY": "build", "TIPLINE_RECEIPT_SALT": "build",
                 "TIPLINE_STATIC_ROOT": str(root / "static-root"),
                 "DJANGO_SETTINGS_MODULE": "tipline.settings"}  # fmt: skip
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput",
                        "--skip-checks"], cwd=ROOT, env=build, check=True,
                       capture_output=True, timeout=300)  # fmt: skip
        migrate = subprocess.run(_argv(compose["services"]["migrate"]["command"], None, root),
                                 cwd=ROOT, env=env["migrate"], capture_output=True, text=True,
                                 timeout=300)  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        for service in ("web-public", "web-staff", "worker", "beat"):
            port = free_port() if service.startswith("web") else None
            if port:
                stack.ports[service] = port
            log = (root / f"{service}.log").open("wb")
            stack.processes[service] = subprocess.Popen(
                _argv(compose["services"][service]["command"], port, root), cwd=ROOT,
                env=env[service], stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def up() -> bool:
            for service, process in stack.processes.items():
                if process.poll() is not None:
                    pytest.fail(f"{service} exited:\n{stack.log(service)}")
            ready = b"ready." in (root / "worker.log").read_bytes()
            for service in ("web-public", "web-staff"):
                try:
                    answer = requests.get(f"{stack.url(service)}/healthz", timeout=2)
                    ready = ready and answer.status_code == 200 and answer.text == "ok"
                except requests.RequestException:
                    ready = False
            return ready

        assert wait_for(up, timeout=90, interval=0.5), {s: stack.log(s) for s in stack.processes}
        yield stack
    finally:
        for process in stack.processes.values():
            stop_process(process, signal.SIGTERM)
        stop_process(redis, signal.SIGTERM)
        redis_log.close()


def _manage(stack: Stack, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, input=stdin,
                            env=stack.env["web-staff"], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _code(secret: str) -> str:
    from django_otp.oath import totp

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return str(totp(key)).zfill(6)


def test_a_tip_through_the_production_topology(stack, tmp_path):
    public, staff = stack.url("web-public"), stack.url("web-staff")
    # The first administrator, and with them the newsroom key, as the README says.
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    _manage(stack, "tipline_bootstrap", "--username", "editor", "--password-file",
            str(password_file))  # fmt: skip
    # The public process: the form, and nothing of the staff site; no private key in it.
    assert requests.get(f"{public}/staff/login/", timeout=10).status_code == 404
    assert requests.get(f"{public}/staff/", timeout=10).status_code == 404
    environ = Path(f"/proc/{stack.processes['web-public'].pid}/environ").read_bytes()
    assert b"TIPLINE_INTAKE_IDENTITY_FILE" not in environ and b"AGE-SECRET-KEY" not in environ
    photo = fixtures.jpeg_with_gps((320, 240))
    upload = {"files": ("IMG_0042.jpg", photo, "image/jpeg")}
    sent = requests.post(f"{public}/en/", data={"note": NOTE}, files=upload, timeout=60)
    assert sent.status_code == 200, sent.text[-2000:]
    assert re.search(r'id="receipt-code">[^<]+<', sent.text)
    assert not sent.cookies

    def cleaned() -> bool:
        return stack.sql("SELECT state FROM submissions_attachment") == [("clean",)]

    assert wait_for(cleaned, timeout=60), (stack.sql("SELECT state, reason FROM "
                                                     "submissions_attachment"),
                                           stack.log("worker"))  # fmt: skip
    (blob_name,) = stack.sql("SELECT blob_name FROM submissions_attachment")[0]
    stored = s3_client(stack.s3).get_object(Bucket=stack.bucket, Key=blob_name)["Body"].read()
    assert stored.startswith(b"age-encryption.org/v1\n") and NOTE.encode() not in stored
    listed = s3_client(stack.s3).list_objects_v2(Bucket=stack.bucket).get("Contents", [])
    assert [item["Key"] for item in listed] == [blob_name]  # the raw upload is gone

    # The editor's first sign-in, with enrolment, as a new editor does it.
    browser = requests.Session()
    login = browser.get(f"{staff}/staff/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    enrol = browser.post(f"{staff}/staff/login/", data={
        "csrfmiddlewaretoken": token, "username": "editor", "password": PASSWORD,
        "otp_token": "", "next": "/staff/"}, timeout=30)  # fmt: skip
    assert enrol.url.endswith("/staff/account/enrol/"), enrol.text[-2000:]
    secret = re.search(r"Key: <code>([A-Z2-7]+)</code>", enrol.text).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', enrol.text).group(1)
    done = browser.post(f"{staff}/staff/account/enrol/", data={
        "csrfmiddlewaretoken": token, "password": PASSWORD, "otp_token": _code(secret)},
        timeout=30)  # fmt: skip
    assert done.url.rstrip("/").endswith("/staff"), done.text[-2000:]
    (tip_id,) = stack.sql("SELECT id FROM submissions_tip")[0]
    page = browser.get(f"{staff}/staff/submissions/tip/{tip_id}/change/", timeout=30)
    assert page.status_code == 200 and NOTE in page.text
    (attachment_id,) = stack.sql("SELECT id FROM submissions_attachment")[0]
    download = browser.get(f"{staff}/staff/tips/attachments/{attachment_id}/download/",
                           timeout=30)  # fmt: skip
    assert download.status_code == 200 and download.content.startswith(b"\xff\xd8")
    cleaned_photo = tmp_path / "photo.jpg"
    cleaned_photo.write_bytes(download.content)
    assert disallowed_tags(cleaned_photo) == {}
    # The app ran on rows alone: its role may not change the schema (only migrate, the owner).
    import psycopg

    app = f"postgresql://tipline_app@127.0.0.1:5432/{DATABASE}"
    with psycopg.connect(app) as db, pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("CREATE TABLE intruder (x int)")
    with psycopg.connect(app) as db:
        assert db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                          ).fetchone() == (False,)  # fmt: skip
    # Nothing of the source in any process's log.
    for service in stack.processes:
        assert NOTE not in stack.log(service) and "IMG_0042" not in stack.log(service)


def test_slow_uploads_do_not_starve_the_public_site(stack):
    """Six sources on slow Tor circuits, each in the middle of an upload, against one worker
    process (8 threads): a seventh still gets the form at once, and nothing they are sending
    is on disk in clear meanwhile."""
    import socket

    port = stack.ports["web-public"]
    boundary = "tiplineslowupload"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()  # fmt: skip
    canary = b"CANARY-SLOW-UPLOAD"
    # A little more of the file so far than the upload handler takes at a time (1 MiB): the
    # first piece has reached it, and been encrypted on its way to the spool.
    repeats = EncryptingUploadHandler.chunk_size // len(canary) + 4000
    chunk = fixtures.jpeg_with_gps()[:2000] + canary * repeats
    slow = []
    try:
        for _ in range(6):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(
                f"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                f"boundary={boundary}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n".encode()
                + head + chunk
            )  # fmt: skip
            slow.append(sock)
        time.sleep(1)  # they are all being read now, each by one thread
        started = time.monotonic()
        answer = requests.get(f"{stack.url('web-public')}/es/", timeout=10)
        waited = time.monotonic() - started
        assert answer.status_code == 200 and waited < 2, waited
        data_dir = Path(stack.env["web-public"]["TIPLINE_DATA_DIR"])
        on_disk = [p for p in data_dir.rglob("*") if p.is_file() and canary in p.read_bytes()]
        assert on_disk == []
        spooled = [p for p in data_dir.rglob("*.age") if p.is_file()]
        assert spooled  # the uploads are being written, as ciphertext
    finally:
        for sock in slow:
            sock.close()
    # The sources gave up: what they had sent is discarded, and the site is fine.
    data_dir = Path(stack.env["web-public"]["TIPLINE_DATA_DIR"])
    assert wait_for(lambda: not [p for p in data_dir.rglob("*.age") if p.is_file()], timeout=30)
    assert requests.get(f"{stack.url('web-public')}/en/", timeout=10).status_code == 200
