"""Settings fail closed; the key command and the system checks guard the roles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from submissions import checks, crypto, keys
from tipline import env
from tipline.gunicorn_conf import redact

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("0", False), ("Yes", True)])
def test_booleans(monkeypatch, value, expected):
    monkeypatch.setenv("TIPLINE_X", value)
    assert env.env_bool("TIPLINE_X", not expected) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "tru"])
def test_ambiguous_booleans_are_errors(monkeypatch, value):
    monkeypatch.setenv("TIPLINE_X", value)
    with pytest.raises(ImproperlyConfigured):
        env.env_bool("TIPLINE_X", False)


@pytest.mark.parametrize(
    ("value", "expected"), [("512M", 512 * 1024**2), ("2GiB", 2 * 1024**3), ("1000", 1000)]
)
def test_sizes(monkeypatch, value, expected):
    monkeypatch.setenv("TIPLINE_X", value)
    assert env.env_bytes("TIPLINE_X", 1) == expected


def test_bad_size_is_an_error(monkeypatch):
    monkeypatch.setenv("TIPLINE_X", "lots")
    with pytest.raises(ImproperlyConfigured):
        env.env_bytes("TIPLINE_X", 1)


def test_secret_from_file_not_both(monkeypatch, tmp_path):
    (tmp_path / "s").write_text("from-file\n")
    monkeypatch.delenv("TIPLINE_S", raising=False)
    monkeypatch.setenv("TIPLINE_S_FILE", str(tmp_path / "s"))
    assert env.env_secret("TIPLINE_S") == "from-file"
    monkeypatch.setenv("TIPLINE_S", "inline")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.env_secret("TIPLINE_S")
    monkeypatch.delenv("TIPLINE_S")
    monkeypatch.delenv("TIPLINE_S_FILE")
    with pytest.raises(ImproperlyConfigured, match="required"):
        env.env_secret("TIPLINE_S")


def test_settings_refuse_to_load_without_secrets():
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    result = subprocess.run(
        [sys.executable, "-c", "import tipline.settings"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "TIPLINE_SECRET_KEY (or TIPLINE_SECRET_KEY_FILE) is required" in result.stderr


def test_debug_is_off_by_default():
    from django.conf import settings

    assert settings.DEBUG is False


def test_keys_command_creates_age_keys_and_never_overwrites(tmp_path, capsys):
    call_command("tipline_keys", "create", "--dir", str(tmp_path))
    out = capsys.readouterr().out
    identity = crypto.read_identity_file(tmp_path / "intake.key")[0]
    assert f"TIPLINE_INTAKE_RECIPIENT={identity.recipient}" in out
    assert identity.secret_str() not in out
    assert (tmp_path / "intake.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "newsroom.key").exists()  # the newsroom key is never a file
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("tipline_keys", "create", "--dir", str(tmp_path))


def test_public_role_must_not_hold_private_keys(settings):
    settings.ROLE = "public"
    ids = {message.id for message in checks.keys_check()}
    assert "submissions.E002" in ids


def test_missing_recipient_is_an_error(settings):
    settings.INTAKE_RECIPIENT = None
    keys.clear_cache()
    ids = {message.id for message in checks.keys_check()}
    assert "submissions.E001" in ids


def test_gunicorn_log_redaction():
    line = redact("Invalid request from ip=203.0.113.9: bad; peer 2001:db8::1 and 10.0.0.7")
    assert "203.0.113" not in line and "2001:db8" not in line and "10.0.0.7" not in line


def test_only_the_migrations_check_runs_without_secrets():
    """`makemigrations --check` reads the models only: it runs on a bare checkout. Anything
    else (here `check`, as servers and workers) still refuses to start without secrets."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    clean["DJANGO_SETTINGS_MODULE"] = "tipline.settings"
    clean["TIPLINE_DATA_DIR"] = str(ROOT / "var" / "no-secrets-check")
    migrations = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT, env=clean, capture_output=True, text=True,
    )  # fmt: skip
    assert migrations.returncode == 0, migrations.stderr[-2000:]
    assert "No changes detected" in migrations.stdout
    check = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=clean,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode != 0
    assert "TIPLINE_SECRET_KEY (or TIPLINE_SECRET_KEY_FILE) is required" in check.stderr


def test_source_times_round_down_to_a_step_that_divides_a_day(settings):
    from datetime import UTC, datetime

    from submissions import clock

    at = datetime(2026, 11, 29, 14, 37, 12, 500_000, tzinfo=UTC)
    assert clock.coarse(at) == datetime(2026, 11, 29, 14, 0, tzinfo=UTC)
    settings.SOURCE_TIME_GRANULARITY_SECONDS = 900
    assert clock.coarse(at) == datetime(2026, 11, 29, 14, 30, tzinfo=UTC)
    env = {**os.environ, "TIPLINE_SOURCE_TIME_GRANULARITY_SECONDS": "7000"}
    result = subprocess.run([sys.executable, "-c", "import tipline.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode != 0 and "must divide a day" in result.stderr
