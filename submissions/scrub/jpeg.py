"""JPEG: rebuilt segment by segment from an allowlist; compressed pixel data copied untouched.

Kept: SOI, the JFIF header (with its thumbnail emptied), Adobe's colour-transform marker (CMYK
needs it), quantisation and Huffman tables, frame and scan headers, restart intervals, the
entropy-coded data byte for byte, EOI. Orientation is carried over as a one-tag EXIF block so the
photo still displays upright.

Dropped: every other APPn (EXIF with GPS/serials/maker notes and the IFD1 thumbnail, XMP,
IPTC/Photoshop, ICC profiles, MPF secondary images, FLIR/GoPro/Google blobs...), comments, and
anything after EOI (motion-photo videos, appended JPEGs, gain maps).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from PIL import ExifTags, Image

from .report import Rejected, Report
from .source import Source

SOI, EOI, SOS, DHT, DAC, DQT, DRI, DNL, EXP, COM, TEM = (
    0xD8,
    0xD9,
    0xDA,
    0xC4,
    0xCC,
    0xDB,
    0xDD,
    0xDC,
    0xDF,
    0xFE,
    0x01,
)
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
TABLE_MARKERS = {DHT, DAC, DQT, DRI, DNL, EXP}
RST_MARKERS = set(range(0xD0, 0xD8))
ADOBE_PAYLOAD_LENGTH = 12
# Real photos have tens of segments (a progressive JPEG: a few dozen scans). A file with
# thousands is built to waste worker time, and is refused.
MAX_SEGMENTS = 5000  # "Adobe" + version, flags0, flags1, transform

APP_NAMES = {
    b"Exif\x00": "EXIF",
    b"http://ns.adobe.com/xap/1.0/\x00": "XMP",
    b"http://ns.adobe.com/xmp/extension/\x00": "XMP extension",
    b"Photoshop 3.0\x00": "Photoshop/IPTC",
    b"ICC_PROFILE\x00": "ICC profile",
    b"MPF\x00": "MPF (secondary images)",
    b"JFXX\x00": "JFIF extension thumbnail",
    b"FLIR\x00": "FLIR data",
    b"Ducky": "Ducky",
    b"urn:iso:std:iso:ts:21496": "gain map",
}


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _app_name(marker: int, payload: bytes) -> str:
    for prefix, name in APP_NAMES.items():
        if payload.startswith(prefix):
            return f"APP{marker - 0xE0} {name}"
    return f"APP{marker - 0xE0}"


def _exif_contents(payload: bytes, report: Report) -> int:
    """Report which EXIF groups were present (names only); return the orientation to keep."""
    exif = Image.Exif()
    try:
        exif.load(payload)
    except Exception:  # noqa: BLE001 - a broken EXIF block is dropped whole; that is the fix
        report.remove("EXIF (unreadable)")
        return 1
    names = sorted(
        ExifTags.TAGS.get(tag, f"tag 0x{tag:04x}")
        for tag in exif
        if tag not in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.Base.Orientation)
    )
    if names:
        report.remove("EXIF tags: " + ", ".join(names))
    for ifd, label in (
        (ExifTags.IFD.Exif, "EXIF camera data"),
        (ExifTags.IFD.GPSInfo, "GPS location"),
        (ExifTags.IFD.IFD1, "embedded thumbnail"),
        (ExifTags.IFD.MakerNote, "maker notes"),
    ):
        try:
            present = bool(exif.get_ifd(ifd))
        except Exception:  # noqa: BLE001 - unreadable sub-IFD: it is dropped anyway
            present = True
        if present:
            report.remove(label)
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _orientation_segment(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return _segment(0xE1, exif.tobytes())


def _jfif(payload: bytes, report: Report) -> bytes | None:
    # JFIF: identifier(5) version(2) units(1) xdensity(2) ydensity(2) thumb w(1) h(1) thumb...
    if not payload.startswith(b"JFIF\x00") or len(payload) < 14:
        return None
    if payload[12] or payload[13]:
        report.remove("JFIF thumbnail")
    return payload[:12] + b"\x00\x00"


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    src = Source(stream)
    report = Report(kind="jpeg", output_kind="jpeg")
    if src.exact(2) != b"\xff\xd8":
        raise Rejected("malformed", "not a JPEG file")
    dst.write(b"\xff\xd8")
    seen_frame = seen_scan = False
    marker: int | None = None
    segments = 0
    while True:
        segments += 1
        if segments > MAX_SEGMENTS:
            raise Rejected("malformed", "the JPEG has too many segments")
        if marker is None:
            if src.exact(1) != b"\xff":
                raise Rejected("malformed", "expected a JPEG marker")
            code = src.exact(1)[0]
            while code == 0xFF:  # fill bytes
                code = src.exact(1)[0]
            marker = code
        if marker == EOI:
            if not (seen_frame and seen_scan):
                raise Rejected("malformed", "the JPEG has no image data")
            dst.write(b"\xff\xd9")
            break
        if marker in RST_MARKERS or marker == TEM or marker == 0x00:
            raise Rejected("malformed", "unexpected marker outside image data")
        (length,) = struct.unpack(">H", src.exact(2))
        if length < 2:
            raise Rejected("malformed", "bad JPEG segment length")
        payload = src.exact(length - 2)
        current, marker = marker, None
        if current in SOF_MARKERS:
            if len(payload) < 6:
                raise Rejected("malformed", "bad JPEG frame header")
            height, width = struct.unpack(">HH", payload[1:5])
            if width * height > max_pixels:
                raise Rejected("too_many_pixels", f"{width}x{height} is over the pixel limit")
            seen_frame = True
            dst.write(_segment(current, payload))
        elif current in TABLE_MARKERS:
            dst.write(_segment(current, payload))
        elif current == SOS:
            if not seen_frame:
                raise Rejected("malformed", "image data before the frame header")
            seen_scan = True
            dst.write(_segment(current, payload))
            marker = src.copy_entropy(dst)
        elif current == 0xE0 and (jfif := _jfif(payload, report)) is not None:
            dst.write(_segment(current, jfif))
        elif current == 0xE1 and payload.startswith(b"Exif\x00"):
            orientation = _exif_contents(payload, report)
            if orientation != 1:
                dst.write(_orientation_segment(orientation))
                report.notes.append("orientation kept")
        elif current == 0xEE and payload.startswith(b"Adobe") and len(payload) == 12:
            dst.write(_segment(current, payload))
        elif 0xE0 <= current <= 0xEF:
            report.remove(_app_name(current, payload))
        elif current == COM:
            report.remove("comment")
        elif current == 0xF7:
            raise Rejected("unsupported", "JPEG-LS images cannot be cleaned")
        else:
            report.remove(f"marker 0x{current:02X}")
    if src.has_more():
        report.remove("data after the end of the image")
    return report
