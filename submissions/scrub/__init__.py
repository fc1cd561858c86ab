"""Metadata removal. Pure functions, no Django: plaintext stream in, clean stream out, a report.

Allowlist, not blocklist: each format module copies only structures it knows to be safe and
reports (by name/category, never by value) what it left out. Anything it cannot parse with
certainty is refused with `Rejected`, never passed through.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from functools import partial
from typing import BinaryIO

from . import archive, convert, gif, heif, jpeg, media, office, pdf, png, webp
from .report import Rejected, Report
from .sniff import SNIFF_BYTES, describe, sniff

__all__ = [
    "EXTENSIONS",
    "SNIFF_BYTES",
    "SUPPORTED",
    "Rejected",
    "Report",
    "category",
    "describe",
    "scrub",
    "scrub_verified",
    "sniff",
]

Scrubber = Callable[..., Report]

# kind -> scrubber. A kind that sniff() recognises but is not here is refused.
SUPPORTED: dict[str, Scrubber] = {
    "jpeg": jpeg.scrub,
    "png": png.scrub,
    "gif": gif.scrub,
    "webp": webp.scrub,
    "tiff": partial(convert.scrub, kind="tiff"),
    "heic": heif.scrub,
    "avif": heif.scrub,
    "pdf": pdf.scrub,
    "zip": office.scrub,
    "tar": archive.scrub_tar,
    "gzip": archive.scrub_gzip,
    **{kind: partial(media.scrub, kind=kind) for kind in media.FORMATS},
}
# File name extensions for cleaned files, by kind.
EXTENSIONS = {"jpeg": "jpg", "isobmff": "mov", "matroska": "mkv", "asf": "wmv", "aiff": "aif"}


def output_kind(kind: str) -> str | None:
    """The type a kind is written as, when it is known before scrubbing (not for converts)."""
    if kind in media.FORMATS:
        return media.FORMATS[kind][3]
    lossless = ("jpeg", "png", "gif", "webp", "heic", "avif", "pdf", "zip", "tar", "gzip")
    return kind if kind in lossless else None


REENCODABLE = {"jpeg", "png", "gif", "webp", "heic", "avif"}
IMAGE_KINDS = {"jpeg", "png", "gif", "webp", "heic", "avif", "tiff"}
DOCUMENT_EXTENSIONS = {"docx", "xlsx", "pptx", "odt", "ods", "odp", "odg"}


def category(report: Report) -> str:
    """image, video, audio, document or archive: what the queue counts a cleaned file as."""
    if report.category:
        return report.category
    if report.kind in IMAGE_KINDS:
        return "image"
    if report.kind == "pdf" or report.extension in DOCUMENT_EXTENSIONS:
        return "document"
    return "archive"


def scrub_verified(
    kind: str, src: BinaryIO, dst: BinaryIO, *, max_pixels: int, reencode_images: bool = False
) -> Report:
    """Scrub, and re-scrub the output as it streams: it must come out with nothing to remove.

    With `reencode_images`, photos and pictures are decoded and written anew instead of being
    rebuilt losslessly: nothing of the original file but its pixels survives (a deployment may
    prefer that to byte-identical pixels, e.g. against steganographic watermarks in tables).
    """
    from .verify import Tee, Verifier

    if reencode_images and kind in REENCODABLE:
        return _converted_verified(partial(convert.scrub, kind=kind), src, dst, max_pixels)
    target = output_kind(kind)
    if target is None:  # converted: the output type is decided by the converter
        return _converted_verified(
            lambda s, d, *, max_pixels: scrub(kind, s, d, max_pixels=max_pixels),
            src, dst, max_pixels,
        )  # fmt: skip
    if kind in media.FORMATS:  # remuxed media: its header and its end are what to check
        recorded = media.HeadTail()
        report = scrub(kind, src, Tee(dst, recorded), max_pixels=max_pixels)  # type: ignore[arg-type]
        second = media.verify(recorded, max_pixels=max_pixels, kind=target)
        if second.removed:
            raise Rejected("verification_failed",
                           "the cleaned file still held: " + ", ".join(second.removed))  # fmt: skip
        return report
    verifier = Verifier(target, max_pixels=max_pixels)
    try:
        report = scrub(kind, src, Tee(dst, verifier), max_pixels=max_pixels)  # type: ignore[arg-type]
    except BaseException:
        verifier.abort()
        raise
    verifier.finish()
    return report


_nesting = threading.local()
MAX_NESTING = 8  # documents in archives in documents...: a quine must not recurse forever


def _converted_verified(
    converter: Scrubber, src: BinaryIO, dst: BinaryIO, max_pixels: int
) -> Report:
    """Converters decide the output type as they go: check their output once it is known."""
    from .verify import Verifier

    buffer = io.BytesIO()
    report = converter(src, buffer, max_pixels=max_pixels)
    verifier = Verifier(report.output_kind, max_pixels=max_pixels)
    try:
        verifier.write(buffer.getvalue())
    finally:
        verifier.finish()
    dst.write(buffer.getvalue())
    return report


def scrub(kind: str, src: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    try:
        scrubber = SUPPORTED[kind]
    except KeyError:
        raise Rejected("unsupported", f"{describe(kind)} files cannot be cleaned") from None
    depth = getattr(_nesting, "depth", 0)
    if depth >= MAX_NESTING:
        raise Rejected("too_large", "files are nested too deeply")
    _nesting.depth = depth + 1
    try:
        return scrubber(src, dst, max_pixels=max_pixels)
    finally:
        _nesting.depth = depth
