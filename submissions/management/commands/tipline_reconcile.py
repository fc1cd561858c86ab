"""Find and delete blobs that no row points to (beat runs this hourly)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from submissions import services


class Command(BaseCommand):
    help = "Delete orphaned blobs older than --min-age-hours (default 2)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--min-age-hours", type=float, default=services.ORPHAN_HOURS)
        parser.add_argument("--dry-run", action="store_true", help="list, do not delete")

    def handle(self, *args: Any, **options: Any) -> None:
        orphans = services.blobs_reconcile(
            min_age=timedelta(hours=options["min_age_hours"]), dry_run=options["dry_run"]
        )
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(f"{len(orphans)} orphaned blob(s) {verb}.")
