"""Purge what the retention policy says (beat runs this daily), or list it first."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from submissions import services


class Command(BaseCommand):
    help = (
        "Purge tips past their retention period (TIPLINE_RETENTION), with their files and "
        "the files' keys; never tips on legal hold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list, do not purge")

    def handle(self, *args: Any, **options: Any) -> None:
        policy = ", ".join(f"{status}={days}" for status, days in settings.RETENTION_DAYS.items())
        if options["dry_run"]:
            due = services.retention_due()
            for pk in due:
                self.stdout.write(f"tip {pk}")
            self.stdout.write(f"{len(due)} tip(s) would be purged (policy: {policy}).")
            return
        purged = services.retention_purge()
        self.stdout.write(f"{purged} tip(s) purged (policy: {policy}).")
