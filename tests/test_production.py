"""The production stack as files: docker-compose.yml validated by a real Compose implementation
(Debian's docker-compose) and read for what it promises; the torrc checked by tor itself; the
operator's scripts run as the README says; the image's Dockerfile; the checks that stop a
misconfigured process from starting; S3 storage over real HTTP (moto's server)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, s3_client
from tests.tools import require

COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = {"migrate", "web-public", "web-staff", "worker", "notifier", "beat", "manage"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    """A copy of what an operator checks out, with .env and secrets made as the README says."""
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def make_secrets(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts/make-secrets"), str(where)], capture_output=True,
                          text=True, check=True)  # fmt: skip


# ------------------------------------------------------------------------ the compose file


def test_compose_file_is_valid_for_a_real_compose_implementation(deployment):
    make_secrets(deployment)
    result = subprocess.run([require("docker-compose"), "config", "--quiet"], cwd=deployment,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The validator does reject what is wrong (a misspelt key), so the pass above means it.
    broken = deployment / "docker-compose.yml"
    broken.write_text(broken.read_text().replace("cap_drop:", "cap_dropp:", 1))
    result = subprocess.run([require("docker-compose"), "config", "--quiet"], cwd=deployment,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0 and "cap_dropp" in result.stderr


def test_the_services_are_all_there(compose):
    assert set(compose["services"]) == APP_SERVICES | {
        "postgres", "redis", "minio", "minio-init", "tor"}  # fmt: skip


def test_roles_and_keys(compose):
    services = compose["services"]
    assert services["web-public"]["environment"]["TIPLINE_ROLE"] == "public"
    assert services["web-staff"]["environment"]["TIPLINE_ROLE"] == "staff"
    holders = {name for name, svc in services.items() if "intake_key" in svc.get("secrets", [])}
    assert holders == {"worker"}  # the only private key anywhere
    owners = {name for name, svc in services.items()
              if "database_owner_url" in svc.get("secrets", [])}  # fmt: skip
    assert owners == {"migrate"}  # everything else connects as tipline_app: rows only
    mounts = " ".join(services["postgres"]["volumes"])
    assert "init-app-role.sh:/docker-entrypoint-initdb.d/" in mounts
    for name in APP_SERVICES - {"worker"}:
        assert "TIPLINE_INTAKE_IDENTITY_FILE" not in services[name].get("environment", {}), name


def test_every_secret_is_a_file_and_none_is_in_the_environment(compose):
    assert all(spec["file"].startswith("./secrets/") for spec in compose["secrets"].values())
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            secretish = re.search(r"PASSWORD|SECRET|SALT|_KEY$|_URL$", key)
            if secretish and not key.endswith("_FILE") and key != "TIPLINE_S3_ENDPOINT_URL":
                pytest.fail(f"{name}: {key} is set in the environment, not from a file")
            assert "://" not in str(value) or "@" not in str(value), (name, key)


def test_the_worker_is_locked_down_on_its_own_network(compose):
    services, networks = compose["services"], compose["networks"]
    worker = services["worker"]
    assert worker["networks"] == ["scrub"] and networks["scrub"]["internal"] is True
    on_scrub = {name for name, svc in services.items() if "scrub" in (svc.get("networks") or [])}
    assert on_scrub == {"worker", "postgres", "redis", "minio"}
    assert worker["read_only"] is True and worker["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in worker["security_opt"]
    assert any(t.startswith("/tmp:") for t in worker["tmpfs"])  # noqa: S108 - in the container
    assert worker["mem_limit"] and worker["pids_limit"]


def test_only_tor_and_the_notifier_reach_outside(compose):
    services, networks = compose["services"], compose["networks"]
    outside = {name for name, spec in networks.items() if not (spec or {}).get("internal")}
    assert outside == {"outside"}
    reach = {name for name, svc in services.items()
             if set(svc.get("networks") or []) & outside}  # fmt: skip
    assert reach == {"tor", "notifier"}
    assert not [name for name, svc in services.items() if svc.get("ports")]  # nothing published


def test_health_checks_and_start_order(compose):
    services = compose["services"]
    for name in ("web-public", "web-staff", "worker", "postgres", "redis", "minio"):
        assert services[name]["healthcheck"]["test"], name
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
    for name in ("web-public", "web-staff"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully")  # fmt: skip
    assert services["tor"]["depends_on"]["web-public"]["condition"] == "service_healthy"
    # Services that serve no HTTP turn the image's web health check off.
    for name in ("migrate", "notifier", "beat", "manage"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert "$$HOSTNAME" in " ".join(services["worker"]["healthcheck"]["test"])  # itself


def test_the_public_and_staff_sites_are_apart_on_tors_side(compose):
    services, networks = compose["services"], compose["networks"]
    assert set(services["web-public"]["networks"]) == {"backend", "edge-public"}
    assert set(services["web-staff"]["networks"]) == {"backend", "edge-staff"}
    torrc = (ROOT / "deploy/tor/torrc").read_text()
    for web, network in (("web-public", "edge-public"), ("web-staff", "edge-staff")):
        address = services[web]["networks"][network]["ipv4_address"]
        assert f"HiddenServicePort 80 {address}:8000" in torrc
        ipam = networks[network]["ipam"]["config"][0]
        # Other containers get addresses from the upper half only: never the web service's.
        assert address.endswith(".10") and ipam["ip_range"].endswith(".128/25")


def test_redis_and_postgres_settings(deployment, compose):
    make_secrets(deployment)
    conf = (deployment / "secrets/redis.conf").read_text()
    password = (deployment / "secrets/redis_password").read_text().strip()
    for line in ("appendonly yes", "maxmemory-policy noeviction", f"requirepass {password}"):
        assert line in conf.splitlines()
    broker = (deployment / "secrets/broker_url").read_text().strip()
    assert broker == f"redis://:{password}@redis:6379/0"
    assert compose["services"]["redis"]["command"] == ["redis-server", "/run/secrets/redis_conf"]
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_HOST_AUTH_METHOD" not in postgres


def test_the_bucket_is_made_private_with_an_account_of_its_own():
    script = (ROOT / "deploy/minio/minio-init.sh").read_text()
    assert "mc anonymous set none local/tipline" in script
    assert '"Resource": ["arn:aws:s3:::tipline/*"]' in script
    assert "GetBucketAcl" not in script  # MinIO refuses a policy that names it
    assert "|| true" not in script and "mc alias" not in script  # no hidden failure, no config


# ------------------------------------------------------------------------------- the scripts


def test_make_secrets_creates_every_file_once_and_prints_none(deployment, compose):
    first = make_secrets(deployment)
    for spec in compose["secrets"].values():
        path = deployment / spec["file"]
        assert path.is_file() and path.stat().st_mode & 0o077 == 0, path
    secrets = [p.read_text().strip() for p in (deployment / "secrets").rglob("*") if p.is_file()]
    for value in filter(None, secrets):
        assert value not in first.stdout + first.stderr
    recipient = re.search(r"^TIPLINE_INTAKE_RECIPIENT=(age1\w+)$",
                          (deployment / ".env").read_text(), re.M)  # fmt: skip
    assert recipient
    public = subprocess.run([require("age-keygen"), "-y",
                             str(deployment / "secrets/keys/intake.key")],
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert recipient.group(1) == public
    assert (deployment / "secrets/email_password").read_text().strip() == ""  # to fill in
    if os.geteuid() == 0:  # each file belongs to the container user that reads it
        assert (deployment / "secrets/secret_key").stat().st_uid == 10001
        assert (deployment / "secrets/postgres_password").stat().st_uid == 999
    before = {p: p.read_bytes() for p in (deployment / "secrets").rglob("*") if p.is_file()}
    again = make_secrets(deployment)
    assert "created" not in again.stdout
    assert before == {p: p.read_bytes() for p in (deployment / "secrets").rglob("*")
                      if p.is_file()}  # fmt: skip


def test_the_staff_onion_refuses_everyone_until_an_editor_has_a_key(tmp_path):
    """Tor serves a client-authorized onion to anyone when it has no client file: the
    entrypoint installs a throwaway key then. Run with the container's paths moved here."""
    script = (ROOT / "deploy/tor/entrypoint.sh").read_text()
    script = script.replace("/var/lib/tor", str(tmp_path / "tor")).replace(
        "/etc/tor/staff-clients", str(tmp_path / "clients")).replace(
        "exec tor -f /etc/tor/torrc", "exit 0")  # fmt: skip
    (tmp_path / "clients").mkdir()
    (tmp_path / "entrypoint.sh").write_text(script)
    subprocess.run(["sh", str(tmp_path / "entrypoint.sh")], check=True, capture_output=True)
    installed = list((tmp_path / "tor/staff/authorized_clients").iterdir())
    assert [p.name for p in installed] == ["nobody.auth"]
    assert re.fullmatch(r"descriptor:x25519:[A-Z2-7]{52}\n", installed[0].read_text())
    (tmp_path / "clients/ana.auth").write_text("descriptor:x25519:" + "A" * 52 + "\n")
    subprocess.run(["sh", str(tmp_path / "entrypoint.sh")], check=True, capture_output=True)
    names = [p.name for p in (tmp_path / "tor/staff/authorized_clients").iterdir()]
    assert names == ["ana.auth"]


def test_a_staff_client_key_for_tor(deployment):
    result = subprocess.run(
        [str(ROOT / "scripts/tor-staff-client"), "ana", str(deployment)],
        capture_output=True, text=True, check=True, env={**os.environ, "STAFF_ONION": "x.onion"},
    )  # fmt: skip
    auth = (deployment / "secrets/tor-staff-clients/ana.auth").read_text().strip()
    public = re.fullmatch(r"descriptor:x25519:([A-Z2-7]{52})", auth).group(1)
    private = re.search(r"^x:descriptor:x25519:([A-Z2-7]{52})$", result.stdout, re.M).group(1)
    assert f"address x.onion, key {private}" in result.stdout  # Tor Browser's two fields
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = X25519PrivateKey.from_private_bytes(base64.b32decode(private + "===="))
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert base64.b32encode(raw).decode().rstrip("=") == public  # the pair belongs together
    assert private not in auth


def test_torrc_is_accepted_by_tor(tmp_path):
    torrc = (ROOT / "deploy/tor/torrc").read_text().replace("/var/lib/tor", str(tmp_path / "d"))
    (tmp_path / "d").mkdir(mode=0o700)
    for option in ("HiddenServicePoWDefensesEnabled 1", "SafeLogging 1", "SocksPort 0"):
        assert option in torrc.splitlines()
    (tmp_path / "torrc").write_text(torrc)
    tor = require("tor")
    result = subprocess.run([tor, "--verify-config", "-f", str(tmp_path / "torrc")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and "Configuration was valid" in result.stdout, result.stdout
    (tmp_path / "torrc").write_text(torrc + "\nHiddenServicePowDefenseEnabledd 1\n")
    result = subprocess.run([tor, "--verify-config", "-f", str(tmp_path / "torrc")],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode != 0  # tor does reject a wrong option


def test_dockerfile(compose):
    text = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(bases) == 2 and all(re.search(r":\d+\.\d+\.\d+-", base) for base in bases)
    final = text.split("\nFROM ")[-1]
    assert "USER tipline" in final and "HEALTHCHECK" in final
    assert "collectstatic" in final and "gcc" not in final and "build-essential" not in final
    assert "_FILE" not in final.split("collectstatic")[0].split("ENV")[-1]
    for line in final.splitlines():
        assert not re.match(r"\s*(ENV|ARG) .*(SECRET|PASSWORD|SALT)=(?!build)", line), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"secrets", ".env", ".git"} <= set(ignored)


# -------------------------------------------------- checks that stop a process from starting


def _start(env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # browser tests'
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"TIPLINE_ROLE": "public", "TIPLINE_INTAKE_IDENTITY_FILE": "{intake}"},
         "submissions.E002"),
        ({"TIPLINE_ROLE": "staff", "TIPLINE_DEBUG": "true"}, "submissions.E004"),
    ],
)  # fmt: skip
def test_a_misconfigured_web_process_refuses_to_start(extra, error, intake_key_file):
    # Empty, not absent: the test settings would fill in the tests' key file otherwise.
    base = {**os.environ, "TIPLINE_INTAKE_IDENTITY_FILE": ""}
    env = {**base, **{k: v.format(intake=intake_key_file) for k, v in extra.items()}}
    result = _start(env, ["-c", "import tipline.wsgi"])
    assert result.returncode != 0 and error in result.stderr, result.stderr[-2000:]
    result = _start({**base, "TIPLINE_ROLE": extra["TIPLINE_ROLE"]}, ["-c", "import tipline.wsgi"])
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_misconfigured_worker_refuses_to_start():
    """Celery swallows errors raised at worker start: the worker must still stop."""
    env = {**os.environ, "TIPLINE_DEBUG": "true", "TIPLINE_ONION": "true",
           "TIPLINE_BROKER_URL": "memory://"}  # fmt: skip
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "tipline", "worker", "--pool",
                             "solo", "--without-gossip", "--without-mingle"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 78, result.stderr[-2000:]
    assert "submissions.E004" in result.stderr


def test_a_staff_site_without_the_second_factor_is_refused(settings):
    from django.core import checks

    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "django_otp" not in m]
    ids = [message.id for message in checks.run_checks()]
    assert "newsroom.E001" in ids


# ---------------------------------------------------------------- S3, over real HTTP


@pytest.fixture
def s3_storage(s3_server, settings) -> Iterator[str]:
    bucket = f"tipline-{int(time.time() * 1000)}"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    options = {"bucket_name": bucket, "endpoint_url": s3_server, "region_name": "us-east-1",
               "access_key": "tipline", "secret_key": "tipline-secret", "default_acl": "private",
               "querystring_auth": True, "file_overwrite": False}  # fmt: skip
    blobs = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    settings.STORAGES = {**settings.STORAGES, "blobs": blobs, "default": blobs}
    settings.STORAGE_BACKEND = "s3"
    yield bucket


def test_blobs_live_in_the_bucket_privately(s3_storage, s3_server):
    from django.core.files.base import ContentFile

    from submissions import storage

    name = storage.save(ContentFile(b"age-encryption.org/v1 ciphertext", name="x"))
    assert list(storage.walk()) == [name]
    with storage.open_blob(name) as blob:
        assert blob.read() == b"age-encryption.org/v1 ciphertext"
    acl = s3_client(s3_server).get_object_acl(Bucket=s3_storage, Key=name)
    assert [g["Grantee"].get("URI") for g in acl["Grants"] if g["Grantee"].get("URI")] == []
    assert storage.bucket_exposure() == ""
    storage.delete(name)
    storage.delete(name)  # deleting twice is not an error (retries after crashes)
    assert list(storage.walk()) == []


def test_a_public_bucket_stops_the_processes(s3_storage, s3_server):
    import json

    from django.core import checks

    def errors() -> list[str]:
        found = checks.run_checks(include_deployment_checks=True)
        return [m.id for m in found if m.id and m.id.startswith("submissions.E00")]

    assert errors() == []
    client = s3_client(s3_server)
    client.put_bucket_acl(Bucket=s3_storage, ACL="public-read")
    assert errors() == ["submissions.E005"]
    client.put_bucket_acl(Bucket=s3_storage, ACL="private")
    assert errors() == []
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{s3_storage}/*"}]}  # fmt: skip
    client.put_bucket_policy(Bucket=s3_storage, Policy=json.dumps(policy))
    assert errors() == ["submissions.E005"]


def test_the_digest_has_its_own_queue_so_workers_need_no_way_out(compose):
    from tipline.celery import app

    router = app.amqp.router
    assert router.route({}, "newsroom.send_digest")["queue"].name == "notify"
    assert router.route({}, "submissions.scrub_attachment")["queue"].name == "scrub"
    assert router.route({}, "submissions.requeue_stale")["queue"].name == "celery"
    services = compose["services"]
    assert services["worker"]["command"][services["worker"]["command"].index("--queues") + 1] == (
        "scrub,celery")  # fmt: skip
    notifier = services["notifier"]["command"]
    assert notifier[notifier.index("--queues") + 1] == "notify"
    assert "intake_key" not in services["notifier"].get("secrets", [])
    assert '"scrub,celery,notify"' in (ROOT / "tipline/embedded.py").read_text()  # make run: all


def test_blobs_are_read_by_ranges_not_downloaded_whole(s3_storage, s3_server, monkeypatch):
    """A player seeking near the end of a big video, or the worker reading an MP4's index,
    fetches the blocks it reads, not the whole object."""
    from django.core.files.base import ContentFile

    from submissions import crypto, storage

    plain = os.urandom(3 * 1024 * 1024 + 12345)
    identity = crypto.Identity.generate()
    sealed = crypto.seal_bytes(plain, recipients=[identity.recipient], aad="blob")
    name = storage.save(ContentFile(sealed, name="x"))
    monkeypatch.setattr(storage.RangedObject, "BLOCK", 256 * 1024)
    ranges: list[str] = []
    blob = storage.open_blob(name)
    original = blob._client.get_object

    def get_object(**kwargs):
        ranges.append(kwargs.get("Range", "everything"))
        return original(**kwargs)

    monkeypatch.setattr(blob._client, "get_object", get_object)
    reader = crypto.open_seekable(blob, identities=[identity], aad="blob")
    reader.seek(len(plain) - 1000)
    assert reader.read(1000) == plain[-1000:]
    fetched = sum(int(r.split("-")[1]) - int(r.split("=")[1].split("-")[0]) + 1 for r in ranges)
    assert "everything" not in ranges and fetched <= 3 * 256 * 1024, ranges
    reader.seek(12345)
    assert reader.read(70_000) == plain[12345:82345]
    blob.seek(0)
    assert blob.read() == sealed  # and whole, when read whole
    with storage.open_blob(name) as again:
        assert b"".join(crypto.iter_plaintext(again, identities=[identity], aad="blob")) == plain
    # Every read across a block's end is whole: the decryptor reads a chunk with one read().
    whole = crypto.open_seekable(storage.open_blob(name), identities=[identity], aad="blob")
    assert whole.read() == plain
    blob.seek(256 * 1024 - 10)
    assert blob.read(100) == sealed[256 * 1024 - 10 : 256 * 1024 + 90]
