"""Create the intake and newsroom key pairs (age X25519), in age-keygen's file format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from submissions import keys


class Command(BaseCommand):
    help = "Create intake.key and newsroom.key in a directory (mode 0600); never overwrites."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create"])
        parser.add_argument("--dir", required=True, type=Path, help="where to write the keys")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = keys.create_key_files(options["dir"])
        except FileExistsError as exc:
            raise CommandError(str(exc)) from exc
        directory = options["dir"]
        self.stdout.write(f"Created {directory / 'intake.key'} and {directory / 'newsroom.key'}.")
        self.stdout.write("Public halves, for every process:")
        self.stdout.write(f"  TIPLINE_INTAKE_RECIPIENT={created['intake']}")
        self.stdout.write(f"  TIPLINE_NEWSROOM_RECIPIENT={created['newsroom']}")
        self.stdout.write("Private halves: TIPLINE_INTAKE_IDENTITY_FILE on workers only,")
        self.stdout.write("TIPLINE_NEWSROOM_IDENTITY_FILE on the staff site only.")
