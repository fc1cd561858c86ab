"""HEIF stills (HEIC from phones, AVIF): rebuilt box by box; the coded image data copied as is.

A HEIF file is a `meta` box that lists items (the coded picture, its tiles, a thumbnail, EXIF,
XMP, depth and HDR gain maps...) with their properties and where their bytes are (`iloc`), plus
an `mdat` holding those bytes. We keep the primary picture only: its tiles when it is a grid, its
alpha plane, and the properties needed to display it (size, colour format, rotation, mirroring,
cropping). Everything else is left out and named in the report: EXIF items (GPS, camera, serial,
times), XMP, thumbnails (they show the picture before it was cropped), depth and gain maps,
ICC profiles, item and handler names, unknown boxes and properties, image-sequence tracks.

Inside the coded data, HEVC SEI units (encoder strings, vendor user data) and AV1 metadata OBUs
are removed; HEVC decoder configurations keep only their parameter sets. The output is written
afresh — our own `ftyp`, `meta` and one `mdat` — so nothing between or after the boxes survives.
Orientation lives in `irot`/`imir` (HEIF ignores EXIF orientation), so the photo stays upright.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .report import Rejected, Report

MAX_BYTES = 256 * 1024 * 1024
MAX_ITEMS = 4096  # a 48-megapixel phone photo has a few hundred tiles
MAX_PROPERTIES = 4096
ALPHA_URNS = {b"urn:mpeg:hevc:2015:auxid:1", b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"}
CODED = {b"hvc1", b"av01"}
# Properties that describe how to decode and show the picture, nothing about who made it.
SAFE_PROPERTIES = {b"ispe", b"pixi", b"irot", b"imir", b"clap", b"pasp"}
# HEVC NAL unit types kept: coded slices (0-31) and the VPS/SPS/PPS parameter sets (32-34).
HEVC_KEPT_NALS = set(range(35))
HEVC_SEI = {39, 40}
# AV1 OBU types kept: sequence header, temporal delimiter, frame header, tile group, frame.
AV1_KEPT_OBUS = {1, 2, 3, 4, 6}
AV1_METADATA = 5


def _u(data: bytes, offset: int, size: int) -> int:
    if size == 0:
        return 0
    if offset + size > len(data):
        raise Rejected("malformed", "the HEIF file is truncated")
    return int.from_bytes(data[offset : offset + size], "big")


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, box end) for each box in data[start:end]."""
    offset = start
    while offset < end:
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
    properties: list[tuple[bytes, bytes]] = field(default_factory=list)  # (type, whole box)
    idat: bytes = b""
    has_iloc: bool = False


def _parse_iinf(data: bytes, body: int, end: int, meta: _Meta, report: Report) -> None:
    version = _u(data, body, 1)
    count_size = 2 if version == 0 else 4
    count = _u(data, body + 4, count_size)
    if count > MAX_ITEMS:
        raise Rejected("too_large", "the HEIF file lists too many items")
    for kind, start, stop in _boxes(data, body + 4 + count_size, end):
        if kind != b"infe":
            continue
        infe_version = _u(data, start, 1)
        if infe_version not in (2, 3):
            raise Rejected("unsupported", "this HEIF item list version is not supported")
        id_size = 2 if infe_version == 2 else 4
        item_id = _u(data, start + 4, id_size)
        protection = _u(data, start + 4 + id_size, 2)
        item_type = data[start + 6 + id_size : start + 10 + id_size]
        if protection:
            raise Rejected("unsupported", "protected (encrypted) HEIF items cannot be cleaned")
        if start + 10 + id_size < stop and data[start + 10 + id_size] != 0:
            report.remove("item names")
        meta.items[item_id] = _Item(item_id, item_type, _u(data, start + 1, 3))
    if len(meta.items) > MAX_ITEMS:
        raise Rejected("too_large", "the HEIF file lists too many items")


def _parse_iloc(data: bytes, body: int, end: int, meta: _Meta) -> None:
    version = _u(data, body, 1)
    if version > 2:
        raise Rejected("unsupported", "this HEIF item location version is not supported")
    sizes = _u(data, body + 4, 2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, (sizes & 0xF if version else 0)
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
        item = meta.items.get(item_id)
        for _ in range(extents):
            pos += index_size
            offset = base + _u(data, pos, offset_size)
            length = _u(data, pos + offset_size, length_size)
            pos += offset_size + length_size
            if item is not None:
                item.extents.append((method, offset, length))
        if pos > end:
            raise Rejected("malformed", "the HEIF item locations are truncated")
    meta.has_iloc = True


def _parse_iref(data: bytes, body: int, end: int, meta: _Meta) -> None:
    id_size = 2 if _u(data, body, 1) == 0 else 4
    for kind, start, stop in _boxes(data, body + 4, end):
        source = _u(data, start, id_size)
        count = _u(data, start + id_size, 2)
        targets = [_u(data, start + id_size + 2 + i * id_size, id_size) for i in range(count)]
        if start + id_size + 2 + count * id_size > stop:
            raise Rejected("malformed", "the HEIF item references are truncated")
        meta.references.setdefault(kind, []).append((source, targets))


def _parse_iprp(data: bytes, body: int, end: int, meta: _Meta) -> None:
    for kind, start, stop in _boxes(data, body, end):
        if kind == b"ipco":
            for prop, prop_start, prop_stop in _boxes(data, start, stop):
                header = 16 if _u(data, prop_start - 8, 4) == 1 else 8
                meta.properties.append((prop, data[prop_start - header : prop_stop]))
            if len(meta.properties) > MAX_PROPERTIES:
                raise Rejected("too_large", "the HEIF file lists too many properties")
        elif kind == b"ipma":
            _parse_ipma(data, start, stop, meta)


def _parse_ipma(data: bytes, body: int, end: int, meta: _Meta) -> None:
    version, flags = _u(data, body, 1), _u(data, body + 1, 3)
    id_size, index_size = (2 if version == 0 else 4), (2 if flags & 1 else 1)
    top = 1 << (8 * index_size - 1)  # the essential bit
    pos = body + 8
    for _ in range(_u(data, body + 4, 4)):
        item = meta.items.get(_u(data, pos, id_size))
        count = _u(data, pos + id_size, 1)
        pos += id_size + 1
        for _ in range(count):
            value = _u(data, pos, index_size)
            pos += index_size
            if item is not None:
                item.properties.append((bool(value & top), value & (top - 1)))
        if pos > end:
            raise Rejected("malformed", "the HEIF property associations are truncated")


def _parse_meta(data: bytes, body: int, end: int, report: Report) -> _Meta:
    meta = _Meta()
    children = list(_boxes(data, body + 4, end))  # meta is a full box
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
            if stop > start + 24 and data[start + 24] != 0:
                report.remove("handler name")
        elif kind in (b"iinf", b"dinf"):
            continue  # read above; data references: ours say "in this file" (checked in iloc)
        else:
            report.remove(f"{_name(kind)} box")
    if meta.primary not in meta.items or not meta.has_iloc:
        raise Rejected("malformed", "the HEIF file has no primary picture")
    return meta


def _item_bytes(data: bytes, meta: _Meta, item: _Item) -> bytes:
    parts = []
    for method, offset, length in item.extents:
        pool = data if method == 0 else meta.idat
        if length == 0 and len(item.extents) == 1:
            length = len(pool) - offset  # "to the end of the file"
        if offset + length > len(pool):
            raise Rejected("malformed", "the HEIF file is truncated (item data missing)")
        parts.append(pool[offset : offset + length])
    if not parts:
        raise Rejected("malformed", "a HEIF picture item has no data")
    return b"".join(parts)


def _hevc_config(box: bytes, report: Report) -> tuple[bytes, int]:
    """An hvcC with only its VPS/SPS/PPS arrays (encoders put their settings in SEI arrays)."""
    body = box[8:]
    if len(body) < 23:
        raise Rejected("malformed", "the HEVC configuration is truncated")
    length_size = (body[21] & 3) + 1
    pos, arrays = 23, []
    for _ in range(body[22]):
        nal_type, count = _u(body, pos, 1) & 0x3F, _u(body, pos + 1, 2)
        start, pos = pos, pos + 3
        for _ in range(count):
            pos += 2 + _u(body, pos, 2)
        if pos > len(body):
            raise Rejected("malformed", "the HEVC configuration is truncated")
        if nal_type in (32, 33, 34):
            arrays.append(body[start:pos])
        else:
            report.remove("HEVC SEI (encoder settings)")
    if pos != len(body):
        report.remove("data after the HEVC configuration")
    return _box(b"hvcC", body[:22] + bytes([len(arrays)]) + b"".join(arrays)), length_size


def _hevc_units(data: bytes, length_size: int, report: Report) -> bytes:
    out, pos = [], 0
    while pos < len(data):
        length = _u(data, pos, length_size)
        unit = data[pos : pos + length_size + length]
        if length == 0 or pos + length_size + length > len(data):
            raise Rejected("malformed", "the HEVC picture data is truncated")
        nal_type = (unit[length_size] >> 1) & 0x3F
        if nal_type in HEVC_KEPT_NALS:
            out.append(unit)
        elif nal_type in HEVC_SEI:
            report.remove("HEVC SEI (encoder settings, vendor data)")
        else:
            report.remove("HEVC non-picture units")
        pos += length_size + length
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
    out, pos = [], 0
    while pos < len(data):
        header = data[pos]
        obu_type, extension, has_size = (header >> 3) & 0xF, header & 4, header & 2
        if header & 0x80 or not has_size:
            raise Rejected("unsupported", "this AV1 picture data layout is not supported")
        size, body = _leb128(data, pos + 1 + (1 if extension else 0))
        if body + size > len(data):
            raise Rejected("malformed", "the AV1 picture data is truncated")
        if obu_type in AV1_KEPT_OBUS:
            out.append(data[pos : body + size])
        elif obu_type == AV1_METADATA:
            report.remove("AV1 metadata")
        else:
            report.remove("AV1 padding or unknown units")
        pos = body + size
    return b"".join(out)


def _kept_items(meta: _Meta, report: Report) -> list[int]:
    """The primary picture, its tiles, its alpha plane (and that plane's tiles)."""
    derived = {source: targets for source, targets in meta.references.get(b"dimg", [])}
    auxiliary = [source for source, targets in meta.references.get(b"auxl", [])
                 if meta.primary in targets]  # fmt: skip
    kept = [meta.primary]
    for source in auxiliary:
        item = meta.items.get(source)
        if item is not None and _auxiliary_urn(meta, item) in ALPHA_URNS:
            kept.append(source)
        else:
            report.remove("auxiliary images (depth or HDR gain maps)")
    for item_id in list(kept):
        kept.extend(derived.get(item_id, []))
    for item_id in kept:
        item = meta.items.get(item_id)
        if item is None:
            raise Rejected("malformed", "the HEIF picture refers to a missing item")
        if item.type not in CODED | {b"grid"}:
            raise Rejected(
                "unsupported", f"HEIF pictures of type {_name(item.type)} are not supported"
            )
        if item.type == b"grid" and item_id not in derived:
            raise Rejected("malformed", "a HEIF grid has no tiles")
    for item in meta.items.values():
        if item.id not in kept:
            report.remove(_ITEM_NAMES.get(item.type, f"{_name(item.type)} items"))
    if b"thmb" in meta.references:
        report.remove("thumbnails")
    return list(dict.fromkeys(kept))


_ITEM_NAMES = {
    b"Exif": "EXIF (camera, GPS, times)",
    b"mime": "XMP or other embedded metadata",
    b"uri ": "URI metadata",
    b"hvc1": "other pictures (thumbnails, depth or gain maps)",
    b"av01": "other pictures (thumbnails, depth or gain maps)",
}


def _auxiliary_urn(meta: _Meta, item: _Item) -> bytes:
    for _essential, index in item.properties:
        if 0 < index <= len(meta.properties) and meta.properties[index - 1][0] == b"auxC":
            box = meta.properties[index - 1][1]
            return box[12:].split(b"\x00", 1)[0]
    return b""


def _property(kind: bytes, box: bytes, report: Report) -> bytes | None:
    """The property as we write it, or None to leave it out."""
    if kind in SAFE_PROPERTIES:
        return box
    if kind == b"av1C":
        # Four fixed bytes, then optional config OBUs (metadata can ride there): dropped, the
        # sequence header is in the picture data.
        if len(box) > 12:
            report.remove("AV1 configuration units")
        return box[:12]
    if kind == b"auxC":
        return box  # only reached for the alpha plane: the URN says what it is
    if kind == b"colr":
        if box[8:12] == b"nclx":
            return box[:19]  # colour primaries, transfer, matrix, range
        report.remove("ICC profile")
        return None
    report.remove(f"{_name(kind)} property")
    return None


# Brands are four-character codes any writer may invent: only the standard ones and Apple's
# (shared by every iPhone) are written back.
KNOWN_BRANDS = {
    b"mif1", b"mif2", b"miaf", b"heic", b"heix", b"heim", b"heis", b"avif", b"avis",
    b"MiHE", b"MiHB", b"MiHA", b"MiPr", b"MA1A", b"MA1B", b"msf1",
}  # fmt: skip


def _file_type(body: bytes, report: Report) -> bytes:
    major, brands = body[:4], [body[i : i + 4] for i in range(8, len(body), 4)]
    if major not in KNOWN_BRANDS:
        raise Rejected("unsupported", "this HEIF brand is not supported")
    kept = [brand for brand in brands if brand in KNOWN_BRANDS]
    if len(kept) != len(brands) or body[4:8] != bytes(4):
        report.remove("unknown brands")
    return _box(b"ftyp", major + bytes(4) + b"".join(kept))


def _grid_check(grid: bytes, max_pixels: int) -> None:
    """A grid's output size is its own: 8 bytes (16-bit sizes) or 12 (32-bit)."""
    if len(grid) < 8 or grid[0] != 0 or len(grid) != (12 if grid[1] & 1 else 8):
        raise Rejected("malformed", "the HEIF grid description is malformed")
    size = 4 if grid[1] & 1 else 2
    if _u(grid, 4, size) * _u(grid, 4 + size, size) > max_pixels:
        raise Rejected("too_many_pixels", "the image is over the pixel limit")


def _pixels_check(meta: _Meta, max_pixels: int) -> None:
    for essential_index in meta.items[meta.primary].properties:
        index = essential_index[1]
        if 0 < index <= len(meta.properties) and meta.properties[index - 1][0] == b"ispe":
            box = meta.properties[index - 1][1]
            width, height = _u(box, 12, 4), _u(box, 16, 4)
            if width * height > max_pixels:
                raise Rejected("too_many_pixels", "the image is over the pixel limit")
            return
    raise Rejected("malformed", "the HEIF picture has no size")


def scrub(src: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    data = src.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Rejected("too_large", "the image file is too large")
    report = Report(kind="heic", output_kind="heic")
    ftyp = meta_box = None
    for kind, start, stop in _boxes(data, 0, len(data)):
        if kind == b"ftyp" and ftyp is None:
            if (stop - start) % 4 or stop - start < 8:
                raise Rejected("malformed", "the HEIF file type box is malformed")
            ftyp = _file_type(data[start:stop], report)
        elif kind == b"meta" and meta_box is None:
            meta_box = (start, stop)
        elif kind == b"mdat":
            continue  # read through iloc
        elif kind == b"moov":
            report.remove("image sequence or animation track")
        else:
            report.remove(f"{_name(kind)} box")
    if ftyp is None or meta_box is None:
        raise Rejected("malformed", "the file is not a HEIF image")
    meta = _parse_meta(data, *meta_box, report)
    kept = _kept_items(meta, report)
    _pixels_check(meta, max_pixels)

    # Properties: the ones the kept items use, renumbered; the coded data cleaned.
    new_properties: list[bytes] = []
    renumber: dict[int, int] = {}
    length_sizes: dict[int, int] = {}  # hvcC property index -> NAL length size
    hevc_config: dict[int, int] = {}  # item -> its NAL length size
    associations: dict[int, list[tuple[bool, int]]] = {}
    for item_id in kept:
        item = meta.items[item_id]
        for essential, index in item.properties:
            if not 0 < index <= len(meta.properties):
                if essential:
                    raise Rejected("malformed", "a HEIF picture refers to a missing property")
                continue
            kind, box = meta.properties[index - 1]
            if index not in renumber:
                if kind == b"hvcC":
                    written, length_sizes[index] = _hevc_config(box, report)
                else:
                    written = _property(kind, box, report)  # type: ignore[assignment]
                if written is None:
                    # An ICC profile is flagged essential by phones, yet a picture decodes
                    # without it (in sRGB colours): like JPEG's, it is left out.
                    if essential and kind != b"colr":
                        raise Rejected("unsupported", f"a required HEIF property ({_name(kind)}) "
                                       "cannot be cleaned")  # fmt: skip
                    renumber[index] = 0
                    continue
                new_properties.append(written)
                renumber[index] = len(new_properties)
            if index in length_sizes:
                hevc_config[item_id] = length_sizes[index]
            if renumber[index]:
                associations.setdefault(item_id, []).append((essential, renumber[index]))
    payloads: list[bytes] = []
    for item_id in kept:
        item = meta.items[item_id]
        raw = _item_bytes(data, meta, item)
        if item.type == b"hvc1":
            if item_id not in hevc_config:
                raise Rejected("malformed", "a HEVC picture has no decoder configuration")
            raw = _hevc_units(raw, hevc_config[item_id], report)
        elif item.type == b"av01":
            raw = _av1_obus(raw, report)
            report.output_kind = "avif"
        else:
            _grid_check(raw, max_pixels)
        payloads.append(raw)
    report.kind = report.output_kind
    dst.write(_write(ftyp, meta, kept, new_properties, associations, payloads))
    return report


def _write(
    ftyp: bytes,
    meta: _Meta,
    kept: list[int],
    properties: list[bytes],
    associations: dict[int, list[tuple[bool, int]]],
    payloads: list[bytes],
) -> bytes:
    wide = max(kept) > 0xFFFF
    id_format = ">I" if wide else ">H"
    ids = {item_id: struct.pack(id_format, item_id) for item_id in kept}
    hdlr = _full_box(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 12 + b"\0")
    dinf = _box(
        b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1) + _full_box(b"url ", 0, 1, b""))
    )
    pitm = _full_box(b"pitm", int(wide), 0, ids[meta.primary])
    entries = b"".join(
        _full_box(b"infe", 3 if wide else 2, meta.items[i].flags & 1,
                  ids[i] + b"\0\0" + meta.items[i].type + b"\0")
        for i in kept
    )  # fmt: skip
    iinf = _full_box(b"iinf", 1, 0, struct.pack(">I", len(kept)) + entries)
    references = b""
    kept_set = set(kept)
    for kind in (b"dimg", b"auxl"):
        for source, targets in meta.references.get(kind, []):
            if source in kept_set and all(t in kept_set for t in targets):
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
