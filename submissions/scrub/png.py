"""PNG: rebuilt chunk by chunk from an allowlist; image data copied untouched, CRCs checked.

Kept: the chunks needed to render the image right (header, palette, transparency, image data,
colour space and gamma, pixel density, APNG animation). Dropped: text (tEXt/zTXt/iTXt, where
authors, software and comments live), eXIf, tIME, ICC profiles, vendor chunks, and anything
after IEND.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

from .report import Rejected, Report
from .source import Source

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COPY_BLOCK = 64 * 1024
MAX_CHUNK = 2**31 - 1
KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"sBIT",
    b"bKGD",
    b"pHYs",
    b"cICP",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
LABELS = {
    b"tEXt": "text",
    b"zTXt": "compressed text",
    b"iTXt": "international text",
    b"eXIf": "EXIF",
    b"tIME": "modification time",
    b"iCCP": "ICC profile",
}


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    src = Source(stream)
    report = Report(kind="png", output_kind="png")
    if src.exact(8) != SIGNATURE:
        raise Rejected("malformed", "not a PNG file")
    dst.write(SIGNATURE)
    first = True
    while True:
        length, kind = struct.unpack(">I4s", src.exact(8))
        if length > MAX_CHUNK or not kind.isalpha():
            raise Rejected("malformed", "bad PNG chunk header")
        if first and kind != b"IHDR":
            raise Rejected("malformed", "the PNG does not start with its header")
        first = False
        keep = kind in KEEP
        crc = zlib.crc32(kind)
        if kind == b"IHDR":
            body = src.exact(length)
            if length != 13:
                raise Rejected("malformed", "bad PNG header")
            width, height = struct.unpack(">II", body[:8])
            if width * height > max_pixels:
                raise Rejected("too_many_pixels", f"{width}x{height} is over the pixel limit")
            pieces = [body]
        else:
            pieces = None
        if keep:
            dst.write(struct.pack(">I4s", length, kind))
        remaining = length if pieces is None else 0
        for piece in pieces or []:
            crc = zlib.crc32(piece, crc)
            dst.write(piece)
        while remaining:
            piece = src.exact(min(remaining, COPY_BLOCK))
            remaining -= len(piece)
            crc = zlib.crc32(piece, crc)
            if keep:
                dst.write(piece)
        stored = src.exact(4)
        if struct.unpack(">I", stored)[0] != crc:
            raise Rejected("malformed", f"PNG chunk {kind.decode()} is corrupt (bad checksum)")
        if keep:
            dst.write(stored)
        elif kind[0:1].isupper():
            raise Rejected("unsupported", f"unknown critical PNG chunk {kind.decode()}")
        else:
            report.remove(f"{kind.decode()} ({LABELS.get(kind, 'ancillary chunk')})")
        if kind == b"IEND":
            break
    if src.has_more():
        report.remove("data after the end of the image")
    return report
