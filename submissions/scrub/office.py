"""Office documents (DOCX/XLSX/PPTX and ODF) and ZIP archives: rebuilt member by member.

OOXML: document properties reset (core, app), custom properties, thumbnails, printer settings,
custom XML, macros and unknown binaries dropped (with their relationships and content types);
comment and revision authors anonymised, revision dates and rsid revision ids removed, external
relationships other than hyperlinks (template paths name the author's machine) dropped.
ODF: meta.xml and settings.xml (printer names) reset, thumbnails and UI configuration dropped,
annotation and tracked-change authors and dates removed. Embedded images are cleaned with the
image scrubbers and embedded documents recursively. ZIP archives: each member is cleaned by its
own scrubber, and a member that cannot be cleaned refuses the whole archive.

The new ZIP has fixed timestamps, no comments, no extra fields: nothing of the original's
packaging (tool, times, owner ids) survives. XML is parsed with lxml with entities, DTDs and
network access disabled; sizes, counts and compression ratios are bounded (zip bombs).
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Callable
from typing import BinaryIO

from lxml import etree

from .report import Rejected, Report
from .sniff import SNIFF_BYTES

MAX_MEMBERS = 10_000
MAX_TOTAL = 1024 * 1024 * 1024
MAX_RATIO = 200
MAX_DEPTH = 3
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False,
    huge_tree=False, remove_comments=True, remove_pis=False,
)  # fmt: skip

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
DC = "http://purl.org/dc/elements/1.1/"
ANONYMOUS = "Anonymous"
# Attributes (by local name) that name a person, and what they become.
PERSON_ATTRIBUTES = {"author": ANONYMOUS, "initials": "A", "userId": "", "providerId": "",
                     "displayName": ANONYMOUS}  # fmt: skip
# Elements whose "name" attribute is a person's name.
NAMED_ELEMENTS = {"commentAuthor", "person"}
# Elements whose text names a person or an organisation.
PERSON_ELEMENTS = {"author", "creator", "lastModifiedBy", "Company", "Manager"}
REMOVED_ELEMENTS = {
    "rsids": "revision ids (rsid)",
    "docVars": "document variables",
    "presenceInfo": "author account ids",
    "attachedTemplate": "template path",
}
DATE_ATTRIBUTES = {"date", "dateUtc"}
OOXML_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties '
    b'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
)
OOXML_APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="http://'
    b'schemas.openxmlformats.org/officeDocument/2006/extended-properties"/>'
)
ODF_META = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-meta xmlns:office="urn:oasis:'
    b'names:tc:opendocument:xmlns:office:1.0" office:version="1.2"><office:meta/>'
    b"</office:document-meta>"
)
ODF_SETTINGS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-settings xmlns:office="urn:oasis:'
    b'names:tc:opendocument:xmlns:office:1.0" office:version="1.2"/>'
)
OOXML_DROP = ("docProps/custom.xml", "docProps/thumbnail", "customXml/")
OOXML_DROP_ANYWHERE = ("/printerSettings/", "vbaProject", "/activeX/", "vbaData")
ODF_DROP = ("Thumbnails/", "Configurations2/", "layout-cache")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _clean_xml(data: bytes, report: Report) -> bytes:
    if not data.strip():
        return data  # an empty part (some writers leave them): nothing to clean
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise Rejected("malformed", "a document part is not valid XML") from exc
    doomed = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        local = _local(element.tag)
        if element.tag == f"{{{DC}}}date" or local in REMOVED_ELEMENTS:
            doomed.append(element)
            report.remove(REMOVED_ELEMENTS.get(local, "revision and comment dates"))
            continue
        if local in PERSON_ELEMENTS and (element.text or "").strip() not in ("", ANONYMOUS):
            element.text = ANONYMOUS
            report.remove("author and editor names")
        for attribute in list(element.attrib):
            name = _local(attribute)
            value = element.attrib[attribute]
            if name.startswith("rsid"):
                del element.attrib[attribute]
                report.remove("revision ids (rsid)")
            elif name in DATE_ATTRIBUTES:
                del element.attrib[attribute]
                report.remove("revision and comment dates")
            elif name in PERSON_ATTRIBUTES and value != PERSON_ATTRIBUTES[name]:
                element.attrib[attribute] = PERSON_ATTRIBUTES[name]
                report.remove("author and editor names")
            elif name == "name" and local in NAMED_ELEMENTS and value != ANONYMOUS:
                element.attrib[attribute] = ANONYMOUS
                report.remove("author and editor names")
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


class _Zip:
    """Reads members with bounds on count, total size and compression ratio."""

    def __init__(self, stream: BinaryIO) -> None:
        try:
            self.zip = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError) as exc:
            raise Rejected("malformed", "the ZIP file could not be read") from exc
        self.infos = [i for i in self.zip.infolist() if not i.is_dir()]
        if len(self.infos) > MAX_MEMBERS:
            raise Rejected("too_large", "the archive has too many files")
        if sum(i.file_size for i in self.infos) > MAX_TOTAL:
            raise Rejected("too_large", "the archive unpacks to more than the limit")
        # Packaging that can identify: comments, times, tool-specific extra fields.
        self.packaging = bool(self.zip.comment) or any(
            i.date_time != FIXED_TIME or i.comment or i.extra for i in self.infos
        )

    def names(self) -> list[str]:
        return [i.filename for i in self.infos]

    def read(self, info: zipfile.ZipInfo) -> bytes:
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
            raise Rejected("too_large", "an archive member is a compression bomb")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError) as exc:
            raise Rejected("malformed", "an archive member could not be read") from exc
        if len(data) != info.file_size:
            raise Rejected("malformed", "an archive member has the wrong size")
        return data


def _write(out: zipfile.ZipFile, name: str, data: bytes, *, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    out.writestr(info, data)


def _clean_media(name: str, data: bytes, report: Report, max_pixels: int,
                 depth: int) -> bytes | None:  # fmt: skip
    """Clean an embedded file in place, keeping its format; None drops it."""
    from . import SUPPORTED, sniff  # the package dispatcher

    kind = sniff(data[:SNIFF_BYTES])
    if kind == "zip":
        if depth >= MAX_DEPTH:
            raise Rejected("too_large", "documents are nested too deeply")
        inner = io.BytesIO()
        sub = scrub_zip(io.BytesIO(data), inner, max_pixels=max_pixels, depth=depth + 1)
        report.removed.extend(x for x in sub.removed if x not in report.removed)
        return inner.getvalue()
    if kind in ("jpeg", "png", "gif", "webp"):
        out = io.BytesIO()
        inner_report = SUPPORTED[kind](io.BytesIO(data), out, max_pixels=max_pixels)
        if inner_report.removed:
            report.remove("metadata inside embedded images")
        return out.getvalue()
    if kind == "unknown" and name.lower().endswith((".emf", ".wmf", ".xml", ".rels")):
        return data  # vector drawings: no metadata structures
    report.remove(f"embedded {kind} files that cannot be cleaned")
    return None


def _clean_parts(
    source: _Zip,
    report: Report,
    *,
    drop: Callable[[str], str | None],
    reset: dict[str, tuple[bytes, str]],
    xml_suffixes: tuple[str, ...],
    max_pixels: int,
    depth: int,
    skip: tuple[str, ...] = (),
) -> tuple[dict[str, bytes], set[str]]:
    """Clean every member of a document package.

    `drop(name)` gives the report label of a member to leave out (None keeps it); `reset`
    replaces whole parts by an empty constant (properties); XML parts are cleaned, media and
    embedded documents go to their scrubbers. Returns the parts kept and the names dropped.
    """
    dropped: set[str] = set()
    parts: dict[str, bytes] = {}
    for info in source.infos:
        name = info.filename
        if name in skip:
            continue
        if (label := drop(name)) is not None:
            dropped.add(name)
            report.remove(label)
            continue
        data = source.read(info)
        if name in reset:
            constant, label = reset[name]
            if data != constant:
                report.remove(label)
            data = constant
        elif name.endswith(xml_suffixes):
            data = _clean_xml(data, report)
        else:
            cleaned = _clean_media(name, data, report, max_pixels, depth)
            if cleaned is None:
                dropped.add(name)
                continue
            data = cleaned
        parts[name] = data
    return parts, dropped


def _ooxml_drop(name: str) -> str | None:
    if name.startswith(OOXML_DROP) or any(p in "/" + name for p in OOXML_DROP_ANYWHERE):
        return "custom properties, thumbnails, printer settings, macros"
    return None


def _odf_drop(name: str) -> str | None:
    return "thumbnails and application configuration" if name.startswith(ODF_DROP) else None


def _clean_ooxml(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
                 depth: int) -> str:  # fmt: skip
    parts, dropped = _clean_parts(
        source, report, drop=_ooxml_drop, xml_suffixes=(".xml", ".rels", ".vml"),
        reset={
            "docProps/core.xml": (OOXML_CORE, "document properties (author, dates, title)"),
            "docProps/app.xml": (
                OOXML_APP, "application properties (company, template, editing time)"
            ),
        },
        max_pixels=max_pixels, depth=depth,
    )  # fmt: skip
    for name, data in list(parts.items()):
        if name.endswith(".rels"):
            parts[name] = _prune_relationships(name, data, set(parts), report)
        elif name == "[Content_Types].xml":
            parts[name] = _prune_content_types(data, dropped)
    for name, data in parts.items():
        _write(out, name, data)
    main = next((n for n in parts if n in ("word/document.xml", "xl/workbook.xml",
                                           "ppt/presentation.xml")), "")  # fmt: skip
    return {"word/document.xml": "docx", "xl/workbook.xml": "xlsx",
            "ppt/presentation.xml": "pptx"}.get(main, "zip")  # fmt: skip


def _prune_relationships(name: str, data: bytes, existing: set[str], report: Report) -> bytes:
    """Drop relationships to parts that are gone (dropped here, or missing from the start) and
    to external files other than hyperlinks."""
    root = etree.fromstring(data, PARSER)
    base = posixpath.dirname(posixpath.dirname(name))  # "word/_rels/x.rels" -> "word"
    for rel in list(root):
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            if not rel.get("Type", "").endswith("/hyperlink"):
                root.remove(rel)
                report.remove("external references (template and file paths)")
            continue
        resolved = posixpath.normpath(posixpath.join(base, target)).lstrip("/")
        if target.startswith("/"):
            resolved = target.lstrip("/")
        if resolved not in existing:
            root.remove(rel)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _prune_content_types(data: bytes, dropped: set[str]) -> bytes:
    root = etree.fromstring(data, PARSER)
    for override in list(root):
        if override.get("PartName", "").lstrip("/") in dropped:
            root.remove(override)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _clean_odf(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
               depth: int, mimetype: bytes) -> str:  # fmt: skip
    _write(out, "mimetype", mimetype, stored=True)
    parts, dropped = _clean_parts(
        source, report, drop=_odf_drop, xml_suffixes=(".xml", ".rdf"), skip=("mimetype",),
        reset={
            "meta.xml": (
                ODF_META, "document properties (author, dates, generator, statistics)"
            ),
            "settings.xml": (ODF_SETTINGS, "settings (printer names)"),
        },
        max_pixels=max_pixels, depth=depth,
    )  # fmt: skip
    manifest = parts.get("META-INF/manifest.xml")
    if manifest is not None:
        root = etree.fromstring(manifest, PARSER)
        for entry in list(root):
            path = next((v for k, v in entry.attrib.items() if _local(k) == "full-path"), "")
            if path in dropped or any(path.startswith(d.rstrip("/") + "/") for d in ODF_DROP):
                root.remove(entry)
        parts["META-INF/manifest.xml"] = etree.tostring(root, xml_declaration=True,
                                                        encoding="UTF-8")  # fmt: skip
    for name, data in parts.items():
        _write(out, name, data)
    kind = mimetype.decode("ascii", "replace").rsplit(".", 1)[-1]
    return {"text": "odt", "spreadsheet": "ods", "presentation": "odp",
            "graphics": "odg"}.get(kind, "odt")  # fmt: skip


def _clean_archive(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
                   depth: int) -> str:  # fmt: skip
    from . import SUPPORTED, scrub, sniff

    for info in source.infos:
        data = source.read(info)
        kind = sniff(data[:SNIFF_BYTES])
        if kind == "zip":
            cleaned = _clean_media(info.filename, data, report, max_pixels, depth)
            assert cleaned is not None
        elif kind == "unknown" and _is_text(data):
            cleaned = data  # plain text has no metadata structure
        elif kind in SUPPORTED:
            buffer = io.BytesIO()
            inner = scrub(kind, io.BytesIO(data), buffer, max_pixels=max_pixels)
            report.removed.extend(x for x in inner.removed if x not in report.removed)
            cleaned = buffer.getvalue()
        else:
            raise Rejected("unsupported", f"a file inside the archive ({kind}) cannot be cleaned")
        _write(out, info.filename, cleaned)
    return "zip"


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def scrub_zip(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int, depth: int = 0) -> Report:
    try:
        seekable = bool(stream.seekable())
    except (AttributeError, OSError):
        seekable = False
    if not seekable:  # the verifier's pipe: ZIP needs its central directory at the end
        data = stream.read(MAX_TOTAL + 1)
        if len(data) > MAX_TOTAL:
            raise Rejected("too_large", "the archive is too large")
        stream = io.BytesIO(data)
    source = _Zip(stream)
    report = Report(kind="zip", output_kind="zip")
    if source.packaging:
        report.remove("archive comments, timestamps and extra fields")
    names = set(source.names())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        if "[Content_Types].xml" in names:
            report.extension = _clean_ooxml(source, out, report, max_pixels, depth)
        elif "mimetype" in names and (
            mimetype := source.read(source.zip.getinfo("mimetype"))
        ).startswith(b"application/vnd.oasis.opendocument"):
            report.extension = _clean_odf(source, out, report, max_pixels, depth, mimetype)
        else:
            report.extension = _clean_archive(source, out, report, max_pixels, depth)
    dst.write(buffer.getvalue())
    return report


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    return scrub_zip(stream, dst, max_pixels=max_pixels)
