"""Create the intake key pair (age X25519), in age-keygen's file format.

The newsroom key is not a file: `tipline_bootstrap` creates it, sealed to the first editor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from submissions import keys


class Command(BaseCommand):
    help = "Create intake.key in a directory (mode 0600); never overwrites."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create"])
        parser.add_argument("--dir", required=True, type=Path, help="where to write the key")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            recipient = keys.create_intake_key_file(options["dir"])
        except FileExistsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created {options['dir'] / 'intake.key'}.")
        self.stdout.write(f"Public half, for every process: TIPLINE_INTAKE_RECIPIENT={recipient}")
        self.stdout.write("Private half: TIPLINE_INTAKE_IDENTITY_FILE on workers only.")
