"""TAR and gzip: rebuilt with every member cleaned, and nothing of the packaging kept.

TAR headers carry owner names and ids, permissions and modification times; gzip headers carry
the original file name and a time. The new archive has none of these (owner root/0, time 0).
Links, devices and paths that escape the archive (absolute, "..") are dropped; a member that
cannot be cleaned refuses the whole archive, as for ZIP. Sizes and counts are bounded.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from typing import BinaryIO

from .report import Rejected, Report
from .sniff import SNIFF_BYTES

MAX_MEMBERS = 10_000
MAX_TOTAL = 1024 * 1024 * 1024
MAX_DEPTH = 3


def _clean_member(data: bytes, report: Report, max_pixels: int, depth: int) -> bytes:
    from . import SUPPORTED, scrub, sniff
    from .office import _is_text

    kind = sniff(data[:SNIFF_BYTES])
    if kind in ("tar", "gzip", "zip") and depth >= MAX_DEPTH:
        raise Rejected("too_large", "archives are nested too deeply")
    if kind == "unknown" and _is_text(data):
        return data
    if kind not in SUPPORTED:
        raise Rejected("unsupported", f"a file inside the archive ({kind}) cannot be cleaned")
    out = io.BytesIO()
    if kind in ("tar", "gzip"):
        inner = _dispatch(kind, io.BytesIO(data), out, max_pixels, depth + 1)
    else:
        inner = scrub(kind, io.BytesIO(data), out, max_pixels=max_pixels)
    report.removed.extend(item for item in inner.removed if item not in report.removed)
    return out.getvalue()


def _safe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not name.startswith(("/", "\\")) and ".." not in parts and ":" not in parts[0]


def _scrub_tar(stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    report = Report(kind="tar", output_kind="tar", extension="tar")
    total = members = 0
    try:
        with (
            tarfile.open(fileobj=stream, mode="r|") as source,  # streaming: no seeking needed
            tarfile.open(fileobj=dst, mode="w|", format=tarfile.PAX_FORMAT) as out,
        ):
            for member in source:
                members += 1
                if members > MAX_MEMBERS:
                    raise Rejected("too_large", "the archive has too many files")
                if member.uname or member.gname or member.uid or member.gid or member.mtime:
                    report.remove("owner names, ids and timestamps")
                if member.pax_headers:
                    report.remove("extended (PAX) headers")
                if not member.isfile():
                    if not member.isdir():
                        report.remove("links and special files")
                    continue
                if not _safe(member.name):
                    report.remove("paths outside the archive")
                    continue
                total += member.size
                if total > MAX_TOTAL:
                    raise Rejected("too_large", "the archive unpacks to more than the limit")
                handle = source.extractfile(member)
                data = handle.read() if handle else b""
                cleaned = _clean_member(data, report, max_pixels, depth)
                info = tarfile.TarInfo(member.name)
                info.size, info.mode, info.mtime = len(cleaned), 0o644, 0
                out.addfile(info, io.BytesIO(cleaned))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Rejected("malformed", "the TAR archive could not be read") from exc
    if not members:
        raise Rejected("malformed", "the TAR archive is empty")
    return report


def _scrub_gzip(stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    head = stream.read(10)
    if len(head) < 10 or head[:2] != b"\x1f\x8b":
        raise Rejected("malformed", "not a gzip file")
    flags, mtime = head[3], int.from_bytes(head[4:8], "little")
    try:
        data = gzip.GzipFile(fileobj=io.BytesIO(head + stream.read(MAX_TOTAL))).read(MAX_TOTAL + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Rejected("malformed", "the gzip file is damaged") from exc
    if len(data) > MAX_TOTAL:
        raise Rejected("too_large", "the gzip file unpacks to more than the limit")
    report = Report(kind="gzip", output_kind="gzip", extension="gz")
    if flags & 0x1C or mtime:  # FEXTRA, FNAME, FCOMMENT, or a time
        report.remove("gzip header (original file name, time)")
    cleaned = _clean_member(data, report, max_pixels, depth)
    inner = "tar.gz" if cleaned[257:262] == b"ustar" else "gz"
    report.extension = inner
    with gzip.GzipFile(fileobj=dst, mode="wb", mtime=0, filename="") as out:
        out.write(cleaned)
    return report


def _dispatch(kind: str, stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    if kind == "tar":
        return _scrub_tar(stream, dst, max_pixels, depth)
    return _scrub_gzip(stream, dst, max_pixels, depth)


def scrub_tar(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    return _scrub_tar(stream, dst, max_pixels, 0)


def scrub_gzip(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    return _scrub_gzip(stream, dst, max_pixels, 0)
