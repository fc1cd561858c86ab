"""HEIF stills (HEIC from phones, AVIF): rebuilt box by box; the coded image data copied as is.

A HEIF file is a `meta` box that lists items (the coded picture, its tiles, a thumbnail, EXIF,
XMP, depth and HDR gain maps...) with their properties and where their bytes are (`iloc`), plus
an `mdat` holding those bytes. We keep the primary picture only: its tiles when it is a grid, its
alpha plane, and the properties needed to display it (size, channels, colour format, rotation,
mirroring, cropping), each written anew from its parsed fields, so no byte rides along after
them. Everything else is left out and named in the report: EXIF items (GPS, camera, serial,
times), XMP, thumbnails (they show the picture before it was cropped), depth and gain maps, ICC
profiles, item and handler names, unknown boxes and properties, image-sequence tracks.

Inside the coded data only the units that make the picture are kept: HEVC slices of the base
layer and parameter sets, AV1 sequence and frame units. SEI (encoder strings, vendor data),
AV1 metadata, reserved and extra-layer units are removed, and an item holding a second picture
is refused. What we cannot judge without decoding is the inside of a slice or frame (bytes an
attacker appends after the coded data): `TIPLINE_REENCODE_IMAGES` decodes and re-encodes for
deployments that fear that, as it does for JPEG.

The output is written afresh — our own `ftyp`, `meta` and one `mdat` — so nothing between or
after the boxes survives. Orientation lives in `irot`/`imir` (HEIF ignores EXIF orientation), so
the photo stays upright. Every count and size is bounded before it is looped over.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .report import Rejected, Report
from .source import read_capped

MAX_BYTES = 256 * 1024 * 1024
MAX_ITEMS = 4096  # a 48-megapixel phone photo has a few hundred tiles
MAX_PROPERTIES = 4096
MAX_REFERENCES = 4 * MAX_ITEMS
MAX_EXTENTS = 64  # per item; phones write one
MAX_LINKS = 255  # property associations per item (the format's own limit)
ALPHA_URNS = {b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"}
CODED = {b"hvc1", b"av01"}
# HEVC NAL unit types kept in picture data: the defined coded-slice types (TRAIL..RASL 0-9,
# BLA/IDR/CRA 16-21) and parameter sets (32-34). Reserved types (10-15, 22-31) may carry anything.
HEVC_SLICES = set(range(10)) | set(range(16, 22))
HEVC_PARAMETER_SETS = {32, 33, 34}
HEVC_SEI = {39, 40}
# AV1 OBU types: sequence header, temporal delimiter, frame header, tile group, metadata, frame.
AV1_SEQUENCE, AV1_DELIMITER, AV1_FRAME_HEADER, AV1_TILES, AV1_METADATA, AV1_FRAME = 1, 2, 3, 4, 5, 6
# Brands are four-character codes any writer may invent: only the standard ones and Apple's
# (shared by every iPhone) are written back.
KNOWN_BRANDS = {
    b"mif1", b"mif2", b"miaf", b"heic", b"heix", b"heim", b"heis", b"avif", b"avis",
    b"MiHE", b"MiHB", b"MiHA", b"MiPr", b"MA1A", b"MA1B", b"msf1",
}  # fmt: skip
_ITEM_NAMES = {
    b"Exif": "EXIF (camera, GPS, times)",
    b"mime": "XMP or other embedded metadata",
    b"uri ": "URI metadata",
    b"hvc1": "other pictures (thumbnails, depth or gain maps)",
    b"av01": "other pictures (thumbnails, depth or gain maps)",
    b"grid": "other pictures (thumbnails, depth or gain maps)",
}


def _u(data: bytes, offset: int, size: int) -> int:
    if size == 0:
        return 0
    if offset < 0 or offset + size > len(data):
        raise Rejected("malformed", "the HEIF file is truncated")
    return int.from_bytes(data[offset : offset + size], "big")


def _boxes(
    data: bytes, start: int, end: int, *, limit: int = MAX_ITEMS
) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, box end) for each box in data[start:end]; at most `limit` boxes."""
    offset, count = start, 0
    while offset < end:
        count += 1
        if count > limit:
            raise Rejected("too_large", "the HEIF file holds too many boxes")
        if end - offset < 8:
            raise Rejected("malformed", "the HEIF file has a truncated box")
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            size = _u(data, offset + 8, 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise Rejected("malformed", "the HEIF file has a box that overruns its container")
        yield kind, offset + header, offset + size
        offset += size


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body) + 8, kind) + body


def _full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + body)


def _name(kind: bytes) -> str:
    """A four-character code for the report (structure names only, printable or hex)."""
    text = kind.decode("latin-1")
    return text if text.isprintable() and text.isascii() else kind.hex()


@dataclass
class _Item:
    id: int
    type: bytes
    flags: int
    extents: list[tuple[int, int, int]] = field(default_factory=list)  # (method, offset, length)
    properties: list[tuple[bool, int]] = field(default_factory=list)  # (essential, index)


@dataclass
class _Meta:
    primary: int = 0
    items: dict[int, _Item] = field(default_factory=dict)
    references: dict[bytes, list[tuple[int, list[int]]]] = field(default_factory=dict)
    properties: list[tuple[bytes, bytes]] = field(default_factory=list)  # (type, body)
    idat: bytes = b""

    def property(self, item: _Item, kind: bytes) -> bytes | None:
        for _essential, index in item.properties:
            if 0 < index <= len(self.properties) and self.properties[index - 1][0] == kind:
                return self.properties[index - 1][1]
        return None


def _parse_iinf(data: bytes, body: int, end: int, meta: _Meta, report: Report) -> None:
    count_size = 2 if _u(data, body, 1) == 0 else 4
    if _u(data, body + 4, count_size) > MAX_ITEMS:
        raise Rejected("too_large", "the HEIF file lists too many items")
    for kind, start, stop in _boxes(data, body + 4 + count_size, end):
        if kind != b"infe":
            continue
        version = _u(data, start, 1)
        if version not in (2, 3):
            raise Rejected("unsupported", "this HEIF item list version is not supported")
        id_size = 2 if version == 2 else 4
        item_id = _u(data, start + 4, id_size)
        item_type = data[start + 6 + id_size : start + 10 + id_size]
        if _u(data, start + 4 + id_size, 2):
            raise Rejected("unsupported", "protected (encrypted) HEIF items cannot be cleaned")
        if start + 10 + id_size < stop and data[start + 10 + id_size] != 0:
            report.remove("item names")
        if item_id in meta.items:
            raise Rejected("malformed", "the HEIF file lists an item twice")
        meta.items[item_id] = _Item(item_id, item_type, _u(data, start + 1, 3))


def _parse_iloc(data: bytes, body: int, end: int, meta: _Meta) -> None:
    version = _u(data, body, 1)
    if version > 2:
        raise Rejected("unsupported", "this HEIF item location version is not supported")
    sizes = _u(data, body + 4, 2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, (sizes & 0xF if version else 0)
    if {offset_size, length_size, base_size} - {0, 4, 8}:
        raise Rejected("malformed", "the HEIF item locations are malformed")
    pos = body + 6
    count_size = 4 if version == 2 else 2
    count = _u(data, pos, count_size)
    pos += count_size
    if count > MAX_ITEMS:
        raise Rejected("too_large", "the HEIF file lists too many items")
    for _ in range(count):
        item_id = _u(data, pos, count_size)
        pos += count_size
        method = 0
        if version:
            method = _u(data, pos, 2) & 0xF
            pos += 2
        reference = _u(data, pos, 2)
        base = _u(data, pos + 2, base_size)
        extents = _u(data, pos + 2 + base_size, 2)
        pos += 4 + base_size
        if reference or method not in (0, 1):
            raise Rejected("unsupported", "HEIF items stored outside the file are not supported")
        if extents > MAX_EXTENTS:
            raise Rejected("unsupported", "a HEIF item is split into too many pieces")
        item = meta.items.get(item_id)
        for _ in range(extents):
            pos += index_size
            offset = base + _u(data, pos, offset_size)
            length = _u(data, pos + offset_size, length_size)
            pos += offset_size + length_size
            if length == 0 and extents > 1:
                raise Rejected("malformed", "the HEIF item locations are malformed")
            if item is not None:
                item.extents.append((method, offset, length))
        if pos > end:
            raise Rejected("malformed", "the HEIF item locations are truncated")


def _parse_iref(data: bytes, body: int, end: int, meta: _Meta) -> None:
    id_size = 2 if _u(data, body, 1) == 0 else 4
    total = 0
    for kind, start, stop in _boxes(data, body + 4, end, limit=MAX_REFERENCES):
        source = _u(data, start, id_size)
        count = _u(data, start + id_size, 2)
        total += count
        if total > MAX_REFERENCES:
            raise Rejected("too_large", "the HEIF file holds too many item references")
        if start + id_size + 2 + count * id_size > stop:
            raise Rejected("malformed", "the HEIF item references are truncated")
        targets = [_u(data, start + id_size + 2 + i * id_size, id_size) for i in range(count)]
        meta.references.setdefault(kind, []).append((source, targets))


def _parse_iprp(data: bytes, body: int, end: int, meta: _Meta) -> None:
    for kind, start, stop in _boxes(data, body, end):
        if kind == b"ipco":
            for prop, prop_start, prop_stop in _boxes(data, start, stop, limit=MAX_PROPERTIES):
                meta.properties.append((prop, data[prop_start:prop_stop]))
        elif kind == b"ipma":
            _parse_ipma(data, start, stop, meta)


def _parse_ipma(data: bytes, body: int, end: int, meta: _Meta) -> None:
    version, flags = _u(data, body, 1), _u(data, body + 1, 3)
    id_size, index_size = (2 if version == 0 else 4), (2 if flags & 1 else 1)
    top = 1 << (8 * index_size - 1)  # the essential bit
    entries = _u(data, body + 4, 4)
    if entries > MAX_ITEMS:
        raise Rejected("too_large", "the HEIF file lists too many items")
    pos = body + 8
    for _ in range(entries):
        item = meta.items.get(_u(data, pos, id_size))
        count = _u(data, pos + id_size, 1)
        pos += id_size + 1
        for _ in range(count):
            value = _u(data, pos, index_size)
            pos += index_size
            link = (bool(value & top), value & (top - 1))
            if item is not None and link not in item.properties:
                item.properties.append(link)
        if pos > end:
            raise Rejected("malformed", "the HEIF property associations are truncated")


def _parse_meta(data: bytes, body: int, end: int, report: Report) -> _Meta:
    meta = _Meta()
    children = list(_boxes(data, body + 4, end))  # meta is a full box
    seen = [kind for kind, _, _ in children]
    for kind in (b"hdlr", b"pitm", b"iinf", b"iloc", b"iprp", b"iref", b"idat"):
        if seen.count(kind) > 1:  # parsers disagree on which one counts: refuse the ambiguity
            raise Rejected("malformed", f"the HEIF file has two {_name(kind)} boxes")
    if not {b"hdlr", b"pitm", b"iinf", b"iloc", b"iprp"} <= set(seen):
        raise Rejected("malformed", "the HEIF file has no primary picture")
    # iinf first: iloc and ipma refer to its items.
    for kind, start, stop in children:
        if kind == b"iinf":
            _parse_iinf(data, start, stop, meta, report)
    for kind, start, stop in children:
        if kind == b"pitm":
            meta.primary = _u(data, start + 4, 2 if _u(data, start, 1) == 0 else 4)
        elif kind == b"iloc":
            _parse_iloc(data, start, stop, meta)
        elif kind == b"iref":
            _parse_iref(data, start, stop, meta)
        elif kind == b"iprp":
            _parse_iprp(data, start, stop, meta)
        elif kind == b"idat":
            meta.idat = data[start:stop]
        elif kind == b"hdlr":
            if data[start + 8 : start + 12] != b"pict":
                raise Rejected("unsupported", "this HEIF file holds no picture")
            if data[start + 24 : stop].strip(b"\0"):
                report.remove("handler name")
        elif kind in (b"iinf", b"dinf"):
            continue  # read above; data references: ours say "in this file" (checked in iloc)
        else:
            report.remove(f"{_name(kind)} box")
    if meta.primary not in meta.items:
        raise Rejected("malformed", "the HEIF file has no primary picture")
    return meta


def _item_bytes(data: bytes, meta: _Meta, item: _Item) -> bytes:
    parts = []
    for method, offset, length in item.extents:
        pool = data if method == 0 else meta.idat
        if length == 0:
            length = len(pool) - offset  # a single extent "to the end of the file"
        if offset + length > len(pool):
            raise Rejected("malformed", "the HEIF file is truncated (item data missing)")
        parts.append(pool[offset : offset + length])
    if not parts:
        raise Rejected("malformed", "a HEIF picture item has no data")
    return b"".join(parts)


# --- coded data -------------------------------------------------------------------------------


def _hevc_nal_kind(unit: bytes) -> tuple[int, int]:
    """(NAL unit type, layer id) from a two-byte HEVC NAL header."""
    if len(unit) < 3 or unit[0] & 0x80:
        raise Rejected("malformed", "the HEVC picture data is malformed")
    return (unit[0] >> 1) & 0x3F, ((unit[0] & 1) << 5) | (unit[1] >> 3)


def _hevc_config(body: bytes, report: Report) -> tuple[bytes, int]:
    """An hvcC with its fixed fields re-serialised and only base-layer VPS/SPS/PPS units
    (encoders put their settings in SEI arrays)."""
    if len(body) < 23 or body[0] != 1:
        raise Rejected("malformed", "the HEVC configuration is malformed")
    length_size = (body[21] & 3) + 1
    if length_size == 3:
        raise Rejected("malformed", "the HEVC configuration is malformed")
    header = bytearray(body[:22])
    # Reserved bits set as the format says, so none can carry a bit of anything.
    header[13] |= 0xF0
    header[15] |= 0xFC
    header[16] |= 0xFC
    header[17] |= 0xF8
    header[18] |= 0xF8
    pos, arrays = 23, []
    for _ in range(body[22]):
        array_type, count = _u(body, pos, 1), _u(body, pos + 1, 2)
        pos += 3
        units = []
        for _ in range(count):
            size = _u(body, pos, 2)
            unit = body[pos + 2 : pos + 2 + size]
            pos += 2 + size
            if pos > len(body):
                raise Rejected("malformed", "the HEVC configuration is truncated")
            nal_type, layer = _hevc_nal_kind(unit)
            if nal_type in HEVC_PARAMETER_SETS and nal_type == array_type & 0x3F and not layer:
                units.append(struct.pack(">H", size) + unit)
            else:
                report.remove("HEVC SEI (encoder settings)" if nal_type in HEVC_SEI
                              else "HEVC configuration units")  # fmt: skip
        if units:
            arrays.append(
                bytes([array_type & 0xBF]) + struct.pack(">H", len(units)) + b"".join(units)
            )
    if pos != len(body):
        report.remove("data after the HEVC configuration")
    if {array[0] & 0x3F for array in arrays} != HEVC_PARAMETER_SETS:
        raise Rejected("unsupported", "this HEVC picture keeps its parameter sets elsewhere")
    return _box(b"hvcC", bytes(header) + bytes([len(arrays)]) + b"".join(arrays)), length_size


def _hevc_units(data: bytes, length_size: int, report: Report) -> bytes:
    """The slices of one picture and its parameter sets; nothing else."""
    out, pos, pictures = [], 0, 0
    while pos < len(data):
        length = _u(data, pos, length_size)
        unit = data[pos + length_size : pos + length_size + length]
        if length == 0 or pos + length_size + length > len(data):
            raise Rejected("malformed", "the HEVC picture data is truncated")
        nal_type, layer = _hevc_nal_kind(unit)
        if layer:
            report.remove("HEVC extra layers")
        elif nal_type in HEVC_SLICES:
            pictures += unit[2] >> 7  # first_slice_segment_in_pic_flag: a new picture starts
            out.append(data[pos : pos + length_size + length])
        elif nal_type in HEVC_PARAMETER_SETS:  # a copy of what hvcC holds: one place is enough
            report.remove("HEVC in-band parameter sets")
        elif nal_type in HEVC_SEI:
            report.remove("HEVC SEI (encoder settings, vendor data)")
        else:
            report.remove("HEVC non-picture units")
        pos += length_size + length
    if pictures != 1:
        raise Rejected("unsupported", "a HEIF picture item does not hold exactly one picture")
    return b"".join(out)


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = _u(data, pos + i, 1)
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise Rejected("malformed", "the AV1 picture data is malformed")


def _av1_obus(data: bytes, report: Report) -> bytes:
    """One sequence header and one frame (or a frame header and its tile groups)."""
    out, pos = [], 0
    counts = {AV1_SEQUENCE: 0, AV1_FRAME: 0}
    while pos < len(data):
        header = data[pos]
        obu_type, extension, has_size = (header >> 3) & 0xF, header & 4, header & 2
        if header & 0x81 or extension or not has_size:
            raise Rejected("unsupported", "this AV1 picture data layout is not supported")
        size, body = _leb128(data, pos + 1)
        if body + size > len(data):
            raise Rejected("malformed", "the AV1 picture data is truncated")
        if obu_type in (AV1_SEQUENCE, AV1_FRAME, AV1_FRAME_HEADER, AV1_TILES):
            kind = AV1_FRAME if obu_type == AV1_FRAME_HEADER else obu_type
            if kind in counts:
                counts[kind] += 1
            out.append(data[pos : body + size])
        elif obu_type == AV1_METADATA:
            report.remove("AV1 metadata")
        elif obu_type != AV1_DELIMITER or size:  # empty delimiters: dropped, nothing in them
            report.remove("AV1 padding or unknown units")
        pos = body + size
    if counts[AV1_FRAME] != 1 or counts[AV1_SEQUENCE] > 1:
        raise Rejected("unsupported", "a HEIF picture item does not hold exactly one picture")
    return b"".join(out)


# --- items and properties -----------------------------------------------------------------------


def _grid(raw: bytes) -> tuple[int, int, int, int]:
    """(rows, columns, width, height) of a grid description: 8 bytes, or 12 with 32-bit sizes."""
    if len(raw) < 8 or raw[0] != 0 or len(raw) != (12 if raw[1] & 1 else 8):
        raise Rejected("malformed", "the HEIF grid description is malformed")
    size = 4 if raw[1] & 1 else 2
    return raw[2] + 1, raw[3] + 1, _u(raw, 4, size), _u(raw, 4 + size, size)


def _size(meta: _Meta, item: _Item) -> tuple[int, int]:
    ispe = meta.property(item, b"ispe")
    if ispe is None or len(ispe) < 12:
        raise Rejected("malformed", "a HEIF picture has no size")
    return _u(ispe, 4, 4), _u(ispe, 8, 4)


def _with_tiles(data: bytes, meta: _Meta, item: _Item, max_pixels: int) -> list[int]:
    """An image item and, for a grid, exactly its rows x columns coded tiles."""
    if item.type in CODED:
        return [item.id]
    if item.type != b"grid":
        # The item type is four bytes of the file: not echoed in a reason stored in clear.
        raise Rejected("unsupported", "this kind of HEIF picture is not supported")
    rows, columns, width, height = _grid(_item_bytes(data, meta, item))
    if width * height > max_pixels:
        raise Rejected("too_many_pixels", "the image is over the pixel limit")
    tiles = [targets for source, targets in meta.references.get(b"dimg", []) if source == item.id]
    if len(tiles) != 1 or len(tiles[0]) != rows * columns:
        raise Rejected("malformed", "a HEIF grid does not list its tiles")
    for tile in tiles[0]:
        if tile not in meta.items or meta.items[tile].type not in CODED:
            raise Rejected("unsupported", "nested or missing HEIF grid tiles are not supported")
    return [item.id, *tiles[0]]


def _kept_items(data: bytes, meta: _Meta, report: Report, max_pixels: int) -> list[int]:
    """The primary picture (with its tiles) and its alpha plane, nothing else."""
    primary = meta.items[meta.primary]
    kept = _with_tiles(data, meta, primary, max_pixels)
    for source, targets in meta.references.get(b"auxl", []):
        item = meta.items.get(source)
        if meta.primary not in targets or item is None or source in kept:
            continue
        urn = (meta.property(item, b"auxC") or b"\0" * 4)[4:].split(b"\0", 1)[0]
        pixi = meta.property(item, b"pixi")
        if (
            urn in ALPHA_URNS
            and item.type in CODED | {b"grid"}
            and (pixi is None or pixi[4:5] == b"\x01")  # one channel
            and _size(meta, item) == _size(meta, primary)
            and not any(i in kept for i in _with_tiles(data, meta, item, max_pixels))
        ):
            kept += _with_tiles(data, meta, item, max_pixels)
            break  # one alpha plane
    for item in meta.items.values():
        if item.id not in kept:
            report.remove(_ITEM_NAMES.get(item.type, f"{_name(item.type)} items"))
    if b"thmb" in meta.references:
        report.remove("thumbnails")
    kept = list(dict.fromkeys(kept))  # a tile may be used twice; its data is written once
    total = 0
    for item_id in kept:
        if meta.items[item_id].type in CODED:
            width, height = _size(meta, meta.items[item_id])
            total += width * height
            if width * height > max_pixels or total > 2 * max_pixels:  # tiles overlap the edge
                raise Rejected("too_many_pixels", "the image is over the pixel limit")
    return kept


def _exact(kind: bytes, body: bytes, length: int, report: Report) -> bytes:
    if len(body) < length:
        raise Rejected("malformed", f"the HEIF {_name(kind)} property is truncated")
    if len(body) > length:
        report.remove("data after image properties")
    return body[:length]


def _property(kind: bytes, body: bytes, alpha: bool, report: Report) -> bytes | None:
    """The property written anew from its fields, or None to leave it out."""
    if kind == b"ispe":
        return _full_box(b"ispe", 0, 0, _exact(kind, body, 12, report)[4:])
    if kind == b"pixi":
        channels = _u(body, 4, 1)
        return _full_box(b"pixi", 0, 0, _exact(kind, body, 5 + channels, report)[4:])
    if kind == b"irot":
        return _box(b"irot", bytes([_exact(kind, body, 1, report)[0] & 3]))
    if kind == b"imir":
        return _box(b"imir", bytes([_exact(kind, body, 1, report)[0] & 1]))
    if kind == b"clap":  # 4 fractions: the crop's size and offset
        return _box(b"clap", _exact(kind, body, 32, report))
    if kind == b"pasp":
        return _box(b"pasp", _exact(kind, body, 8, report))
    if kind == b"av1C":
        # Four fixed bytes, then optional config OBUs (metadata can ride there): dropped, the
        # sequence header is in the picture data.
        if len(body) > 4:
            report.remove("AV1 configuration units")
        if len(body) < 4 or body[0] != 0x81:
            raise Rejected("malformed", "the AV1 configuration is malformed")
        return _box(b"av1C", body[:4])
    if kind == b"colr" and body[:4] == b"nclx":
        fields = _exact(kind, body, 11, report)
        return _box(b"colr", fields[:10] + bytes([fields[10] & 0x80]))  # primaries..full range
    if kind == b"colr":
        report.remove("ICC profile")
        return None
    if kind == b"auxC" and alpha:
        urn = body[4:].split(b"\0", 1)[0]
        if body[4:] != urn + b"\0":
            report.remove("auxiliary image subtype")
        return _full_box(b"auxC", 0, 0, urn + b"\0")
    report.remove(f"{_name(kind)} property")
    return None


def _file_type(body: bytes, report: Report) -> bytes:
    if len(body) % 4 or len(body) < 8:
        raise Rejected("malformed", "the HEIF file type box is malformed")
    major, brands = body[:4], [body[i : i + 4] for i in range(8, len(body), 4)]
    if major not in KNOWN_BRANDS:
        raise Rejected("unsupported", "this HEIF brand is not supported")
    kept = list(dict.fromkeys(brand for brand in brands if brand in KNOWN_BRANDS))
    if len(kept) != len(brands) or body[4:8] != bytes(4):
        report.remove("unknown brands")
    return _box(b"ftyp", major + bytes(4) + b"".join(kept))


def scrub(src: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    data = read_capped(src, MAX_BYTES, "the image file is too large")
    report = Report(kind="heic", output_kind="heic")
    ftyp = meta_box = None
    for kind, start, stop in _boxes(data, 0, len(data)):
        if kind == b"ftyp" and ftyp is None:
            ftyp = _file_type(data[start:stop], report)
        elif kind == b"meta" and meta_box is None:
            meta_box = (start, stop)
        elif kind in (b"ftyp", b"meta"):
            raise Rejected("malformed", f"the HEIF file has two {_name(kind)} boxes")
        elif kind == b"mdat":
            continue  # read through iloc
        elif kind == b"moov":
            report.remove("image sequence or animation track")
        else:
            report.remove(f"{_name(kind)} box")
    if ftyp is None or meta_box is None:
        raise Rejected("malformed", "the file is not a HEIF image")
    meta = _parse_meta(data, *meta_box, report)
    kept = _kept_items(data, meta, report, max_pixels)
    alpha = set(kept) - set(_with_tiles(data, meta, meta.items[meta.primary], max_pixels))

    # Properties: the ones the kept items use, written anew and renumbered.
    new_properties: list[bytes] = []
    written: dict[tuple[int, bool], int] = {}  # (old index, for alpha) -> new index, 0 = left out
    length_sizes: dict[int, int] = {}  # item -> NAL length size of its hvcC
    associations: dict[int, list[tuple[bool, int]]] = {}
    for item_id in kept:
        for essential, index in meta.items[item_id].properties:
            if not 0 < index <= len(meta.properties):
                if essential:
                    raise Rejected("malformed", "a HEIF picture refers to a missing property")
                continue
            kind, body = meta.properties[index - 1]
            key = (index, item_id in alpha)
            if kind == b"hvcC":
                box, length_sizes[item_id] = _hevc_config(body, report)
            else:
                box = _property(kind, body, item_id in alpha, report)
            if key not in written:
                # An ICC profile is flagged essential by phones, yet a picture decodes without
                # it (in sRGB colours): like JPEG's, it is left out.
                if box is None and essential and kind != b"colr":
                    raise Rejected("unsupported", "a required HEIF property cannot be cleaned")
                if box is not None:
                    new_properties.append(box)
                written[key] = len(new_properties) if box is not None else 0
            if written[key] and (essential, written[key]) not in associations.get(item_id, []):
                associations.setdefault(item_id, []).append((essential, written[key]))
        if len(associations.get(item_id, [])) > MAX_LINKS:
            raise Rejected("malformed", "a HEIF picture has too many properties")

    payloads: list[bytes] = []
    for item_id in kept:
        item = meta.items[item_id]
        raw = _item_bytes(data, meta, item)
        if item.type == b"hvc1":
            if item_id not in length_sizes:
                raise Rejected("malformed", "a HEVC picture has no decoder configuration")
            raw = _hevc_units(raw, length_sizes[item_id], report)
        elif item.type == b"av01":
            raw = _av1_obus(raw, report)
            report.output_kind = "avif"
        payloads.append(raw)
    if sum(map(len, payloads)) > len(data):  # extents that overlap or repeat
        raise Rejected("malformed", "the HEIF item locations overlap")
    report.kind = report.output_kind
    dst.write(_write(ftyp, meta, kept, new_properties, associations, payloads))
    return report


def _references(meta: _Meta, kept: list[int]) -> Iterator[tuple[bytes, int, list[int]]]:
    """Grids to their tiles, the alpha plane to the primary picture: no other link survives."""
    for source, targets in meta.references.get(b"dimg", []):
        if source in kept and meta.items[source].type == b"grid":
            yield b"dimg", source, targets  # exactly its tiles, checked by _with_tiles
    for source, targets in meta.references.get(b"auxl", []):
        if source in kept and source != meta.primary and meta.primary in targets:
            yield b"auxl", source, [meta.primary]


def _write(
    ftyp: bytes,
    meta: _Meta,
    kept: list[int],
    properties: list[bytes],
    associations: dict[int, list[tuple[bool, int]]],
    payloads: list[bytes],
) -> bytes:
    wide = max(kept) > 0xFFFF
    ids = {item_id: struct.pack(">I" if wide else ">H", item_id) for item_id in kept}
    hdlr = _full_box(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 12 + b"\0")
    here = _full_box(b"url ", 0, 1, b"")  # flag 1: the data is in this file
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1) + here))
    pitm = _full_box(b"pitm", int(wide), 0, ids[meta.primary])
    entries = b"".join(
        _full_box(b"infe", 3 if wide else 2, meta.items[i].flags & 1,
                  ids[i] + b"\0\0" + meta.items[i].type + b"\0")
        for i in kept
    )  # fmt: skip
    iinf = _full_box(b"iinf", 1, 0, struct.pack(">I", len(kept)) + entries)
    references = b""
    for kind, source, targets in _references(meta, kept):
        body = ids[source] + struct.pack(">H", len(targets))
        references += _box(kind, body + b"".join(ids[t] for t in targets))
    iref = _full_box(b"iref", int(wide), 0, references) if references else b""
    ipma_entries = b""
    for item_id in kept:
        links = associations.get(item_id, [])
        ipma_entries += ids[item_id] + bytes([len(links)])
        ipma_entries += b"".join(struct.pack(">H", (e << 15) | i) for e, i in links)
    ipma = _full_box(b"ipma", int(wide), 1, struct.pack(">I", len(kept)) + ipma_entries)
    iprp = _box(b"iprp", _box(b"ipco", b"".join(properties)) + ipma)
    before = hdlr + dinf + pitm + iinf + iref + iprp

    def iloc(first_offset: int) -> bytes:  # one extent per item, offsets and lengths on 4 bytes
        entries, offset = b"", first_offset
        for item_id, payload in zip(kept, payloads, strict=True):
            if not payload:
                raise Rejected("malformed", "a HEIF picture item has no data")
            entries += ids[item_id] + struct.pack(">HHHII", 0, 0, 1, offset, len(payload))
            offset += len(payload)
        count = struct.pack(">I" if wide else ">H", len(kept))
        return _full_box(b"iloc", 2 if wide else 1, 0, b"\x44\x00" + count + entries)

    # iloc's offsets point past meta, whose size does not depend on their values.
    data_start = len(ftyp) + 12 + len(before) + len(iloc(0)) + 8  # meta and mdat headers
    if data_start + sum(map(len, payloads)) > 0xFFFFFFFF:
        raise Rejected("too_large", "the image file is too large")
    meta_box = _full_box(b"meta", 0, 0, before + iloc(data_start))
    assert len(ftyp) + len(meta_box) + 8 == data_start
    return ftyp + meta_box + _box(b"mdat", b"".join(payloads))
