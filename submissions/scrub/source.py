"""A buffered byte source for the streaming format walkers: exact reads and a linear-time scan
of JPEG entropy-coded data.

Every byte is examined a bounded number of times and the buffer is never re-sliced per read, so a
crafted file (thousands of tiny segments or scans) cannot make scrubbing quadratic and pin a
worker until its time limit.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from .report import Rejected

BLOCK = 64 * 1024
# FF then a byte that makes it a marker: not a stuffed 00, a restart D0-D7, or fill FF.
_REAL_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def read_capped(stream: BinaryIO, limit: int, too_large: str) -> bytes:
    """The whole stream, refused past `limit` bytes. Read a megabyte at a time: one read of
    `limit` would have the buffered reader allocate all of it up front, for every file."""
    chunks, size = [], 0
    while chunk := stream.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise Rejected("too_large", too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _truncated() -> Rejected:
    return Rejected("truncated", "the file ends in the middle of a structure")


class Source:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = b""
        self._pos = 0

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def _refill(self) -> bool:
        """Append a block to the (at most one byte long) unread rest of the buffer."""
        chunk = self._stream.read(BLOCK)
        if not chunk:
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" only at the end of the stream."""
        if self._pos < len(self._buf):
            data = self._buf[self._pos : self._pos + size]
            self._pos += len(data)
            return data
        return self._stream.read(size)

    def exact(self, size: int) -> bytes:
        data = self.read(size)
        if len(data) == size:
            return data
        parts = bytearray(data)
        while len(parts) < size:
            piece = self.read(size - len(parts))
            if not piece:
                raise _truncated()
            parts += piece
        return bytes(parts)

    def has_more(self) -> bool:
        if self._available():
            return True
        self._buf, self._pos = self._stream.read(1), 0
        return bool(self._buf)

    def copy_entropy(self, dst: BinaryIO) -> int:
        """Copy JPEG entropy-coded data to `dst` up to the next real marker; return its code.

        Stuffed bytes (FF 00), restart markers (FF D0-D7) and fill bytes are part of the data.
        """
        while True:
            if self._available() < 2 and not self._refill():
                raise Rejected("truncated", "the image data ends before the end-of-image marker")
            buf, start = self._buf, self._pos
            # One search in C for the next FF that starts a real marker (the byte after it is
            # not 00, a restart code or another fill FF), instead of a step per FF in Python.
            found = _REAL_MARKER.search(buf, start)
            if found is None:
                end = len(buf) - 1 if buf.endswith(b"\xff") else len(buf)  # keep a trailing FF
                dst.write(buf[start:end])
                self._pos = end
                continue
            at = found.start()
            dst.write(buf[start:at])
            self._pos = at + 2
            return buf[at + 1]
