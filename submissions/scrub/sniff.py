"""Type from content, never from the client's filename or Content-Type."""

from __future__ import annotations

SNIFF_BYTES = 32

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
]

_NAMES = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "pdf": "PDF",
    "zip": "ZIP",
    "tiff": "TIFF",
    "matroska": "Matroska/WebM",
    "ogg": "Ogg",
    "flac": "FLAC",
    "mp3": "MP3",
    "webp": "WebP",
    "isobmff": "MP4/MOV/HEIC",
    "unknown": "unrecognised",
}


def sniff(head: bytes) -> str:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "isobmff"
    return "unknown"


def describe(kind: str) -> str:
    return _NAMES.get(kind, kind)
