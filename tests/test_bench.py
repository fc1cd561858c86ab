"""`make bench` keeps working: every benchmark runs on small inputs and gives its lines.

Speed is not judged here (bench/README.md holds the numbers); that each script still measures
what it says, against its baseline, is.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

from bench.common import read_lines
from tests.conftest import ROOT, corpus_dir

SECTIONS = {"1 encryption", "2 ingest", "3 scrub", "4 latency", "5 load", "6 admin", "7 scaling"}


def test_every_benchmark_runs_and_reports_each_section(tmp_path):
    assert corpus_dir().is_dir(), "the scrub benchmark runs over ../shared/corpus"
    results = tmp_path / "lines.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "DJANGO_"))}
    command = [sys.executable, "bench/run.py", "--quick", "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, timeout=900, env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "=== all benchmarks" in done.stdout
    lines = read_lines(results)
    assert {line.section for line in lines} == SECTIONS, done.stdout[-3000:]
    for line in lines:
        assert line.baseline > 0 and line.tipline > 0, line
        assert math.isfinite(line.ratio), line
        assert line.baseline_name and line.unit, line
    with_target = [line for line in lines if line.target]
    assert len(with_target) >= 10 and all(line.met is not None for line in with_target)
