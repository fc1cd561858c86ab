"""Office documents (DOCX/XLSX/PPTX and ODF) and ZIP archives: rebuilt member by member.

OOXML: the package is read through its own structure, not its file names. The main part's
content type must be a known Word, Excel or PowerPoint one (macro-enabled types become their
macro-free twins, the macros themselves are dropped). Only parts reachable from the package's
relationships and declared in [Content_Types].xml are kept: leftovers of earlier saves, trash
folders and undeclared files go. Document properties (core, app: found by relationship type and
content type, wherever they are stored) are reset; custom properties, thumbnails, signatures,
sensitivity labels, printer settings, custom XML, add-ins, ActiveX and macros are dropped.
Comment, revision and person names are anonymised, person ids renumbered, revision dates, rsids
and document ids removed; deleted (tracked) text and hidden runs are taken out, and fields that
show an author or a file path are emptied. External relationships other than web hyperlinks
(template, data source and linked-file paths name the author's machine) are dropped, and paths
in attributes are cut to the file name.
Consistency: every relationship whose target is gone is removed, and so is every reference to
it (the element when it cannot stand without it: OLE objects, controls...), so Office does not
report the file as corrupt; [Content_Types].xml lists exactly the parts kept.
ODF: meta.xml and settings.xml (printer names) reset, in embedded objects too; thumbnails, UI
configuration, macros (Basic, Scripts, Dialogs) and signatures dropped; annotation and
tracked-change authors and dates removed, deleted text taken out, author and file-name fields
removed; encrypted documents refused.
Embedded images are cleaned with the image scrubbers and embedded documents recursively.
EMF/WMF drawings are dropped: they can carry creator strings, paths and embedded bitmaps that
nothing here can check. ZIP archives: each member is cleaned by its own scrubber, and a member
that cannot be cleaned refuses the whole archive.

The new ZIP has fixed timestamps, no comments, no extra fields: nothing of the original's
packaging (tool, times, owner ids) survives. XML is parsed with lxml with entities, DTDs and
network access disabled; parts declaring entities are refused. Sizes, counts and compression
ratios are bounded per member, per archive and across nested archives (zip bombs), and each
XML part is capped (a parsed tree takes about 30 times its text in memory).
"""

from __future__ import annotations

import functools
import io
import posixpath
import re
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import unquote

from lxml import etree

from .archive import MAX_TOTAL, Budget, unrecognised_member, upload_budget
from .report import Rejected, Report
from .sniff import SNIFF_BYTES
from .source import read_capped
from .verify import rereading_own_output

MAX_MEMBERS = 10_000
MAX_RATIO = 200  # uncompressed/compressed, per member and for the whole archive
MAX_XML_PART = 32 * 1024 * 1024  # uncompressed bytes of one XML part (~1 GiB parsed)
MAX_DEPTH = 3
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, dtd_validation=False, load_dtd=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)  # fmt: skip

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W_NS = {W, "http://purl.oclc.org/ooxml/wordprocessingml/main"}
R_NS = {
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
}
O_RELID = "{urn:schemas-microsoft-com:office:office}relid"  # VML's relationship reference
REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
DC = "http://purl.org/dc/elements/1.1/"
ODF_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
ODF_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
ODF_STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
ANONYMOUS = "Anonymous"
# Attributes (by local name) that name a person, and what they become.
PERSON_ATTRIBUTES = {"author": ANONYMOUS, "initials": "A", "userId": "", "providerId": "",
                     "displayName": ANONYMOUS, "userName": ANONYMOUS, "refreshedBy": ANONYMOUS,
                     "chg-author": ANONYMOUS}  # fmt: skip
# Elements whose "name" attribute is a person's name (Word people, Excel persons, PowerPoint
# legacy and modern comment authors).
NAMED_ELEMENTS = {"commentAuthor", "cmAuthor", "person", "author"}
# Elements whose text names a person or an organisation.
PERSON_ELEMENTS = {"author", "creator", "lastModifiedBy", "Company", "Manager"}
# Elements (by local name) removed wherever they are, and the report label.
REMOVED_ELEMENTS = {
    "rsids": "revision ids (rsid)",
    "rsid": "revision ids (rsid)",  # w:style/w:rsid
    "docVars": "document variables",
    "presenceInfo": "author account ids",
    "attachedTemplate": "template path",
    "docId": "document ids",  # w14:docId, w15:docId: the same in every copy of a document
    "creationId": "document ids",  # p14:creationId
    "revisionPtr": "document ids",  # xr:revisionPtr documentId (Excel/OneDrive)
    "absPath": "file paths",  # x15ac:absPath: the folder the workbook was saved in
    "mailMerge": "mail merge data source",  # connection strings and paths
    "saveThroughXslt": "file paths",
    "creator-initials": "author and editor names",  # ODF annotations
    "sender-initials": "author and editor names",  # LibreOffice annotations
}
# Attributes (by local name) holding the time of an edit, a comment or a refresh.
DATE_ATTRIBUTES = {"date", "dateUtc", "dT", "dt", "created", "dateTime", "refreshedDate",
                   "refreshedDateIso", "chg-date-time"}  # fmt: skip
# Elements that are meaningless (and invalid) without the relationship they reference: removed
# with it. Other references lose the attribute only (a picture without its image is valid).
NEEDS_REFERENCE = {"OLEObject", "oleObject", "control", "altChunk", "subDoc", "svgBlip",
                   "printerSettings", "attachedTemplate", "externalReference", "picture",
                   "custData", "tags", "customPr", "saveThroughXslt"}  # fmt: skip
# Containers that must not be left empty once their content is removed (also: extensions,
# <ext uri>, and mc:AlternateContent when all its choices are empty).
PRUNED_WHEN_EMPTY = {"oleObjects", "controls", "externalReferences", "customProperties",
                     "custDataLst"}  # fmt: skip
# Word: a hidden run keeps only what holds the structure of fields and notes together.
HIDDEN_RUN_KEEPS = {"rPr", "fldChar", "instrText", "footnoteReference", "endnoteReference",
                    "commentReference", "annotationRef"}  # fmt: skip
# Excel data connections (xl/connections.xml): database, OLAP and text-import settings.
CONNECTION_ELEMENTS = {"dbPr", "olapPr"}
# Word fields whose displayed result is a person, a property or a file path.
IDENTITY_FIELDS = {"AUTHOR", "USERNAME", "USERINITIALS", "USERADDRESS", "LASTSAVEDBY",
                   "FILENAME", "TEMPLATE", "DOCPROPERTY", "INFO", "SAVEDATE", "CREATEDATE",
                   "PRINTDATE", "EDITTIME", "REVNUM", "TITLE", "SUBJECT", "KEYWORDS",
                   "COMMENTS", "FILESIZE"}  # fmt: skip
# ODF fields showing the author, the user's profile (sender-*) or the file's path.
ODF_IDENTITY_FIELDS = {"author-name", "author-initials", "creator", "initial-creator",
                       "printed-by", "file-name", "template-name", "user-defined",
                       "creation-date", "creation-time", "modification-date",
                       "modification-time", "print-date", "print-time", "editing-duration",
                       "editing-cycles"}  # fmt: skip
GUID = re.compile(
    r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?"
)
# A path on someone's computer: file: URLs, drive letters, UNC shares (and the doubled
# backslashes of Word field codes), home folders. Web URLs are taken out before the search.
LOCAL_PATH = re.compile(
    r"(?i)file:|(?<![a-z0-9])[a-z]:[\\/]|\\\\|[\\/](?:users|home|documents and settings)[\\/]"
)
WEB_URL = re.compile(r"(?i)\b(?:https?|ftps?|mailto):[^\s\"']*")

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

_OX = "application/vnd.openxmlformats-officedocument."
# Main part content type -> extension of the cleaned file. Macro-enabled documents come out
# as their macro-free twin (MACRO_FREE): the macros are dropped, so the type must say so.
MAIN_TYPES = {
    _OX + "wordprocessingml.document.main+xml": "docx",
    _OX + "wordprocessingml.template.main+xml": "dotx",
    _OX + "spreadsheetml.sheet.main+xml": "xlsx",
    _OX + "spreadsheetml.template.main+xml": "xltx",
    _OX + "presentationml.presentation.main+xml": "pptx",
    _OX + "presentationml.slideshow.main+xml": "ppsx",
    _OX + "presentationml.template.main+xml": "potx",
}
MACRO_FREE = {
    "application/vnd.ms-word.document.macroEnabled.main+xml":
        _OX + "wordprocessingml.document.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml":
        _OX + "wordprocessingml.template.main+xml",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": _OX + "spreadsheetml.sheet.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml":
        _OX + "spreadsheetml.template.main+xml",
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml":
        _OX + "presentationml.presentation.main+xml",
    "application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml":
        _OX + "presentationml.slideshow.main+xml",
    "application/vnd.ms-powerpoint.template.macroEnabled.main+xml":
        _OX + "presentationml.template.main+xml",
}  # fmt: skip
CORE_TYPE = "application/vnd.openxmlformats-package.core-properties+xml"
APP_TYPE = _OX + "extended-properties+xml"
MACROS = "macros"
# Content types of parts dropped, and why.
DROPPED_TYPES = {
    # Shared-workbook history: user names and GUIDs, and the old values of edited cells.
    _OX + "spreadsheetml.userNames+xml": "revision history (user names, old values)",
    _OX + "spreadsheetml.revisionHeaders+xml": "revision history (user names, old values)",
    _OX + "spreadsheetml.revisionLog+xml": "revision history (user names, old values)",
    "application/vnd.ms-powerpoint.revisioninfo+xml": "revision information (client ids)",
    _OX + "custom-properties+xml": "custom properties",
    _OX + "customXmlProperties+xml": "custom XML",
    _OX + "spreadsheetml.printerSettings": "printer settings",
    _OX + "wordprocessingml.printerSettings": "printer settings",
    _OX + "presentationml.printerSettings": "printer settings",
    "application/vnd.openxmlformats-package.digital-signature-origin": "digital signatures",
    "application/vnd.openxmlformats-package.digital-signature-xmlsignature+xml":
        "digital signatures",
    "application/vnd.openxmlformats-package.digital-signature-certificate":
        "digital signatures",
    "application/vnd.ms-office.classificationlabels+xml": "sensitivity labels",
    "application/vnd.ms-office.activeX+xml": "ActiveX controls",
    "application/vnd.ms-office.activeX": "ActiveX controls",
    "application/vnd.ms-office.webextension+xml": "add-ins",
    "application/vnd.ms-office.webextensiontaskpanes+xml": "add-ins",
    "application/vnd.ms-office.vbaProject": MACROS,
    "application/vnd.ms-office.vbaProjectSignature": MACROS,
    "application/vnd.ms-office.vbaProjectSignatureAgile": MACROS,
    "application/vnd.ms-office.vbaProjectSignatureV3": MACROS,
    "application/vnd.ms-word.vbaData+xml": MACROS,
    "application/vnd.ms-word.keyMapCustomizations+xml": MACROS,
    "application/vnd.ms-word.attachedToolbars": MACROS,
    "application/vnd.ms-excel.attachedToolbars": MACROS,
}  # fmt: skip
# Excel 4.0 macro sheets are sheets of the workbook: they cannot be dropped without rewriting
# names and formulas, so such workbooks are refused.
REFUSED_TYPES = {
    "application/vnd.ms-excel.macrosheet+xml",
    "application/vnd.ms-excel.intlmacrosheet+xml",
}
# Relationship types (last path segment, lower case, dashes removed) whose targets are dropped.
DROPPED_RELATIONSHIPS = {
    "customproperties": "custom properties",
    "thumbnail": "thumbnails",
    "origin": "digital signatures",  # digital-signature/origin
    "signature": "digital signatures",
    "certificate": "digital signatures",
    "extensibility": "add-ins",  # ui/extensibility: ribbon customisation calling macros
    "usercustomization": "add-ins",
    "classificationlabels": "sensitivity labels",
    "vbaproject": MACROS,
    "vbaprojectsignature": MACROS,
    "wordvbadata": MACROS,
    "keymapcustomizations": MACROS,
    "attachedtoolbars": MACROS,
    "printersettings": "printer settings",
    "customxml": "custom XML",
    "customxmlprops": "custom XML",
}
OOXML_DROP = {  # name prefixes: everything under these folders
    "customXml/": "custom XML",
    "docMetadata/": "sensitivity labels",  # LabelInfo.xml: label, tenant and site ids
    "_xmlsignatures/": "digital signatures",
    "[trash]/": "unused parts",
    "customUI/": "add-ins",
    "docProps/custom.xml": "custom properties",
    "docProps/thumbnail": "thumbnails",
}
OOXML_DROP_ANYWHERE = {"/printerSettings/": "printer settings", "vbaProject": MACROS,
                       "vbaData": MACROS, "/activeX/": "ActiveX controls"}  # fmt: skip
ODF_DROP = {  # anywhere in the path, embedded objects included
    "Thumbnails/": "thumbnails",
    "Configurations2/": "application configuration",
    "layout-cache": "application configuration",
    "Basic/": MACROS,
    "Scripts/": MACROS,
    "Dialogs/": MACROS,
    "META-INF/documentsignatures.xml": "digital signatures",
    "META-INF/macrosignatures.xml": "digital signatures",
    "META-INF/packagesignatures.xml": "digital signatures",
}
VECTOR_DRAWINGS = (".emf", ".wmf")


@functools.lru_cache(maxsize=4096)  # a part has few distinct names, and millions of nodes
def _split(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def _local(name: str) -> str:
    return _split(name)[1]


def _namespace(name: str) -> str:
    return _split(name)[0]


def _has_local_path(text: str) -> bool:
    if ":" not in text and "/" not in text and "\\" not in text:
        return False  # most values (numbers, ids, cell references): no need for the regexes
    return LOCAL_PATH.search(WEB_URL.sub(" ", text)) is not None


def _file_name(value: str) -> str:
    """The last component of a path: the folders (user names, shares) go."""
    name = re.split(r"[\\/]", value.rstrip("\\/"))[-1]
    return "" if _has_local_path(name) else name


def _parse(data: bytes) -> etree._Element:
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise Rejected("malformed", "a document part is not valid XML") from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # Left unexpanded, they would come out as references to nothing; expanded, they are
        # the billion laughs. No Office or ODF writer declares entities.
        raise Rejected("malformed", "a document part declares XML entities")
    return root


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


# Text moved when an element is removed is copied onto its neighbour's: a crafted part with
# a long run of removable elements between words makes that quadratic (0.8 MB took 13 s, 32 MB
# would take hours). Real documents copy little; past this many characters a part is refused.
MAX_MERGE_WORK = 64 * 1024 * 1024
_merge_work = threading.local()


def _charge_merge(characters: int) -> None:
    work = getattr(_merge_work, "characters", 0) + characters
    _merge_work.characters = work
    if work > MAX_MERGE_WORK:
        raise Rejected("too_large", "a document part is too complex to clean")


def _in_comment(element: etree._Element) -> bool:
    """A text run of an Excel note (comment/text/r/t): not the document's own text."""
    return any(_local(ancestor.tag) == "comment" for ancestor in element.iterancestors())


def _keep_text(element: etree._Element, text: str | None) -> None:
    """Put `text` where the element stands, after its previous sibling or its parent's text."""
    if not text:
        return
    parent, previous = element.getparent(), element.getprevious()
    if previous is not None:
        _charge_merge(len(previous.tail or ""))
        previous.tail = (previous.tail or "") + text
    elif parent is not None:
        _charge_merge(len(parent.text or ""))
        parent.text = (parent.text or "") + text


def _drop(element: etree._Element) -> None:
    """Remove an element, keeping the text that follows it (ODF mixes text and elements)."""
    parent = element.getparent()
    if parent is None:
        return
    _keep_text(element, element.tail)
    parent.remove(element)


def _unwrap(element: etree._Element) -> list[etree._Element]:
    """Replace an element by its content; returns the children moved up."""
    parent = element.getparent()
    if parent is None:
        return []
    children = list(element)
    _keep_text(element, element.text)
    index = parent.index(element)
    _charge_merge(index)  # index() walks the siblings before it
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    _drop(element)
    return children


def _following(element: etree._Element, root: etree._Element) -> etree._Element | None:
    """The next element in document order after the element's subtree, within root."""
    current: etree._Element | None = element
    while current is not None and current is not root:
        following = current.getnext()
        if following is not None:
            return following
        current = current.getparent()
    return None


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _on(element: etree._Element, attribute: str) -> bool:
    """A Word on/off property: present without a value, or with a true one."""
    return element.get(attribute, "true").lower() not in ("0", "false", "off")


@dataclass
class _Field:
    code: list[etree._Element] = field(default_factory=list)
    result: list[etree._Element] = field(default_factory=list)
    in_result: bool = False


@dataclass
class _Cleaner:
    """Cleans XML parts of one document. State shared across parts: the renumbering of person
    ids (threaded comments point at persons, modern comments at authors) and Word's hidden
    styles."""

    report: Report
    ids: dict[str, str] = field(default_factory=dict)
    word_styles: _WordStyles = field(default_factory=lambda: _WordStyles())
    odf_hidden_styles: set[str] = field(default_factory=set)
    # Author names met so far: Excel writes the author's name again as the first, bold line
    # of each note ("Alice Whistle:"), in the text, after the authors list.
    names: set[str] = field(default_factory=set)

    def clean(self, data: bytes, references: set[str] | None = None) -> bytes:
        """Clean one part. `references`: the relationship ids the part may use (OOXML; None
        for ODF); any other reference is removed, with its element when it needs it."""
        if not data.strip():
            return data  # an empty part (some writers leave them): nothing to clean
        _merge_work.characters = 0
        root = _parse(data)
        fields: list[_Field] = []
        # A walk in document order that follows the tree's own links, never holding lists of
        # nodes: a part can have millions, and lists of them fragment the heap (a 30 MB sheet
        # kept 600 MB of freed tree in the process for good).
        element: etree._Element | None = root
        while element is not None:
            following = _following(element, root)  # before the element is changed or dropped
            inside = self._element(element, references, fields)
            element = inside[0] if inside else following
        containers = ("{*}AlternateContent", "{*}ext",
                      *(f"{{*}}{name}" for name in PRUNED_WHEN_EMPTY))  # fmt: skip
        for element in reversed(list(root.iter(*containers))):  # the innermost first
            if element is root:
                continue
            local = _local(element.tag)
            if local == "AlternateContent":
                empty = not any(_children(choice) for choice in _children(element))
            elif local == "ext":  # an extension (with its uri), not DrawingML's extents
                empty = element.get("uri") is not None and not _children(element)
            else:
                empty = not _children(element)
            if empty:
                _drop(element)
        return _serialise(root)

    def _element(
        self, element: etree._Element, references: set[str] | None, fields: list[_Field]
    ) -> list[etree._Element]:
        """Clean one element; returns what to walk next inside it (its first child, the children
        it was replaced by, nothing when it is gone)."""
        if not isinstance(element.tag, str):
            return []
        namespace, local = _namespace(element.tag), _local(element.tag)
        if namespace in W_NS:
            children = self._word(element, local, fields)
            if children is not None:
                return children
        elif namespace == ODF_TEXT:
            children = self._odf_text(element, local)
            if children is not None:
                return children
        elif namespace == ODF_TABLE and local == "tracked-changes":
            # A spreadsheet's change history: old cell values and deleted rows. Accepted.
            _drop(element)
            self.report.remove("deleted text (tracked changes)")
            return []
        if element.tag == f"{{{DC}}}date" or local in REMOVED_ELEMENTS:
            _drop(element)
            self.report.remove(REMOVED_ELEMENTS.get(local, "revision and comment dates"))
            return []
        if local in PERSON_ELEMENTS and (element.text or "").strip() not in ("", ANONYMOUS):
            if len(element.text.strip()) >= 3:  # type: ignore[union-attr]
                self.names.add(element.text.strip())  # type: ignore[union-attr]
            element.text = ANONYMOUS
            self.report.remove("author and editor names")
        elif local == "t" and element.text and self.names and _in_comment(element):
            text = element.text
            for name in self.names:
                text = text.replace(name, ANONYMOUS)
            if text != element.text:
                element.text = text
                self.report.remove("author names repeated in comment text")
        if not self._attributes(element, local, references):
            return []
        return element[:1]  # its first child, to walk next

    def _attributes(self, element: etree._Element, local: str, references: set[str] | None) -> bool:
        """Clean the attributes; False when the element had to go."""
        for attribute in list(element.attrib):
            name = _local(attribute)
            value = element.attrib[attribute]
            if references is not None and (_namespace(attribute) in R_NS or attribute == O_RELID):
                if value not in references:  # its target was dropped, or never existed
                    if local in NEEDS_REFERENCE:
                        _drop(element)
                        return False
                    del element.attrib[attribute]
            elif name.startswith("rsid"):
                del element.attrib[attribute]
                self.report.remove("revision ids (rsid)")
            elif local in CONNECTION_ELEMENTS and name in ("connection", "command"):
                # Connection strings name the workstation, the user and the servers
                # (Workstation ID=..., User ID=DOMAIN\user); the cached data stays.
                del element.attrib[attribute]
                self.report.remove("data connection settings (user, workstation, server)")
            elif name in DATE_ATTRIBUTES:
                del element.attrib[attribute]
                self.report.remove("revision and comment dates")
            elif name in PERSON_ATTRIBUTES and value != PERSON_ATTRIBUTES[name]:
                element.attrib[attribute] = PERSON_ATTRIBUTES[name]
                self.report.remove("author and editor names")
            elif name == "name" and local in NAMED_ELEMENTS and value != ANONYMOUS:
                element.attrib[attribute] = ANONYMOUS
                self.report.remove("author and editor names")
            elif (
                name.lower().endswith("personid")
                or name == "authorId"
                or (name == "id" and local in ("person", "author"))
            ) and GUID.fullmatch(value):
                renumbered = self._renumber(value)
                if renumbered != value:
                    element.attrib[attribute] = renumbered
                    self.report.remove("author account ids")
            elif _has_local_path(value):
                element.attrib[attribute] = _file_name(value)
                self.report.remove("file paths")
        return True

    def _renumber(self, value: str) -> str:
        """Person and author ids, renumbered in order of appearance: consistent across the
        parts of the document, and the same again when the output is cleaned a second time."""
        key = value.strip("{}").upper()
        if key not in self.ids:
            self.ids[key] = f"00000000-0000-0000-0000-{len(self.ids) + 1:012X}"
        return "{" + self.ids[key] + "}" if value.startswith("{") else self.ids[key]

    def _word(
        self, element: etree._Element, local: str, fields: list[_Field]
    ) -> list[etree._Element] | None:
        """Word-specific: deleted and hidden text, fields. None: go on with the generic rules."""
        namespace = _namespace(element.tag)
        if local == "dataBinding":
            # A content control showing a document property (the cover page's Author box,
            # Quick Parts): its text is a copy of what the properties reset removed.
            control = element.getparent()
            control = control.getparent() if control is not None else None
            if control is not None and _local(control.tag) == "sdt":
                for text in control.iter(f"{{{namespace}}}t"):
                    if text.text:
                        text.text = ""
                        self.report.remove("document properties shown in the text")
        if local in ("del", "moveFrom", "delText", "delInstrText"):
            # Tracked deletions hold the text the author removed: accepted, i.e. gone. (Inside
            # w:rPr, w:del only marks a deleted paragraph mark: it goes too.)
            _drop(element)
            if len(element) or (element.text or "").strip():
                self.report.remove("deleted text (tracked changes)")
            return []
        if local in ("moveFromRangeStart", "moveFromRangeEnd", "moveToRangeStart",
                     "moveToRangeEnd"):  # fmt: skip
            _drop(element)
            return []
        if local == "moveTo":  # the moved text, accepted in its new place
            return _unwrap(element)
        if local == "r" and self._hidden(element, namespace):
            for child in list(element):
                if isinstance(child.tag, str) and _local(child.tag) not in HIDDEN_RUN_KEEPS:
                    _drop(child)
                    self.report.remove("hidden text")
        elif local == "fldChar":
            kind = element.get(f"{{{namespace}}}fldCharType")
            if kind == "begin":
                fields.append(_Field())
            elif kind == "separate" and fields:
                fields[-1].in_result = True
            elif kind == "end" and fields:
                self._finish_field(fields.pop())
        elif local == "instrText":
            if fields and not fields[-1].in_result:
                fields[-1].code.append(element)
            elif _has_local_path(element.text or ""):  # a field code outside any field
                _drop(element)
                self.report.remove("field codes with file paths")
                return []
        elif local == "t" and fields and fields[-1].in_result:
            fields[-1].result.append(element)
        elif local == "fldSimple":
            instruction = element.get(f"{{{namespace}}}instr", "")
            self._finish_field(_Field(result=list(element.iter(f"{{{namespace}}}t"))),
                               instruction)  # fmt: skip
            if _has_local_path(instruction):
                self.report.remove("field codes with file paths")
                return _unwrap(element)
        return None

    def _hidden(self, run: etree._Element, namespace: str) -> bool:
        """Whether Word hides the run: its own properties first, then its character style,
        its paragraph's style (or the default one), then the document defaults."""
        styles = self.word_styles
        properties = run.find(f"{{{namespace}}}rPr")
        if properties is not None:
            vanish = properties.find(f"{{{namespace}}}vanish")
            if vanish is not None:
                return _on(vanish, f"{{{namespace}}}val")
            style = properties.find(f"{{{namespace}}}rStyle")
            if style is not None:
                hidden = styles.vanish.get(style.get(f"{{{namespace}}}val", ""))
                if hidden is not None:
                    return hidden
        if not styles.vanish:
            return styles.default
        paragraph = next(run.iterancestors(f"{{{namespace}}}p"), None)
        style = None if paragraph is None else paragraph.find(f"{{{namespace}}}pPr/"
                                                              f"{{{namespace}}}pStyle")  # fmt: skip
        name = styles.paragraph if style is None else style.get(f"{{{namespace}}}val", "")
        hidden = styles.vanish.get(name)
        return styles.default if hidden is None else hidden

    def _finish_field(self, done: _Field, instruction: str | None = None) -> None:
        if instruction is None:
            instruction = "".join(e.text or "" for e in done.code)
            if _has_local_path(instruction):
                for element in done.code:
                    _drop(element)
                self.report.remove("field codes with file paths")
        words = instruction.split()
        kind = words[0].upper() if words else ""
        result = "".join(t.text or "" for t in done.result)
        if result and (kind in IDENTITY_FIELDS or _has_local_path(result)):
            for text in done.result:
                text.text = ""
            self.report.remove("fields showing names or file paths")

    def _odf_text(self, element: etree._Element, local: str) -> list[etree._Element] | None:
        if local in ODF_IDENTITY_FIELDS or local.startswith("sender-"):
            _drop(element)
            self.report.remove("fields showing names or file paths")
            return []
        if local == "hidden-text":  # a field whose text shows only when a condition holds
            _drop(element)
            self.report.remove("hidden text")
            return []
        hidden = element.get(f"{{{ODF_TEXT}}}display") == "none" if local == "section" else (
            local in ("p", "h", "span")
            and element.get(f"{{{ODF_TEXT}}}style-name") in self.odf_hidden_styles
        )  # fmt: skip
        if hidden:
            if len(element) or (element.text or "").strip():
                self.report.remove("hidden text")
            element.text = None
            for child in list(element):
                element.remove(child)
            return []
        if local == "deletion":  # a tracked deletion: keep who/when (cleaned), not the text
            for child in list(element):
                if isinstance(child.tag, str) and _local(child.tag) != "change-info":
                    element.remove(child)
                    self.report.remove("deleted text (tracked changes)")
        return None


@dataclass
class _WordStyles:
    """What hides text in a Word document: styles with w:vanish on or off (through basedOn),
    the default paragraph style, and the document defaults."""

    vanish: dict[str, bool] = field(default_factory=dict)
    paragraph: str = ""
    default: bool = False


def _word_styles(data: bytes) -> _WordStyles:
    root = _parse(data)
    result = _WordStyles()
    own: dict[str, bool | None] = {}
    based: dict[str, str] = {}
    for style in root:
        if not isinstance(style.tag, str):
            continue
        ns = _namespace(style.tag)
        if _local(style.tag) == "docDefaults":
            vanish = style.find(f"{{{ns}}}rPrDefault/{{{ns}}}rPr/{{{ns}}}vanish")
            result.default = vanish is not None and _on(vanish, f"{{{ns}}}val")
            continue
        if _local(style.tag) != "style":
            continue
        style_id = style.get(f"{{{ns}}}styleId", "")
        if style.get(f"{{{ns}}}type") == "paragraph" and style.get(f"{{{ns}}}default") in (
            "1", "true", "on"
        ):  # fmt: skip
            result.paragraph = style_id
        vanish = style.find(f"{{{ns}}}rPr/{{{ns}}}vanish")
        own[style_id] = None if vanish is None else _on(vanish, f"{{{ns}}}val")
        parent = style.find(f"{{{ns}}}basedOn")
        if parent is not None:
            based[style_id] = parent.get(f"{{{ns}}}val", "")
    for style_id in own:
        current, seen = style_id, set()
        while current in own and own[current] is None and current not in seen:
            seen.add(current)
            current = based.get(current, "")
        if (value := own.get(current)) is not None:
            result.vanish[style_id] = value
    return result


def _odf_hidden_styles(parts: Iterable[bytes]) -> set[str]:
    """Names of ODF styles whose text is not displayed (text:display="none" in their text
    properties), directly or through their parent styles."""
    own: dict[str, bool | None] = {}
    parents: dict[str, str] = {}
    for data in parts:
        for style in _parse(data).iter(f"{{{ODF_STYLE}}}style"):
            name = style.get(f"{{{ODF_STYLE}}}name", "")
            properties = style.find(f"{{{ODF_STYLE}}}text-properties")
            display = None if properties is None else properties.get(f"{{{ODF_TEXT}}}display")
            own[name] = None if display is None else display == "none"
            parents[name] = style.get(f"{{{ODF_STYLE}}}parent-style-name", "")
    hidden = set()
    for name in own:
        current, seen = name, set()
        while current in own and own[current] is None and current not in seen:
            seen.add(current)
            current = parents[current]
        if own.get(current):
            hidden.add(name)
    return hidden


class _Zip:
    """Reads members with bounds on count, total size and compression ratio."""

    def __init__(self, stream: BinaryIO, budget: Budget) -> None:
        try:
            self.zip = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise Rejected("malformed", "the ZIP file could not be read") from exc
        self.infos = [i for i in self.zip.infolist() if not i.is_dir()]
        if len(self.infos) > MAX_MEMBERS:
            raise Rejected("too_large", "the archive has too many files")
        total = sum(i.file_size for i in self.infos)
        if total > MAX_TOTAL:
            raise Rejected("too_large", "the archive unpacks to more than the limit")
        packed = sum(i.compress_size for i in self.infos)
        # Ratios are for uploads: what we deflated ourselves (a flat picture, blanks that came
        # stored) may compress far better, and was held to the size limits on the way in.
        self.check_ratio = not rereading_own_output()
        if self.check_ratio and total > 1024 * 1024 and total > MAX_RATIO * packed:
            raise Rejected("too_large", "the archive is a compression bomb")
        budget.charge(total)
        # Packaging that can identify: comments, times, tool-specific extra fields.
        self.packaging = bool(self.zip.comment) or any(
            i.date_time != FIXED_TIME or i.comment or i.extra for i in self.infos
        )

    def names(self) -> list[str]:
        return [i.filename for i in self.infos]

    def read(self, info: zipfile.ZipInfo) -> bytes:
        ratio = info.file_size / info.compress_size if info.compress_size else 0
        if self.check_ratio and ratio > MAX_RATIO:
            raise Rejected("too_large", "an archive member is a compression bomb")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, ValueError,
                EOFError, zipfile.LargeZipFile) as exc:  # fmt: skip
            raise Rejected("malformed", "an archive member could not be read") from exc
        if len(data) != info.file_size:
            raise Rejected("malformed", "an archive member has the wrong size")
        return data

    def read_xml(self, info: zipfile.ZipInfo) -> bytes:
        if info.file_size > MAX_XML_PART:
            raise Rejected(
                "too_large",
                f"a part of the document holds more than {MAX_XML_PART // 2**20} MiB of XML",
            )
        return self.read(info)


def _write(out: zipfile.ZipFile, name: str, data: bytes, *, stored: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    out.writestr(info, data)


def _merge(report: Report, inner: Report) -> None:
    for item in inner.removed:
        report.remove(item)


def _clean_media(name: str, data: bytes, report: Report, max_pixels: int, depth: int,
                 budget: Budget) -> bytes | None:  # fmt: skip
    """Clean an embedded file in place, keeping its format; None drops it."""
    from . import SUPPORTED, sniff  # the package dispatcher

    kind = sniff(data[:SNIFF_BYTES])
    if kind == "zip":
        if depth >= MAX_DEPTH:
            raise Rejected("too_large", "documents are nested too deeply")
        inner = io.BytesIO()
        sub = scrub_zip(io.BytesIO(data), inner, max_pixels=max_pixels, depth=depth + 1,
                        budget=budget)  # fmt: skip
        _merge(report, sub)
        return inner.getvalue()
    if kind in ("jpeg", "png", "gif", "webp"):
        out = io.BytesIO()
        inner_report = SUPPORTED[kind](io.BytesIO(data), out, max_pixels=max_pixels)
        if inner_report.removed:
            report.remove("metadata inside embedded images")
        return out.getvalue()
    if kind == "unknown" and name.lower().endswith(VECTOR_DRAWINGS):
        # EMF/WMF: comment and escape records, description strings and embedded bitmaps can
        # name the author and their files. Nothing here can check them: dropped.
        report.remove("EMF/WMF drawings that cannot be checked")
        return None
    report.remove(f"embedded {kind} files that cannot be cleaned")
    return None


def _check_duplicates(names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            # Two parts of the same name: which one would Office read? Not worth guessing.
            raise Rejected("malformed", "the document has two parts with the same name")
        seen.add(name.lower())


# ---------------------------------------------------------------------------------- OOXML


@dataclass
class _Relationship:
    id: str
    type: str
    target: str
    external: bool
    part: str  # the target resolved to a part name (lower case), "" when external


def _rel_kind(rel_type: str) -> str:
    return rel_type.rstrip("/").rsplit("/", 1)[-1].lower().replace("-", "")


def _rels_name(part: str) -> str:
    return posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")


def _rels_source(rels: str) -> str | None:
    """The part a relationships part belongs to ("" for the package), None if misplaced."""
    folder = posixpath.dirname(rels)
    if posixpath.basename(folder) != "_rels" or not rels.endswith(".rels"):
        return None
    return posixpath.join(posixpath.dirname(folder), posixpath.basename(rels)[: -len(".rels")])


def _parse_relationships(source: str, data: bytes) -> list[_Relationship]:
    root = _parse(data)
    base = posixpath.dirname(source)
    found = []
    for rel in root:
        if not isinstance(rel.tag, str) or rel.tag != f"{{{REL}}}Relationship":
            continue
        rel_id, target = rel.get("Id", ""), rel.get("Target", "")
        if not rel_id or not target:
            continue
        external = rel.get("TargetMode") == "External"
        part = ""
        if not external:
            path = target.split("#", 1)[0]
            part = path.lstrip("/") if path.startswith("/") else posixpath.join(base, path)
            part = posixpath.normpath(part).lower() if part else ""
        found.append(_Relationship(rel_id, rel.get("Type", ""), target, external, part))
    return found


class _Package:
    """An OOXML package's structure: content types and relationships."""

    def __init__(self, source: _Zip) -> None:
        self.source = source
        self.infos = {i.filename.lower(): i for i in source.infos}
        _check_duplicates(i.filename for i in source.infos)
        types = self._xml("[content_types].xml")
        if types is None:
            raise Rejected("malformed", "the Office document has no content types")
        self.defaults: dict[str, str] = {}
        self.overrides: dict[str, str] = {}
        for entry in types:
            if not isinstance(entry.tag, str):
                continue
            if entry.tag == f"{{{CT}}}Default":
                self.defaults[entry.get("Extension", "").lower()] = entry.get("ContentType", "")
            elif entry.tag == f"{{{CT}}}Override":
                name = entry.get("PartName", "").lstrip("/").lower()
                self.overrides[name] = entry.get("ContentType", "")
        self.rels: dict[str, list[_Relationship]] = {}  # source part (lower) -> relationships
        for name, info in self.infos.items():
            owner = _rels_source(name)
            if owner is not None and (owner == "" or owner in self.infos):
                self.rels[owner] = _parse_relationships(owner, source.read_xml(info))
        for rels in self.rels.values():
            for rel in rels:  # part names in targets are URIs: %-escaped, or not, in the ZIP
                if rel.part and rel.part not in self.infos and unquote(rel.part) in self.infos:
                    rel.part = unquote(rel.part)
        self.order = {name: index for index, name in enumerate(self.infos)}

    def _xml(self, name: str) -> etree._Element | None:
        info = self.infos.get(name)
        return None if info is None else _parse(self.source.read_xml(info))

    def content_type(self, name: str) -> str | None:
        lower = name.lower()
        if lower in self.overrides:
            return self.overrides[lower]
        return self.defaults.get(_extension(lower))

    def reachable(self, dropped: set[str]) -> set[str]:
        """Parts reached from the package's relationships without passing a dropped part."""
        seen: set[str] = set()
        todo = [""]
        while todo:
            for rel in self.rels.get(todo.pop(), []):
                if rel.part in self.infos and rel.part not in seen and rel.part not in dropped:
                    seen.add(rel.part)
                    todo.append(rel.part)
        return seen


def _ooxml_label(name: str, content_type: str | None, targeted_as: set[str]) -> str | None:
    """Why a part is dropped, from its content type, how it is referenced, and its name."""
    if content_type in REFUSED_TYPES:
        raise Rejected("unsupported", "workbooks with Excel 4.0 macro sheets cannot be cleaned")
    if content_type in DROPPED_TYPES:
        return DROPPED_TYPES[content_type]
    for kind in targeted_as:
        if kind in DROPPED_RELATIONSHIPS:
            return DROPPED_RELATIONSHIPS[kind]
    for prefix, label in OOXML_DROP.items():
        if name.startswith(prefix):
            return label
    for fragment, label in OOXML_DROP_ANYWHERE.items():
        if fragment in "/" + name:
            return label
    return None


def _clean_ooxml(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
                 depth: int, budget: Budget) -> str:  # fmt: skip
    package = _Package(source)
    main = next((r.part for r in package.rels.get("", [])
                 if _rel_kind(r.type) == "officedocument" and not r.external), "")  # fmt: skip
    main_type = package.content_type(main) if main in package.infos else None
    if main_type is None:
        raise Rejected("malformed", "the Office document has no main part")
    written_type = MACRO_FREE.get(main_type, main_type)
    if written_type not in MAIN_TYPES:
        raise Rejected(
            "unsupported",
            "only Word, Excel and PowerPoint documents (and their templates) can be cleaned",
        )
    if written_type != main_type:
        report.remove(MACROS)

    # How each part is referenced (relationship types), to find properties and thumbnails
    # wherever they are stored.
    targeted: dict[str, set[str]] = {}
    for rels in package.rels.values():
        for rel in rels:
            targeted.setdefault(rel.part, set()).add(_rel_kind(rel.type))
    dropped: dict[str, str] = {}  # lower-case name -> label
    resets: dict[str, tuple[bytes, str]] = {}
    for lower, info in package.infos.items():
        if lower == "[content_types].xml" or _rels_source(lower) is not None:
            continue
        content_type = package.content_type(info.filename)
        kinds = targeted.get(lower, set())
        if content_type == CORE_TYPE or "coreproperties" in kinds or lower == "docprops/core.xml":
            resets[lower] = (OOXML_CORE, "document properties (author, dates, title)")
        elif (
            content_type == APP_TYPE
            or "extendedproperties" in kinds
            or (lower == "docprops/app.xml")
        ):
            resets[lower] = (OOXML_APP, "application properties (company, template, editing time)")
        elif (label := _ooxml_label(info.filename, content_type, kinds)) is not None:
            dropped[lower] = label
        elif content_type is None:
            dropped[lower] = "parts with no declared type"
    reachable = package.reachable(set(dropped))

    parts: dict[str, bytes] = {}  # lower-case name -> data, binaries first
    for lower, info in package.infos.items():
        if lower == "[content_types].xml" or _rels_source(lower) is not None:
            continue
        if lower not in reachable and lower not in dropped:
            dropped[lower] = "unused parts"
        if lower in dropped or lower in resets or _is_xml(lower, package.content_type(lower)):
            continue
        cleaned = _clean_media(lower, source.read(info), report, max_pixels, depth, budget)
        if cleaned is None:
            dropped[lower] = ""  # reported by _clean_media
        else:
            parts[lower] = cleaned
    for label in dropped.values():
        if label:
            report.remove(label)
    reachable = package.reachable(set(dropped))  # a dropped binary may have held the way
    kept = {
        lower
        for lower in package.infos
        if lower in reachable and lower not in dropped and _rels_source(lower) is None
    }

    # Relationships: only to parts kept, and to the web.
    references: dict[str, set[str]] = {}
    for owner, rels in package.rels.items():
        if owner == "" or owner in kept:
            data, references[owner] = _rebuild_relationships(rels, kept, report)
            parts[_rels_name(owner).lower() if owner else "_rels/.rels"] = data

    written = kept | set(parts)
    parts["[content_types].xml"] = _rebuild_content_types(package, written, main, written_type)

    cleaner = _Cleaner(report)
    for lower in kept:
        if package.content_type(lower) == _OX + "wordprocessingml.styles+xml":
            cleaner.word_styles = _word_styles(source.read_xml(package.infos[lower]))
    for lower in sorted(written - set(parts), key=package.order.__getitem__):
        info = package.infos[lower]
        if lower in resets:
            constant, label = resets[lower]
            if source.read_xml(info) != constant:
                report.remove(label)
            parts[lower] = constant
        else:
            parts[lower] = cleaner.clean(source.read_xml(info), references.get(lower, set()))

    for lower, info in package.infos.items():  # in the original order
        if lower in parts:
            _write(out, info.filename, parts[lower])
    return MAIN_TYPES[written_type]


def _extension(name: str) -> str:
    base = posixpath.basename(name)
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _is_xml(name: str, content_type: str | None) -> bool:
    return name.endswith((".xml", ".vml")) or (content_type or "").endswith("+xml")


def _rebuild_relationships(
    rels: list[_Relationship], kept: set[str], report: Report
) -> tuple[bytes, set[str]]:
    """A relationships part with only known attributes, to parts kept and to web pages."""
    root = etree.Element(f"{{{REL}}}Relationships", nsmap={None: REL})
    ids = set()
    for rel in rels:
        target = rel.target
        if rel.external:
            kind = _rel_kind(rel.type)
            if kind == "hyperlink":
                if _has_local_path(target):
                    report.remove("links to files on the computer")
                    continue
            elif kind == "externallinkpath":
                # An Excel link to another workbook: the book must keep a target, but not the
                # folders it sat in.
                name = _file_name(unquote(target))
                if name != unquote(target):
                    report.remove("file paths")
                    target = name or "external.xlsx"
            else:
                report.remove("external references (template and file paths)")
                continue
        elif rel.part not in kept:
            continue
        element = etree.SubElement(root, f"{{{REL}}}Relationship")
        element.set("Id", rel.id)
        element.set("Type", rel.type)
        element.set("Target", target)
        if rel.external:
            element.set("TargetMode", "External")
        ids.add(rel.id)
    return _serialise(root), ids


def _rebuild_content_types(
    package: _Package, written: set[str], main: str, main_type: str
) -> bytes:
    """[Content_Types].xml listing the parts written, the main one with its macro-free type."""
    root = etree.Element(f"{{{CT}}}Types", nsmap={None: CT})
    for extension, content_type in package.defaults.items():
        if content_type not in DROPPED_TYPES and content_type not in MACRO_FREE:
            etree.SubElement(root, f"{{{CT}}}Default", Extension=extension,
                             ContentType=content_type)  # fmt: skip
    for name in sorted(written & set(package.infos), key=package.order.__getitem__):
        content_type = main_type if name == main else package.overrides.get(name)
        default = package.defaults.get(_extension(name))
        if content_type is not None and (name in package.overrides or content_type != default):
            part_name = "/" + package.infos[name].filename
            etree.SubElement(root, f"{{{CT}}}Override", PartName=part_name,
                             ContentType=content_type)  # fmt: skip
    return _serialise(root)


# ------------------------------------------------------------------------------------ ODF


def _odf_label(name: str) -> str | None:
    for fragment, label in ODF_DROP.items():
        if name.startswith(fragment) or "/" + fragment in name:
            return label
    return None


def _clean_odf(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
               depth: int, budget: Budget, mimetype: bytes) -> str:  # fmt: skip
    _check_duplicates(source.names())
    infos = {i.filename: i for i in source.infos}
    manifest_info = infos.get("META-INF/manifest.xml")
    if manifest_info is None:
        raise Rejected("malformed", "the OpenDocument file has no manifest")
    manifest = _parse(source.read_xml(manifest_info))
    listed = set()
    for entry in manifest:
        if not isinstance(entry.tag, str):
            continue
        if any(_local(child.tag) == "encryption-data" for child in entry.iter()
               if isinstance(child.tag, str)):  # fmt: skip
            raise Rejected("encrypted", "password-protected documents cannot be cleaned")
        listed.add(_manifest_path(entry))

    _write(out, "mimetype", mimetype, stored=True)
    cleaner = _Cleaner(report)
    kept: set[str] = set()
    parts: dict[str, bytes] = {}
    for name, info in infos.items():
        if name in ("mimetype", "META-INF/manifest.xml"):
            continue
        label = _odf_label(name) or (None if name in listed else "unused parts")
        if label is not None:
            report.remove(label)
            continue
        if posixpath.basename(name) in ("meta.xml", "settings.xml"):
            # The document's (or an embedded object's) properties and settings.
            constant, label = (
                (ODF_META, "document properties (author, dates, generator, statistics)")
                if name.endswith("meta.xml")
                else (ODF_SETTINGS, "settings (printer names)")
            )
            if source.read_xml(info) != constant:
                report.remove(label)
            data: bytes | None = constant
        elif name.endswith((".xml", ".rdf")):
            if posixpath.basename(name) in ("content.xml", "styles.xml"):
                # Styles that hide text: automatic ones in the part, common ones beside it.
                styles = infos.get(posixpath.join(posixpath.dirname(name), "styles.xml"))
                cleaner.odf_hidden_styles = _odf_hidden_styles(
                    source.read_xml(part) for part in {info, styles} if part is not None
                )
            data = cleaner.clean(source.read_xml(info))
        else:
            data = _clean_media(name, source.read(info), report, max_pixels, depth, budget)
        if data is not None:
            parts[name] = data
            kept.add(name)

    folders = {"/"}  # the folders that still hold a file (embedded objects are folders)
    for name in kept:
        while (name := posixpath.dirname(name)) and name + "/" not in folders:
            folders.add(name + "/")
    for entry in list(manifest):
        path = _manifest_path(entry) if isinstance(entry.tag, str) else ""
        if path not in kept and path not in folders:
            manifest.remove(entry)
    parts["META-INF/manifest.xml"] = cleaner.clean(
        etree.tostring(manifest, xml_declaration=True, encoding="UTF-8")
    )
    for name in infos:  # in the original order
        if name in parts:
            _write(out, name, parts[name])
    kind = mimetype.decode("ascii", "replace").rsplit(".", 1)[-1]
    return {"text": "odt", "spreadsheet": "ods", "presentation": "odp",
            "graphics": "odg"}.get(kind, "odt")  # fmt: skip


def _manifest_path(entry: etree._Element) -> str:
    path = next((v for k, v in entry.attrib.items() if _local(k) == "full-path"), "")
    return path[2:] if path.startswith("./") else path


# ------------------------------------------------------------------------------------ ZIP


def _clean_archive(source: _Zip, out: zipfile.ZipFile, report: Report, max_pixels: int,
                   depth: int, budget: Budget) -> str:  # fmt: skip
    from . import SUPPORTED, scrub, sniff

    for info in source.infos:
        data = source.read(info)
        kind = sniff(data[:SNIFF_BYTES])
        if kind == "zip":
            cleaned = _clean_media(info.filename, data, report, max_pixels, depth, budget)
            assert cleaned is not None
        elif kind in ("unknown", "xml"):
            kept = unrecognised_member(kind, data, report)
            if kept is None:
                continue
            cleaned = kept
        elif kind in SUPPORTED:
            buffer = io.BytesIO()
            _merge(report, scrub(kind, io.BytesIO(data), buffer, max_pixels=max_pixels))
            cleaned = buffer.getvalue()
        else:
            raise Rejected("unsupported", f"a file inside the archive ({kind}) cannot be cleaned")
        _write(out, info.filename, cleaned)
    return "zip"


def scrub_zip(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int, depth: int = 0,
              budget: Budget | None = None) -> Report:  # fmt: skip
    budget = budget or Budget()
    try:
        seekable = bool(stream.seekable())
    except (AttributeError, OSError):
        seekable = False
    if not seekable:  # the verifier's pipe: ZIP needs its central directory at the end
        stream = io.BytesIO(read_capped(stream, MAX_TOTAL, "the archive is too large"))
    source = _Zip(stream, budget)
    report = Report(kind="zip", output_kind="zip")
    if source.packaging:
        report.remove("archive comments, timestamps and extra fields")
    names = set(source.names())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        if "[Content_Types].xml" in names:
            report.extension = _clean_ooxml(source, out, report, max_pixels, depth, budget)
        elif "mimetype" in names and (
            mimetype := source.read(source.zip.getinfo("mimetype"))
        ).startswith(b"application/vnd.oasis.opendocument"):
            report.extension = _clean_odf(source, out, report, max_pixels, depth, budget,
                                          mimetype)  # fmt: skip
        else:
            report.extension = _clean_archive(source, out, report, max_pixels, depth, budget)
    dst.write(buffer.getvalue())
    return report


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    with upload_budget() as budget:  # the upload's, when this ZIP sits in a TAR or gzip
        return scrub_zip(stream, dst, max_pixels=max_pixels, budget=budget)
