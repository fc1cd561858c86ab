"""HEIC/AVIF rebuilt losslessly, against crafted files: what rides in properties, coded units,
extra pictures and references must not survive; hostile counts end in a refusal, quickly."""

from __future__ import annotations

import io
import struct
import time

import pillow_heif
import pytest
from PIL import Image

from submissions import scrub
from tests import fixtures
from tests.tools import disallowed_tags
from tests.tools import scrub_bytes as run

pillow_heif.register_heif_opener()
MARK = b"GPS=51.5007N,0.1246W;SERIAL=SN-99887766;OWNER=" + fixtures.OWNER


def pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


def primary(**changes: object) -> dict[str, object]:
    return {"id": 1, **fixtures.heif_primary(), **changes}


def _padded(box: bytes) -> bytes:
    return struct.pack(">I", len(box) + len(MARK)) + box[4:] + MARK


def _with_property(item: dict[str, object], kind: bytes, make: object) -> dict[str, object]:
    props = [(e, make(b) if b[4:8] == kind else b) for e, b in item["props"]]  # type: ignore[attr-defined, operator]
    return {**item, "props": props}


def _nal(nal_type: int, payload: bytes, layer: int = 0) -> bytes:
    unit = bytes([nal_type << 1 | layer >> 5, (layer & 0x1F) << 3 | 1]) + payload
    return struct.pack(">I", len(unit)) + unit


def _hvcc_with(extra_array: bytes) -> object:
    def make(box: bytes) -> bytes:
        body = box[8:]
        body = body[:22] + bytes([body[22] + 1]) + body[23:] + extra_array
        return struct.pack(">I", len(body) + 8) + b"hvcC" + body

    return make


def test_the_builder_makes_a_valid_picture():
    data = fixtures.heif_build([primary()], 1)
    cleaned, report = run(data)
    assert pixels(cleaned) == pixels(data)
    assert report.removed == []


@pytest.mark.parametrize("kind", [b"ispe", b"pixi", b"colr"])
def test_bytes_after_a_property_fields_are_dropped(kind, tmp_path):
    data = fixtures.heif_build([_with_property(primary(), kind, _padded)], 1)
    cleaned, report = run(data)
    assert MARK not in cleaned
    assert "data after image properties" in report.removed
    assert pixels(cleaned) == pixels(fixtures.heif_build([primary()], 1))
    (tmp_path / "out.heic").write_bytes(cleaned)
    assert disallowed_tags(tmp_path / "out.heic") == {}


def test_auxiliary_type_on_the_primary_picture_is_dropped():
    item = primary()
    auxc = fixtures._heif_full_box(b"auxC", 0, 0, b"urn:example\0" + MARK)
    item["props"] = [*item["props"], (False, auxc)]  # type: ignore[misc]
    cleaned, _ = run(fixtures.heif_build([item], 1))
    assert MARK not in cleaned


def test_sei_hidden_in_a_parameter_set_array_is_dropped():
    sei = bytes([39 << 1, 1]) + b"\x05" + MARK
    array = bytes([0x80 | 32]) + struct.pack(">HH", 1, len(sei)) + sei  # labelled VPS
    data = fixtures.heif_build([_with_property(primary(), b"hvcC", _hvcc_with(array))], 1)
    cleaned, report = run(data)
    assert MARK not in cleaned and "HEVC SEI (encoder settings)" in report.removed
    assert pixels(cleaned) == pixels(data)


@pytest.mark.parametrize(
    "unit",
    [_nal(39, b"\x05" + MARK), _nal(10, MARK), _nal(23, MARK), _nal(1, b"\x80" + MARK, layer=1),
     _nal(34, b"\x80" + MARK)],
    ids=["sei", "reserved-10", "reserved-23", "second-layer-slice", "in-band-pps"],
)  # fmt: skip
def test_non_picture_units_in_the_coded_data_are_dropped(unit):
    item = primary()
    data = fixtures.heif_build([{**item, "data": unit + item["data"]}], 1)  # type: ignore[operator]
    cleaned, _ = run(data)
    assert MARK not in cleaned
    assert pixels(cleaned) == pixels(fixtures.heif_build([item], 1))


def test_a_second_picture_in_the_primary_item_is_refused():
    item, secret = primary(), fixtures.heif_primary(colour=(0, 200, 0))
    data = fixtures.heif_build([{**item, "data": item["data"] + secret["data"]}], 1)  # type: ignore[operator]
    with pytest.raises(scrub.Rejected, match="exactly one picture"):
        run(data)


def test_pictures_linked_from_the_primary_are_not_kept():
    """A thumbnail/uncropped original reachable by a derivation or alpha link is left out."""
    secret = {"id": 7, **fixtures.heif_primary(colour=(0, 200, 0))}
    for refs in ([(b"dimg", 1, [7])], [(b"thmb", 7, [1])], [(b"auxl", 7, [1])]):
        cleaned, _ = run(fixtures.heif_build([primary(), secret], 1, refs=tuple(refs)))
        assert secret["data"][-64:] not in cleaned  # type: ignore[index]
        assert Image.open(io.BytesIO(cleaned)).mode == "RGB"


def test_a_grid_with_more_tiles_than_cells_is_refused():
    tile = primary(id=2)
    grid = {"id": 1, "type": b"grid", "data": bytes(4) + struct.pack(">HH", 64, 48),
            "props": [p for p in tile["props"] if p[1][4:8] == b"ispe"]}  # fmt: skip
    extra = {**fixtures.heif_primary(colour=(0, 200, 0)), "id": 3}
    data = fixtures.heif_build([grid, tile, extra], 1, refs=((b"dimg", 1, [2, 3]),))
    with pytest.raises(scrub.Rejected, match="tiles"):
        run(data)


def test_many_repeated_property_links_do_not_crash():
    item = primary()
    item["props"] = item["props"] * 51  # type: ignore[operator]  # 255 links to 5 properties
    cleaned, _ = run(fixtures.heif_build([item], 1))
    assert pixels(cleaned) == pixels(fixtures.heif_build([primary()], 1))


def test_hostile_item_locations_refused_quickly():
    item = primary(extents=[(0, 0)] * 65535)
    started = time.monotonic()
    with pytest.raises(scrub.Rejected, match="too many pieces"):
        run(fixtures.heif_build([item], 1))
    assert time.monotonic() - started < 5


def test_hostile_box_counts_refused_quickly():
    item = primary()
    references = fixtures._heif_box(b"cdsc", struct.pack(">HH", 1, 0)) * 500_000
    data = fixtures.heif_build([item], 1)
    meta = data.index(b"meta") - 4
    size = struct.unpack(">I", data[meta : meta + 4])[0]
    iref = fixtures._heif_full_box(b"iref", 0, 0, references)
    # The references go in front of meta's other boxes; iloc's offsets shift by as much.
    hostile = fixtures.heif_build([item], 1)[: meta + 12] + iref + data[meta + 12 :]
    hostile = hostile[:meta] + struct.pack(">I", size + len(iref)) + hostile[meta + 4 :]
    started = time.monotonic()
    with pytest.raises(scrub.Rejected):
        run(hostile)
    assert time.monotonic() - started < 5
