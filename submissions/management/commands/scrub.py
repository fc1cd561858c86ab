"""`manage.py scrub IN -o OUT [--json]`: the worker's engine on the command line.

Exit 0 when the file was cleaned (and verified), 1 when it was refused, with the reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from submissions import scrub


class Command(BaseCommand):
    help = "Remove identifying metadata from a file, as the worker does."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", type=Path)
        parser.add_argument("-o", "--output", type=Path, required=True)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["input"]
        target: Path = options["output"]
        if target.exists() and target.resolve() == source.resolve():
            raise CommandError("refusing to overwrite the input")
        with source.open("rb") as handle:
            kind = scrub.sniff(handle.read(scrub.SNIFF_BYTES))
            handle.seek(0)
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("wb") as out:
                    report = scrub.scrub_verified(
                        kind, handle, out, max_pixels=settings.MAX_IMAGE_PIXELS
                    )
            except scrub.Rejected as exc:
                partial.unlink(missing_ok=True)
                if options["json"]:
                    self.stdout.write(json.dumps({"refused": exc.code, "reason": exc.detail}))
                else:
                    self.stderr.write(f"refused ({exc.code}): {exc.detail}")
                sys.exit(1)
            partial.replace(target)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict()))
        else:
            self.stdout.write(
                f"cleaned {scrub.describe(kind)} -> {target} ({scrub.describe(report.output_kind)})"
            )
            for item in report.removed:
                self.stdout.write(f"  removed: {item}")
            for note in report.notes:
                self.stdout.write(f"  note: {note}")
