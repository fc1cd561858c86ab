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
# Baseline, extended, progressive and lossless frames, Huffman or arithmetic coded. Hierarchical
# frames (C5-C7, CD-CF) need EXP/DHP segments and are too rare to be worth the risk: refused.
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA, 0xCB}
ARITHMETIC_SOF = {0xC9, 0xCA, 0xCB}
HIERARCHICAL_SOF = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF, 0xDE}
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


def _tables(marker: int, payload: bytes) -> list[tuple[tuple[int, int], bytes]]:
    """Split a DQT/DHT/DAC segment into its tables, each keyed by (class, slot); the segment
    must parse exactly, so that no byte rides along after the tables."""
    tables = []
    pos = 0
    while pos < len(payload):
        head = payload[pos]
        if marker == DQT:
            key, size = (0, head & 0x0F), 1 + 64 * ((head >> 4) + 1)
            bad = head >> 4 > 1 or head & 0x0F > 3
        elif marker == DHT:
            counts = payload[pos + 1 : pos + 17]
            key, size = (head >> 4, head & 0x0F), 17 + sum(counts)
            bad = head >> 4 > 1 or head & 0x0F > 3 or len(counts) != 16 or sum(counts) > 256
        else:  # DAC
            key, size = (head >> 4, head & 0x0F), 2
            bad = head >> 4 > 1 or head & 0x0F > 3
        if bad or pos + size > len(payload):
            raise Rejected("malformed", "bad JPEG table")
        tables.append((key, payload[pos : pos + size]))
        pos += size
    if not tables:
        raise Rejected("malformed", "empty JPEG table segment")
    return tables


class _TableKeeper:
    """Holds table definitions back and writes only those a frame or scan actually uses.

    A table in a slot nothing refers to could hold arbitrary bytes (a hiding place that no
    viewer or metadata tool would show), so unused tables never reach the output.
    """

    def __init__(self, marker: int) -> None:
        self.marker = marker
        self.defined: dict[tuple[int, int], bytes] = {}
        self.written: dict[tuple[int, int], bytes] = {}

    def define(self, payload: bytes) -> None:
        for key, table in _tables(self.marker, payload):
            self.defined[key] = table

    def write_used(self, dst: BinaryIO, keys: set[tuple[int, int]], *, required: bool) -> None:
        out = b""
        for key in sorted(keys):
            table = self.defined.get(key)
            if table is None:
                if required:
                    raise Rejected("malformed", "the JPEG refers to a table it does not define")
                continue  # e.g. Motion-JPEG frames rely on the standard Huffman tables
            if self.written.get(key) != table:
                out += table
                self.written[key] = table
        if out:
            dst.write(_segment(self.marker, out))


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
    frame: int | None = None
    height = 0
    quant, huffman, arithmetic = _TableKeeper(DQT), _TableKeeper(DHT), _TableKeeper(DAC)
    quant_used: set[tuple[int, int]] = set()
    seen_scan = False
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
            if frame is None or not seen_scan:
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
        # Every kept segment has its exact size checked: none can carry extra bytes.
        if current in SOF_MARKERS:
            if frame is not None:
                raise Rejected("malformed", "the JPEG has two frame headers")
            if len(payload) < 6 or len(payload) != 6 + 3 * payload[5]:
                raise Rejected("malformed", "bad JPEG frame header")
            height, width = struct.unpack(">HH", payload[1:5])
            if width * max(height, 1) > max_pixels:
                raise Rejected("too_many_pixels", "the image is over the pixel limit")
            frame = current
            quant_used = {(0, payload[6 + 3 * i + 2]) for i in range(payload[5])}
            quant.write_used(dst, quant_used, required=False)  # some cameras define them later
            dst.write(_segment(current, payload))
        elif current in (DQT, DHT, DAC):
            {DQT: quant, DHT: huffman, DAC: arithmetic}[current].define(payload)
        elif current == DRI:
            if len(payload) != 2:
                raise Rejected("malformed", "bad JPEG restart interval")
            dst.write(_segment(current, payload))
        elif current == DNL and frame is not None and height == 0 and len(payload) == 2:
            dst.write(_segment(current, payload))  # the height, for frames that defer it
        elif current == SOS:
            if frame is None:
                raise Rejected("malformed", "image data before the frame header")
            if not payload or len(payload) != 4 + 2 * payload[0]:
                raise Rejected("malformed", "bad JPEG scan header")
            seen_scan = True
            selectors = [payload[2 + 2 * i] for i in range(payload[0])]
            entropy = {(0, sel >> 4) for sel in selectors} | {(1, sel & 0x0F) for sel in selectors}
            quant.write_used(dst, quant_used, required=True)  # late or redefined tables
            keeper = arithmetic if frame in ARITHMETIC_SOF else huffman
            keeper.write_used(dst, entropy, required=False)
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
        elif current == 0xF7 or current in HIERARCHICAL_SOF:
            raise Rejected(
                "unsupported", "this JPEG variant (JPEG-LS or hierarchical) cannot be cleaned"
            )
        else:
            report.remove(f"marker 0x{current:02X}")
    if src.has_more():
        report.remove("data after the end of the image")
    return report
