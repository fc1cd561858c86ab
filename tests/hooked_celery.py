"""`celery`, with two hooks in the scrub for the fault tests (tests/test_faults.py).

A file whose bytes hold SLOW-SCRUB waits TIPLINE_HOOK_SLOW seconds before it is cleaned, after
writing `scrubbing-<pid>` into TIPLINE_HOOK_DIR: a test can kill that process mid-scrub. A
file holding KILL-THE-WORKER kills the process cleaning it, every time: a poison file. Run as
`python -m tests.hooked_celery -A tipline worker …`.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from celery.signals import worker_process_init

SLOW = b"SLOW-SCRUB"
POISON = b"KILL-THE-WORKER"


@worker_process_init.connect
def _install(**kwargs: Any) -> None:
    from submissions import scrub

    original = scrub.scrub_verified

    def hooked(kind: str, src: BinaryIO, dst: BinaryIO, **options: Any) -> object:
        head = src.read(1 << 16)
        src.seek(0)
        if POISON in head:
            os.kill(os.getpid(), signal.SIGKILL)
        if SLOW in head:
            Path(os.environ["TIPLINE_HOOK_DIR"], f"scrubbing-{os.getpid()}").touch()
            time.sleep(float(os.environ.get("TIPLINE_HOOK_SLOW", "6")))
        return original(kind, src, dst, **options)

    scrub.scrub_verified = hooked


if __name__ == "__main__":
    from celery.__main__ import main

    sys.argv[0] = "celery"
    main()
