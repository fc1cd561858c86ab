"""Check the audit log's hash chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsroom import audit


class Command(BaseCommand):
    help = "verify: recompute the audit log's chain; report the first record that breaks it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken, detail = audit.verify()
        if broken is not None:
            raise CommandError(
                f"audit log broken at record #{broken.sequence} ({broken.action}, "
                f"{broken.at:%Y-%m-%d %H:%M:%S}): {detail}; {checked} records before it are intact"
            )
        self.stdout.write(
            f"audit log intact: {checked} records; last digest {detail} (compare it with the "
            "latest `audit.appended` line in the logs kept off this server: records cut off "
            "the end leave no other trace)"
        )
