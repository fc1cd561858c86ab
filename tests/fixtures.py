"""Test files built by code. Every identifying value is a module constant so tests can search
for it, byte for byte, in whatever the system stores or outputs."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, PngImagePlugin

MAKE = b"CanaryMake"
MODEL = b"CanaryModel X9"
SERIAL = b"SN-CANARY-0042"
SOFTWARE = b"CanarySoft 1.0"
OWNER = b"Juana Canary"
GPS_LAT = (19, 25, 59)  # a place in Mexico City
GPS_LON = (99, 7, 59)
PNG_AUTHOR = "Pedro Canary"
PNG_COMMENT = "shot from the window of flat 4B"
THUMB_COLOR = (10, 200, 10)


def _ifd(entries: list[tuple[int, int, int, bytes]], data_offset: int) -> tuple[bytes, bytes]:
    """Little TIFF IFD writer (big-endian): entries are (tag, type, count, raw value bytes)."""
    head = struct.pack(">H", len(entries))
    extra = b""
    base = data_offset + 2 + 12 * len(entries) + 4
    for tag, typ, count, raw in sorted(entries):
        if len(raw) <= 4:
            head += struct.pack(">HHI", tag, typ, count) + raw.ljust(4, b"\x00")
        else:
            head += struct.pack(">HHII", tag, typ, count, base + len(extra))
            extra += raw + (b"\x00" if len(raw) % 2 else b"")
    return head, extra


def _ascii(value: bytes) -> tuple[int, int, bytes]:
    return 2, len(value) + 1, value + b"\x00"


def _rational3(values: tuple[int, int, int]) -> tuple[int, int, bytes]:
    return 5, 3, b"".join(struct.pack(">II", v, 1) for v in values)


def exif_with_gps_and_thumbnail(orientation: int = 1) -> bytes:
    """An APP1 EXIF payload: make/model/software/owner/serial, GPS, and an IFD1 thumbnail."""
    thumb = io.BytesIO()
    Image.new("RGB", (16, 12), THUMB_COLOR).save(thumb, "JPEG")
    thumbnail = thumb.getvalue()

    # Layout: header(8) | IFD0 | IFD0 data | ExifIFD | GPS IFD | IFD1 | thumbnail
    def build(offsets: dict[str, int]) -> tuple[bytes, dict[str, int]]:
        out = b"MM\x00\x2a" + struct.pack(">I", 8)
        found: dict[str, int] = {}
        ifd0 = [
            (0x010F, *_ascii(MAKE)),
            (0x0110, *_ascii(MODEL)),
            (0x0112, 3, 1, struct.pack(">H", orientation)),
            (0x0131, *_ascii(SOFTWARE)),
            (0x8769, 4, 1, struct.pack(">I", offsets.get("exif", 0))),
            (0x8825, 4, 1, struct.pack(">I", offsets.get("gps", 0))),
        ]
        head, extra = _ifd(ifd0, len(out))
        out += head + struct.pack(">I", offsets.get("ifd1", 0)) + extra
        found["exif"] = len(out)
        exif_ifd = [(0xA430, *_ascii(OWNER)), (0xA431, *_ascii(SERIAL))]
        head, extra = _ifd(exif_ifd, len(out))
        out += head + struct.pack(">I", 0) + extra
        found["gps"] = len(out)
        gps = [
            (0x0001, 2, 2, b"N\x00"),
            (0x0002, *_rational3(GPS_LAT)),
            (0x0003, 2, 2, b"W\x00"),
            (0x0004, *_rational3(GPS_LON)),
        ]
        head, extra = _ifd(gps, len(out))
        out += head + struct.pack(">I", 0) + extra
        found["ifd1"] = len(out)
        ifd1 = [
            (0x0103, 3, 1, struct.pack(">H", 6)),
            (0x0201, 4, 1, struct.pack(">I", offsets.get("thumb", 0))),
            (0x0202, 4, 1, struct.pack(">I", len(thumbnail))),
        ]
        head, extra = _ifd(ifd1, len(out))
        out += head + struct.pack(">I", 0) + extra
        found["thumb"] = len(out)
        out += thumbnail
        return out, found

    _, offsets = build({})
    tiff, check = build(offsets)
    assert check == offsets
    return b"Exif\x00\x00" + tiff


def jpeg_with_gps(size: tuple[int, int] = (64, 48), orientation: int = 1) -> bytes:
    """A phone-like JPEG: EXIF (make, model, serial, owner, GPS, thumbnail), XMP, a comment."""
    image = Image.new("RGB", size)
    for x in range(size[0]):
        for y in range(size[1]):
            image.putpixel((x, y), ((x * 4) % 256, (y * 5) % 256, 128 if x < size[0] // 2 else 20))
    out = io.BytesIO()
    image.save(
        out,
        "JPEG",
        quality=90,
        exif=exif_with_gps_and_thumbnail(orientation),
        comment=b"taken by " + OWNER,
    )
    data = out.getvalue()
    xmp = (
        b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'>"
        b"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
        b"<rdf:Description xmlns:tiff='http://ns.adobe.com/tiff/1.0/' tiff:Artist='"
        + OWNER
        + b"'/></rdf:RDF></x:xmpmeta>"
    )
    segment = b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    return data[:2] + segment + data[2:]


def png_with_text(size: tuple[int, int] = (40, 30)) -> bytes:
    """A PNG with tEXt, zTXt and iTXt chunks naming an author, and a tIME chunk."""
    image = Image.new("RGBA", size, (30, 60, 90, 255))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", PNG_AUTHOR)
    info.add_text("Comment", PNG_COMMENT, zip=True)
    info.add_itxt("Description", PNG_COMMENT, lang="en", tkey="Description")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    data = out.getvalue()
    # tIME: 2026-11-27 22:10:05, inserted before IEND.
    body = struct.pack(">HBBBBB", 2026, 11, 27, 22, 10, 5)
    chunk = struct.pack(">I", len(body)) + b"tIME" + body
    chunk += struct.pack(">I", zlib.crc32(b"tIME" + body))
    return data[:-12] + chunk + data[-12:]


def segment_offset(jpeg: bytes, marker: int) -> int:
    """Offset of the image's own first `marker` segment. Walks the segments, so a marker inside
    an embedded thumbnail is not mistaken for the image's own."""
    pos = 2
    while jpeg[pos + 1] != marker:
        (length,) = struct.unpack(">H", jpeg[pos + 2 : pos + 4])
        pos += 2 + length
    return pos


def entropy_data(jpeg: bytes) -> bytes:
    """Everything from the first SOS marker to EOI: the compressed pixels."""
    pos = segment_offset(jpeg, 0xDA)
    return jpeg[pos : jpeg.index(b"\xff\xd9", pos) + 2]


def png_idat(png: bytes) -> bytes:
    """The concatenated IDAT payloads (the compressed pixels)."""
    pos, out = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            out += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return out


def gps_bytes() -> list[bytes]:
    """The GPS coordinates as they sit in the EXIF block (three big-endian rationals each)."""
    return [b"".join(struct.pack(">II", v, 1) for v in coords) for coords in (GPS_LAT, GPS_LON)]


def canaries() -> list[bytes]:
    """Byte strings that must never appear in anything Tipline stores or outputs."""
    return [MAKE, MODEL, SERIAL, SOFTWARE, OWNER, PNG_AUTHOR.encode(), PNG_COMMENT.encode()]


def _exif_block(orientation: int = 1) -> bytes:
    """An EXIF block (with the Exif\\0\\0 prefix) naming camera, owner, serial and GPS."""
    return exif_with_gps_and_thumbnail(orientation)


XMP_PACKET = (
    b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
    b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description "
    b"xmlns:dc='http://purl.org/dc/elements/1.1/'><dc:creator>" + OWNER
    + b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)  # fmt: skip


def _sample_image(size: tuple[int, int] = (48, 32), mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, size)
    for x in range(size[0]):
        for y in range(size[1]):
            value = ((x * 5) % 256, (y * 7) % 256, 90, 255)
            image.putpixel((x, y), value[: len(mode)] if len(mode) > 1 else value[0])
    return image


def gif_with_comments() -> bytes:
    """An animated GIF with a comment, an XMP application extension and a plain-text block."""
    frames = [_sample_image(mode="P"), _sample_image(mode="P").rotate(90)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=100,
                   comment=b"sent by " + OWNER)  # fmt: skip
    data = out.getvalue()
    xmp = b"\x21\xff\x0bXMP DataXMP" + bytes([len(XMP_PACKET[:255])]) + XMP_PACKET[:255] + b"\x00"
    plain = b"\x21\x01\x0c" + b"\x00" * 12 + bytes([len(SERIAL)]) + SERIAL + b"\x00"
    return data[:-1] + xmp + plain + data[-1:]


def webp_with_metadata(lossless: bool = False) -> bytes:
    out = io.BytesIO()
    _sample_image().save(out, "WEBP", lossless=lossless, exif=_exif_block(), xmp=XMP_PACKET,
                         icc_profile=b"\x00" * 128)  # fmt: skip
    return out.getvalue()


def tiff_with_tags() -> bytes:
    from PIL import TiffImagePlugin

    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[0x010F] = MAKE.decode()
    info[0x0110] = MODEL.decode()
    info[0x013B] = OWNER.decode()  # Artist
    info[0x0131] = SOFTWARE.decode()
    out = io.BytesIO()
    _sample_image().save(out, "TIFF", tiffinfo=info, compression="tiff_deflate")
    return out.getvalue()


def heic_with_gps(orientation: int = 1) -> bytes:
    """A phone-like HEIC: EXIF with GPS and camera, XMP; an orientation becomes an irot box."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    _sample_image((64, 48)).save(
        out, "HEIF", exif=_exif_block(orientation=orientation), xmp=XMP_PACKET, quality=80
    )
    return out.getvalue()


def avif_with_gps(orientation: int = 1) -> bytes:
    out = io.BytesIO()
    _sample_image((64, 48)).save(
        out, "AVIF", exif=_exif_block(orientation=orientation), xmp=XMP_PACKET
    )
    return out.getvalue()


PDF_OLD_AUTHOR = b"Canary Earlier Author"
PDF_ATTACHMENT = b"CANARY attachment: the ledger of payments"


def pdf_with_history() -> bytes:
    """A PDF with document info, XMP, an attached file, a commented annotation with an author,
    a JavaScript open action, a JPEG image carrying EXIF GPS, and an incremental update whose
    earlier revision names another author."""
    import pikepdf
    from pikepdf import Dictionary, Name

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    page = pdf.pages[0]
    image = pikepdf.Stream(pdf, jpeg_with_gps(size=(16, 16)))
    image.Type, image.Subtype, image.Filter = Name.XObject, Name.Image, Name.DCTDecode
    image.Width, image.Height, image.ColorSpace, image.BitsPerComponent = (
        16,
        16,
        Name.DeviceRGB,
        8,
    )
    page.Resources = Dictionary(XObject=Dictionary(Im0=image))
    page.Contents = pikepdf.Stream(pdf, b"q 100 0 0 100 50 50 cm /Im0 Do Q")
    page.Annots = pdf.make_indirect(pikepdf.Array([Dictionary(
        Type=Name.Annot, Subtype=Name.Text, Rect=[10, 10, 30, 30],
        T=pikepdf.String(OWNER.decode()), Contents=pikepdf.String("note by the owner"),
    )]))  # fmt: skip
    pdf.Root.OpenAction = Dictionary(S=Name.JavaScript, JS=pikepdf.String("app.alert('x')"))
    pdf.attachments["ledger.txt"] = pikepdf.AttachedFileSpec(pdf, PDF_ATTACHMENT)
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [OWNER.decode()]
    pdf.docinfo["/Author"] = PDF_OLD_AUTHOR.decode()
    pdf.docinfo["/Creator"] = SOFTWARE.decode()
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    base = out.getvalue()
    # Incremental update: a new /Info object replaces the old one, which stays in the bytes.
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    with pikepdf.open(io.BytesIO(base)) as saved:
        size = int(saved.trailer.Size)
        root = saved.Root.objgen[0]
    offset = len(base)
    obj = f"{size} 0 obj\n<< /Author ({MODEL.decode()}) >>\nendobj\n".encode()
    xref = len(base) + len(obj)
    update = (
        obj
        + f"xref\n{size} 1\n{offset:010d} 00000 n \ntrailer\n"
        f"<< /Size {size + 1} /Root {root} 0 R /Info {size} 0 R /Prev {prev} >>\n"
        f"startxref\n{xref}\n%%EOF\n".encode()
    )
    return base + update


LOCATION = "+19.4326-099.1332+2240.000/"  # ISO 6709, as iPhones write it


def mov_with_location(container: str = "mov") -> bytes:
    """A short phone-like video (MPEG-4 video + AAC audio) with Apple location/make/model keys,
    a ©xyz location, a comment naming the owner and a timecode track."""
    import av

    out = io.BytesIO()
    options = {"movflags": "use_metadata_tags"}
    with av.open(out, mode="w", format=container, options=options) as movie:
        movie.metadata.update({
            "com.apple.quicktime.location.ISO6709": LOCATION,
            "com.apple.quicktime.make": MAKE.decode(),
            "com.apple.quicktime.model": MODEL.decode(),
            "com.apple.quicktime.software": SOFTWARE.decode(),
            "location": LOCATION,
            "comment": OWNER.decode(),
            "timecode": "01:02:03:04",
            "creation_time": "2026-11-27T22:10:05Z",
        })  # fmt: skip
        video = movie.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.metadata["handler_name"] = SERIAL.decode()
        audio = movie.add_stream("aac", rate=8000)
        audio.layout = "mono"
        for i in range(10):
            frame = _video_frame(64, 48, shade=i * 20)
            frame.pts = i
            for packet in video.encode(frame):
                movie.mux(packet)
        for packet in video.encode():
            movie.mux(packet)
        _encode_silence(movie, audio, 8000, 1024, 8)
    return out.getvalue()


def _video_frame(width: int, height: int, shade: int) -> object:
    import av

    frame = av.VideoFrame(width, height, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([shade]) * plane.buffer_size)
    return frame


def _encode_silence(container: object, stream: object, rate: int, size: int, count: int) -> None:
    import av

    for i in range(count):
        frame = av.AudioFrame(format="fltp", layout="mono", samples=size)
        frame.planes[0].update(b"\0" * frame.planes[0].buffer_size)
        frame.sample_rate, frame.pts = rate, i * size
        for packet in stream.encode(frame):  # type: ignore[attr-defined]
            container.mux(packet)  # type: ignore[attr-defined]
    for packet in stream.encode():  # type: ignore[attr-defined]
        container.mux(packet)  # type: ignore[attr-defined]


def mp3_with_tags() -> bytes:
    """An MP3 with ID3v2 (artist, comment, GPS-like text), then APE and ID3v1 tags appended."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp3") as song:
        song.metadata.update({"artist": OWNER.decode(), "comment": LOCATION,
                              "encoded_by": SOFTWARE.decode()})  # fmt: skip
        audio = song.add_stream("libmp3lame", rate=22050)
        audio.layout = "mono"
        _encode_silence(song, audio, 22050, 1152, 20)
    item = b"Artist\x00" + OWNER
    ape_items = struct.pack("<II", len(OWNER), 0) + item
    ape = (
        ape_items + b"APETAGEX" + struct.pack("<IIII", 2000, len(ape_items) + 32, 1, 0) + b"\0" * 8
    )
    id3v1 = b"TAG" + b"title".ljust(30, b"\0") + OWNER.ljust(30, b"\0") + b"\0" * 30 + b"2026"
    id3v1 += SERIAL.ljust(30, b"\0") + b"\xff"
    assert len(id3v1) == 128
    return out.getvalue() + ape + id3v1


EMAIL = "juana.canary@example.org"


def _zip(members: list[tuple[str, bytes]], comment: bytes = b"") -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 27, 22, 10, 5))
            info.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        archive.comment = comment
    return out.getvalue()


def docx_with_authors() -> bytes:
    """A DOCX with core/app/custom properties, a thumbnail, a comment and a tracked change by
    the owner, rsids, a people part with an account id, an external template path and an
    embedded photo carrying GPS."""
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    r = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    owner = OWNER.decode()
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    members = [
        ("[Content_Types].xml", b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>'),
        ("_rels/.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="{rel}/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId4" Type="{rel}/custom-properties" Target="docProps/custom.xml"/><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/></Relationships>'.encode()),
        ("docProps/core.xml", f'<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:creator>{owner}</dc:creator><cp:lastModifiedBy>{owner}</cp:lastModifiedBy><dcterms:created>2026-11-27T22:10:05Z</dcterms:created></cp:coreProperties>'.encode()),
        ("docProps/app.xml", f'<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Company>{MAKE.decode()}</Company><Application>{SOFTWARE.decode()}</Application></Properties>'.encode()),
        ("docProps/custom.xml", f'<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"><property name="Device">{SERIAL.decode()}</property></Properties>'.encode()),
        ("docProps/thumbnail.jpeg", jpeg_with_gps(size=(16, 16))),
        ("word/document.xml", f'<?xml version="1.0"?><w:document {w} {r}><w:body><w:p w:rsidR="00A1B2C3" w:rsidRDefault="00D4E5F6"><w:ins w:id="1" w:author="{owner}" w:date="2026-11-27T22:10:05Z"><w:r><w:t>inserted text</w:t></w:r></w:ins><w:commentRangeStart w:id="0"/><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>'.encode()),
        ("word/_rels/document.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/comments" Target="comments.xml"/><Relationship Id="rId2" Type="{rel}/image" Target="media/image1.jpeg"/><Relationship Id="rId3" Type="{rel}/settings" Target="settings.xml"/><Relationship Id="rId4" Type="{rel}/hyperlink" Target="https://example.com/story" TargetMode="External"/></Relationships>'.encode()),
        ("word/comments.xml", f'<?xml version="1.0"?><w:comments {w}><w:comment w:id="0" w:author="{owner}" w:initials="JC" w:date="2026-11-27T22:10:05Z"><w:p><w:r><w:t>check this</w:t></w:r></w:p></w:comment></w:comments>'.encode()),
        ("word/settings.xml", f'<?xml version="1.0"?><w:settings {w} {r}><w:attachedTemplate r:id="rId1"/><w:rsids><w:rsidRoot w:val="00A1B2C3"/></w:rsids></w:settings>'.encode()),
        ("word/_rels/settings.xml.rels", f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/attachedTemplate" Target="file:///C:/Users/juana.canary/Templates/Normal.dotm" TargetMode="External"/></Relationships>'.encode()),
        ("word/people.xml", f'<?xml version="1.0"?><w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"><w15:person w15:author="{owner}"><w15:presenceInfo w15:providerId="AD" w15:userId="{EMAIL}"/></w15:person></w15:people>'.encode()),
        ("word/media/image1.jpeg", jpeg_with_gps()),
    ]  # fmt: skip
    return _zip(members, comment=b"packed by " + SOFTWARE)


def odt_with_authors() -> bytes:
    office = 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    dc = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
    meta = 'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
    text = 'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    config = 'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"'
    owner = OWNER.decode()
    members = [
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="settings.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" manifest:media-type="image/png"/><manifest:file-entry manifest:full-path="Pictures/photo.jpg" manifest:media-type="image/jpeg"/></manifest:manifest>'),
        ("meta.xml", f'<?xml version="1.0"?><office:document-meta {office} {dc} {meta}><office:meta><meta:initial-creator>{owner}</meta:initial-creator><dc:creator>{owner}</dc:creator><meta:generator>{SOFTWARE.decode()}</meta:generator><dc:date>2026-11-27T22:10:05</dc:date></office:meta></office:document-meta>'.encode()),
        ("settings.xml", f'<?xml version="1.0"?><office:document-settings {office} {config}><office:settings><config:config-item config:name="PrinterName" config:type="string">{MODEL.decode()}</config:config-item></office:settings></office:document-settings>'.encode()),
        ("content.xml", f'<?xml version="1.0"?><office:document-content {office} {dc} {text}><office:body><office:text><text:p>Body<office:annotation><dc:creator>{owner}</dc:creator><dc:date>2026-11-27T22:10:05</dc:date><text:p>note</text:p></office:annotation></text:p></office:text></office:body></office:document-content>'.encode()),
        ("Thumbnails/thumbnail.png", png_with_text()),
        ("Pictures/photo.jpg", jpeg_with_gps()),
    ]  # fmt: skip
    return _zip(members)


def zip_with_photos() -> bytes:
    inner = _zip([("screenshot.png", png_with_text())], comment=b"inner " + OWNER)
    return _zip(
        [("fotos/IMG_0001.jpg", jpeg_with_gps()), ("notas.txt", "la reunión fue en el puerto".encode()),
         ("more.zip", inner)],
        comment=b"archived on the laptop of " + OWNER,
    )  # fmt: skip


def mkv_with_attachment() -> bytes:
    """A Matroska video with an attached file, a subtitle track, chapters and tags naming the
    owner — written by the ffmpeg CLI (an independent muxer)."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is required (apt-get install ffmpeg)"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "notes.txt").write_bytes(b"attached by " + OWNER)
        (folder / "subs.srt").write_text(f"1\n00:00:00,000 --> 00:00:00,900\n{OWNER.decode()}\n")
        (folder / "chapters.txt").write_text(
            f";FFMETADATA1\ntitle={OWNER.decode()}\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\n"
            f"END=500\ntitle={SERIAL.decode()}\n"
        )
        out = folder / "out.mkv"
        subprocess.run(
            [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
             "-i", str(folder / "subs.srt"), "-i", str(folder / "chapters.txt"),
             "-map", "0:v", "-map", "1:s", "-map_metadata", "2", "-map_chapters", "2",
             "-t", "1", "-c:v", "mpeg4", "-c:s", "srt",
             "-metadata", f"comment={LOCATION}", "-metadata:s:v:0", f"title={MODEL.decode()}",
             "-attach", str(folder / "notes.txt"), "-metadata:s:t", "mimetype=text/plain",
             str(out)],
            check=True,
        )  # fmt: skip
        return out.read_bytes()


def tar_gz_with_owner() -> bytes:
    """A .tar.gz as a laptop makes it: owner names and ids, times, a gzip header naming the
    original file, a symlink, and a photo with GPS inside."""
    import gzip
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in (("evidence/IMG_0001.jpg", jpeg_with_gps()),
                           ("evidence/notes.txt", b"met at the port")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_795_900_000
            info.uname, info.gname, info.uid, info.gid = "juana", "canary", 1000, 1000
            info.pax_headers = {"comment": OWNER.decode()}
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("evidence/home")
        link.type, link.linkname = tarfile.SYMTYPE, "/home/juana.canary"
        archive.addfile(link)
    out = io.BytesIO()
    with gzip.GzipFile(filename="juana-canary-evidence.tar", mode="wb", fileobj=out,
                       mtime=1_795_900_000) as packed:  # fmt: skip
        packed.write(raw.getvalue())
    return out.getvalue()


# --- HEIF built box by box, for hostile variants ------------------------------------------------


def _heif_box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", len(body) + 8, kind) + body


def _heif_full_box(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return _heif_box(kind, struct.pack(">I", (version << 24) | flags) + body)


def heif_primary(colour: tuple[int, int, int] | None = None) -> dict[str, object]:
    """The primary picture of a pillow-heif HEIC: its property boxes and its coded data."""
    from submissions.scrub import heif

    data = heic_with_gps() if colour is None else _plain_heic(colour)
    top = {kind: (start, stop) for kind, start, stop in heif._boxes(data, 0, len(data))}
    meta = heif._parse_meta(data, *top[b"meta"], heif.Report(kind="heic", output_kind="heic"))
    item = meta.items[meta.primary]
    props = []
    for essential, index in item.properties:
        kind, body = meta.properties[index - 1]
        props.append((essential, _heif_box(kind, body)))
    return {"type": b"hvc1", "props": props, "data": heif._item_bytes(data, meta, item)}


def _plain_heic(colour: tuple[int, int, int]) -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (64, 48), colour)).save(out, quality=90)
    return out.getvalue()


def heif_build(
    items: list[dict[str, object]],
    primary: int,
    refs: tuple[tuple[bytes, int, list[int]], ...] = (),
) -> bytes:
    """A HEIC from items ({"id", "type", "props": [(essential, box)], "data", "extents"?})."""
    ftyp = _heif_box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    hdlr = _heif_full_box(b"hdlr", 0, 0, bytes(4) + b"pict" + bytes(13))
    pitm = _heif_full_box(b"pitm", 0, 0, struct.pack(">H", primary))
    infe = b"".join(
        _heif_full_box(b"infe", 2, 0, struct.pack(">HH", it["id"], 0) + it["type"] + b"\0")  # type: ignore[operator]
        for it in items
    )
    iinf = _heif_full_box(b"iinf", 0, 0, struct.pack(">H", len(items)) + infe)
    boxes: list[bytes] = []
    links = b""
    for it in items:
        indexes = []
        for essential, box in it["props"]:  # type: ignore[attr-defined]
            if box not in boxes:
                boxes.append(box)
            indexes.append(struct.pack(">H", (essential << 15) | (boxes.index(box) + 1)))
        links += struct.pack(">HB", it["id"], len(indexes)) + b"".join(indexes)
    ipma = _heif_full_box(b"ipma", 0, 1, struct.pack(">I", len(items)) + links)
    iprp = _heif_box(b"iprp", _heif_box(b"ipco", b"".join(boxes)) + ipma)
    references = b"".join(
        _heif_box(
            kind,
            struct.pack(">HH", source, len(targets))
            + b"".join(struct.pack(">H", t) for t in targets),
        )
        for kind, source, targets in refs
    )
    iref = _heif_full_box(b"iref", 0, 0, references) if refs else b""

    def iloc(base: int) -> bytes:
        entries, offset = b"", base
        for it in items:
            extents = it.get("extents") or [(offset, len(it["data"]))]  # type: ignore[arg-type]
            offset += len(it["data"])  # type: ignore[arg-type]
            entries += struct.pack(">HHHH", it["id"], 0, 0, len(extents))
            entries += b"".join(struct.pack(">II", o, n) for o, n in extents)  # type: ignore[misc]
        return _heif_full_box(b"iloc", 1, 0, b"\x44\x00" + struct.pack(">H", len(items)) + entries)

    before = hdlr + pitm + iinf + iref + iprp
    base = len(ftyp) + 12 + len(before) + len(iloc(0)) + 8
    meta = _heif_full_box(b"meta", 0, 0, before + iloc(base))
    return ftyp + meta + _heif_box(b"mdat", b"".join(it["data"] for it in items))  # type: ignore[misc]
