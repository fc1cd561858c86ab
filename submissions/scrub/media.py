"""Audio and video: remuxed with PyAV (FFmpeg) keeping only the audio and video streams.

No re-encoding: packets are copied as they are. Not copied: container, stream and chapter
metadata (Apple location keys, ©xyz, udta serials, handler names, creation times), data streams
(GoPro GPMF telemetry, timecode, Apple timed metadata), subtitles, attachments, cover art, and
tags appended after the audio (ID3v1, APE, Lyrics3), which demuxers would otherwise hand over
inside the last packet. Written with FFmpeg's bitexact flags so the muxer adds no version
string of its own.

Hostile input: the demuxer is chosen from the sniffed type, never probed (a playlist disguised
as MP4 cannot select the HLS demuxer and make FFmpeg open files or URLs), MOV external data
references are disabled, and stream counts and packet sizes are bounded.
"""

from __future__ import annotations

import io
import struct
from typing import Any, BinaryIO

import av
import av.error

from .report import Rejected, Report

FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "fflags": "+bitexact"}
BITEXACT = {"fflags": "+bitexact"}
# sniffed kind -> (FFmpeg demuxer, muxer, muxer options, kind of the output). Every muxer
# here writes sequentially: the output streams into encryption and cannot be seeked back.
FORMATS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "isobmff": ("mov", "mp4", FRAGMENTED, "isobmff"),  # "mov" when a codec needs QuickTime
    "matroska": ("matroska", "matroska", BITEXACT, "matroska"),
    "avi": ("avi", "avi", BITEXACT, "avi"),
    "asf": ("asf", "asf", BITEXACT, "asf"),
    "mp3": ("mp3", "mp3", {**BITEXACT, "id3v2_version": "0", "write_xing": "0"}, "mp3"),
    "flac": ("flac", "flac", BITEXACT, "flac"),
    "ogg": ("ogg", "ogg", BITEXACT, "ogg"),
    "wav": ("wav", "wav", BITEXACT, "wav"),
    "aiff": ("aiff", "matroska", BITEXACT, "matroska"),  # AIFF needs a seekable output
    "amr": ("amr", "amr", BITEXACT, "amr"),
}
MP4_CODECS = {"h264", "hevc", "mpeg4", "av1", "vp9", "aac", "mp3", "alac", "ac3", "eac3", "opus",
              "flac", "mjpeg"}  # fmt: skip
INPUT_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}
MAX_STREAMS = 32
MAX_PACKET = 64 * 1024 * 1024
IO_BUFFER = 1024 * 1024  # fewer, larger Python-level reads and writes
# Bitstream filters dropping SEI units: x264/x265 write their version and every encoder
# setting there, and phones write their own user data.
SEI_FILTERS = {"h264": "filter_units=remove_types=6", "hevc": "filter_units=remove_types=39|40"}
# What a clean output may still carry: structure, not provenance.
SAFE_KEYS = {"major_brand", "minor_version", "compatible_brands", "language", "DURATION"}
SAFE_VALUES = {
    ("handler_name", "VideoHandler"),
    ("handler_name", "SoundHandler"),
    ("vendor_id", "[0][0][0][0]"),
    ("vendor_id", "FFMP"),  # the QuickTime muxer's own mark, the same on every cleaned file
    ("encoder", "Lavf"),
    ("ENCODER", "Lavf"),
}
TAIL = 512


def _identifying(metadata: dict[str, str]) -> list[str]:
    return sorted(
        k for k, v in metadata.items() if k not in SAFE_KEYS and (k, v) not in SAFE_VALUES
    )


def _audio_end(raw: BinaryIO, report: Report) -> int:
    """Where the media ends, once tags appended after it (ID3v1, APE, Lyrics3) are cut off."""
    end = raw.seek(0, io.SEEK_END)
    for _ in range(4):
        before = end
        if end >= 128:
            raw.seek(end - 128)
            if raw.read(3) == b"TAG":
                end -= 128
                report.remove("ID3v1 tag")
        if end >= 32:
            raw.seek(end - 32)
            footer = raw.read(32)
            if footer[:8] == b"APETAGEX":
                size, flags = struct.unpack("<II", footer[12:20])
                end -= size + (32 if flags & 0x80000000 else 0)
                report.remove("APE tag")
        if end >= 15:
            raw.seek(end - 9)
            if raw.read(9) == b"LYRICS200":
                raw.seek(end - 15)
                end -= int(raw.read(6) or b"0") + 15
                report.remove("Lyrics3 tag")
        if end == before or end < 0:
            break
    raw.seek(0)
    return max(end, 0)


class _Window(io.RawIOBase):
    """The first `end` bytes of a seekable stream."""

    def __init__(self, raw: BinaryIO, end: int) -> None:
        super().__init__()
        self._raw, self._end = raw, end
        raw.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self._end + offset, io.SEEK_SET
        return self._raw.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._end - self._raw.tell())
        if n <= 0:
            return 0
        data = self._raw.read(n)
        buffer[: len(data)] = data
        return len(data)


class _Tail(io.RawIOBase):
    """A non-seekable stream that remembers its last bytes (to spot appended tags)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.tail = (self.tail + data)[-TAIL:]
        return len(data)

    def drain(self) -> None:
        while self.read(64 * 1024):
            pass


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError):
        return False


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int, kind: str) -> Report:
    demuxer, muxer, muxer_options, output_kind = FORMATS[kind]
    report = Report(kind=kind, output_kind=output_kind)
    tail: _Tail | None = None
    if _seekable(stream):
        end = _audio_end(stream, report)
        total = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        # Only put a window in front of the stream when there is something to cut off.
        media: BinaryIO = _Window(stream, end) if end < total else stream  # type: ignore[assignment]
    else:  # the verifier's second pass reads a pipe
        tail = _Tail(stream)
        media = tail  # type: ignore[assignment]
    try:
        source = av.open(
            media, mode="r", format=demuxer, options=INPUT_OPTIONS, buffer_size=IO_BUFFER
        )
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("malformed", f"the {kind} file could not be read") from exc
    with source:
        kept = _select_streams(source, report, max_pixels)
        if muxer == "mp4" and any(s.codec_context.name not in MP4_CODECS for s in kept):
            muxer = "mov"
        packets = _remux(source, kept, dst, muxer, muxer_options, kind, report)
    if not packets:
        raise Rejected("malformed", "the file has no audio or video data")
    if tail is not None:
        tail.drain()
        if tail.tail[-128:-125] == b"TAG" or b"APETAGEX" in tail.tail:
            report.remove("tag appended after the media")
    return report


HEAD = 8 * 1024 * 1024  # every muxer here writes its header (streams, tags) first


class HeadTail:
    """A sink that keeps only the start and the end of what is written to it."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = b""

    def write(self, data: bytes) -> int:
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self.tail = (self.tail + bytes(data[-TAIL:]))[-TAIL:]
        return len(data)


def verify(recorded: HeadTail, *, max_pixels: int, kind: str) -> Report:
    """The second opinion on a remuxed file: its header, read anew, must show nothing to
    remove (streams, tags, chapters), and nothing may follow the media. Packets are not
    re-read: they were copied verbatim, and the header says what they are."""
    report = Report(kind=kind, output_kind=kind)
    try:
        source = av.open(io.BytesIO(bytes(recorded.head)), mode="r", format=FORMATS[kind][0],
                         options=INPUT_OPTIONS)  # fmt: skip
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("verification_failed", "the cleaned file could not be read") from exc
    with source:
        _select_streams(source, report, max_pixels)
        if source.chapters():
            report.remove("chapters")
    if recorded.tail[-128:-125] == b"TAG" or b"APETAGEX" in recorded.tail:
        report.remove("tag appended after the media")
    return report


def _select_streams(source: Any, report: Report, max_pixels: int) -> list[Any]:
    if len(source.streams) > MAX_STREAMS:
        raise Rejected("malformed", "the file has too many streams")
    if names := _identifying(dict(source.metadata)):
        report.remove("container metadata (" + ", ".join(names) + ")")
    kept = []
    for in_stream in source.streams:
        cover = in_stream.type == "video" and (
            in_stream.disposition & av.stream.Disposition.attached_pic
        )
        if in_stream.type not in ("video", "audio") or cover:
            label = "cover art" if cover else f"{in_stream.type} stream"
            report.remove(label)
            continue
        if in_stream.type == "video":
            context = in_stream.codec_context
            if context.width * context.height > max_pixels:
                raise Rejected("too_many_pixels", "the video frame is over the pixel limit")
        if names := _identifying(dict(in_stream.metadata)):
            report.remove(f"{in_stream.type} stream metadata (" + ", ".join(names) + ")")
        kept.append(in_stream)
    if not kept:
        raise Rejected("malformed", "the file has no audio or video")
    return kept


def _remux(source: Any, kept: list[Any], dst: BinaryIO, muxer: str, options: dict[str, str],
           kind: str, report: Report) -> int:  # fmt: skip
    packets = 0
    try:
        output = av.open(dst, mode="w", format=muxer, options=options, buffer_size=IO_BUFFER)
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("unsupported", f"this {kind} variant cannot be rewritten") from exc
    with output:
        mapping = {}
        filters = {}
        for in_stream in kept:
            try:
                out_stream = output.add_stream_from_template(in_stream)
            except (av.error.FFmpegError, ValueError) as exc:
                raise Rejected("unsupported", f"this {kind} codec cannot be rewritten") from exc
            out_stream.metadata.clear()
            if "language" in in_stream.metadata:
                out_stream.metadata["language"] = in_stream.metadata["language"]
            mapping[in_stream.index] = out_stream
            if description := SEI_FILTERS.get(in_stream.codec_context.name):
                filters[in_stream.index] = av.BitStreamFilterContext(
                    description, in_stream, out_stream
                )
                report.remove("supplemental data (SEI) in the video bitstream")
        output.metadata.clear()
        try:
            for packet in source.demux(kept):
                if packet.dts is None and packet.size == 0:
                    continue  # the demuxer's flush packet
                if packet.size > MAX_PACKET:
                    raise Rejected("malformed", "the file has an oversized packet")
                index = packet.stream.index
                bsf = filters.get(index)
                for out_packet in bsf.filter(packet) if bsf else (packet,):
                    out_packet.stream = mapping[index]
                    output.mux(out_packet)
                    packets += 1
            for index, bsf in filters.items():
                for out_packet in bsf.filter(None):
                    out_packet.stream = mapping[index]
                    output.mux(out_packet)
        except av.error.FFmpegError as exc:
            raise Rejected("malformed", f"the {kind} file is damaged") from exc
    return packets
