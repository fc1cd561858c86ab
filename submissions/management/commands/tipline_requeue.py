"""Queue again the files waiting past their deadline (what beat does every few minutes)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from submissions import services


class Command(BaseCommand):
    help = (
        "Queue again every attachment still `received` past its deadline or `being cleaned` "
        "with an expired lease: after a broker outage, without waiting for beat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.attachments_requeue_stale()
        self.stdout.write(f"{count} attachment(s) queued again.")
