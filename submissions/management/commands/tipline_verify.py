"""Decrypt every blob (to nowhere) and report damage: an integrity check of storage."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsroom import cli
from submissions import integrity


class Command(BaseCommand):
    help = (
        "Read every stored file through its decryption, which authenticates each chunk, and "
        "check its size: cleaned files with the newsroom key the --by editor unlocks, uploads "
        "with the intake key where it is configured. Exits 1 on any damage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_password_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        _, newsroom = cli.unlock_as(options)
        result = integrity.verify(newsroom=newsroom, intake=integrity.intake_identities_if_any())
        for pk, why in result.damaged:
            self.stdout.write(f"damaged: attachment {pk}: {why}")
        skipped = ""
        if result.skipped:
            skipped = f", {result.skipped} upload(s) skipped (no intake key here)"
        self.stdout.write(f"{result.ok} file(s) intact, {len(result.damaged)} damaged{skipped}.")
        if result.damaged:
            raise CommandError("damaged files found", returncode=1)
