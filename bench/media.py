"""Benchmark inputs made by code: a phone photo of a given size, the head of a real MP4."""

from __future__ import annotations

import io
import struct

from PIL import Image

from tests import fixtures


def phone_photo(megabytes: float, size: tuple[int, int] = (4032, 3024)) -> bytes:
    """A 12-megapixel JPEG of about `megabytes` MB with what a phone writes: EXIF with make,
    model, serial, GPS and a thumbnail, XMP naming the owner, a comment. The pixels are a
    gradient under grain, so the encoder works as on a photo (flat colour would compress to
    nothing); the quality is searched until the size fits."""
    grain = Image.merge("RGB", [Image.effect_noise(size, sigma) for sigma in (18, 22, 26)])
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(gradient, grain, 0.5)
    wanted = int(megabytes * 1e6)
    low, high, best = 30, 98, b""
    while low <= high:
        quality = (low + high) // 2
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, exif=fixtures.exif_with_gps_and_thumbnail(),
                   comment=b"taken by " + fixtures.OWNER)  # fmt: skip
        best = out.getvalue()
        if abs(len(best) - wanted) < wanted * 0.05:
            break
        low, high = (quality + 1, high) if len(best) < wanted else (low, quality - 1)
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
           b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
           b"xmlns:tiff='http://ns.adobe.com/tiff/1.0/' tiff:Artist='" + fixtures.OWNER +
           b"'/></rdf:RDF></x:xmpmeta>")  # fmt: skip
    return best[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + best[2:]


def mp4_head() -> bytes:
    """The first box of an MP4 (ftyp), for an upload whose type is sniffed from its head and
    whose body is random: ingest encrypts bytes, it does not parse them."""
    brands = b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands
