"""PNG: rebuilt chunk by chunk from an allowlist; image data copied untouched, and verified.

Kept: the chunks needed to render the image right (header, palette, transparency, image data,
colour space and gamma, pixel density), each checked against the exact size the specification
gives it and at most once, so none can carry extra bytes. The image data is inflated on the fly
(never held whole) and must decompress to exactly the size the header implies, with nothing
after the end of the compressed stream: data cannot hide there either.

Dropped: text (tEXt/zTXt/iTXt, where authors, software and comments live), eXIf, tIME, ICC
profiles, APNG animation frames (the still image stays), vendor chunks, anything after IEND.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import BinaryIO

from .report import Rejected, Report
from .source import Source

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COPY_BLOCK = 64 * 1024
INFLATE_STEP = 1 << 20
MAX_CHUNK = 2**31 - 1
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]  # fmt: skip
# Small chunks kept, with the sizes allowed (by colour type where it matters).
FIXED_SIZES = {b"gAMA": {4}, b"cHRM": {32}, b"sRGB": {1}, b"pHYs": {9}, b"cICP": {4}}
SMALL_KEPT = {b"IHDR", b"IEND", b"PLTE", b"tRNS", b"bKGD", b"sBIT", *FIXED_SIZES}
LABELS = {
    b"tEXt": "text", b"zTXt": "compressed text", b"iTXt": "international text",
    b"eXIf": "EXIF", b"tIME": "modification time", b"iCCP": "ICC profile",
    b"acTL": "animation", b"fcTL": "animation frame", b"fdAT": "animation frame data",
}  # fmt: skip


def _malformed(detail: str) -> Rejected:
    return Rejected("malformed", detail)


class _Header:
    def __init__(self, body: bytes, max_pixels: int) -> None:
        width, height, depth, color, compression, filtering, interlace = struct.unpack(
            ">IIBBBBB", body
        )
        if not width or not height or depth not in DEPTHS.get(color, ()):
            raise _malformed("bad PNG header")
        if compression or filtering or interlace not in (0, 1):
            raise _malformed("bad PNG header")
        if width * height > max_pixels:
            raise Rejected("too_many_pixels", "the image is over the pixel limit")
        self.color = color
        self.depth = depth
        bits = CHANNELS[color] * depth

        def rows(w: int, h: int) -> int:
            return h * (1 + math.ceil(w * bits / 8)) if w and h else 0

        if interlace:
            self.data_size = sum(
                rows(math.ceil(max(width - x0, 0) / dx), math.ceil(max(height - y0, 0) / dy))
                for x0, y0, dx, dy in ADAM7
            )
        else:
            self.data_size = rows(width, height)

    def ancillary_sizes(self, kind: bytes, palette: int) -> set[int] | range:
        if kind in FIXED_SIZES:
            return FIXED_SIZES[kind]
        if kind == b"tRNS":
            return {0: {2}, 2: {6}}.get(self.color, range(1, palette + 1))
        if kind == b"bKGD":
            return {1} if self.color == 3 else {6} if self.color in (2, 6) else {2}
        if kind == b"sBIT":
            return {3} if self.color == 3 else {CHANNELS[self.color]}
        return set()


class _ImageData:
    """Inflates IDAT as it streams past, with bounded memory, to prove nothing rides along."""

    def __init__(self, expected: int) -> None:
        self._inflate = zlib.decompressobj()
        self._expected = expected
        self._produced = 0

    def feed(self, data: bytes) -> None:
        if self._inflate.eof:
            raise _malformed("PNG image data continues after its end")
        try:
            while data:
                out = self._inflate.decompress(data, INFLATE_STEP)
                self._produced += len(out)
                if self._produced > self._expected:
                    raise _malformed("PNG image data is larger than the image")
                data = self._inflate.unconsumed_tail
                if self._inflate.eof and (data or self._inflate.unused_data):
                    raise _malformed("PNG image data continues after its end")
        except zlib.error as exc:
            raise _malformed("PNG image data is corrupt") from exc

    def finish(self) -> None:
        if not self._inflate.eof or self._produced != self._expected:
            raise _malformed("PNG image data is incomplete")


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    src = Source(stream)
    report = Report(kind="png", output_kind="png")
    if src.exact(8) != SIGNATURE:
        raise _malformed("not a PNG file")
    dst.write(SIGNATURE)
    header: _Header | None = None
    image: _ImageData | None = None
    seen: set[bytes] = set()
    palette = 0
    idat_done = False
    while True:
        length, kind = struct.unpack(">I4s", src.exact(8))
        if length > MAX_CHUNK or not kind.isalpha():
            raise _malformed("bad PNG chunk header")
        if header is None and kind != b"IHDR":
            raise _malformed("the PNG does not start with its header")
        if kind == b"IDAT" and idat_done:
            raise _malformed("PNG image data is split")
        if b"IDAT" in seen and kind != b"IDAT":
            idat_done = True
        crc = zlib.crc32(kind)
        if kind in SMALL_KEPT:  # read whole, so its size is checked before reading
            if kind in seen:
                raise _malformed(f"repeated PNG chunk {kind.decode()}")
            allowed: set[int] | range
            if kind == b"IHDR":
                allowed = {13}
            elif kind == b"IEND":
                allowed = {0}
            elif kind == b"PLTE":
                allowed = range(3, 769, 3)
            else:
                assert header is not None
                allowed = header.ancillary_sizes(kind, palette)
            if length not in allowed:
                raise _malformed(f"PNG chunk {kind.decode()} has the wrong size")
            body = src.exact(length)
            crc = zlib.crc32(body, crc)
            if kind == b"IHDR":
                header = _Header(body, max_pixels)
                image = _ImageData(header.data_size)
            if kind == b"PLTE":
                palette = length // 3
            keep = True
        else:
            body = b""
            keep = kind == b"IDAT"
            remaining = length
            if keep:
                dst.write(struct.pack(">I4s", length, kind))
            while remaining:
                piece = src.exact(min(remaining, COPY_BLOCK))
                remaining -= len(piece)
                crc = zlib.crc32(piece, crc)
                if keep:
                    assert image is not None
                    image.feed(piece)
                    dst.write(piece)
        stored = src.exact(4)
        if struct.unpack(">I", stored)[0] != crc:
            raise _malformed(f"PNG chunk {kind.decode()} is corrupt (bad checksum)")
        seen.add(kind)
        if keep and kind != b"IDAT":
            dst.write(struct.pack(">I4s", length, kind) + body + stored)
        elif keep:
            dst.write(stored)
        elif kind[:1].isupper():
            raise Rejected("unsupported", "the PNG holds a critical chunk of an unknown kind")
        else:
            report.remove(f"{kind.decode()} ({LABELS.get(kind, 'ancillary chunk')})")
        if kind == b"IEND":
            break
    if image is None or b"IDAT" not in seen:
        raise _malformed("the PNG has no image data")
    image.finish()
    if header is not None and header.color == 3 and not palette:
        raise _malformed("the PNG palette is missing")
    if src.has_more():
        report.remove("data after the end of the image")
    return report
