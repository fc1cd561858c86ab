"""Audio and video: remuxed with PyAV (FFmpeg) keeping only the audio and video streams.

No re-encoding: packets are copied as they are, except where the codec itself carries text.
Not copied: container, stream and chapter metadata (Apple location keys, ©xyz, udta serials,
handler names, creation times), data streams (GoPro GPMF telemetry, timecode, Apple timed
metadata), subtitles, attachments, cover art, and tags appended after the audio (ID3v1, APEv2,
Lyrics3 v1/v2, ID3v2 with a footer), which demuxers would otherwise hand over as the last
packet. Written with FFmpeg's bitexact flags so the muxer adds no version string of its own.

Cleaned inside the codec data, in the decoder configuration (extradata) and in the packets:
- H.264/HEVC: SEI units dropped (x264/x265 write their version and every encoder setting
  there, phones their own user data); the configuration (avcC/hvcC, where x265 puts its SEI
  too) is rebuilt from parameter sets alone. AV1: metadata and padding OBUs, likewise.
- MPEG-4 Part 2 and MPEG-1/2 video: user data (start code 0x1B2: "XviD0050", "DivX503b1393p",
  camcorder data) cut out. DivX packed B-frames are unpacked first (FFmpeg's
  mpeg4_unpack_bframes): the decoder only recognised them by that user data.
- Motion-JPEG and PNG video: every frame is a picture file with its own EXIF (GPS, camera),
  XMP and comments; each is rebuilt by the photo scrubbers.
- Vorbis: the comment header (vendor string, tags) in the configuration is emptied.
- MP3: packets that are not an MPEG audio frame (tags, junk) dropped, frames cut to length.
Video in other codecs is refused: its frames are not known to be free of metadata (DV, for
one, records the date and camera settings in every frame).

Hostile input: the demuxer is chosen from the sniffed type, never probed (a playlist disguised
as MP4 cannot select the HLS demuxer and make FFmpeg open files or URLs), MOV external data
references are disabled, and stream counts and packet sizes are bounded. FFmpeg errors on the
input become `Rejected`; errors of our own streams (storage) come out as they are.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

import av
import av.error

from . import jpeg, png
from .report import Rejected, Report

# Fragments at each keyframe and at most a mebibyte: the muxer holds a fragment in memory
# before writing it, and a phone's or a camera's GOP can be tens of megabytes (10 s at 100
# Mbit/s: 125 MB). Capped, a video of any length is cleaned in constant memory, and faster.
FRAGMENT_BYTES = 1024 * 1024
FRAGMENTED = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
              "frag_size": str(FRAGMENT_BYTES), "fflags": "+bitexact"}  # fmt: skip
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
# Video codecs whose packets hold picture data only, once cleaned as below. Any other is
# refused: DV records the date and camera settings in every frame, TIFF/JPEG 2000/JPEG-LS
# frames are picture files with their own metadata, and unknown codecs are unknown.
VIDEO_CODECS = {"h264", "hevc", "av1", "vp8", "vp9", "mpeg4", "mpeg1video", "mpeg2video",
                "mjpeg", "png", "h263", "h263p", "flv1", "msmpeg4v2", "msmpeg4v3", "wmv1",
                "wmv2", "prores", "rawvideo", "qtrle", "ffv1", "cinepak"}  # fmt: skip
INPUT_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}
MAX_STREAMS = 32
MAX_PACKET = 64 * 1024 * 1024
IO_BUFFER = 1024 * 1024  # fewer, larger Python-level reads and writes
# FFmpeg bitstream filters, by codec, and what they take out. SEI units: x264/x265 write their
# version and every encoder setting there, phones their own user data. AV1 metadata OBUs hold
# the same kind of vendor data (ITU-T T.35), padding OBUs anything at all.
SEI = "supplemental data (SEI) in the video bitstream"
# Unit types that make the picture, an allowlist: anything else (SEI, filler, reserved and
# unspecified types, which decoders skip and so can carry anything) is dropped.
H264_UNITS = {1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13}  # slices, SPS/PPS, AUD, end marks, SPS ext.
HEVC_UNITS = set(range(10)) | set(range(16, 22)) | {32, 33, 34, 35, 36, 37}
KEPT_UNITS = {"h264": H264_UNITS, "hevc": HEVC_UNITS}


def _pass_types(types: set[int]) -> str:
    return "filter_units=pass_types=" + "|".join(str(t) for t in sorted(types))


BITSTREAM_FILTERS = {
    "h264": (_pass_types(H264_UNITS), SEI),
    "hevc": (_pass_types(HEVC_UNITS), SEI),
    "av1": (_pass_types({1, 2, 3, 4, 6, 7}), "metadata units (OBU) in the video bitstream"),
    # DivX "packed" B-frames, recognised by the decoder from the user data dropped below.
    "mpeg4": ("mpeg4_unpack_bframes", ""),
}
# What a clean output may still carry: structure, not provenance.
SAFE_KEYS = {"major_brand", "minor_version", "compatible_brands", "language", "DURATION"}
LANGUAGE = re.compile(r"[a-z]{3}")
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
        k
        for k, v in metadata.items()
        if (k not in SAFE_KEYS and (k, v) not in SAFE_VALUES)
        or (k == "language" and not LANGUAGE.fullmatch(v))
    )


def _codec(stream: Any) -> str:
    """The codec's own name ("mp3"), not its decoder's ("mp3float")."""
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else ""


# Tags appended after the media. ID3v1 (128 bytes, "TAG") and its extension ("TAG+", 227
# bytes before it); APEv2 (a 32-byte footer "APETAGEX" with the size); Lyrics3 v2 (a
# six-digit size, then "LYRICS200") and v1 ("LYRICSBEGIN" ... "LYRICSEND", at most 5100
# bytes); ID3v2.4 with a footer ("3DI", a mirror of the header with the size).
MAX_TRAILERS = 8
LYRICS3_V1_MAX = 5100 + 11 + 9


def _damaged_tag(name: str) -> Rejected:
    return Rejected("malformed", f"the {name} tag at the end of the file is damaged")


def _syncsafe(data: bytes) -> int | None:
    if len(data) != 4 or any(b & 0x80 for b in data):
        return None
    return data[0] << 21 | data[1] << 14 | data[2] << 7 | data[3]


def _trailing_tag(raw: BinaryIO, end: int) -> tuple[str, int] | None:
    """The tag that ends at `end`, as (name, size), if there is one."""
    raw.seek(max(end - 128, 0))
    tail = raw.read(end - max(end - 128, 0))
    if len(tail) == 128 and tail.startswith(b"TAG"):
        return "ID3v1 tag", 128
    if len(tail) >= 32 and tail[-32:-24] == b"APETAGEX":
        size, _count, flags = struct.unpack("<III", tail[-20:-8])
        total = size + (32 if flags & 0x80000000 else 0)
        if size < 32 or total > end:
            raise _damaged_tag("APE")
        return "APE tag", total
    if len(tail) >= 15 and tail.endswith(b"LYRICS200"):
        digits = tail[-15:-9]
        if not digits.isdigit() or int(digits) + 15 > end:
            raise _damaged_tag("Lyrics3")
        total = int(digits) + 15
        raw.seek(end - total)
        if raw.read(11) != b"LYRICSBEGIN":
            raise _damaged_tag("Lyrics3")
        return "Lyrics3 tag", total
    if len(tail) >= 20 and tail.endswith(b"LYRICSEND"):
        start = max(end - LYRICS3_V1_MAX, 0)
        raw.seek(start)
        begin = raw.read(end - start).rfind(b"LYRICSBEGIN")
        if begin < 0:
            raise _damaged_tag("Lyrics3")
        return "Lyrics3 tag", end - start - begin
    if len(tail) >= 10 and tail[-10:-7] == b"3DI":
        size = _syncsafe(tail[-4:])
        if size is None or size + 20 > end:
            raise _damaged_tag("ID3v2")
        raw.seek(end - size - 20)
        if raw.read(3) != b"ID3":
            raise _damaged_tag("ID3v2")
        return "ID3v2 tag", size + 20
    if end >= 227:
        raw.seek(end - 227)
        if raw.read(4) == b"TAG+":  # ID3v1's extension, found once ID3v1 itself is cut off
            return "ID3v1 tag", 227
    return None


def _audio_end(raw: BinaryIO, report: Report) -> int:
    """Where the media ends, once tags appended after it are cut off."""
    end = raw.seek(0, io.SEEK_END)
    for _ in range(MAX_TRAILERS):
        found = _trailing_tag(raw, end)
        if found is None:
            break
        name, size = found
        end -= size
        report.remove(name)
    else:
        if _trailing_tag(raw, end) is not None:
            raise Rejected("malformed", "the file ends in too many tags")
    raw.seek(0)
    return end


def _has_trailer(tail: bytes) -> bool:
    """The same tags, seen from the last bytes of a stream that cannot be seeked."""
    return (
        tail[-128:-125] == b"TAG"
        or b"APETAGEX" in tail
        or tail.endswith((b"LYRICS200", b"LYRICSEND"))
        or tail[-10:-7] == b"3DI"
    )


# Decoder configurations (extradata), rebuilt from what decoding needs. Each cleaner reports
# what it drops; a configuration it cannot parse is refused.
class _BadConfig(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise _BadConfig
        piece = self.data[self.pos : self.pos + size]
        self.pos += size
        return piece

    def byte(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def units(self, count: int) -> list[bytes]:
        return [self.take(self.u16()) for _ in range(count)]


START_CODE = re.compile(rb"\x00{2,}\x01")
H264_PARAMETER_SETS = {7, 8, 13}  # SPS, PPS, SPS extension
HEVC_PARAMETER_SETS = {32, 33, 34}  # VPS, SPS, PPS


def _nal_type(codec: str, unit: bytes) -> int:
    return unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F


def _sized(units: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(unit)) + unit for unit in units)


def _annex_b(codec: str, data: bytes, keep: set[int], report: Report) -> bytes:
    """Parameter sets written with start codes (H.264/HEVC in AVI, some MKV)."""
    units = [unit for unit in START_CODE.split(data) if unit]
    kept = [unit for unit in units if _nal_type(codec, unit) in keep]
    if len(kept) != len(units):
        report.remove("supplemental data (SEI) in the decoder configuration")
    return b"".join(b"\x00\x00\x00\x01" + unit for unit in kept)


def _avcc(data: bytes, report: Report) -> bytes:
    reader = _Reader(data)
    head = reader.take(5)
    if head[0] != 1:
        raise _BadConfig
    out = bytearray(head[:4]) + bytes([0xFC | head[4] & 0x03])
    dropped = False
    for prefix, mask, kind in ((0xE0, 0x1F, 7), (0x00, 0xFF, 8)):
        units = reader.units(reader.byte() & mask)
        kept = [unit for unit in units if unit and unit[0] & 0x1F == kind]
        dropped |= len(kept) != len(units)
        out += bytes([prefix | len(kept)]) + _sized(kept)
    if reader.pos < len(data):
        # High profiles: chroma format, bit depths, SPS extensions. Optional in practice.
        try:
            ext = reader.take(4)
            units = reader.units(ext[3])
        except _BadConfig:
            ext, units = b"", []
        if ext:
            kept = [unit for unit in units if unit and unit[0] & 0x1F == 13]
            dropped |= len(kept) != len(units)
            out += bytes([0xFC | ext[0] & 0x03, 0xF8 | ext[1] & 0x07, 0xF8 | ext[2] & 0x07,
                          len(kept)]) + _sized(kept)  # fmt: skip
    if dropped or reader.pos != len(data):
        report.remove("extra data in the decoder configuration")
    return bytes(out)


def _hvcc(data: bytes, report: Report) -> bytes:
    reader = _Reader(data)
    head = bytearray(reader.take(22))
    if head[0] != 1:
        raise _BadConfig
    for index, reserved in ((13, 0xF0), (15, 0xFC), (16, 0xFC), (17, 0xF8), (18, 0xF8)):
        head[index] |= reserved
    arrays = []
    for _ in range(reader.byte()):
        kind = reader.byte()
        units = reader.units(reader.u16())
        kept = [unit for unit in units if len(unit) >= 2 and _nal_type("hevc", unit) == kind & 0x3F]
        if kind & 0x3F not in HEVC_PARAMETER_SETS or len(kept) != len(units):
            # x265 writes its version and every option here, as an SEI array
            report.remove("supplemental data (SEI) in the decoder configuration")
        if kind & 0x3F in HEVC_PARAMETER_SETS:
            arrays.append(bytes([kind & 0xBF]) + struct.pack(">H", len(kept)) + _sized(kept))
    if reader.pos != len(data):
        report.remove("extra data in the decoder configuration")
    return bytes(head) + bytes([len(arrays)]) + b"".join(arrays)


def _leb128(reader: _Reader) -> int:
    value = 0
    for i in range(8):
        byte = reader.byte()
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    raise _BadConfig


def _av1c(data: bytes, report: Report) -> bytes:
    reader = _Reader(data)
    out = bytearray(reader.take(4))
    if out[0] != 0x81:  # marker and version 1
        raise _BadConfig
    while reader.pos < len(data):
        start = reader.pos
        header = reader.byte()
        if header & 0x04:  # extension header
            reader.byte()
        size = _leb128(reader) if header & 0x02 else len(data) - reader.pos
        reader.take(size)
        if (header >> 3) & 0x0F == 1:  # the sequence header: all decoding needs from here
            out += data[start : reader.pos]
        else:
            report.remove("metadata units (OBU) in the decoder configuration")
    return bytes(out)


USER_DATA = b"\x00\x00\x01\xb2"


def _without_user_data(data: bytes, report: Report) -> bytes:
    """MPEG-1/2/4 video without its user data: from each user data start code to the next
    start code (user data cannot hold 23 zero bits in a row, so cannot hide one)."""
    start = data.find(USER_DATA)
    if start < 0:
        return data
    report.remove("user data in the video bitstream (encoder name and version)")
    out = bytearray()
    pos = 0
    while start >= 0:
        out += data[pos:start]
        following = data.find(b"\x00\x00\x01", start + 4)
        pos = len(data) if following < 0 else following
        start = data.find(USER_DATA, pos)
    out += data[pos:]
    return bytes(out)


def _lace(size: int) -> bytes:
    return b"\xff" * (size // 255) + bytes([size % 255])


EMPTY_VORBIS_COMMENT = b"\x03vorbis" + struct.pack("<II", 0, 0) + b"\x01"
CLEAN_VENDORS = {b"", b"ffmpeg"}  # ours, and what FFmpeg's Ogg muxer writes (bitexact)


def _vorbis(data: bytes, report: Report) -> bytes:
    """The three Vorbis headers with the comment header (vendor string, tags) emptied."""
    reader = _Reader(data)
    if data[:2] == b"\x00\x1e":  # 16-bit sizes
        headers = [reader.take(reader.u16()) for _ in range(3)]
    elif reader.byte() == 2:  # Xiph lacing
        sizes = []
        for _ in range(2):
            size, byte = 0, 255
            while byte == 255:
                byte = reader.byte()
                size += byte
            sizes.append(size)
        headers = [reader.take(sizes[0]), reader.take(sizes[1])]
        headers.append(reader.take(len(data) - reader.pos))
    else:
        raise _BadConfig
    ident, comment, setup = headers
    if not (ident.startswith(b"\x01vorbis") and comment.startswith(b"\x03vorbis")
            and setup.startswith(b"\x05vorbis")):  # fmt: skip
        raise _BadConfig
    vendor = _Reader(comment[7:])
    vendor_name = vendor.take(int.from_bytes(vendor.take(4), "little"))
    if vendor_name not in CLEAN_VENDORS or vendor.take(4) != b"\0\0\0\0":
        report.remove("Vorbis comments (tags, encoder) in the decoder configuration")
    laced = b"\x02" + _lace(len(ident)) + _lace(len(EMPTY_VORBIS_COMMENT))
    return laced + ident + EMPTY_VORBIS_COMMENT + setup


def _clean_config(codec: str, data: bytes | None, report: Report) -> bytes | None:
    """A decoder configuration, cleaned; None to leave it as it is."""
    if not data:
        return None
    try:
        if codec in ("h264", "hevc") and START_CODE.match(data):
            keep = H264_PARAMETER_SETS if codec == "h264" else HEVC_PARAMETER_SETS
            return _annex_b(codec, data, keep, report)
        if codec == "h264":
            return _avcc(data, report)
        if codec == "hevc":
            return _hvcc(data, report)
        if codec == "av1":
            return _av1c(data, report)
        if codec in ("mpeg4", "mpeg1video", "mpeg2video"):
            return _without_user_data(data, report)
        if codec == "vorbis":
            return _vorbis(data, report)
    except _BadConfig:
        raise Rejected("malformed", f"the {codec} decoder configuration is damaged") from None
    if codec in ("mjpeg", "png"):  # not needed to decode; a place to hide things
        report.remove("extra data in the decoder configuration")
        return b""
    return _sized_config(codec, data, report)


# Decoder configurations of fixed layout: the bytes the codec reads, nothing after them.
# (MP3 and ADPCM in AVI/WAV carry their WAVEFORMAT extension: block sizes and coefficients.)
CONFIG_SIZES = {"alac": 36, "wmav1": 4, "wmav2": 10, "wmapro": 18, "wmv1": 4, "wmv2": 4,
                "mp3": 12, "mp2": 22, "adpcm_ima_wav": 2, "adpcm_ms": 32, "gsm_ms": 2}  # fmt: skip


def _sized_config(codec: str, data: bytes, report: Report) -> bytes:
    """Any other codec's configuration cut to the fields it has; refused when unknown.

    FFmpeg copies a configuration byte for byte and no decoder reads past its fields, so
    anything appended there (a name, coordinates) would ride along unseen.
    """
    if codec == "aac":  # AudioSpecificConfig: 2 bytes, 5 with the HE-AAC sync extension
        size = len(data) if len(data) <= 5 else 2
        frequency = (data[0] & 7) << 1 | data[1] >> 7 if len(data) > 1 else 15
        lc_like = data[0] >> 3 in (1, 2, 3, 4) and frequency != 15 and (data[1] >> 3) & 0xF
        if len(data) > 5 and not lc_like:
            raise Rejected("unsupported", "this AAC configuration cannot be checked")
    elif codec == "opus":  # OpusHead: 19 bytes, or 21 plus a channel map
        size = 19 if len(data) < 19 or data[18] == 0 else 21 + data[9]
    elif codec == "flac":  # STREAMINFO, with or without its block header
        size = 42 if data.startswith(b"fLaC") else 34
    elif codec in CONFIG_SIZES:
        size = CONFIG_SIZES[codec]
    else:
        raise Rejected("unsupported", f"the {codec} decoder configuration cannot be checked")
    if len(data) < size:
        raise Rejected("malformed", f"the {codec} decoder configuration is damaged")
    if len(data) > size:
        report.remove("data after the decoder configuration")
    return data[:size]


# Packets cleaned one by one, in Python, after FFmpeg's bitstream filters.
PacketCleaner = Callable[[bytes], bytes | None]  # None: drop the packet


def _entropy_end(data: bytes, pos: int) -> int | None:
    """Where the entropy-coded data starting at `pos` ends: at the first marker that is not
    a stuffed byte (FF 00), a restart marker or a fill byte."""
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(data):
            return None
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos = i + 2
        elif following == 0xFF:
            pos = i + 1
        else:
            return i


SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_end(data: bytes) -> tuple[int, int] | None:
    """Where the JPEG at the start of `data` ends (after its EOI), walking its segments, and
    the height its frame header gives."""
    if not data.startswith(b"\xff\xd8"):
        return None
    pos: int | None = 2
    height = 0
    while pos is not None and pos + 2 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker == 0xD9:
            return pos + 2, height
        else:
            if marker in SOF_MARKERS:
                height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:
                pos = _entropy_end(data, pos)
    return None


def _pictures(data: bytes, frame_height: int) -> list[bytes]:
    """A Motion-JPEG packet cut into its pictures: one, or two when interlaced (one per field,
    each half the frame's height). Bytes after a picture go with it, for its scrubber to drop:
    a decoder never shows them (an extra JPEG appended to a full frame among them)."""
    first = _jpeg_end(data)
    if first is None:
        return [data]  # the photo scrubber says what is wrong with it
    end, height = first
    second = data.find(b"\xff\xd8", end)  # padding may separate the fields
    if second < 0 or 4 * height >= 3 * frame_height:  # FFmpeg's test for a field
        return [data]
    return [data[:second], data[second:]]


def _picture_cleaner(stream: Any, max_pixels: int, report: Report) -> PacketCleaner:
    """Motion-JPEG and PNG video: each frame is a picture file, rebuilt by its scrubber."""
    mjpeg = _codec(stream) == "mjpeg"
    scrubber, label = (jpeg.scrub, "Motion-JPEG") if mjpeg else (png.scrub, "PNG")
    height = stream.codec_context.height

    def clean(data: bytes) -> bytes | None:
        out = io.BytesIO()
        try:
            for picture in _pictures(data, height) if mjpeg else [data]:
                frame = scrubber(io.BytesIO(picture), out, max_pixels=max_pixels)
                for item in frame.removed:
                    report.remove(f"{label} frames: {item}")
        except Rejected as exc:
            if exc.code not in ("malformed", "truncated"):
                raise
            report.remove(f"{label} frames: damaged frames")  # intra-only: nothing depends on them
            return None
        return out.getvalue()

    return clean


# MPEG audio frame sizes: bitrates (kbit/s) by (MPEG-1?, layer), sampling rates by version.
MP3_BITRATES = {
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
MP3_BITRATES[(False, 3)] = MP3_BITRATES[(False, 2)]
MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_size(header: bytes) -> int | None:
    """The size of the MPEG audio frame with this header; 0 for free format; None if the
    bytes are not a frame header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 0x03, 4 - ((header[1] >> 1) & 0x03)
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 0x03
    if version == 1 or layer == 4 or bitrate_index == 15 or rate_index == 3:
        return None
    if bitrate_index == 0:
        return 0
    bitrate = MP3_BITRATES[(version == 3, layer)][bitrate_index - 1] * 1000
    rate, padding = MP3_RATES[version][rate_index], (header[2] >> 1) & 0x01
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    return (144 if layer == 2 or version == 3 else 72) * bitrate // rate + padding


def _mp3_cleaner(report: Report) -> PacketCleaner:
    """An MP3 file is a run of frames; whatever the demuxer hands over that is not one (tags
    without a footer to find them by, junk) or that runs past a frame's end, is dropped."""

    def clean(data: bytes) -> bytes | None:
        size = _mp3_frame_size(data[:4])
        if size is None:
            report.remove("data between or after the audio frames")
            return None
        if size and len(data) > size:
            report.remove("data between or after the audio frames")
            return data[:size]
        return data

    return clean


def _packet_cleaner(
    stream: Any, kind: str, max_pixels: int, report: Report
) -> PacketCleaner | None:
    codec = _codec(stream)
    if codec in ("mjpeg", "png"):
        return _picture_cleaner(stream, max_pixels, report)
    if codec in ("mpeg4", "mpeg1video", "mpeg2video"):
        return lambda data: _without_user_data(data, report)
    if codec == "mp3" and kind == "mp3":
        return _mp3_cleaner(report)
    return None


def _length_prefixed(codec: str, extradata: bytes | None) -> int | None:
    """The NAL length size when H.264/HEVC packets are stored as MP4 and Matroska store them
    (each unit after its length; the configuration is an avcC/hvcC record), else None."""
    if codec not in KEPT_UNITS or not extradata or extradata[0] != 1:
        return None
    if codec == "h264" and len(extradata) >= 5:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) >= 23:
        return (extradata[21] & 3) + 1
    return None


def _sei_cleaner(codec: str, length_size: int, report: Report) -> Callable[[memoryview], Any]:
    """Units other than picture units (SEI first of all) dropped from length-prefixed packets
    by walking the lengths: a few steps per frame. FFmpeg's filter_units would rewrite every
    packet to Annex B for the muxer to convert back, four times the cost of the whole remux."""
    allowed = KEPT_UNITS[codec]

    def clean(data: memoryview) -> Any:
        pos, kept, size = 0, [], len(data)
        while pos < size:
            length = int.from_bytes(data[pos : pos + length_size], "big")
            end = pos + length_size + length
            if pos + length_size >= size or not length or end > size:
                raise Rejected("malformed", "a video frame is damaged")
            header = data[pos + length_size]
            kind = header & 0x1F if codec == "h264" else (header >> 1) & 0x3F
            if kind in allowed:
                kept.append(data[pos:end])
            pos = end
        if sum(map(len, kept)) == size:
            return data
        report.remove(SEI)
        return b"".join(kept)

    return clean


def _repacked(packet: Any, data: bytes) -> Any:
    """A new packet with the same timing and flags (and no side data) holding `data`."""
    new = av.Packet(data)
    new.pts, new.dts, new.duration = packet.pts, packet.dts, packet.duration
    new.time_base = packet.time_base
    new.is_keyframe = packet.is_keyframe
    return new


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
        if kind == "isobmff":
            _declared_samples_fit(stream, total)
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
        report.category = "video" if any(s.type == "video" for s in kept) else "audio"
        if source.duration and source.duration > 0:  # microseconds (FFmpeg's AV_TIME_BASE)
            report.duration = round(source.duration / 1_000_000, 1)
        if muxer == "mp4" and any(_codec(s) not in MP4_CODECS for s in kept):
            muxer = "mov"
        packets = _remux(source, kept, dst, muxer, muxer_options, kind, report, max_pixels)
    if not packets:
        raise Rejected("malformed", "the file has no audio or video data")
    if tail is not None:
        tail.drain()
        if _has_trailer(tail.tail):
            report.remove("tag appended after the media")
    return report


# Boxes that hold the sample tables, and the tables: FFmpeg's MOV demuxer allocates an index
# entry per sample a track declares before it reads a byte of them.
SAMPLE_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf"}
SLACK_SAMPLES = 1_000_000  # empty samples exist; a million of them costs 24 MB of index


def _declared_samples_fit(stream: BinaryIO, total: int) -> None:
    """Refuse an MP4/MOV whose tracks declare more samples than the file has bytes.

    A 6 KB file declaring 50 million samples made FFmpeg allocate 3.5 GB and spend 11 s
    before any of our limits ran. Samples take at least a byte each (a constant size says
    how many), so the sum can't pass the file's size. Only box headers and the few bytes
    with the counts are read, by seeking.
    """
    declared = 0

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal declared
        offset = start
        while offset + 8 <= end:
            stream.seek(offset)
            header = stream.read(16)
            size, kind = struct.unpack(">I4s", header[:8])
            body = offset + 8
            if size == 1 and len(header) == 16:
                size, body = struct.unpack(">Q", header[8:])[0], offset + 16
            elif size == 0:
                size = end - offset
            if size < body - offset or offset + size > end:
                return  # FFmpeg reports what it makes of a broken box; nothing allocated here
            if kind in SAMPLE_CONTAINERS and depth < 8:
                walk(body, offset + size, depth + 1)
            elif kind in (b"stsz", b"stz2", b"trun"):
                stream.seek(body)
                fields = stream.read(12)
                if len(fields) == 12:
                    declared += _samples(kind, fields, offset + size - body)
                if declared > max(total, SLACK_SAMPLES):
                    raise Rejected("malformed", "the file declares more samples than it holds")
            offset += size

    walk(0, total, 0)


def _samples(kind: bytes, fields: bytes, body_size: int) -> int:
    """Samples a table declares, counted as bytes of the file they must take at least."""
    flags = int.from_bytes(fields[1:4], "big")
    if kind == b"stsz":  # version/flags, constant size (0: a table follows), count
        size, count = struct.unpack(">II", fields[4:12])
        return count * max(1, size)
    count = int.from_bytes(fields[4:8], "big")
    if kind == b"stz2":  # version/flags, 24 reserved bits + field size, count
        return count
    # trun: per-sample entries only for the fields its flags name; without them, a count
    # alone (and the defaults elsewhere) can claim any number.
    per_sample = 4 * bin(flags & 0xF00).count("1")
    if per_sample and count * per_sample > body_size:
        raise Rejected("malformed", "the file declares more samples than it holds")
    return count


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
    remove (streams, tags, chapters, decoder configurations), and nothing may follow the
    media. Packets are not re-read: they were copied or cleaned above, and the header says
    what they are."""
    report = Report(kind=kind, output_kind=kind)
    head = bytes(recorded.head)
    if kind == "isobmff":  # ours is fragmented: ftyp and moov first, then the fragments
        head = head[: _end_of_moov(head)]
    try:
        source = av.open(io.BytesIO(head), mode="r", format=FORMATS[kind][0],
                         options=INPUT_OPTIONS)  # fmt: skip
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("verification_failed", "the cleaned file could not be read") from exc
    with source:
        _select_streams(source, report, max_pixels)
        if source.chapters():
            report.remove("chapters")
    if _has_trailer(recorded.tail):
        report.remove("tag appended after the media")
    return report


def _end_of_moov(head: bytes) -> int:
    """Where the movie header ends: what the demuxer needs to list streams, tags and
    configurations, without walking the fragments that follow (a fifth of the check's time)."""
    offset = 0
    while offset + 8 <= len(head):
        size, kind = struct.unpack_from(">I4s", head, offset)
        if size < 8:
            break
        offset += size
        if kind == b"moov":
            return min(offset, len(head))
    return len(head)


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
        context = in_stream.codec_context
        if context is None:
            raise Rejected("unsupported", f"the file's {in_stream.type} codec cannot be read")
        if in_stream.type == "video":
            if _codec(in_stream) not in VIDEO_CODECS:
                raise Rejected(
                    "unsupported", f"video in the {_codec(in_stream)} format cannot be cleaned"
                )
            if context.width * context.height > max_pixels:
                raise Rejected("too_many_pixels", "the video frame is over the pixel limit")
        if names := _identifying(dict(in_stream.metadata)):
            report.remove(f"{in_stream.type} stream metadata (" + ", ".join(names) + ")")
        _clean_config(_codec(in_stream), context.extradata, report)  # the verifier's pass
        kept.append(in_stream)
    if not kept:
        raise Rejected("malformed", "the file has no audio or video")
    return kept


def _remux(source: Any, kept: list[Any], dst: BinaryIO, muxer: str, options: dict[str, str],
           kind: str, report: Report, max_pixels: int) -> int:  # fmt: skip
    try:
        output = av.open(dst, mode="w", format=muxer, options=options, buffer_size=IO_BUFFER)
    except (av.error.FFmpegError, ValueError) as exc:
        raise Rejected("unsupported", f"this {kind} variant cannot be rewritten") from exc
    try:
        with output:
            return _copy_packets(source, kept, output, kind, report, max_pixels)
    except (av.error.FFmpegError, ValueError) as exc:
        # Closing the output (its trailer) may fail after a refusal: the refusal stands.
        if isinstance(exc.__context__, Rejected):
            raise exc.__context__ from None
        raise Rejected("malformed", f"the {kind} file is damaged") from exc


def _copy_packets(source: Any, kept: list[Any], output: Any, kind: str, report: Report,
                  max_pixels: int) -> int:  # fmt: skip
    mapping = {}
    filters = {}
    cleaners: dict[int, PacketCleaner] = {}
    views: dict[int, Callable[[memoryview], Any]] = {}  # cleaners that read packets in place
    for in_stream in kept:
        try:
            out_stream = output.add_stream_from_template(in_stream)
        except (av.error.FFmpegError, ValueError) as exc:
            raise Rejected("unsupported", f"this {kind} codec cannot be rewritten") from exc
        out_stream.metadata.clear()
        language = in_stream.metadata.get("language", "")
        if LANGUAGE.fullmatch(language):  # an ISO 639-2 code, not any string in its place
            out_stream.metadata["language"] = language
        index = in_stream.index
        mapping[index] = out_stream
        length_size = _length_prefixed(_codec(in_stream), in_stream.codec_context.extradata)
        if length_size:
            views[index] = _sei_cleaner(_codec(in_stream), length_size, report)
        elif found := BITSTREAM_FILTERS.get(_codec(in_stream)):
            description, label = found
            filters[index] = av.BitStreamFilterContext(description, in_stream, out_stream)
            if label:
                report.remove(label)
        # The configuration the filter passes on (as Annex B, for H.264/HEVC).
        config = _clean_config(_codec(in_stream), out_stream.codec_context.extradata, report)
        if config is not None:
            out_stream.codec_context.extradata = config or None
        if cleaner := _packet_cleaner(in_stream, kind, max_pixels, report):
            cleaners[index] = cleaner
    output.metadata.clear()
    packets = 0

    def mux(index: int, packet: Any) -> None:
        nonlocal packets
        if cleaner := cleaners.get(index):
            data = bytes(packet)
            clean = cleaner(data)
            if clean is None:
                return
            if clean != data:
                packet = _repacked(packet, clean)
        elif view := views.get(index):
            with memoryview(packet) as data:
                clean = view(data)
                if clean is not data:
                    packet = _repacked(packet, clean)
        if packet.buffer_size and next(packet.iter_sidedata(), None) is not None:
            packet = _repacked(packet, bytes(packet))  # side data can carry anything
            report.remove("packet side data")
        packet.stream = mapping[index]
        output.mux(packet)
        packets += 1

    # Streams whose packets go through untouched (audio, mostly) take the short way: a
    # 200 MB video is thousands of packets, and this loop is the remux's only Python.
    untouched = {i: mapping[i] for i in mapping if i not in filters | cleaners | views}
    for packet in source.demux(kept):
        size = packet.size
        if size > MAX_PACKET:
            raise Rejected("malformed", "the file has an oversized packet")
        if not size and packet.dts is None:
            continue  # the demuxer's flush packet
        index = packet.stream_index
        if target := untouched.get(index):
            if next(packet.iter_sidedata(), None) is not None:
                packet = _repacked(packet, bytes(packet))  # side data can carry anything
                report.remove("packet side data")
            packet.stream = target
            output.mux(packet)
            packets += 1
            continue
        bsf = filters.get(index)
        for out_packet in bsf.filter(packet) if bsf else (packet,):
            mux(index, out_packet)
    for index, bsf in filters.items():
        for out_packet in bsf.filter(None):
            mux(index, out_packet)
    return packets
