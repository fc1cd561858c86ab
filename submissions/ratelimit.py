"""Rate limits per endpoint, for everyone together, in the shared cache (Redis in production).

No address, cookie or anything else about a client is counted or stored: the key is the
endpoint's name and the current minute, and it expires with the minute. A flood therefore slows
everyone down, which is the price of not knowing who anyone is; Tor's proof-of-work defences
make floods costly before they reach us.
"""

from __future__ import annotations

import time

from django.core.cache import cache

WINDOW = 60


def wait(endpoint: str, limit: int) -> int:
    """Count one use of `endpoint`; seconds to wait if `limit` uses this minute were counted
    already (this one then does not count), else 0. If the cache is down, nothing is refused:
    the limit protects the server, it must not stop sources."""
    now = time.time()
    minute = int(now // WINDOW)
    key = f"rl:{endpoint}:{minute}"
    try:
        cache.add(key, 0, timeout=WINDOW * 2)
        count = cache.incr(key)
    except Exception:  # noqa: BLE001 - see docstring
        return 0
    if count > limit:
        return max(1, int((minute + 1) * WINDOW - now) + 1)
    return 0
