"""Signing in with a receipt code: a wrong code costs what a right one costs.

    .venv/bin/python bench/receipt_timing.py [--runs 15]

Runs in this process against PostgreSQL (database `tipline_bench`, as queue_bench.py; a few
tips are added), through the whole stack a request takes (middleware, view, the lookup, the
session): POST /en/check/ with the right code (the baseline) and with each kind of wrong code,
interleaved round by round so that drift hits every kind alike. Prints the median, the spread
and each kind's median beside the right code's. Target (issue 6): wrong codes within the noise
of a right code's cost, whatever made them wrong.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "tipline_bench"
os.environ["TIPLINE_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
# Measuring, not throttling: every attempt must reach the check.
os.environ["TIPLINE_CODE_CHECKS_PER_MINUTE"] = "1000000"
os.environ["TIPLINE_SOURCE_SIGNINS_PER_HOUR"] = "1000000"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from queue_bench import create_database

    create_database()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from django.test import Client

    from newsroom.models import NewsroomKey
    from submissions import crypto, receipts, services
    from submissions.models import SourceSession, Tip

    if not NewsroomKey.objects.filter(current=True).exists():
        NewsroomKey.objects.create(recipient=str(crypto.Identity.generate().recipient),
                                   current=True)  # fmt: skip
    services._enqueue_scrub = lambda pk: None  # no worker here: the tips carry no files

    code = services.submission_create(note="bench", links=[], uploads=[])
    gone = services.submission_create(note="bench, purged", links=[], uploads=[])
    Tip.objects.filter(receipt_hash=receipts.digest(gone)).delete()
    kinds = {
        "right code (baseline)": code,
        "unknown code": receipts.generate(),
        "purged tip's code": gone,
        "empty": "",
        "two words": "river house",
        "300 characters": "x" * 300,
        "100 000 characters": "word " * 20_000,
    }
    client = Client(SERVER_NAME="localhost")
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.runs):
        for kind, entered in kinds.items():
            started = time.perf_counter()
            response = client.post("/en/check/", {"code": entered})
            times[kind].append(time.perf_counter() - started)
            expected = 303 if entered == code else 400
            if response.status_code != expected:
                raise SystemExit(f"{kind}: status {response.status_code}, expected {expected}")
    SourceSession.objects.all().delete()

    baseline = statistics.median(times["right code (baseline)"])
    print(f"POST /en/check/, {args.runs} runs each, interleaved (ms)")
    print(f"{'input':<24}{'median':>9}{'min':>9}{'max':>9}{'stdev':>9}{'vs right':>10}")
    for kind, values in times.items():
        ms = [value * 1000 for value in values]
        print(
            f"{kind:<24}{statistics.median(ms):9.1f}{min(ms):9.1f}{max(ms):9.1f}"
            f"{statistics.stdev(ms):9.1f}{statistics.median(values) / baseline:9.2f}×"
        )
    wrong = [entered for entered in kinds.values() if entered != code]
    pages = {re.sub(r"\s+", " ", client.post("/en/check/", {"code": k}).content.decode())
             for k in wrong}  # fmt: skip
    print(f"distinct pages for the {len(wrong)} kinds of wrong code: {len(pages)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
