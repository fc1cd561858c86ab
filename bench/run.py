"""Every benchmark of issue 11, one after the other, and one table at the end.

    .venv/bin/python bench/run.py [--quick] [--only crypto,system,scrub,queue] [--readme]
        [--json LINES.jsonl]

Each script prints its own details as it goes, then its lines of the table (baseline, Tipline,
ratio, target); this gathers them into one table, with the machine they came from. --readme
writes that table into bench/README.md (between the results markers); --quick runs every
script on small inputs, to check that they still work (tests/test_bench.py), not to measure.
Exits 1 if a script failed; a missed target is a result, not a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine, markdown, read_lines, table

SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    # name: (full arguments, --quick arguments)
    "crypto": ([], ["--memory-mib", "16", "--file-mib", "16", "--runs", "1"]),
    "system": (
        [],
        [
            "--ingest-mib",
            "16",
            "--ingest-runs",
            "1",
            "--photos",
            "8",
            "--load-seconds",
            "3",
            "--backlog",
            "12",
        ],
    ),
    "scrub": ([], ["--video-mb", "8", "--max-images", "8"]),
    "queue": ([], ["--tips", "1000", "--runs", "2"]),
}
BEGIN, END = "<!-- results: begin -->", "<!-- results: end -->"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(SCRIPTS))
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--json", type=Path, help="also keep every line here (JSON lines)")
    args = parser.parse_args()
    names = args.only.split(",")
    if unknown := set(names) - set(SCRIPTS):
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    results = Path(tempfile.mkstemp(prefix="tipline-bench-", suffix=".jsonl")[1])
    failed = []
    started = time.monotonic()
    try:
        for name in names:
            full, quick = SCRIPTS[name]
            print(f"\n=== bench/{name}_bench.py", flush=True)
            command = [sys.executable, str(ROOT / "bench" / f"{name}_bench.py"),
                       *(quick if args.quick else full)]  # fmt: skip
            env = {**os.environ, "TIPLINE_BENCH_JSON": str(results)}
            if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode:
                failed.append(name)
        lines = read_lines(results)
        if args.json:
            args.json.write_text(results.read_text())
    finally:
        results.unlink(missing_ok=True)
    minutes = (time.monotonic() - started) / 60
    where = machine()
    print(f"\n=== all benchmarks ({minutes:.0f} min), on {where}\n")
    print(table(lines))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    if args.readme:
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        block = (f"{BEGIN}\nLast run: {when}, `make bench` ({minutes:.0f} min), on {where}.\n\n"
                 f"{markdown(lines)}\n{END}")  # fmt: skip
        readme = ROOT / "bench" / "README.md"
        text = readme.read_text()
        head, rest = text.split(BEGIN, 1)
        readme.write_text(head + block + rest.split(END, 1)[1])
        print(f"\nwritten to {readme.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
