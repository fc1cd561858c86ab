"""Metadata removal. Pure functions, no Django: plaintext stream in, clean stream out, a report.

Allowlist, not blocklist: each format module copies only structures it knows to be safe and
reports (by name/category, never by value) what it left out. Anything it cannot parse with
certainty is refused with `Rejected`, never passed through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from . import jpeg, png
from .report import Rejected, Report
from .sniff import SNIFF_BYTES, describe, sniff

__all__ = [
    "SNIFF_BYTES",
    "SUPPORTED",
    "Rejected",
    "Report",
    "describe",
    "scrub",
    "sniff",
]

Scrubber = Callable[..., Report]

# kind -> scrubber. A kind that sniff() recognises but is not here is refused.
SUPPORTED: dict[str, Scrubber] = {
    "jpeg": jpeg.scrub,
    "png": png.scrub,
}


def scrub(kind: str, src: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    try:
        scrubber = SUPPORTED[kind]
    except KeyError:
        raise Rejected("unsupported", f"{describe(kind)} files cannot be cleaned") from None
    return scrubber(src, dst, max_pixels=max_pixels)
