"""Every command of the operations guide (docs/production.md) is checked here, so the guide
cannot drift from the stack: each fenced shell line must match one of the rules below, and each
rule exercises the command (runs it, or what it runs inside its container) or checks what it
names against docker-compose.yml, the torrc and the management commands. A command no rule
knows fails the test: a new command in the guide needs a way to be checked."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.tools import require

GUIDE = ROOT / "docs/production.md"


def commands() -> list[str]:
    text = GUIDE.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _manage_arguments_parse(argv: list[str]) -> None:
    """`python manage.py NAME ARGS` inside a container: NAME exists and accepts ARGS."""
    from django.core.management import get_commands, load_command_class

    assert argv[:2] == ["python", "manage.py"], argv
    name, args = argv[2], argv[3:]
    app = get_commands()[name]
    command = app if not isinstance(app, str) else load_command_class(app, name)
    parser = command.create_parser("manage.py", name)
    parser.parse_args(args)  # exits (SystemExit) on an unknown or missing argument


def _compose_service_command(line: str, compose: dict) -> None:
    words = shlex.split(line.split("|")[0])
    assert words[:2] == ["docker", "compose"], line
    words = words[:2] + words[4:] if words[2] == "-f" else words
    if line.split("|")[0].split()[2] == "-f":
        assert words and line.split()[3] == "/srv/tipline/docker-compose.yml", line
    verb, rest = words[2], words[3:]
    services = compose["services"]
    if verb in ("build", "ps", "down"):
        return
    if verb in ("stop", "start"):
        assert rest and all(name in services for name in rest), line
        return
    if verb == "up":
        names = [w for w in rest if not w.startswith("-") and "=" not in w]
        assert all(name in services for name in names), line
        for scale in re.findall(r"--scale (\S+)=\d+", line):
            assert scale in services and "container_name" not in services[scale], line
            assert not services[scale].get("ports"), line  # several copies can run
        return
    if verb == "restart":
        assert all(name in services for name in rest), line
        return
    if verb == "run":
        options = []
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            options.append(option)
            if option == "-v":
                rest.pop(0)
        assert rest[0] in services, line
        _manage_arguments_parse(rest[1:])
        return
    if verb == "exec":
        rest = [w for w in rest if w != "-T"]
        service, argv = rest[0], rest[1:]
        assert service in services, line
        if service == "tor":
            directories = re.findall(r"^HiddenServiceDir (\S+)$",
                                     (ROOT / "deploy/tor/torrc").read_text(), re.M)  # fmt: skip
            assert argv[0] == "cat" and str(Path(argv[1]).parent) in directories, line
            return
        if service == "postgres":
            environment = services["postgres"]["environment"]
            assert argv[0] in ("pg_dump", "pg_restore", "psql"), line
            assert f"-U {environment['POSTGRES_USER']}" in line, line
            return
    pytest.fail(f"no rule checks: {line}")


def _volume(line: str, compose: dict) -> None:
    """`docker run … -v tipline_NAME:/data …`: NAME is a volume of the stack (the project is
    named tipline in .env.example)."""
    project = re.search(r"^COMPOSE_PROJECT_NAME=(\S+)$",
                        (ROOT / ".env.example").read_text(), re.M).group(1)  # fmt: skip
    volume = re.search(r"-v (\w+):/data", line).group(1)
    assert (
        volume.startswith(f"{project}_")
        and volume.removeprefix(f"{project}_") in compose["volumes"]
    ), line


RULES: list[tuple[str, str]] = [
    # (pattern, how it is exercised)
    (r"^apt-get install ", "packages: the scripts need age and openssl"),
    (r"^git (clone|pull)", "plain git"),
    (r"^cd (/srv/tipline|/var/backups/tipline)$", "plain shell"),
    (r"^cp \.env\.example \.env$", "the file exists (test_production copies it the same way)"),
    (r"^scripts/make-secrets$", "run by test_production.test_make_secrets_*"),
    (r"^STAFF_ONION=.* scripts/tor-staff-client \w+$", "run by test_production (staff key)"),
    (r"^age-keygen -o backup\.key$", "run here"),
    (r"^install -d -o 10001 -g 10001 -m 0700 /var/backups/tipline$", "the app's uid (Dockerfile)"),
    (r"^mkdir -p /root/old && mv secrets /root/old/secrets$", "plain shell, then make-secrets"),
    (r"^install -o 10001 -g 10001 -m 0400 /root/old/secrets/receipt_salt secrets/", "uid"),
    (r"^docker volume rm tipline_tor$", "the volume exists"),
    (r"^docker run .*-v \w+:/data", "the volume exists; tar | age round-trips here"),
    (r"^age -d -i backup\.key \S+ \| docker run", "the volume exists; round-trips here"),
    (
        r"^(tar --numeric-owner -C /srv/tipline -cf - secrets \.env|age -d -i backup\.key "
        r"secrets\.tar\.age)",
        "round-trips here",
    ),
    (r"\| docker compose exec -T postgres (pg_restore|psql)", "pg_dump | age | pg_restore, here"),
    (r"^docker compose ", "checked against docker-compose.yml and the management commands"),
]


def test_every_command_of_the_guide_has_a_rule(compose):
    found = commands()
    assert len(found) >= 25
    for line in found:
        matched = [how for pattern, how in RULES if re.search(pattern, line)]
        assert matched, f"docs/production.md: no test exercises `{line}`"
        if line.startswith("apt-get"):
            assert {"age", "openssl", "git"} <= set(line.split())
        elif line.startswith("cp .env.example"):
            assert (ROOT / ".env.example").is_file()
        elif line.startswith(("scripts/", "STAFF_ONION=")):
            script = ROOT / ("scripts/" + line.split("scripts/", 1)[1].split()[0])
            assert script.is_file() and script.stat().st_mode & 0o111, script
        elif line.startswith("install ") and "10001" in line:
            assert "useradd --system --uid 10001" in (ROOT / "Dockerfile").read_text()
        elif line.startswith("docker volume rm "):
            _volume(line.replace("docker volume rm ", "-v ") + ":/data", compose)
        elif line.startswith("docker run") or (line.startswith("age -d") and "docker run" in line):
            _volume(line, compose)
        elif "| docker compose" in line:
            _compose_service_command(line.split("| ", 1)[1], compose)
        elif line.startswith("docker compose"):
            _compose_service_command(line, compose)


def test_the_backup_pipelines_round_trip(tmp_path):
    """The guide's backups, without Docker: the same tools (pg_dump -Fc, tar, age) on this
    machine's PostgreSQL and a directory standing for a volume."""
    import psycopg

    age, keygen = require("age"), require("age-keygen")
    subprocess.run([keygen, "-o", str(tmp_path / "backup.key")], check=True, capture_output=True)
    recipient = subprocess.run([keygen, "-y", str(tmp_path / "backup.key")], check=True,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        for name in ("tipline_backup_src", "tipline_backup_dst"):
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
    source = "postgresql://postgres@127.0.0.1:5432/tipline_backup_src"
    with psycopg.connect(source, autocommit=True) as db:
        db.execute("CREATE TABLE tip (id int, sealed bytea)")
        db.execute("INSERT INTO tip VALUES (1, 'age-encryption.org/v1 CANARY-BACKUP')")
    shell = (
        f'pg_dump -d {source} -Fc | {age} -r "{recipient}" > {tmp_path}/db.dump.age && '
        f"{age} -d -i {tmp_path}/backup.key {tmp_path}/db.dump.age | pg_restore -d "
        f"postgresql://postgres@127.0.0.1:5432/tipline_backup_dst --clean --if-exists"
    )
    subprocess.run(["bash", "-o", "pipefail", "-c", shell], check=True, capture_output=True)
    assert b"CANARY-BACKUP" not in (tmp_path / "db.dump.age").read_bytes()
    target = "postgresql://postgres@127.0.0.1:5432/tipline_backup_dst"
    with psycopg.connect(target) as db:
        assert bytes(db.execute("SELECT sealed FROM tip").fetchone()[0]).endswith(b"CANARY-BACKUP")
    # A volume (and secrets with .env): tar | age, then back.
    volume, restored = tmp_path / "volume", tmp_path / "restored"
    (volume / "ab").mkdir(parents=True)
    (volume / "ab/abcdef").write_bytes(b"CANARY-OBJECT")
    restored.mkdir()
    shell = (
        f'tar -C {volume} -cf - . | {age} -r "{recipient}" > {tmp_path}/objects.tar.age && '
        f"{age} -d -i {tmp_path}/backup.key {tmp_path}/objects.tar.age | tar -C {restored} "
        "-xf -"
    )
    subprocess.run(["bash", "-o", "pipefail", "-c", shell], check=True, capture_output=True)
    assert (restored / "ab/abcdef").read_bytes() == b"CANARY-OBJECT"
    assert b"CANARY-OBJECT" not in (tmp_path / "objects.tar.age").read_bytes()


def test_a_new_intake_key_after_a_seizure(tmp_path):
    """Section 9: remove the intake key, run make-secrets again: a new key, .env updated."""
    import shutil

    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    script = str(ROOT / "scripts/make-secrets")
    subprocess.run([script, str(tmp_path)], check=True, capture_output=True)
    before = (tmp_path / ".env").read_text()
    (tmp_path / "secrets/keys/intake.key").unlink()
    subprocess.run([script, str(tmp_path)], check=True, capture_output=True)
    after = (tmp_path / ".env").read_text()
    line = re.compile(r"^TIPLINE_INTAKE_RECIPIENT=(age1\w+)$", re.M)
    assert len(line.findall(before)) == len(line.findall(after)) == 1
    assert line.findall(before) != line.findall(after)  # a new key, and .env says so
