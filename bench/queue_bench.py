"""The editors' queue with 100 000 tips: server time and queries per page, beside a baseline.

    .venv/bin/python bench/queue_bench.py [--tips 100000] [--runs 15]

Seeds a separate PostgreSQL database (`tipline_bench`, on the tests' server; created if missing,
seeded once and kept for the next run) with tips as a busy newsroom would have them: statuses,
priorities, assignees, labels, and 0-4 files each. Then renders the tip changelist in this
process (the view and its template, as the admin serves it), unfiltered and with each kind of
filter, and prints the median server time and the number of queries. The baseline, rendered
the same way, is Django's stock changelist for the same table (`ModelAdmin` with its defaults:
one column, no annotations). Target (issue 5): under 200 ms per page.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import Line, report  # noqa: E402

DATABASE = "tipline_bench"
os.environ["TIPLINE_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

STATUSES = ["new"] * 5 + ["in_review"] * 3 + ["verifying", "published", "dismissed", "spam"]
CATEGORIES = ["image", "image", "video", "audio", "document"]


def create_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            db.execute(f'CREATE DATABASE "{DATABASE}"')


def seed(count: int) -> None:
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from submissions.models import Attachment, Label, Tip

    have = Tip.objects.count()
    if have >= count:
        print(f"{have} tips already seeded")
        return
    rng = random.Random(5)  # noqa: S311 - reproducible test data, not a secret
    editors = [
        User.objects.get_or_create(username=f"bench-editor-{n}", defaults={"is_staff": True})[0]
        for n in range(6)
    ]
    labels = [Label.objects.get_or_create(name=f"label-{n:02d}")[0] for n in range(25)]
    now = timezone.now()
    started = time.perf_counter()
    for start in range(have, count, 5000):
        with transaction.atomic():
            tips = Tip.objects.bulk_create(
                Tip(receipt_hash=secrets.token_hex(32), sealed_content=b"",
                    link_count=rng.choice([0, 0, 1, 2, 5]), status=rng.choice(STATUSES),
                    priority=rng.choice([1, 2, 2, 2, 3, 4]),
                    assignee=rng.choice([None, None, *editors]),
                    title=rng.choice(["", "", f"Lead {start}"]))
                for _ in range(min(5000, count - start))
            )  # fmt: skip
            Tip.objects.filter(pk__in=[t.pk for t in tips]).update(
                created_at=now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            )
            Attachment.objects.bulk_create(
                Attachment(tip=tip, position=position, size=1, blob_name="bench/none",
                           sealed_meta=b"", state=rng.choice(["clean"] * 18 + ["received",
                                                                                "rejected"]),
                           category=rng.choice(CATEGORIES))
                for tip in tips for position in range(1, rng.choice([1, 1, 2, 2, 3, 5]))
            )  # fmt: skip
            Tip.labels.through.objects.bulk_create(
                Tip.labels.through(tip_id=tip.pk, label_id=label.pk)
                for tip in tips for label in rng.sample(labels, rng.choice([0, 1, 1, 2, 3]))
            )  # fmt: skip
    # Spread the creation times (bulk_create set them all to now), one statement.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE submissions_tip SET created_at = now() - "
                       "(random() * interval '730 days')")  # fmt: skip
        cursor.execute("ANALYZE")
    print(f"seeded {count - have} tips in {time.perf_counter() - started:.0f} s")


def measure(runs: int) -> list[Line]:
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.db import connection, reset_queries
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from submissions.admin import TipAdmin
    from submissions.models import Attachment, Label, Tip

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    user.is_verified = lambda: True  # type: ignore[attr-defined]  # the second factor, passed
    site = admin.AdminSite(name="bench")
    ours = TipAdmin(Tip, site)
    stock = admin.ModelAdmin(Tip, site)
    label = Label.objects.order_by("pk").first()
    factory = RequestFactory()
    queries = [
        ("unfiltered", ""),
        ("status = new", "status__exact=new"),
        ("my open tips", "view=mine"),
        ("unassigned", "view=unassigned"),
        ("new this week", "view=week"),
        ("with videos", "files=video"),
        ("a label", f"label={label.pk}" if label else ""),
        ("sorted by priority", "o=4"),
        ("search", "q=Lead"),
        ("page 50", "p=50"),
    ]
    total = Tip.objects.count()
    print(f"Queue of {total} tips ({Attachment.objects.count()} files), median of {runs} runs:")
    print(f"  {'page':<22} {'tipline':>10} {'queries':>8}   {'stock admin':>11} {'queries':>8}")

    def render(model_admin: admin.ModelAdmin, query: str) -> tuple[float, int]:
        times, count = [], 0
        for _ in range(runs):
            request = factory.get("/staff/submissions/tip/?" + query)
            request.user = user
            request.session = {}  # type: ignore[assignment]
            request._messages = []  # type: ignore[attr-defined]
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = model_admin.changelist_view(request)
                response.render()  # type: ignore[attr-defined]
                times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            count = len(captured.captured_queries)
        if os.environ.get("BENCH_SHOW_QUERIES"):
            for item in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:4]:
                print(f"      {float(item['time']) * 1000:7.1f} ms  {item['sql'][:300]}")
        return statistics.median(times) * 1000, count

    lines = []
    for name, query in queries:
        ms, count = render(ours, query)
        stock_ms, stock_count = render(stock, query if query.startswith(("p=", "o=")) else "")
        flag = "" if ms < 200 else "  (over the 200 ms target)"
        print(f"  {name:<22} {ms:>7.1f} ms {count:>8}   {stock_ms:>8.1f} ms {stock_count:>8}{flag}")
        what = f"queue of {total:,} tips: {name} ({count} queries)"
        lines.append(Line("6 admin", what, "stock ModelAdmin", stock_ms, ms, "ms", "< 200 ms",
                          ms < 200))  # fmt: skip
    print(f"  (tipline: {ours.list_per_page} rows a page, 14 columns; stock admin: Django's "
          f"ModelAdmin defaults on the same table, {stock.list_per_page} rows of one column, the "
          "same filters where it has them, else unfiltered)")  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    create_database()
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    settings.DEBUG = False
    call_command("migrate", interactive=False, verbosity=0)
    seed(args.tips)
    report(measure(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
