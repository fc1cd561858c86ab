"""What the key management commands share: reading a password, unlocking as an editor."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from submissions import crypto

from . import custody


def add_password_arguments(parser: CommandParser, *, who: str = "--by") -> None:
    parser.add_argument(who, dest="by", required=True,
                        help="the editor whose password unlocks the newsroom key")  # fmt: skip
    parser.add_argument(
        "--password-file", type=Path,
        help="read that password from this file (first line) instead of the terminal",
    )  # fmt: skip


def read_secret(path: Path | None, prompt: str) -> str:
    if path is not None:
        lines = path.read_text().splitlines()
        return lines[0] if lines else ""
    return getpass.getpass(prompt)


def user(username: str) -> Any:
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise CommandError(f"no such user: {username}") from None


def unlock_as(options: dict[str, Any]) -> tuple[Any, list[crypto.Identity]]:
    """The acting editor and the newsroom identities their password unlocks."""
    actor = user(options["by"])
    password = read_secret(options.get("password_file"), f"Password for {options['by']}: ")
    try:
        return actor, custody.unlock(actor, password)
    except custody.Locked as exc:
        raise CommandError(str(exc)) from exc
