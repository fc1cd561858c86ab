"""The embedded default: `python -m tipline.embedded` (what `make run` calls).

One command, no Docker, no Redis, no PostgreSQL: SQLite and encrypted blobs under var/,
kombu's filesystem transport as the broker, a real Celery worker (with beat) beside a gunicorn
web server. Secrets, the intake key and a demo editor (holding the newsroom key, which exists
only sealed to that editor's password) are generated on first start under var/ (gitignored)
and announced. Ctrl-C stops everything.

Not for production: the demo editor's password and the intake key sit beside the data. See
README, "Production".
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _secret_file(path: Path, announce: list[str]) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        announce.append(f"generated {path}")
    return path


def prepare(data_dir: Path, announce: list[str]) -> dict[str, str]:
    """Create what the embedded default needs and return the environment to run it with."""
    from submissions import crypto  # no Django needed for keys

    for sub in ("blobs", "spool", "queue/processed", "keys", "secrets"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    intake = data_dir / "keys" / "intake.key"
    if not intake.exists():
        crypto.write_identity_file(intake, crypto.Identity.generate())
        announce.append(f"generated {intake}")
    return {
        "DJANGO_SETTINGS_MODULE": "tipline.settings",
        "TIPLINE_DATA_DIR": str(data_dir),
        "TIPLINE_SECRET_KEY_FILE": str(_secret_file(data_dir / "secrets/secret_key", announce)),
        "TIPLINE_RECEIPT_SALT_FILE": str(_secret_file(data_dir / "secrets/receipt_salt", announce)),
        "TIPLINE_INTAKE_RECIPIENT": str(crypto.read_identity_file(intake)[0].recipient),
        "TIPLINE_INTAKE_IDENTITY_FILE": str(intake),
        "TIPLINE_BROKER_URL": "filesystem://",
        "TIPLINE_HTTPS": "false",
        "TIPLINE_ROLE": "all",
    }


def _demo_editor(data_dir: Path, announce: list[str]) -> tuple[str, str]:
    """The first start bootstraps: the newsroom key, sealed to a demo editor (Admins and
    Editors), who sets up an authenticator app at first sign-in."""
    from django.core.management import call_command

    from newsroom.models import NewsroomKey

    password_file = data_dir / "secrets/demo_editor_password"
    _secret_file(password_file, announce)
    if not NewsroomKey.objects.exists():
        call_command("tipline_bootstrap", username="editor", password_file=password_file,
                     stdout=io.StringIO())  # fmt: skip
        announce.append("created the newsroom key and the demo editor (admin)")
    return "editor", password_file.read_text().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("TIPLINE_PORT", "8000")))
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("TIPLINE_DATA_DIR", BASE_DIR / "var"))
    )
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    announce: list[str] = []
    env = prepare(data_dir, announce)
    os.environ.update(env)
    sys.path.insert(0, str(BASE_DIR))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    user, password = _demo_editor(data_dir, announce)

    python = sys.executable
    worker = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [
            python,
            "-m",
            "celery",
            "-A",
            "tipline",
            "worker",
            "--beat",
            "--queues",  # one worker does everything here, the digest's queue included
            "scrub,celery,notify",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--schedule",
            str(data_dir / "celerybeat-schedule"),
        ],
        cwd=BASE_DIR,
        env=os.environ.copy(),
    )
    # tipline.gunicorn_conf: no access log, addresses redacted from the error log.
    web = subprocess.Popen(  # noqa: S603
        [
            python,
            "-m",
            "gunicorn",
            "tipline.wsgi",
            "--config",
            "python:tipline.gunicorn_conf",
            "--bind",
            f"{args.host}:{args.port}",
            "--workers",
            str(args.web_workers),
            "--threads",
            "4",
        ],
        cwd=BASE_DIR,
        env=os.environ.copy(),
    )
    base = f"http://{args.host}:{args.port}"
    print(
        "\n".join(
            [
                "",
                "Tipline is running on the embedded default (SQLite, files under var/, no Redis).",
                *[f"  {line}" for line in announce],
                f"  Public form (es): {base}/es/",
                f"  Public form (en): {base}/en/",
                f"  Staff admin:      {base}/staff/   user: {user}   password: {password}",
                "                    (first sign-in: scan the QR code with an authenticator app)",
                "  Press Ctrl-C to stop.",
                "",
            ]
        ),
        flush=True,
    )

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        if worker.poll() is not None or web.poll() is not None:
            print("a child process exited; stopping", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    for child in (web, worker):
        if child.poll() is None:
            child.terminate()
    for child in (web, worker):
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
