"""`python -m tipline.healthcheck URL`: exit 0 if the URL answers 200 "ok" within 5 s.

For container health checks (the image has no curl): standard library only, no Django.
"""

from __future__ import annotations

import sys
import urllib.request


def main(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own URL
            return 0 if response.status == 200 and response.read(16) == b"ok" else 1
    except OSError:
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/healthz"))
