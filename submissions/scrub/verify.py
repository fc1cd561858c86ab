"""Second opinion on a cleaned file, streamed: the output is scrubbed again as it is written,
and must come out with nothing left to remove.

The output goes through an OS pipe (kernel memory, never disk) to a thread that runs the
scrubber for the output's type into nothing. Anything that scrubber would remove, or any
structure it cannot parse, means the first pass let something through: the file is refused.
"""

from __future__ import annotations

import os
import threading
from typing import BinaryIO

from .report import Rejected, Report

_rereading = threading.local()


def rereading_own_output() -> bool:
    """True while the verifier re-reads a file we have just written.

    Compression-ratio limits (zip bombs) are for uploads. Our own output is bounded already:
    the first pass held its pixel counts, member counts and unpacked sizes to the limits, and
    what we deflate anew (a flat picture, a run of blanks that came stored) may legitimately
    compress far better than any upload is allowed to. Readers skip only the ratio check
    when this is true; their size and count limits still apply.
    """
    return getattr(_rereading, "active", False)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class Verifier:
    def __init__(self, kind: str, *, max_pixels: int) -> None:
        from . import scrub  # the package's dispatcher

        read_fd, write_fd = os.pipe()
        self._reader: BinaryIO = os.fdopen(read_fd, "rb")
        self._writer: BinaryIO = os.fdopen(write_fd, "wb")
        self._report: Report | None = None
        self._error: Exception | None = None

        def run() -> None:
            _rereading.active = True  # this thread only ever reads our own output
            try:
                self._report = scrub(kind, self._reader, _Discard(), max_pixels=max_pixels)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - reported by finish()
                self._error = exc
            finally:
                while self._reader.read(64 * 1024):  # drain, so the writer never blocks
                    pass
                self._reader.close()

        self._thread = threading.Thread(target=run, name="scrub-verify", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        self._writer.write(data)
        return len(data)

    def finish(self) -> None:
        self._writer.close()
        self._thread.join()
        if self._error is not None:
            raise Rejected(
                "verification_failed", "the cleaned file did not re-read cleanly"
            ) from self._error
        assert self._report is not None
        if self._report.removed:
            raise Rejected(
                "verification_failed",
                "the cleaned file still held: " + ", ".join(self._report.removed),
            )

    def abort(self) -> None:
        if not self._writer.closed:
            self._writer.close()
        self._thread.join()


class Tee:
    """Writes to the destination and to a verifier."""

    def __init__(self, *sinks: BinaryIO | Verifier) -> None:
        self._sinks = sinks

    def write(self, data: bytes) -> int:
        for sink in self._sinks:
            sink.write(data)
        return len(data)
