"""What every benchmark shares: a result line (baseline, Tipline, ratio, target), the table
that prints them side by side, and the JSON that `bench/run.py` gathers into one table.

A line's ratio is always Tipline / baseline of the number shown, whatever the unit; `met` says
whether the target holds (None where a line is context for another, with no target of its own).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1e6
MIB = 1 << 20


@dataclass
class Line:
    section: str
    what: str
    baseline_name: str
    baseline: float
    tipline: float
    unit: str
    target: str
    met: bool | None

    @property
    def ratio(self) -> float:
        return self.tipline / self.baseline if self.baseline else float("inf")


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def verdict(line: Line) -> str:
    return {True: "met", False: "MISSED", None: ""}[line.met]


HEADER = ("", "what", "baseline", "", "Tipline", "unit", "ratio", "target", "")


def rows(lines: Iterable[Line]) -> list[tuple[str, ...]]:
    return [(line.section, line.what, line.baseline_name, fmt(line.baseline), fmt(line.tipline),
             line.unit, f"{line.ratio:.2f}", line.target, verdict(line))
            for line in lines]  # fmt: skip


def table(lines: Iterable[Line]) -> str:
    """Plain text, columns aligned, for the terminal."""
    body = [HEADER, *rows(lines)]
    widths = [max(len(row[i]) for row in body) for i in range(len(HEADER))]
    right = {3, 4, 6}
    return "\n".join(
        "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in body
    )  # fmt: skip


def markdown(lines: Iterable[Line]) -> str:
    head = "| # | what | baseline | baseline value | Tipline | unit | ratio | target | |"
    rule = "|---|---|---|--:|--:|---|--:|---|---|"
    return "\n".join([head, rule, *("| " + " | ".join(row) + " |" for row in rows(lines))])


def report(lines: list[Line]) -> None:
    """Print the table; with TIPLINE_BENCH_JSON set (bench/run.py does), append the lines."""
    print()
    print(table(lines), flush=True)
    target = os.environ.get("TIPLINE_BENCH_JSON")
    if target:
        with Path(target).open("a") as out:
            for line in lines:
                out.write(json.dumps(asdict(line)) + "\n")


def read_lines(path: Path) -> list[Line]:
    if not path.exists():
        return []
    return [Line(**json.loads(text)) for text in path.read_text().splitlines() if text]


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1-99), interpolated between samples as numpy's default does."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def machine() -> str:
    """One line on the machine the numbers came from."""
    model = "unknown CPU"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True,
                             check=False).stdout.split(" (")[0].strip()  # fmt: skip
    return (f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Linux {platform.release()}, "
            f"Python {sys.version.split()[0]}, {openssl}")  # fmt: skip


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (VmRSS), 0 once it is gone."""
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith("VmRSS:"):
                return int(text.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    """Direct children of a process (gunicorn's workers under its arbiter)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A private directory in memory (tmpfs) where the machine has one: every tool reads and
    writes the same way, and the disk's writeback of one run's output does not land on the next
    run's clock. Removed afterwards."""
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp directory inside it
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() else None))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
