"""A byte source with exact reads and push-back, for the streaming format walkers."""

from __future__ import annotations

from typing import BinaryIO

from .report import Rejected


class Source:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._pushed = b""

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" only at the end of the stream."""
        if self._pushed:
            data, self._pushed = self._pushed[:size], self._pushed[size:]
            return data
        return self._stream.read(size)

    def exact(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            piece = self.read(size - len(data))
            if not piece:
                raise Rejected("truncated", "the file ends in the middle of a structure")
            data += piece
        return bytes(data)

    def unread(self, data: bytes) -> None:
        self._pushed = data + self._pushed

    def has_more(self) -> bool:
        piece = self.read(1)
        if piece:
            self.unread(piece)
            return True
        return False
