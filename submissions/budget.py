"""A memory ceiling around one scrub.

A hostile file can make a decoder allocate without bound; the pixel and expansion limits in
scrub/ stop the bombs we know of, and this stops the rest: within the block the process's
address space may grow by a fixed budget, past which allocations fail (MemoryError, or an
error from the C library) instead of the kernel killing the worker's container. Each Celery
pool child runs one scrub at a time, so a process-wide limit is a per-task limit there.
"""

from __future__ import annotations

import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), or None where it can't be read."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmSize:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def exhausted(exc: BaseException) -> bool:
    """Whether `exc` comes from running out of memory, however a parser wrapped it (many
    turn every error into "malformed"): a MemoryError anywhere in its causes and contexts."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, MemoryError):
            return True
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
    return False


@contextmanager
def memory_budget(extra_bytes: int) -> Iterator[None]:
    """Let the address space grow by at most `extra_bytes` inside the block (RLIMIT_AS's soft
    limit, put back afterwards). Where the size can't be read, no limit is set."""
    now = _address_space()
    if now is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = now + extra_bytes
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if soft != resource.RLIM_INFINITY:
        ceiling = min(ceiling, soft)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
