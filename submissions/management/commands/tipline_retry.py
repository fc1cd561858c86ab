"""Re-queue failed attachments whose upload was kept (after a fix or a long outage)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from submissions import services


class Command(BaseCommand):
    help = "Put failed attachments (upload kept) back in the scrub queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", help="attachment ids (default: every failed one)")

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.attachments_retry_failed(ids=options["ids"] or None)
        self.stdout.write(f"{count} attachment(s) queued again.")
