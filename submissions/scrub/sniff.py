"""Type from content, never from the client's filename or Content-Type."""

from __future__ import annotations

SNIFF_BYTES = 512  # TAR's magic sits at offset 257

# (magic at offset 0, kind). Kinds not in scrub.SUPPORTED are recognised only to be refused
# with a precise message.
_MAGIC: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x1a\x45\xdf\xa3", "matroska"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
    (b"ID3", "mp3"),
    (b"#!AMR", "amr"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    (b"\x1f\x8b", "gzip"),
    (b"<?xml", "xml"),
    (b"<svg", "xml"),
]
_RIFF = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

_NAMES = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WebP",
    "tiff": "TIFF",
    "heic": "HEIC",
    "avif": "AVIF",
    "pdf": "PDF",
    "zip": "Office/OpenDocument/ZIP",
    "matroska": "Matroska/WebM",
    "ogg": "Ogg",
    "flac": "FLAC",
    "mp3": "MP3",
    "amr": "AMR",
    "wav": "WAV",
    "avi": "AVI",
    "aiff": "AIFF",
    "isobmff": "MP4/MOV",
    "asf": "WMV/WMA",
    "xml": "XML/SVG",
    "tar": "TAR",
    "gzip": "gzip",
    "unknown": "unrecognised",
}


def sniff(head: bytes) -> str:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[257:262] == b"ustar":
        return "tar"
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return "heic"
        if brand in _AVIF_BRANDS:
            return "avif"
        return "isobmff"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "isobmff"  # QuickTime files from before the ftyp box
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        return "mp3"  # an MPEG audio frame header without ID3
    return "unknown"


def describe(kind: str) -> str:
    return _NAMES.get(kind, kind)
