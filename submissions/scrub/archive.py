"""TAR and gzip: rebuilt with every member cleaned, and nothing of the packaging kept.

TAR headers carry owner names and ids, permissions and modification times; gzip headers carry
the original file name and a time. The new archive has none of these (owner root/0, time 0).
Its only extended (PAX) record is `path`, written when a name is not plain ASCII or longer than
the old header field holds: the file's name, which the source chose. Links, devices and paths
that escape the archive (absolute, "..") are dropped; a member that cannot be cleaned refuses
the whole archive, as for ZIP.

Text passes through only as plain text: markup (XML, HTML, SVG, XMP sidecars) and text-based
document formats (RTF, PostScript, FDF) carry authors, tools and dates in their own structure
and are dropped, and the report says so.

Bombs: gzip is inflated as a stream, a bounded chunk at a time, and refused past a compression
ratio, past a size per member, and past a budget of unpacked bytes shared by every nesting
level of one upload (gzip in tar in gzip...), so a crafted file stops within seconds.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import tarfile
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from .report import Rejected, Report
from .sniff import SNIFF_BYTES, sniff
from .source import read_capped

MAX_MEMBERS = 10_000
MAX_TOTAL = 1024 * 1024 * 1024  # unpacked bytes, across all nesting levels of one upload
MAX_MEMBER = 512 * 1024 * 1024  # one file held in memory to be cleaned
MAX_RATIO = 200  # unpacked/packed bytes of a gzip stream
RATIO_GRACE = 1024 * 1024  # tiny files compress far better than any limit: not checked below it
MAX_DEPTH = 3
CHUNK = 1024 * 1024
# Long names (GNU) and extended records (PAX) are read whole by tarfile before anything else:
# their declared size must be checked first. Real ones hold a path or a few records.
MAX_HEADER = 64 * 1024
# Extended (PAX) records we write ourselves and accept on re-reading: the file's name only.
PAX_KEPT = {"path"}
MARKUP = "markup and text-based documents (XML, HTML, SVG, XMP, RTF, PostScript)"


# ------------------------------------------------------------------------------ plain text

# Control characters other than tab, line feed, form feed and carriage return: not text.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\x0c\r")
# A file that opens as markup or as a text-based document format (after an optional BOM and
# blanks): "<" (XML, HTML, SVG, XMP sidecars), "{\rtf", "%!" (PostScript), "%FDF".
_MARKUP_START = re.compile(rb"(?:\xef\xbb\xbf)?\s*(?:<|\{\\rtf|%!|%FDF)")
# Markup that carries metadata, anywhere in the file.
_MARKUP_ANYWHERE = re.compile(
    rb"<(?:\?xpacket|x:xmpmeta|rdf:|svg|\?xml|!doctype|html|head|meta|body)", re.IGNORECASE
)
_OVERLAP = 16  # longer than any _MARKUP_ANYWHERE match: chunks overlap by this much


def text_kind(data: bytes) -> str:
    """The kind of an unrecognised file: `text` (plain UTF-8), `markup`, or `binary`.

    Markup means markup languages and text-based document formats, which carry metadata.

    Bytes-level and chunked, so a file of hundreds of megabytes is judged in a few seconds
    with no copy of it (a str of the whole file would take up to four times its size).
    """
    if _MARKUP_START.match(data, 0, 64):
        return "markup"
    decoder = None if data.isascii() else codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        chunk = view[start : start + CHUNK]
        if len(bytes(chunk).translate(None, _CONTROL)) != len(chunk):
            return "binary"
        if decoder is not None:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return "binary"
        if _MARKUP_ANYWHERE.search(view[max(0, start - _OVERLAP) : start + CHUNK]):
            return "markup"
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "binary"
    return "text"


def unrecognised_member(kind: str, data: bytes, report: Report) -> bytes | None:
    """An archive member of no known type: plain text is kept as it is (it has no metadata
    structure), markup is dropped and reported, anything else refuses the archive."""
    found = text_kind(data) if kind == "unknown" else "markup"
    if found == "text":
        return data
    if found == "markup":
        report.remove(MARKUP)
        return None
    raise Rejected("unsupported", "a file inside the archive (unrecognised) cannot be cleaned")


# --------------------------------------------------------------------------------- bounds

_state = threading.local()


class Budget:
    """Unpacked bytes left for one upload, nested containers included: a gzip of a tar of
    ZIPs of documents must not multiply the limit. Shared with office.py's ZIP reader."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL

    def charge(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise Rejected("too_large", "the archive unpacks to more than the limit")


@contextmanager
def upload_budget() -> Iterator[Budget]:
    """The budget of the upload being cleaned on this thread (nested calls share it)."""
    current = getattr(_state, "budget", None)
    if current is not None:
        yield current
        return
    _state.budget = Budget()
    try:
        yield _state.budget
    finally:
        _state.budget = None


def _ratio_checked() -> bool:
    from .verify import rereading_own_output

    # Our own output is bounded already, and deflates anew what may have come stored.
    return not rereading_own_output()


class _Gunzip:
    """The unpacked bytes of a gzip stream, read on demand, a bounded chunk at a time.

    Refuses a compression ratio past MAX_RATIO, and charges every unpacked byte to the
    upload's budget. Concatenated gzip members are read in turn; each header is checked for
    the original name, comment, extra field and time.
    """

    def __init__(self, src: BinaryIO, budget: Budget) -> None:
        self._src = src
        self._budget = budget
        self._check_ratio = _ratio_checked()
        self._pending = b""  # packed bytes not yet given to zlib
        self._inflate: zlib._Decompress | None = None
        self._buffer = bytearray()
        self._offset = 0  # of the first byte in _buffer not yet read
        self._packed = self._unpacked = 0
        self._src_done = False
        self._done = False
        self.labelled = False  # some header held a name, comment, extra field or time
        self.trailing = False  # something other than zero padding followed the last member
        self._start_member()
        if self._inflate is None:
            raise Rejected("malformed", "not a gzip file")

    def _fill(self, size: int) -> bool:
        while len(self._pending) < size and not self._src_done:
            data = self._src.read(64 * 1024)
            if not data:
                self._src_done = True
            self._packed += len(data)
            self._pending += data
        return len(self._pending) >= size

    def _start_member(self) -> None:
        self._inflate = None
        self._fill(10)
        if self._pending[:3] != b"\x1f\x8b\x08":
            # The end, or something after the last member: not read past a bound, since
            # nothing after it is copied. Zero padding (tape blocks) is not worth a mention.
            while len(self._pending) <= CHUNK and self._fill(len(self._pending) + 1):
                pass
            self.trailing = bool(self._pending.strip(b"\0")) or not self._src_done
            self._pending = b""
            self._done = True
            return
        flags, mtime = self._pending[3], int.from_bytes(self._pending[4:8], "little")
        if flags & 0x1C or mtime:  # FEXTRA, FNAME, FCOMMENT, or a time
            self.labelled = True
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip framing, CRC checked

    def _step(self) -> None:
        """Unpack at most CHUNK more bytes into the buffer."""
        assert self._inflate is not None
        if not self._pending and not self._fill(1):
            raise Rejected("malformed", "the gzip file is cut short")
        try:
            out = self._inflate.decompress(self._pending, CHUNK)
        except zlib.error as exc:
            raise Rejected("malformed", "the gzip file is damaged") from exc
        self._pending = self._inflate.unconsumed_tail
        self._unpacked += len(out)
        self._budget.charge(len(out))
        if (
            self._check_ratio
            and self._unpacked > RATIO_GRACE
            and self._unpacked > MAX_RATIO * max(1, self._packed - len(self._pending))
        ):
            raise Rejected("too_large", "the gzip file is a compression bomb")
        self._buffer += out
        if self._inflate.eof:
            self._pending = self._inflate.unused_data + self._pending
            self._start_member()

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = MAX_MEMBER + 1  # never unbounded: callers check the length they get
        while len(self._buffer) - self._offset < size and not self._done:
            self._step()
        end = min(self._offset + size, len(self._buffer))
        data = bytes(memoryview(self._buffer)[self._offset : end])
        self._offset = end
        if self._offset >= CHUNK:  # compact now and then: linear, not per read
            del self._buffer[: self._offset]
            self._offset = 0
        return data

    def peek(self, size: int) -> bytes:
        while len(self._buffer) - self._offset < size and not self._done:
            self._step()
        return bytes(memoryview(self._buffer)[self._offset : self._offset + size])

    def drain(self) -> bool:
        """Read to the end (bounded as ever); True if anything but zero padding was left."""
        left = False
        while True:
            data = self.read(CHUNK)
            if not data:
                return left or self.trailing
            left = left or bool(data.strip(b"\0"))


# -------------------------------------------------------------------------------- members


def _merge(report: Report, inner: Report) -> None:
    for item in inner.removed:
        report.remove(item)


def _clean_member(data: bytes, report: Report, max_pixels: int, depth: int) -> bytes | None:
    """The member cleaned by its own scrubber; None when it is dropped (and reported)."""
    from . import SUPPORTED, scrub

    kind = sniff(data[:SNIFF_BYTES])
    if kind in ("tar", "gzip", "zip") and depth >= MAX_DEPTH:
        raise Rejected("too_large", "archives are nested too deeply")
    if kind in ("unknown", "xml"):
        return unrecognised_member(kind, data, report)
    if kind not in SUPPORTED:
        raise Rejected("unsupported", f"a file inside the archive ({kind}) cannot be cleaned")
    out = io.BytesIO()
    if kind in ("tar", "gzip"):
        inner = _dispatch(kind, io.BytesIO(data), out, max_pixels, depth + 1)
    else:
        inner = scrub(kind, io.BytesIO(data), out, max_pixels=max_pixels)
    _merge(report, inner)
    return out.getvalue()


def _safe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return not name.startswith(("/", "\\")) and ".." not in parts and ":" not in parts[0]


def _output_name(name: str) -> str:
    # tarfile keeps undecodable name bytes as surrogates; written back they would need a
    # `hdrcharset` record. Shown as U+FFFD instead.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ------------------------------------------------------------------------------------ TAR


_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)  # fmt: skip


class _BoundedInfo(tarfile.TarInfo):
    """A TAR header whose long-name or PAX block is refused past MAX_HEADER before tarfile
    buffers it: a 5 MB tar.gz declaring a 3 GiB long name made it read all of that first."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_HEADERS and self.size > MAX_HEADER:
            raise Rejected("malformed", "the TAR archive has an oversized header")
        return super()._proc_member(tarfile)  # type: ignore[misc]


def _scrub_tar(stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    report = Report(kind="tar", output_kind="tar", extension="tar")
    total = members = kept = 0
    try:
        with (
            # Streaming: no seeking needed.
            tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedInfo) as source,
            # PAX: names that are not ASCII or are long go in a `path` record, and nothing else
            # does (owner, group and time are empty or zero, sizes are far below 8 GiB).
            tarfile.open(fileobj=dst, mode="w|", format=tarfile.PAX_FORMAT) as out,
        ):
            for member in source:
                members += 1
                if members > MAX_MEMBERS:
                    raise Rejected("too_large", "the archive has too many files")
                if member.uname or member.gname or member.uid or member.gid or member.mtime:
                    report.remove("owner names, ids and timestamps")
                if set(member.pax_headers) - PAX_KEPT:
                    report.remove("extended (PAX) headers")
                if member.issparse():  # its declared size costs memory its bytes never did
                    raise Rejected(
                        "unsupported", "sparse files inside TAR archives are not supported"
                    )
                if not member.isfile():
                    if not member.isdir():
                        report.remove("links and special files")
                    continue
                if not _safe(member.name):
                    report.remove("paths outside the archive")
                    continue
                if member.size > MAX_MEMBER:
                    raise Rejected("too_large", "a file inside the archive is too large")
                total += member.size
                if total > MAX_TOTAL:
                    raise Rejected("too_large", "the archive unpacks to more than the limit")
                handle = source.extractfile(member)
                data = handle.read(member.size) if handle else b""
                if len(data) != member.size:
                    raise Rejected("malformed", "the TAR archive is cut short")
                cleaned = _clean_member(data, report, max_pixels, depth)
                if cleaned is None:
                    continue
                info = tarfile.TarInfo(_output_name(member.name))
                info.size, info.mode, info.mtime = len(cleaned), 0o644, 0
                out.addfile(info, io.BytesIO(cleaned))
                kept += 1
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        raise Rejected("malformed", "the TAR archive could not be read") from exc
    if not members:
        raise Rejected("malformed", "the TAR archive is empty")
    if not kept:
        raise Rejected("unsupported", "nothing in the archive could be kept once cleaned")
    return report


# ----------------------------------------------------------------------------------- gzip


def _scrub_gzip(stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    report = Report(kind="gzip", output_kind="gzip", extension="gz")
    with upload_budget() as budget:
        source = _Gunzip(stream, budget)
        inner_kind = sniff(source.peek(SNIFF_BYTES))
        if inner_kind == "tar" and depth >= MAX_DEPTH:
            raise Rejected("too_large", "archives are nested too deeply")
        with gzip.GzipFile(fileobj=dst, mode="wb", mtime=0, filename="") as out:
            if inner_kind == "tar":  # streamed member by member: a big tar.gz is never whole
                report.extension = "tar.gz"
                _merge(report, _scrub_tar(source, out, max_pixels, depth + 1))  # type: ignore[arg-type]
            else:
                too_large = "the gzip file unpacks to more than the limit"
                data = read_capped(source, MAX_MEMBER, too_large)
                cleaned = _clean_member(data, report, max_pixels, depth)
                if cleaned is None:
                    raise Rejected("unsupported", "compressed markup files cannot be cleaned")
                out.write(cleaned)
        if source.drain():
            report.remove("data after the end of the compressed file")
        if source.labelled:  # in the first gzip member's header, or a later one's
            report.remove("gzip header (original file name, time)")
    return report


def _dispatch(kind: str, stream: BinaryIO, dst: BinaryIO, max_pixels: int, depth: int) -> Report:
    if kind == "tar":
        return _scrub_tar(stream, dst, max_pixels, depth)
    return _scrub_gzip(stream, dst, max_pixels, depth)


def scrub_tar(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    with upload_budget():
        return _scrub_tar(stream, dst, max_pixels, 0)


def scrub_gzip(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    with upload_budget():
        return _scrub_gzip(stream, dst, max_pixels, 0)
