"""WebP: the RIFF container rebuilt from an allowlist; the compressed image data untouched.

Kept: VP8 (lossy), VP8L (lossless), ALPH (alpha), ANIM/ANMF (animation), and VP8X with its
metadata flags cleared. Dropped: EXIF, XMP, ICC profiles, unknown chunks, trailing data. A photo
whose EXIF orientation is not upright is re-encoded losslessly with the rotation applied, since
the orientation tag itself cannot be kept without EXIF.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from PIL import Image, ImageOps

from .report import Rejected, Report
from .source import Source

KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}
LABELS = {b"EXIF": "EXIF", b"XMP ": "XMP", b"ICCP": "ICC profile"}
VP8X_METADATA_FLAGS = 0x20 | 0x08 | 0x04  # ICC, EXIF, XMP
MAX_BYTES = 256 * 1024 * 1024  # WebP is held in memory to fix the RIFF size; 16383² is the cap


def _orientation(exif: bytes) -> int:
    image_exif = Image.Exif()
    try:
        image_exif.load(exif if exif.startswith(b"Exif") else b"Exif\x00\x00" + exif)
    except Exception:  # noqa: BLE001 - unreadable EXIF: dropped, treated as upright
        return 1
    value = image_exif.get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    src = Source(stream)
    report = Report(kind="webp", output_kind="webp")
    head = src.exact(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise Rejected("malformed", "not a WebP file")
    (riff_size,) = struct.unpack("<I", head[4:8])
    if riff_size > MAX_BYTES or riff_size < 4:
        raise Rejected("malformed", "bad WebP size")
    body = src.exact(riff_size - 4)
    out = bytearray()
    pos = 0
    orientation = 1
    while pos < len(body):
        if pos + 8 > len(body):
            raise Rejected("malformed", "bad WebP chunk")
        kind, size = body[pos : pos + 4], struct.unpack("<I", body[pos + 4 : pos + 8])[0]
        data = body[pos + 8 : pos + 8 + size]
        if len(data) != size:
            raise Rejected("truncated", "the WebP ends in the middle of a chunk")
        pos += 8 + size + (size & 1)
        if kind == b"VP8X":
            if size != 10:
                raise Rejected("malformed", "bad WebP extended header")
            width = 1 + int.from_bytes(data[4:7], "little")
            height = 1 + int.from_bytes(data[7:10], "little")
            if width * height > max_pixels:
                raise Rejected("too_many_pixels", "the image is over the pixel limit")
            data = bytes([data[0] & ~VP8X_METADATA_FLAGS & 0xFF]) + data[1:]
        if kind in KEEP:
            out += kind + struct.pack("<I", size) + data + (b"\x00" if size & 1 else b"")
        else:
            if kind == b"EXIF":
                orientation = _orientation(data)
            report.remove(LABELS.get(kind, f"chunk {kind.decode('latin-1').strip()}"))
    if src.has_more():
        report.remove("data after the end of the image")
    clean = b"RIFF" + struct.pack("<I", len(out) + 4) + b"WEBP" + bytes(out)
    if orientation != 1:
        clean = _rotated(clean, orientation, max_pixels)
        report.notes.append("re-encoded losslessly with the orientation applied")
    dst.write(clean)
    return report


def _rotated(data: bytes, orientation: int, max_pixels: int) -> bytes:
    image = Image.open(io.BytesIO(data))
    if image.width * image.height > max_pixels:
        raise Rejected("too_many_pixels", "the image is over the pixel limit")
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    image.getexif()[0x0112] = orientation
    upright = ImageOps.exif_transpose(image)
    out = io.BytesIO()
    upright.save(out, "WEBP", lossless=True, exact=True)
    return out.getvalue()
