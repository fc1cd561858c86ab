"""Office scrubber, after review: identifying data that survived, memory bounds, and package
consistency (every relationship id used still exists, content types match the parts).

Every document here is built by code. Each test checks the output by a byte search of every
decompressed member for the identifying values, by exiftool where it reads the format, and by
an independent walk of the package's references (`_dangling`).
"""

from __future__ import annotations

import io
import os
import posixpath
import time
import warnings
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from submissions import scrub
from submissions.scrub import archive, office
from tests import fixtures
from tests.tools import disallowed_tags
from tests.tools import scrub_bytes as run

PIXELS = 10**8
OWNER = fixtures.OWNER.decode()  # "Juana Canary"
EMAIL = fixtures.EMAIL  # juana.canary@example.org
STAMP = "2026-11-27T22:10:05"

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
OX = "application/vnd.openxmlformats-officedocument."
RELS_CT = "application/vnd.openxmlformats-package.relationships+xml"
MS_REL = "http://schemas.microsoft.com/office"

Part = tuple[str | None, bytes | str]  # (content type override or None, data)
Rel = tuple[str, str, str] | tuple[str, str, str, str]  # (id, type, target[, "External"])


# ----------------------------------------------------------------------------- builders


def _rel_type(kind: str) -> str:
    return kind if kind.startswith("http") else f"{R}/{kind}"


def _rels_name(owner: str) -> str:
    if not owner:
        return "_rels/.rels"
    return posixpath.join(posixpath.dirname(owner), "_rels", posixpath.basename(owner) + ".rels")


def ooxml(
    parts: dict[str, Part], rels: dict[str, list[Rel]], defaults: dict[str, str] | None = None
) -> bytes:
    """An OOXML package: parts with optional Override types, relationships by owner part
    ("" for the package), Default types by extension (rels and xml always declared)."""
    types = [
        f'<Default Extension="rels" ContentType="{RELS_CT}"/>',
        '<Default Extension="xml" ContentType="application/xml"/>',
        *(f'<Default Extension="{e}" ContentType="{c}"/>' for e, c in (defaults or {}).items()),
        *(f'<Override PartName="/{n}" ContentType="{c}"/>' for n, (c, _) in parts.items() if c),
    ]
    members = [("[Content_Types].xml", f'<Types xmlns="{CT}">{"".join(types)}</Types>'.encode())]
    for owner, entries in rels.items():
        body = "".join(
            f'<Relationship Id="{rel[0]}" Type="{_rel_type(rel[1])}" Target="{rel[2]}"'
            + (' TargetMode="External"/>' if len(rel) > 3 else "/>")
            for rel in entries
        )
        members.append((_rels_name(owner), f'<Relationships xmlns="{PKG}">{body}</Relationships>'
                        .encode()))  # fmt: skip
    members += [(n, d.encode() if isinstance(d, str) else d) for n, (_, d) in parts.items()]
    return fixtures._zip(members)


def _ole2(marker: bytes) -> bytes:
    """The start of an OLE2 compound file (OLE objects, VBA projects) with a marker inside."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 56 + marker * 8


def _emf(description: str) -> bytes:
    """An EMF header record whose description string names the author, as Office writes it."""
    text = description.encode("utf-16-le") + b"\0\0"
    header = (b"\x01\x00\x00\x00" + (88 + len(text)).to_bytes(4, "little") + b"\0" * 32
              + b" EMF" + b"\0" * 44)  # fmt: skip
    return header + text


def _word_document(body: str) -> str:
    return (
        f'<w:document xmlns:w="{W}" xmlns:r="{R}" xmlns:o="urn:schemas-microsoft-com:office:office"'
        f' xmlns:v="urn:schemas-microsoft-com:vml"><w:body>{body}</w:body></w:document>'
    )


def _root_rels(main: str, main_rel: str = "officeDocument") -> list[Rel]:
    return [
        ("rId1", main_rel, main),
        ("rId2", f"{PKG}/metadata/core-properties", "docProps/core.xml"),
        ("rId3", "extended-properties", "docProps/app.xml"),
    ]


def _core() -> Part:
    return (
        "application/vnd.openxmlformats-package.core-properties+xml",
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        f'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{OWNER}'
        "</dc:creator></cp:coreProperties>",
    )


def _app() -> Part:
    return (
        OX + "extended-properties+xml",
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-'
        f'properties"><Company>{fixtures.MAKE.decode()}</Company></Properties>',
    )


# ------------------------------------------------------------------------------ checkers


def _plain(data: bytes) -> bytes:
    """Every member decompressed (nested ZIPs too), with its name: what a byte search sees."""
    chunks = [data]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            member = archive.read(info)
            chunks += [info.filename.encode(), member, member.decode("utf-16-le", "ignore")
                       .encode()]  # fmt: skip
            if member.startswith(b"PK\x03\x04"):
                chunks.append(_plain(member))
    return b"\n".join(chunks)


def _assert_absent(data: bytes, needles: list[bytes | str]) -> None:
    plain = _plain(data)
    for needle in needles:
        value = needle.encode() if isinstance(needle, str) else needle
        assert value not in plain, value


def _dangling(data: bytes) -> list[str]:
    """Independent check that Office would open the package without a repair: every r:* (and
    VML o:relid) reference in a part has its relationship, every internal relationship target
    exists, and [Content_Types].xml types every part and names no missing one."""
    problems = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        types = etree.fromstring(archive.read("[Content_Types].xml"))
        defaults = {d.get("Extension").lower() for d in types if d.tag == f"{{{CT}}}Default"}
        overrides = {o.get("PartName").lstrip("/") for o in types if o.tag == f"{{{CT}}}Override"}
        problems += [f"type for missing {name}" for name in overrides - names]
        for name in names - overrides - {"[Content_Types].xml"}:
            base = posixpath.basename(name)
            if base.rsplit(".", 1)[-1].lower() not in defaults:
                problems.append(f"no type for {name}")
        for name in names:
            if not name.endswith((".xml", ".vml")) or name == "[Content_Types].xml":
                continue
            ids = set()
            rels = _rels_name(name)
            if rels in names:
                for rel in etree.fromstring(archive.read(rels)):
                    ids.add(rel.get("Id"))
                    if rel.get("TargetMode") != "External":
                        target = posixpath.normpath(
                            posixpath.join(posixpath.dirname(name), rel.get("Target"))
                        )
                        if target not in names:
                            problems.append(f"{rels} -> missing {target}")
            for element in etree.fromstring(archive.read(name)).iter():
                for key, value in element.attrib.items():
                    relationship = key.startswith(f"{{{R}}}") or key == (
                        "{urn:schemas-microsoft-com:office:office}relid"
                    )
                    if relationship and value not in ids:
                        problems.append(f"{name}: {element.tag} {key}={value}")
    return problems


def _member(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name)


def _names(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return set(archive.namelist())


def _exiftool_clean(tmp_path: Path, data: bytes, extension: str) -> None:
    path = tmp_path / f"out.{extension}"
    path.write_bytes(data)
    assert disallowed_tags(path) == {}


# ---------------------------------------------------------------------------- 1. XLSX


P_GUID = "{5E2B1C3A-AAAA-4BBB-8CCC-0123456789AB}"
SITE_GUID = "{0F1E2D3C-5151-4A4A-9B9B-CAFE0000BEEF}"
REVISION_GUID = "{92EF8706-6D54-FC49-81B3-65F45BB42363}"


def xlsx_with_identities() -> bytes:
    """absPath with the user's folder, a revision pointer, file sharing by name, a threaded
    comment by a person (name, account, time), a sensitivity label with the tenant's site id,
    a signature, and printer settings referenced from the sheet's page setup."""
    s = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    tc = "http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"
    workbook = (
        f'<workbook xmlns="{s}" xmlns:r="{R}" xmlns:mc="http://schemas.openxmlformats.org/'
        'markup-compatibility/2006" xmlns:xr="http://schemas.microsoft.com/office/spreadsheetml/'
        '2014/revision"><fileSharing userName="' + OWNER + '"/><mc:AlternateContent><mc:Choice '
        'Requires="x15"><x15ac:absPath xmlns:x15ac="http://schemas.microsoft.com/office/'
        'spreadsheetml/2010/11/ac" url="C:\\Users\\juana.canary\\Documents\\"/></mc:Choice>'
        f'</mc:AlternateContent><xr:revisionPtr revIDLastSave="0" documentId="8_{REVISION_GUID}"/>'
        '<sheets><sheet name="Hoja1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    sheet = (
        f'<worksheet xmlns="{s}" xmlns:r="{R}"><sheetData><row r="1"><c r="A1" t="inlineStr">'
        "<is><t>cell text</t></is></c></row></sheetData>"
        '<pageSetup orientation="portrait" r:id="rId1"/></worksheet>'
    )
    threaded = (
        f'<ThreadedComments xmlns="{tc}"><threadedComment ref="A1" dT="{STAMP}.00" '
        f'personId="{P_GUID}" id="{{C0C0C0C0-1111-4222-8333-444455556666}}"><text>threaded '
        f'note</text><mentions><mention mentionpersonId="{P_GUID}" mentionId="{{1A1A1A1A-1111-'
        '4222-8333-444455556666}" startIndex="0" length="3"/></mentions></threadedComment>'
        "</ThreadedComments>"
    )
    persons = (
        f'<personList xmlns="{tc}"><person displayName="{OWNER}" id="{P_GUID}" '
        f'userId="{EMAIL}" providerId="AD"/></personList>'
    )
    label = (
        '<clbl:labelList xmlns:clbl="http://schemas.microsoft.com/office/2020/mipLabelMetadata">'
        f'<clbl:label id="{{3DE3A9C1-2222-4333-8444-555566667777}}" enabled="1" '
        f'method="Privileged" siteId="{SITE_GUID}" removed="0"/></clbl:labelList>'
    )
    signature = f"<Signature><KeyInfo><X509SubjectName>CN={OWNER}</X509SubjectName></KeyInfo>"
    signature += "</Signature>"
    parts: dict[str, Part] = {
        "xl/workbook.xml": (OX + "spreadsheetml.sheet.main+xml", workbook),
        "xl/worksheets/sheet1.xml": (OX + "spreadsheetml.worksheet+xml", sheet),
        "xl/threadedComments/threadedComment1.xml": (
            "application/vnd.ms-excel.threadedcomments+xml", threaded),
        "xl/persons/person.xml": ("application/vnd.ms-excel.person+xml", persons),
        "xl/printerSettings/printerSettings1.bin": (None, b"\0\0" + OWNER.encode("utf-16-le")),
        "docMetadata/LabelInfo.xml": ("application/vnd.ms-office.classificationlabels+xml",
                                      label),
        "_xmlsignatures/origin.sigs": (
            "application/vnd.openxmlformats-package.digital-signature-origin", b""),
        "_xmlsignatures/sig1.xml": (
            "application/vnd.openxmlformats-package.digital-signature-xmlsignature+xml",
            signature),
        "docProps/core.xml": _core(),
        "docProps/app.xml": _app(),
    }  # fmt: skip
    rels: dict[str, list[Rel]] = {
        "": [
            *_root_rels("xl/workbook.xml"),
            ("rId4", f"{MS_REL}/2020/02/relationships/classificationlabels",
             "docMetadata/LabelInfo.xml"),
            ("rId5", f"{PKG}/digital-signature/origin", "_xmlsignatures/origin.sigs"),
        ],
        "xl/workbook.xml": [
            ("rId1", "worksheet", "worksheets/sheet1.xml"),
            ("rId2", f"{MS_REL}/2017/10/relationships/person", "persons/person.xml"),
        ],
        "xl/worksheets/sheet1.xml": [
            ("rId1", "printerSettings", "../printerSettings/printerSettings1.bin"),
            ("rId2", f"{MS_REL}/2017/10/relationships/threadedComment",
             "../threadedComments/threadedComment1.xml"),
        ],
        "_xmlsignatures/origin.sigs": [
            ("rId1", f"{PKG}/digital-signature/signature", "sig1.xml"),
        ],
    }  # fmt: skip
    defaults = {"bin": OX + "spreadsheetml.printerSettings", "sigs": parts[
        "_xmlsignatures/origin.sigs"][0] or ""}  # fmt: skip
    return ooxml(parts, rels, defaults)


def test_xlsx_paths_revision_ids_persons_labels_and_signatures_removed(tmp_path):
    source = xlsx_with_identities()
    assert b"juana.canary" in _plain(source) and SITE_GUID.encode() in _plain(source)
    cleaned, report = run(source)
    assert report.extension == "xlsx"
    _assert_absent(cleaned, [OWNER, "juana.canary", "Users", P_GUID, SITE_GUID, REVISION_GUID,
                             "2026-11-27", "Privileged", "X509"])  # fmt: skip
    names = _names(cleaned)
    assert not [n for n in names if n.startswith(("docMetadata/", "_xmlsignatures/"))]
    assert "xl/printerSettings/printerSettings1.bin" not in names
    assert {"file paths", "document ids", "author and editor names", "revision and comment dates",
            "author account ids", "sensitivity labels", "digital signatures",
            "printer settings"} <= set(report.removed)  # fmt: skip
    # The threaded comment still points at its (renumbered, anonymous) person.
    persons = etree.fromstring(_member(cleaned, "xl/persons/person.xml"))
    comments = etree.fromstring(_member(cleaned, "xl/threadedComments/threadedComment1.xml"))
    person = persons[0]
    assert person.get("displayName") == "Anonymous" and person.get("userId") == ""
    assert comments[0].get("personId") == person.get("id")
    assert comments[0][1][0].get("mentionpersonId") == person.get("id")
    assert b"threaded note" in _plain(cleaned) and b"cell text" in _plain(cleaned)
    # The page setup lost its reference to the dropped printer settings, and nothing dangles.
    sheet = _member(cleaned, "xl/worksheets/sheet1.xml")
    assert b"<pageSetup" in sheet and b"r:id" not in sheet.split(b"<pageSetup")[1]
    assert b"AlternateContent" not in _member(cleaned, "xl/workbook.xml")  # emptied: gone
    assert _dangling(cleaned) == []
    _exiftool_clean(tmp_path, cleaned, "xlsx")


# --------------------------------------------------- 1b. properties at non-standard paths


def test_properties_found_by_relationship_type_wherever_they_are(tmp_path):
    """Core, app and custom properties stored under made-up names, typed only by the package's
    relationships (the content type is the generic application/xml)."""
    core_ns = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
    parts: dict[str, Part] = {
        "word/document.xml": (OX + "wordprocessingml.document.main+xml",
                              _word_document("<w:p><w:r><w:t>body</w:t></w:r></w:p>")),
        "meta/k1.xml": (None, f'<cp:coreProperties xmlns:cp="{core_ns}" xmlns:dc="http://purl.'
                        f'org/dc/elements/1.1/"><dc:creator>{OWNER}</dc:creator><cp:keywords>'
                        "CORE-CANARY</cp:keywords></cp:coreProperties>"),
        "meta/k2.xml": (None, '<Properties xmlns="http://schemas.openxmlformats.org/'
                        "officeDocument/2006/extended-properties\"><Template>APP-CANARY.dotm"
                        "</Template></Properties>"),
        "meta/k3.xml": (None, '<Properties xmlns="http://schemas.openxmlformats.org/'
                        'officeDocument/2006/custom-properties"><property name="Device">'
                        f"{fixtures.SERIAL.decode()}</property></Properties>"),
    }  # fmt: skip
    rels: dict[str, list[Rel]] = {"": [
        ("rId1", "officeDocument", "word/document.xml"),
        ("rId2", f"{PKG}/metadata/core-properties", "meta/k1.xml"),
        ("rId3", "extended-properties", "/meta/k2.xml"),
        ("rId4", "custom-properties", "meta/k3.xml"),
    ]}  # fmt: skip
    cleaned, report = run(ooxml(parts, rels))
    _assert_absent(cleaned, [OWNER, "CORE-CANARY", "APP-CANARY", fixtures.SERIAL])
    assert "meta/k3.xml" not in _names(cleaned)
    assert _member(cleaned, "meta/k1.xml") == office.OOXML_CORE
    assert _member(cleaned, "meta/k2.xml") == office.OOXML_APP
    assert {
        "document properties (author, dates, title)",
        "custom properties",
        "application properties (company, template, editing time)",
    } <= set(report.removed)
    assert _dangling(cleaned) == []
    _exiftool_clean(tmp_path, cleaned, "docx")


# ---------------------------------------------------------------------------- 1c. PPTX


A_GUID = "{AB12CD34-0000-4111-8222-333344445555}"


def pptx_with_comments() -> bytes:
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    p188 = "http://schemas.microsoft.com/office/powerpoint/2018/8/main"
    presentation = (
        f'<p:presentation xmlns:p="{p}" xmlns:r="{R}"><p:sldIdLst><p:sldId id="256" '
        'r:id="rId1"/></p:sldIdLst></p:presentation>'
    )
    slide = (
        f'<p:sld xmlns:p="{p}" xmlns:a="{a}"><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" '
        'name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/></p:spTree></p:cSld></p:sld>'
    )
    authors = (
        f'<p:cmAuthorLst xmlns:p="{p}"><p:cmAuthor id="0" name="{OWNER}" initials="JCZ" '
        'lastIdx="1" clrIdx="0"/></p:cmAuthorLst>'
    )
    legacy = (
        f'<p:cmLst xmlns:p="{p}"><p:cm authorId="0" dt="{STAMP}.123" idx="1"><p:pos x="10" '
        'y="10"/><p:text>legacy note</p:text></p:cm></p:cmLst>'
    )
    modern_authors = (
        f'<p188:authorLst xmlns:p188="{p188}"><p188:author id="{A_GUID}" name="{OWNER}" '
        f'initials="JCZ" userId="{EMAIL}" providerId="AD"/></p188:authorLst>'
    )
    modern = (
        f'<p188:cmLst xmlns:p188="{p188}" xmlns:a="{a}"><p188:cm id="{{DD000000-0000-4000-8000-'
        f'000000000001}}" authorId="{A_GUID}" created="{STAMP}.456"><p188:txBody><a:bodyPr/>'
        "<a:p><a:r><a:t>modern note</a:t></a:r></a:p></p188:txBody></p188:cm></p188:cmLst>"
    )
    parts: dict[str, Part] = {
        "ppt/presentation.xml": (OX + "presentationml.presentation.main+xml", presentation),
        "ppt/slides/slide1.xml": (OX + "presentationml.slide+xml", slide),
        "ppt/commentAuthors.xml": (OX + "presentationml.commentAuthors+xml", authors),
        "ppt/comments/comment1.xml": (OX + "presentationml.comments+xml", legacy),
        "ppt/authors.xml": ("application/vnd.ms-powerpoint.authors+xml", modern_authors),
        "ppt/comments/modernComment_100.xml": ("application/vnd.ms-powerpoint.comments+xml",
                                               modern),
        "docProps/core.xml": _core(),
        "docProps/app.xml": _app(),
    }  # fmt: skip
    rels: dict[str, list[Rel]] = {
        "": _root_rels("ppt/presentation.xml"),
        "ppt/presentation.xml": [
            ("rId1", "slide", "slides/slide1.xml"),
            ("rId2", "commentAuthors", "commentAuthors.xml"),
            ("rId3", f"{MS_REL}/2018/10/relationships/authors", "authors.xml"),
        ],
        "ppt/slides/slide1.xml": [
            ("rId1", "comments", "../comments/comment1.xml"),
            ("rId2", f"{MS_REL}/2018/10/relationships/comments",
             "../comments/modernComment_100.xml"),
        ],
    }  # fmt: skip
    return ooxml(parts, rels)


def test_pptx_comment_authors_and_times_removed(tmp_path):
    cleaned, report = run(pptx_with_comments())
    assert report.extension == "pptx"
    _assert_absent(cleaned, [OWNER, "JCZ", "juana.canary", A_GUID, "2026-11-27"])
    plain = _plain(cleaned)
    assert b"legacy note" in plain and b"modern note" in plain
    authors = etree.fromstring(_member(cleaned, "ppt/authors.xml"))
    modern = etree.fromstring(_member(cleaned, "ppt/comments/modernComment_100.xml"))
    assert modern[0].get("authorId") == authors[0].get("id")  # still the same author
    legacy = etree.fromstring(_member(cleaned, "ppt/commentAuthors.xml"))
    assert legacy[0].get("name") == "Anonymous" and legacy[0].get("initials") == "A"
    assert {"author and editor names", "revision and comment dates",
            "author account ids"} <= set(report.removed)  # fmt: skip
    assert _dangling(cleaned) == []
    _exiftool_clean(tmp_path, cleaned, "pptx")


# ---------------------------------------------------------------------------- 1d. DOCX


DOC_GUID = "{CA7A11CE-1234-4567-89AB-CDEF01234567}"


def docx_with_hidden_things() -> bytes:
    """Document ids and rsids; text hidden directly and by a style (through basedOn); a tracked
    deletion; a field whose code holds a path (split over two runs) and one showing the author;
    a hyperlink to a file on the author's disk; an OLE object with an EMF preview; a picture."""
    body = (
        '<w:p w:rsidR="00A1B2C3"><w:r><w:t>Visible text</w:t></w:r>'
        "<w:r><w:rPr><w:vanish/></w:rPr><w:t>HIDDEN-CANARY</w:t></w:r>"
        '<w:r><w:rPr><w:vanish w:val="0"/></w:rPr><w:t>shown though marked</w:t></w:r>'
        '<w:r><w:rPr><w:rStyle w:val="Secret"/></w:rPr><w:t>STYLE-HIDDEN-CANARY</w:t></w:r>'
        f'<w:del w:id="1" w:author="{OWNER}" w:date="{STAMP}Z"><w:r><w:delText>DELETED-CANARY'
        "</w:delText></w:r></w:del></w:p>"
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space='
        '"preserve"> INCLUDEPICTURE "file:///C:/Users/jua</w:instrText></w:r><w:r><w:instrText>'
        'na.canary/Pictures/x.png" \\d </w:instrText></w:r><w:r><w:fldChar w:fldCharType='
        '"separate"/></w:r><w:r><w:t>[picture]</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/>'
        "</w:r></w:p>"
        f'<w:p><w:fldSimple w:instr=" AUTHOR \\* MERGEFORMAT "><w:r><w:t>{OWNER}</w:t></w:r>'
        "</w:fldSimple><w:r><w:t>after the field</w:t></w:r></w:p>"
        '<w:p><w:hyperlink r:id="rIdLink"><w:r><w:t>my file</w:t></w:r></w:hyperlink></w:p>'
        '<w:p><w:r><w:object><v:shape id="_x0000_i1025"><v:imagedata r:id="rIdEmf" o:title=""/>'
        '</v:shape><o:OLEObject Type="Embed" ProgID="Package" ShapeID="_x0000_i1025" '
        'DrawAspect="Icon" ObjectID="_1" r:id="rIdOle"/></w:object></w:r></w:p>'
        '<w:p><w:r><w:pict><v:shape id="p2"><v:imagedata r:id="rIdPng"/></v:shape></w:pict>'
        "</w:r></w:p>"
    )
    settings = (
        f'<w:settings xmlns:w="{W}" xmlns:w14="http://schemas.microsoft.com/office/word/2010/'
        'wordml" xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"><w:rsids>'
        '<w:rsidRoot w:val="00A1B2C3"/></w:rsids><w14:docId w14:val="1A2B3C4D"/>'
        f'<w15:docId w15:val="{DOC_GUID}"/></w:settings>'
    )
    styles = (
        f'<w:styles xmlns:w="{W}"><w:style w:type="character" w:styleId="Secret"><w:name '
        'w:val="Secret"/><w:basedOn w:val="Base"/><w:rsid w:val="00D4E5F6"/></w:style><w:style '
        'w:type="character" w:styleId="Base"><w:rPr><w:vanish/></w:rPr></w:style></w:styles>'
    )
    parts: dict[str, Part] = {
        "word/document.xml": (OX + "wordprocessingml.document.main+xml", _word_document(body)),
        "word/settings.xml": (OX + "wordprocessingml.settings+xml", settings),
        "word/styles.xml": (OX + "wordprocessingml.styles+xml", styles),
        "word/media/image1.emf": (None, _emf(f"Microsoft Office\0EMF-CANARY {OWNER}")),
        "word/media/image2.png": (None, fixtures.png_with_text()),
        "word/embeddings/oleObject1.bin": (None, _ole2(b"OLE-CANARY")),
        "docProps/core.xml": _core(),
        "docProps/app.xml": _app(),
    }
    rels: dict[str, list[Rel]] = {
        "": _root_rels("word/document.xml"),
        "word/document.xml": [
            ("rIdS", "settings", "settings.xml"),
            ("rIdSt", "styles", "styles.xml"),
            ("rIdLink", "hyperlink", "file:///C:/Users/juana.canary/Documents/informe.docx",
             "External"),
            ("rIdEmf", "image", "media/image1.emf"),
            ("rIdPng", "image", "media/image2.png"),
            ("rIdOle", "oleObject", "embeddings/oleObject1.bin"),
        ],
    }  # fmt: skip
    defaults = {"emf": "image/x-emf", "png": "image/png", "bin": OX + "oleObject"}
    return ooxml(parts, rels, defaults)


def test_docx_hidden_deleted_fields_links_ids_and_emf(tmp_path):
    source = docx_with_hidden_things()
    assert b"HIDDEN-CANARY" in _plain(source) and b"EMF-CANARY" in _plain(source)
    cleaned, report = run(source)
    assert report.extension == "docx"
    _assert_absent(cleaned, [
        "HIDDEN-CANARY", "STYLE-HIDDEN-CANARY", "DELETED-CANARY", "Users/jua", "x.png",
        "juana.canary", OWNER, "1A2B3C4D", DOC_GUID, "00A1B2C3", "00D4E5F6", "EMF-CANARY",
        "OLE-CANARY", "2026-11-27", *fixtures.canaries(),
    ])  # fmt: skip
    plain = _plain(cleaned)
    for kept in (b"Visible text", b"shown though marked", b"[picture]", b"my file",
                 b"after the field"):  # fmt: skip
        assert kept in plain, kept
    assert {"hidden text", "deleted text (tracked changes)", "field codes with file paths",
            "fields showing names or file paths", "links to files on the computer",
            "EMF/WMF drawings that cannot be checked", "document ids", "revision ids (rsid)",
            "embedded unknown files that cannot be cleaned"} <= set(report.removed)  # fmt: skip
    names = _names(cleaned)
    assert "word/media/image1.emf" not in names and "word/embeddings/oleObject1.bin" not in names
    assert "word/media/image2.png" in names
    document = etree.fromstring(_member(cleaned, "word/document.xml"))
    ns = {"w": W, "o": "urn:schemas-microsoft-com:office:office", "r": R}
    assert document.xpath("//o:OLEObject", namespaces=ns) == []  # cannot stand without its data
    assert document.xpath("//w:hyperlink", namespaces=ns)  # the link text stays, not the path
    assert document.xpath("//w:instrText", namespaces=ns) == []
    assert len(document.xpath("//*[@r:id]", namespaces=ns)) == 1  # the PNG's
    assert _dangling(cleaned) == []
    _exiftool_clean(tmp_path, cleaned, "docx")


# --------------------------------------------------------------- 1e. macros, unused parts


def test_macro_enabled_document_becomes_macro_free(tmp_path):
    main = "application/vnd.ms-word.document.macroEnabled.main+xml"
    vba_data = (
        '<wne:vbaSuppData xmlns:wne="http://schemas.microsoft.com/office/word/2006/wordml">'
        '<wne:mcds><wne:mcd wne:macroName="PROJECT.MODULE1.MACRO-CANARY"/></wne:mcds>'
        "</wne:vbaSuppData>"
    )
    parts: dict[str, Part] = {
        "word/document.xml": (main, _word_document("<w:p><w:r><w:t>body</w:t></w:r></w:p>")),
        "word/vbaProject.bin": (None, _ole2(b"MACRO-CANARY")),
        "word/vbaData.xml": ("application/vnd.ms-word.vbaData+xml", vba_data),
        "word/customizations.xml": ("application/vnd.ms-word.keyMapCustomizations+xml",
                                    "<keymaps>MACRO-CANARY</keymaps>"),
        "[trash]/0001.dat": (None, b"UNUSED-CANARY"),
        "word/orphan.xml": (None, "<orphan>UNUSED-CANARY</orphan>"),
        "docProps/core.xml": _core(),
        "docProps/app.xml": _app(),
    }  # fmt: skip
    rels: dict[str, list[Rel]] = {
        "": _root_rels("word/document.xml"),
        "word/document.xml": [
            ("rId1", f"{MS_REL}/2006/relationships/vbaProject", "vbaProject.bin"),
            ("rId2", f"{MS_REL}/2006/relationships/keyMapCustomizations", "customizations.xml"),
        ],
        "word/vbaProject.bin": [("rId1", f"{MS_REL}/2006/relationships/wordVbaData",
                                 "vbaData.xml")],
    }  # fmt: skip
    cleaned, report = run(ooxml(parts, rels, {"bin": "application/vnd.ms-office.vbaProject"}))
    assert report.extension == "docx"
    assert {"macros", "unused parts"} <= set(report.removed)
    _assert_absent(cleaned, ["MACRO-CANARY", "UNUSED-CANARY", "vbaProject", "vbaData",
                             "macroEnabled", "customizations"])  # fmt: skip
    types = _member(cleaned, "[Content_Types].xml")
    assert (OX + "wordprocessingml.document.main+xml").encode() in types
    assert _names(cleaned) == {"[Content_Types].xml", "_rels/.rels", "word/document.xml",
                               "word/_rels/document.xml.rels", "docProps/core.xml",
                               "docProps/app.xml"}  # fmt: skip
    assert _dangling(cleaned) == []
    _exiftool_clean(tmp_path, cleaned, "docx")


def test_workbook_with_excel4_macro_sheet_refused():
    parts: dict[str, Part] = {
        "xl/workbook.xml": ("application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                            '2006/main"/>'),
        "xl/macrosheets/sheet1.xml": ("application/vnd.ms-excel.macrosheet+xml", "<xm/>"),
    }  # fmt: skip
    rels: dict[str, list[Rel]] = {
        "": [("rId1", "officeDocument", "xl/workbook.xml")],
        "xl/workbook.xml": [("rId1", "xlMacrosheet", "macrosheets/sheet1.xml")],
    }
    with pytest.raises(scrub.Rejected) as info:
        run(ooxml(parts, rels))
    assert info.value.code == "unsupported" and "macro" in info.value.detail


# ------------------------------------------------------------------------------- 1f. ODF


def odt_with_fields_changes_and_objects() -> bytes:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0"'
    )
    content = (
        f"<office:document-content {ns}><office:body><office:text><text:tracked-changes>"
        '<text:changed-region text:id="ct1"><text:deletion><office:change-info><dc:creator>'
        f"{OWNER}</dc:creator><dc:date>{STAMP}</dc:date></office:change-info><text:p>"
        "ODF-DELETED-CANARY</text:p></text:deletion></text:changed-region></text:tracked-changes>"
        f'<text:p>Body <text:author-name text:fixed="false">{OWNER}</text:author-name> and '
        "<text:author-initials>JCZ</text:author-initials>, file <text:file-name text:display="
        '"full">C:\\Users\\juana.canary\\x.odt</text:file-name> end<text:change '
        'text:change-id="ct1"/></text:p>'
        f"<text:p>Note<office:annotation><dc:creator>{OWNER}</dc:creator><meta:creator-initials>"
        f"JCZ</meta:creator-initials><dc:date>{STAMP}</dc:date><text:p>annotation text</text:p>"
        '</office:annotation></text:p><text:p><draw:frame><draw:object xlink:href="./Object 1"/>'
        '<draw:image xlink:href="../../../Users/juana.canary/Pictures/linked.png"/></draw:frame>'
        "</text:p></office:text></office:body></office:document-content>"
    )
    meta = (
        f"<office:document-meta {ns}><office:meta><meta:initial-creator>{OWNER}"
        f"</meta:initial-creator><meta:creator-initials>JCZ</meta:creator-initials>"
        "</office:meta></office:document-meta>"
    )
    settings = (
        f'<office:document-settings {ns}><office:settings><config:config-item config:name="'
        f'PrinterName" config:type="string">{fixtures.MODEL.decode()}</config:config-item>'
        "</office:settings></office:document-settings>"
    )
    chart = f"<office:document-content {ns}><office:body><text:p>chart</text:p></office:body>"
    chart += "</office:document-content>"
    files = {
        "content.xml": content.encode(),
        "meta.xml": meta.encode(),
        "settings.xml": settings.encode(),
        "Object 1/content.xml": chart.encode(),
        "Object 1/meta.xml": meta.encode(),
        "Object 1/settings.xml": settings.encode(),
        "Basic/Standard/Module1.xml": b"<module>MACRO-CANARY</module>",
        "Scripts/python/run.py": b"print('MACRO-CANARY')",
        "META-INF/documentsignatures.xml": f"<signatures>CN={OWNER}</signatures>".encode(),
    }
    entry = '<manifest:file-entry manifest:full-path="{}" manifest:media-type="{}"/>'
    entries = [entry.format("/", "application/vnd.oasis.opendocument.text"),
               entry.format("Object 1/", "application/vnd.oasis.opendocument.chart"),
               *(entry.format(name, "text/xml") for name in files)]  # fmt: skip
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        + "".join(entries)
        + "</manifest:manifest>"
    )
    return fixtures._zip([
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", manifest.encode()),
        *files.items(),
    ])  # fmt: skip


def test_odt_fields_tracked_changes_objects_macros_and_signatures(tmp_path):
    cleaned, report = run(odt_with_fields_changes_and_objects())
    assert report.extension == "odt"
    _assert_absent(cleaned, [OWNER, "JCZ", "ODF-DELETED-CANARY", "juana.canary", "Users",
                             fixtures.MODEL, "MACRO-CANARY", "2026-11-27"])  # fmt: skip
    content = _member(cleaned, "content.xml")
    assert b"Body  and , file  end" in content  # the text around the removed fields stays
    assert b"annotation text" in content and b"linked.png" in content
    assert _member(cleaned, "Object 1/meta.xml") == office.ODF_META
    assert _member(cleaned, "Object 1/settings.xml") == office.ODF_SETTINGS
    names = _names(cleaned)
    assert not [n for n in names if n.startswith(("Basic/", "Scripts/"))]
    assert "META-INF/documentsignatures.xml" not in names
    manifest = etree.fromstring(_member(cleaned, "META-INF/manifest.xml"))
    listed = {next(iter(e.attrib.values())) for e in manifest}
    assert listed - {"/", "Object 1/"} == names - {"mimetype", "META-INF/manifest.xml"}
    assert {"fields showing names or file paths", "deleted text (tracked changes)",
            "author and editor names", "macros", "digital signatures",
            "file paths"} <= set(report.removed)  # fmt: skip
    _exiftool_clean(tmp_path, cleaned, "odt")


def test_encrypted_odf_refused():
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum="AAAA"/></manifest:file-entry>'
        "</manifest:manifest>"
    )
    source = fixtures._zip([("mimetype", b"application/vnd.oasis.opendocument.text"),
                            ("META-INF/manifest.xml", manifest.encode()),
                            ("content.xml", b"\x8f\x01 encrypted bytes")])  # fmt: skip
    with pytest.raises(scrub.Rejected) as info:
        run(source)
    assert info.value.code == "encrypted"


# ------------------------------------------------------------------------------ 2. memory


def _docx_with_document(document: bytes, *, stored: bool = False) -> bytes:
    members = [
        ("[Content_Types].xml", f'<Types xmlns="{CT}"><Default Extension="rels" ContentType="'
         f'{RELS_CT}"/><Override PartName="/word/document.xml" ContentType="{OX}'
         'wordprocessingml.document.main+xml"/></Types>'.encode()),
        ("_rels/.rels", f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{R}/'
         'officeDocument" Target="word/document.xml"/></Relationships>'.encode()),
    ]  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        archive.writestr(zipfile.ZipInfo("word/document.xml"), document, compress_type=kind)
    return out.getvalue()


def test_oversized_xml_part_refused_before_parsing():
    """A part over MAX_XML_PART is refused from its declared size: never read, never parsed
    (lxml takes ~30x the text: a 100 MB part used to cost 3.5 GB)."""
    assert office.MAX_XML_PART == 32 * 1024 * 1024
    filler = b"<w:p/>" * ((office.MAX_XML_PART // 6) + 1)
    document = f'<w:document xmlns:w="{W}"><w:body>'.encode() + filler + b"</w:body></w:document>"
    source = _docx_with_document(document, stored=True)  # ratio 1: only the part cap applies
    started = time.monotonic()
    with pytest.raises(scrub.Rejected) as info:
        run(source)
    assert info.value.code == "too_large" and "MiB of XML" in info.value.detail
    assert time.monotonic() - started < 5


def test_entities_refused():
    body = "<w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body>"
    document = (
        b'<!DOCTYPE w:document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        + f'<w:document xmlns:w="{W}">{body}</w:document>'.encode()
    )
    with pytest.raises(scrub.Rejected) as info:
        run(_docx_with_document(document))
    assert info.value.code == "malformed" and "entities" in info.value.detail


def _stored_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_nested_archives_share_one_size_budget(monkeypatch):
    """Each level alone is under the limit (2.1 MB outside, 0.7 MB in each inner archive);
    together they are not: a ZIP of ZIPs must not multiply the limit."""
    monkeypatch.setattr(archive, "MAX_TOTAL", 3_000_000)  # the upload's budget, for all levels
    text = os.urandom(350_000).hex().encode()  # 0.7 MB of text that does not compress much
    inner = [(f"part{i}.zip", _stored_zip([(f"notes{i}.txt", text)])) for i in range(3)]
    with pytest.raises(scrub.Rejected) as info:
        run(_stored_zip(inner))
    assert info.value.code == "too_large"
    cleaned, _ = run(_stored_zip(inner[:1]))  # one of them fits
    assert _names(cleaned) == {"part0.zip"}


def test_duplicate_part_names_refused():
    document = _word_document("<w:p/>").encode()
    source = _docx_with_document(document)
    buffer = io.BytesIO(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate we write on purpose
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.writestr("word/document.xml", document.replace(b"<w:p/>", b"<w:p>x</w:p>"))
    with pytest.raises(scrub.Rejected) as info:
        run(buffer.getvalue())
    assert info.value.code == "malformed"


# ------------------------------------------------------------------------- 3. consistency


def test_every_reference_survives_or_goes_with_its_target():
    """Dropped parts (printer settings, OLE data, EMF) leave no relationship behind, and no
    element refers to a relationship that is gone; content types list exactly what is kept."""
    for source in (xlsx_with_identities(), docx_with_hidden_things(), pptx_with_comments()):
        cleaned, _ = run(source)
        assert _dangling(cleaned) == []
        types = _member(cleaned, "[Content_Types].xml")
        for gone in _names(source) - _names(cleaned):
            assert gone.encode() not in types, gone


def test_plain_zip_keeps_text_drops_markup_and_survives_its_own_recompression():
    """A stored ZIP of blank lines deflates ~1000:1 when we write it: that is our output, not a
    bomb. Markup members (an XMP sidecar, SVG behind a BOM) are dropped, plain text kept."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("notes.txt", "meet at the market\n" + " " * 2_000_000)
        archive.writestr("IMG_1.xmp", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + fixtures.OWNER)
        archive.writestr("map.svg", b"\xef\xbb\xbf<svg><desc>" + fixtures.OWNER + b"</desc></svg>")
    cleaned, report = run(buffer.getvalue())
    assert _names(cleaned) == {"notes.txt"}
    assert _member(cleaned, "notes.txt").startswith(b"meet at the market\n")
    assert fixtures.OWNER not in _plain(cleaned)
    assert any(item.startswith("markup") for item in report.removed)


def test_date_fields_and_shared_workbook_history_removed():
    """Word fields showing when the file was saved, made or printed; an Excel shared-workbook
    history naming its users and keeping old cell values."""
    body = (
        '<w:p><w:fldSimple w:instr=" SAVEDATE \\@ &quot;yyyy-MM-dd&quot; "><w:r><w:t>2024-05-03'
        " 23:17</w:t></w:r></w:fldSimple></w:p>"
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> CREATEDATE '
        '</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>'
        '2023-11-02 08:01</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    docx = ooxml(
        {"word/document.xml": (OX + "wordprocessingml.document.main+xml", _word_document(body)),
         "docProps/core.xml": _core(), "docProps/app.xml": _app()},
        {"": _root_rels("word/document.xml")},
    )  # fmt: skip
    cleaned, _ = run(docx)
    _assert_absent(cleaned, ["2024-05-03 23:17", "2023-11-02 08:01"])
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    workbook = f'<workbook xmlns="{main}" xmlns:r="{R}"><sheets/></workbook>'
    users = (f'<users xmlns="{main}" count="1"><userInfo guid="{{AAAAAAAA-2222-3333-4444-'
             f'555555555555}}" name="{OWNER}" id="1" dateTime="{STAMP}"/></users>')  # fmt: skip
    xlsx = ooxml(
        {"xl/workbook.xml": (OX + "spreadsheetml.sheet.main+xml", workbook),
         "xl/revisions/userNames.xml": (OX + "spreadsheetml.userNames+xml", users),
         "docProps/core.xml": _core(), "docProps/app.xml": _app()},
        {"": _root_rels("xl/workbook.xml"),
         "xl/workbook.xml": [("rId9", f"{R}/usernames", "revisions/userNames.xml")]},
    )  # fmt: skip
    cleaned, report = run(xlsx)
    _assert_absent(cleaned, [OWNER, "AAAAAAAA-2222"])
    assert "revision history (user names, old values)" in report.removed


def test_long_runs_of_removable_elements_refused_quickly():
    """Removing an element moves the text after it onto its neighbour: a long run of
    removable elements between letters made that quadratic (0.8 MB took 13 s)."""
    body = "<w:p><w:r><w:t>" + "<rsid/>x" * 200_000 + "</w:t></w:r></w:p>"
    docx = ooxml(
        {"word/document.xml": (OX + "wordprocessingml.document.main+xml", _word_document(body)),
         "docProps/core.xml": _core(), "docProps/app.xml": _app()},
        {"": _root_rels("word/document.xml")},
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(scrub.Rejected) as info:
        run(docx)
    assert info.value.code == "too_large"
    assert time.monotonic() - started < 10


def test_excel_note_author_line_and_connection_strings_removed():
    """Excel repeats a note's author as its first bold line; a data connection's string names
    the workstation, the user and the server."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    comments = (
        f'<comments xmlns="{main}"><authors><author>{OWNER}</author></authors><commentList>'
        f'<comment ref="A1" authorId="0"><text><r><rPr><b/></rPr><t>{OWNER}:</t></r><r>'
        '<t xml:space="preserve">\ncheck this</t></r></text></comment></commentList></comments>'
    )
    connections = (
        f'<connections xmlns="{main}"><connection id="1" name="HR" type="1"><dbPr connection='
        '"Provider=SQLOLEDB.1;Data Source=CORPSQL01;Workstation ID=JUANA-LAPTOP7;User ID='
        'CORP\\jcanary" command="select 1"/></connection></connections>'
    )
    sheet = f'<worksheet xmlns="{main}"><sheetData/></worksheet>'
    workbook = (f'<workbook xmlns="{main}" xmlns:r="{R}"><sheets><sheet name="S" sheetId="1" '
                'r:id="rId1"/></sheets></workbook>')  # fmt: skip
    xlsx = ooxml(
        {"xl/workbook.xml": (OX + "spreadsheetml.sheet.main+xml", workbook),
         "xl/worksheets/sheet1.xml": (OX + "spreadsheetml.worksheet+xml", sheet),
         "xl/comments1.xml": (OX + "spreadsheetml.comments+xml", comments),
         "xl/connections.xml": (OX + "spreadsheetml.connections+xml", connections),
         "docProps/core.xml": _core(), "docProps/app.xml": _app()},
        {"": _root_rels("xl/workbook.xml"),
         "xl/workbook.xml": [("rId1", "worksheet", "worksheets/sheet1.xml"),
                             ("rId2", "connections", "connections.xml")],
         "xl/worksheets/sheet1.xml": [("rId1", "comments", "../comments1.xml")]},
    )  # fmt: skip
    cleaned, _ = run(xlsx)
    _assert_absent(cleaned, [OWNER, "JUANA-LAPTOP7", "jcanary", "CORPSQL01"])
    assert b"check this" in _member(cleaned, "xl/comments1.xml")


def test_bound_content_controls_and_spreadsheet_change_history_removed():
    """Word's cover-page Author box shows the core properties' creator; an ODF spreadsheet's
    change history keeps old cell values."""
    body = (
        "<w:sdt><w:sdtPr><w:dataBinding w:prefixMappings=\"xmlns:ns0='http://purl.org/dc/"
        'elements/1.1/\'" w:xpath="/ns1:coreProperties[1]/ns0:creator[1]" w:storeItemID='
        '"{6C3C8BC8-F283-45AE-878A-BAB7291924A1}"/></w:sdtPr><w:sdtContent><w:r><w:t>'
        f"{OWNER}</w:t></w:r></w:sdtContent></w:sdt><w:p><w:r><w:t>kept</w:t></w:r></w:p>"
    )
    docx = ooxml(
        {"word/document.xml": (OX + "wordprocessingml.document.main+xml", _word_document(body)),
         "docProps/core.xml": _core(), "docProps/app.xml": _app()},
        {"": _root_rels("word/document.xml")},
    )  # fmt: skip
    cleaned, _ = run(docx)
    _assert_absent(cleaned, [OWNER])
    assert b"kept" in _member(cleaned, "word/document.xml")
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:'
        'names:tc:opendocument:xmlns:text:1.0" office:version="1.3"><office:body>'
        "<office:spreadsheet><table:tracked-changes><table:cell-content-change table:id="
        '"ct1"><table:cell-address table:column="0" table:row="0" table:table="0"/>'
        "<table:previous><table:change-track-table-cell><text:p>OLD-VALUE-CANARY</text:p>"
        "</table:change-track-table-cell></table:previous></table:cell-content-change>"
        '</table:tracked-changes><table:table table:name="S"><table:table-row><table:table-cell>'
        "<text:p>new value</text:p></table:table-cell></table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.'
        'opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    ods = fixtures._zip([("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
                         ("content.xml", content.encode()),
                         ("META-INF/manifest.xml", manifest.encode())])  # fmt: skip
    cleaned, report = run(ods)
    _assert_absent(cleaned, ["OLD-VALUE-CANARY"])
    assert b"new value" in _member(cleaned, "content.xml")
    assert "deleted text (tracked changes)" in report.removed


def _odt(content: str, styles: str | None = None) -> bytes:
    entries = ["content.xml", *(["styles.xml"] if styles else [])]
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.'
        'opendocument.text"/>'
        + "".join(
            f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="text/xml"/>'
            for name in entries
        )
        + "</manifest:manifest>"
    )
    return fixtures._zip([
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", manifest.encode()),
        ("content.xml", content.encode()),
        *([("styles.xml", styles.encode())] if styles else []),
    ])  # fmt: skip


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"'
)


def test_text_hidden_by_document_defaults_and_default_styles_removed():
    """Word: hidden by the document defaults or the default paragraph style, unless a run
    shows itself; ODF: hidden sections, hidden-text fields, and paragraphs and spans whose
    style (automatic, or common through a parent) does not display them."""
    body = (
        "<w:p><w:r><w:t>DEFAULT-HIDDEN-CANARY</w:t></w:r>"
        '<w:r><w:rPr><w:vanish w:val="0"/></w:rPr><w:t>shown by the run</w:t></w:r>'
        '<w:r><w:rPr><w:rStyle w:val="Shown"/></w:rPr><w:t>shown by its style</w:t></w:r></w:p>'
    )
    styles = (
        f'<w:styles xmlns:w="{W}"><w:docDefaults><w:rPrDefault><w:rPr><w:vanish/></w:rPr>'
        '</w:rPrDefault></w:docDefaults><w:style w:type="character" w:styleId="Shown"><w:rPr>'
        '<w:vanish w:val="false"/></w:rPr></w:style></w:styles>'
    )
    for styles_xml in (styles, styles.replace(
        "<w:docDefaults><w:rPrDefault><w:rPr><w:vanish/></w:rPr></w:rPrDefault></w:docDefaults>",
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:rPr><w:vanish/>'
        "</w:rPr></w:style>",
    )):  # fmt: skip
        docx = ooxml(
            {"word/document.xml": (OX + "wordprocessingml.document.main+xml",
                                   _word_document(body)),
             "word/styles.xml": (OX + "wordprocessingml.styles+xml", styles_xml)},
            {"": _root_rels("word/document.xml"),
             "word/document.xml": [("rIdSt", "styles", "styles.xml")]},
        )  # fmt: skip
        cleaned, report = run(docx)
        _assert_absent(cleaned, ["DEFAULT-HIDDEN-CANARY"])
        document = _member(cleaned, "word/document.xml")
        assert b"shown by the run" in document and b"shown by its style" in document
        assert "hidden text" in report.removed

    content = (
        f"<office:document-content {ODF_NS}><office:automatic-styles>"
        '<style:style style:name="T1" style:family="text"><style:text-properties '
        'text:display="none"/></style:style><style:style style:name="P1" style:family='
        '"paragraph" style:parent-style-name="Secret"/></office:automatic-styles>'
        "<office:body><office:text>"
        '<text:p>Visible <text:span text:style-name="T1">SPAN-HIDDEN-CANARY</text:span> end'
        "</text:p>"
        '<text:p text:style-name="P1">PARAGRAPH-HIDDEN-CANARY</text:p>'
        '<text:section text:name="S" text:display="none"><text:p>SECTION-HIDDEN-CANARY</text:p>'
        '</text:section><text:p>Field <text:hidden-text text:condition="ooow:1" '
        'text:string-value="FIELD-HIDDEN-CANARY">FIELD-HIDDEN-CANARY</text:hidden-text> done'
        "</text:p></office:text></office:body></office:document-content>"
    )
    common = (
        f"<office:document-styles {ODF_NS}><office:styles><style:style style:name="
        '"Secret" style:family="paragraph"><style:text-properties text:display="none"/>'
        "</style:style></office:styles></office:document-styles>"
    )
    cleaned, report = run(_odt(content, common))
    _assert_absent(cleaned, ["SPAN-HIDDEN-CANARY", "PARAGRAPH-HIDDEN-CANARY",
                             "SECTION-HIDDEN-CANARY", "FIELD-HIDDEN-CANARY"])  # fmt: skip
    text = _member(cleaned, "content.xml")
    assert b"Visible " in text and b" end" in text and b"Field  done" in text
    assert "hidden text" in report.removed
