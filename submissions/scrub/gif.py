"""GIF: rebuilt block by block; the LZW image data is copied untouched.

Kept: header, screen descriptor, colour tables, graphic control (timing, transparency), image
descriptors and data, and the NETSCAPE2.0/ANIMEXTS1.0 looping extension, rebuilt from its
loop count alone (its sub-blocks could carry anything). Reserved bits are cleared. Dropped:
comments, plain text extensions, every other application extension (XMP lives in one, "XMP
DataXMP"; ICC profiles in another), unknown extensions, and anything after the trailer.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from .report import Rejected, Report
from .source import Source

LOOPING = {b"NETSCAPE2.0", b"ANIMEXTS1.0"}
MAX_BLOCKS = 200_000  # frames and extensions; a real animation has a few thousand at most


def _sub_blocks(src: Source, dst: BinaryIO | None) -> None:
    """Copy (or skip, with dst None) a chain of data sub-blocks up to its terminator."""
    while True:
        size = src.exact(1)
        data = src.exact(size[0]) if size[0] else b""
        if dst is not None:
            dst.write(size + data)
        if not size[0]:
            return


def _color_table(flags: int) -> int:
    return 3 * (2 ** ((flags & 0x07) + 1)) if flags & 0x80 else 0


def _loop_count(src: Source, report: Report) -> bytes | None:
    """The two-byte loop count of a looping extension; its other sub-blocks are dropped."""
    loop = None
    while size := src.exact(1)[0]:
        data = src.exact(size)
        if loop is None and size == 3 and data[0] == 1:
            loop = data[1:]
        else:
            report.remove("application extension data")
    return loop


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    src = Source(stream)
    report = Report(kind="gif", output_kind="gif")
    header = src.exact(13)
    if header[:6] not in (b"GIF87a", b"GIF89a"):
        raise Rejected("malformed", "not a GIF file")
    width, height, flags = struct.unpack("<HHB", header[6:11])
    if width * height > max_pixels:
        raise Rejected("too_many_pixels", "the image is over the pixel limit")
    dst.write(header + src.exact(_color_table(flags)))
    images = 0
    looped = False  # one looping extension is all a viewer reads
    for _ in range(MAX_BLOCKS):
        introducer = src.exact(1)
        if introducer == b"\x3b":  # trailer
            dst.write(introducer)
            break
        if introducer == b"\x2c":  # image descriptor
            descriptor = src.exact(9)
            table = src.exact(_color_table(descriptor[8]))
            descriptor = descriptor[:8] + bytes([descriptor[8] & 0xE7])  # reserved bits
            dst.write(introducer + descriptor + table + src.exact(1))  # + LZW minimum code size
            _sub_blocks(src, dst)
            images += 1
        elif introducer == b"\x21":
            label = src.exact(1)
            if label == b"\xf9":  # graphic control: fixed 4-byte block
                block = src.exact(6)
                if block[0] != 4 or block[5] != 0:
                    raise Rejected("malformed", "bad GIF graphic control block")
                dst.write(introducer + label + block[:1] + bytes([block[1] & 0x1F]) + block[2:])
            elif label == b"\xff":
                size = src.exact(1)
                ident = src.exact(size[0])
                loop = _loop_count(src, report) if ident in LOOPING else _sub_blocks(src, None)
                if loop is not None and not looped:
                    dst.write(introducer + label + size + ident + b"\x03\x01" + loop + b"\x00")
                    looped = True
                else:
                    report.remove("application extension (e.g. XMP)")
            else:
                _sub_blocks(src, None)
                report.remove({b"\xfe": "comment", b"\x01": "plain text"}.get(label, "extension"))
        else:
            raise Rejected("malformed", "bad GIF block")
    else:
        raise Rejected("malformed", "the GIF has too many blocks")
    if not images:
        raise Rejected("malformed", "the GIF has no image")
    if src.has_more():
        report.remove("data after the end of the image")
    return report
