"""Pictures written anew from their decoded pixels: TIFF always (its tag structure is too open
to rebuild with certainty), and every photo format when TIPLINE_REENCODE_IMAGES is on.

Photos (JPEG, WebP, HEIC/AVIF) become JPEG (quality 92, 4:4:4); TIFF, PNG, GIF and anything with
transparency becomes PNG (lossless). Orientation is applied to the pixels. Multi-page files keep
their first page; the report says so.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO

import pillow_heif
from PIL import Image, ImageOps, TiffImagePlugin  # noqa: F401 - loaded with the worker

from .report import Rejected, Report
from .source import read_capped

MAX_BYTES = 512 * 1024 * 1024
pillow_heif.register_heif_opener()
FORMATS = {
    "tiff": {"TIFF"}, "heic": {"HEIF"}, "avif": {"AVIF", "HEIF"},
    # With re-encoding switched on (TIPLINE_REENCODE_IMAGES), these come here too.
    "jpeg": {"JPEG", "MPO"}, "png": {"PNG"}, "gif": {"GIF"}, "webp": {"WEBP"},
}  # fmt: skip
LOSSLESS_OUTPUT = {"tiff", "png", "gif"}  # drawings and screenshots: keep every pixel


def _read_capped(stream: BinaryIO) -> bytes:
    return read_capped(stream, MAX_BYTES, "the image file is too large to convert")


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int, kind: str) -> Report:
    data = _read_capped(stream)
    out = io.BytesIO()  # written whole once encoded: a failure past here is about our dst
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(FORMATS[kind]))
        if image.width * image.height > max_pixels:
            raise Rejected("too_many_pixels", "the image is over the pixel limit")
        frames = getattr(image, "n_frames", 1)
        upright = ImageOps.exif_transpose(image)
        upright.load()
        # An uncompressed picture stays uncompressed (stored deflate): no bigger than it came,
        # and twice as fast to write as compressing it.
        stored = image.info.get("compression") == "raw"
        output = _encode(upright, kind, out, stored=stored)
    except Rejected:
        raise
    except Image.DecompressionBombError as exc:
        raise Rejected("too_large", f"the {kind.upper()} image is too large to decode") from exc
    except Exception as exc:  # Pillow and its plugins raise OSError, SyntaxError, ValueError...
        raise Rejected("malformed", f"the {kind.upper()} image could not be decoded") from exc
    dst.write(out.getvalue())
    report = Report(kind=kind, output_kind=output)
    report.remove("all metadata (converted to a new file)")
    report.notes.append(f"converted from {kind.upper()} to {output.upper()}")
    if frames > 1:
        report.notes.append(f"only the first of {frames} pages/frames kept")
    return report


def _encode(upright: Image.Image, kind: str, dst: BinaryIO, *, stored: bool = False) -> str:
    """Write a new image from the pixels alone (nothing of the original's info travels with
    it); return its type."""
    alpha = "A" in upright.getbands() or "transparency" in upright.info
    output = "png" if kind in LOSSLESS_OUTPUT or alpha else "jpeg"
    if alpha:  # a transparent colour (tRNS, GIF) becomes an alpha channel
        mode = "LA" if upright.mode in ("1", "L", "LA") else "RGBA"
    elif output == "png" and upright.mode in ("1", "L", "RGB", "I;16"):
        mode = upright.mode
    else:
        # Palette images become RGB: raw pixel bytes carry indices, not colours, and the
        # palette (with its unused entries) is part of the original file, not of the picture.
        mode = "RGB"
    pixels = upright.convert(mode)
    clean = Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())
    if output == "jpeg":
        clean.save(dst, "JPEG", quality=92, subsampling=0)
    else:
        # zlib level 1 with run-length matching: a third of the default's time, about the same
        # size on photos (measured on the corpus TIFFs).
        level = 0 if stored else 1
        clean.save(dst, "PNG", optimize=False, compress_level=level, compress_type=zlib.Z_RLE)
    return output
