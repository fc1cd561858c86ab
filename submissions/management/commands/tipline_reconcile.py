"""Compare the rows with storage: list what does not add up; repair it with --force."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from submissions import integrity


class Command(BaseCommand):
    help = (
        "List blobs no row points to, rows whose blob is missing, impossible states and stale "
        "spooled files; with --force, repair them (orphans deleted, missing files marked "
        "failed, states put right). Exits 1 if anything was found and not repaired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--min-age-hours", type=float, default=integrity.ORPHAN_HOURS,
                            help="leave blobs and spools younger than this alone "
                                 "(an upload in flight may still commit)")  # fmt: skip
        parser.add_argument("--force", action="store_true", help="repair what is found")

    def handle(self, *args: Any, **options: Any) -> None:
        findings = integrity.reconcile(min_age=timedelta(hours=options["min_age_hours"]),
                                       force=options["force"])  # fmt: skip
        for line in findings.lines():
            self.stdout.write(line)
        verb = "repaired" if options["force"] else "found (repair with --force)"
        self.stdout.write(f"{findings.count} problem(s) {verb}.")
        if findings.count and not options["force"]:
            raise CommandError("rows and storage disagree", returncode=1)
