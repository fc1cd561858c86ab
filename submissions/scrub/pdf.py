"""PDF: a full rewrite with pikepdf (QPDF), keeping the pages and dropping what identifies.

Removed: the document information dictionary (author, creator, producer, dates) and any other
trailer entry, document catalog entries outside an allowlist, every XMP metadata stream
(document, page and image level), embedded files and associated files (/AF), JavaScript and
automatic actions, page thumbnails and application data (PieceInfo), XFA forms, and — because
the file is written anew from the objects the pages use — every earlier revision an incremental
update left behind. JPEG images inside the PDF are cleaned with the JPEG scrubber, also when
they are wrapped in other filters.

Annotations: links keep their target; form fields keep their name and the value the source
typed; every other annotation (comments carry their author's name and dates) is taken off the
pages. Every annotation object anywhere in the file is cut down to an allowlist of keys, since
one can be reached by other paths than a page (the structure tree, a pop-up's parent...).
Actions: only page jumps (GoTo) and web links (URI) are kept: launching files, remote go-to,
forms submission, JavaScript and media actions can carry file paths with user names.
Digital signatures are removed (signer name, location, reason, time, and the PKCS#7 blob with
the signer's certificate), with the DSS and /Perms dictionaries.

Every object of the file is untrusted: each access checks its type, and a structure that is
not what the specification says is dropped or the file refused.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream, String
from PIL import Image

from . import jpeg
from .report import Rejected, Report
from .source import read_capped

MAX_BYTES = 256 * 1024 * 1024
MAX_OBJECTS = 2_000_000
MAX_FIELDS = 100_000
MAX_IMAGE_BYTES = MAX_BYTES  # an embedded JPEG unwrapped from its outer filters
MAX_CONTENT_BYTES = 128 * 1024 * 1024  # page descriptions, decoded, all pages together
# Keys that hold metadata, code or hidden payloads, wherever they appear.
DROP_KEYS = {
    "/Metadata": "XMP metadata",
    "/PieceInfo": "application data (PieceInfo)",
    "/LastModified": "modification date",
    "/AF": "associated files",
    "/AA": "automatic actions",
    "/OpenAction": "open action",
    "/Thumb": "page thumbnail",
    "/SpiderInfo": "web capture data",
    "/Perms": "permissions signature",
    "/DSS": "signature validation data (DSS)",
    "/OPI": "links to original image files (OPI)",
    "/Ref": "references to external documents",
    "/EF": "embedded files",
    "/RF": "embedded files",
    "/Usage": "layer usage details (creator application, user names)",
    "/VP": "geospatial registration (GPS points)",
    "/Measure": "geospatial registration (GPS points)",
    "/PtData": "geospatial registration (GPS points)",
}
# Page and XObject entries kept: what draws them. A tool's private entries go.
PAGE_KEYS = {
    "/Type", "/Parent", "/Resources", "/MediaBox", "/CropBox", "/BleedBox", "/TrimBox",
    "/ArtBox", "/BoxColorInfo", "/Contents", "/Rotate", "/Group", "/Annots", "/B", "/Dur",
    "/Trans", "/StructParents", "/Tabs", "/UserUnit",
}  # fmt: skip
STREAM_KEYS = {"/Length", "/Filter", "/DecodeParms", "/Type", "/Subtype", "/OC", "/Name",
               "/StructParent", "/StructParents"}  # fmt: skip
IMAGE_KEYS = STREAM_KEYS | {
    "/Width", "/Height", "/ColorSpace", "/BitsPerComponent", "/Intent", "/ImageMask", "/Mask",
    "/Decode", "/Interpolate", "/SMask", "/SMaskInData",
}  # fmt: skip
FORM_XOBJECT_KEYS = STREAM_KEYS | {"/FormType", "/BBox", "/Matrix", "/Resources", "/Group"}
PRIVATE = "private entries of the tool that wrote the file"
# Document catalog entries kept; the others (collections, legal attestations, requirements,
# web capture, private entries of the tool that wrote the file...) are dropped.
ROOT_KEYS = {
    "/Type", "/Version", "/Extensions", "/Pages", "/PageLabels", "/Names", "/Dests",
    "/ViewerPreferences", "/PageLayout", "/PageMode", "/Outlines", "/Threads", "/AcroForm",
    "/StructTreeRoot", "/MarkInfo", "/Lang", "/OutputIntents", "/OCProperties",
}  # fmt: skip
NAME_TREES = {"/Dests", "/AP", "/Pages"}  # named destinations, appearances and pages
NAME_TREE_LABELS = {"/EmbeddedFiles": "embedded files", "/JavaScript": "JavaScript"}
STRUCT_ROOT_KEYS = {
    "/Type", "/K", "/IDTree", "/ParentTree", "/ParentTreeNextKey", "/RoleMap", "/ClassMap",
    "/Namespaces",
}  # fmt: skip
# Trailer entries that describe the file's layout; QPDF writes its own. Anything else goes.
TRAILER_LAYOUT = {
    "/Root", "/Size", "/ID", "/Prev", "/XRefStm", "/Type", "/W", "/Index", "/Filter",
    "/DecodeParms", "/Length",
}  # fmt: skip
OUTLINE_ROOT_KEYS = {"/Type", "/First", "/Last", "/Count"}
OUTLINE_KEYS = {
    "/Title", "/Parent", "/Prev", "/Next", "/First", "/Last", "/Count", "/Dest", "/A", "/SE",
    "/C", "/F",
}  # fmt: skip
FORM_KEYS = {"/Fields", "/NeedAppearances", "/DR", "/DA", "/Q", "/CO"}
# Annotation keys kept. Links: where they point. Form widgets: the field (name, type, flags,
# the value the source typed, choices) and how it is drawn.
ANNOT_KEYS = {"/Type", "/Subtype", "/Rect", "/F", "/Border", "/BS", "/C", "/StructParent"}
LINK_KEYS = ANNOT_KEYS | {"/A", "/Dest", "/QuadPoints", "/H"}
FIELD_KEYS = {
    "/FT", "/Parent", "/Kids", "/T", "/TU", "/TM", "/Ff", "/V", "/DV", "/DA", "/Q", "/Opt",
    "/MaxLen", "/TI", "/I", "/A",
}  # fmt: skip
WIDGET_KEYS = ANNOT_KEYS | FIELD_KEYS | {"/P", "/AP", "/AS", "/MK", "/H"}
STUB_KEYS = {"/Type", "/Subtype", "/Rect"}  # an annotation taken off the pages
SIGNATURE_KEYS = {"/V", "/Lock", "/SV"}  # a signature field's value, lock and seed value
ANNOT_SUBTYPES = {
    "/Text", "/Link", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine",
    "/Highlight", "/Underline", "/Squiggly", "/StrikeOut", "/Stamp", "/Caret", "/Ink", "/Popup",
    "/FileAttachment", "/Sound", "/Movie", "/Screen", "/Widget", "/PrinterMark", "/TrapNet",
    "/Watermark", "/3D", "/Redact", "/Projection", "/RichMedia",
}  # fmt: skip
WEB_SCHEMES = (b"http://", b"https://", b"mailto:")
JPEG_FILTERS = {"/DCTDecode", "/DCT"}
SIGNATURES = "digital signatures (signer, certificate, reason, place, time)"
UNWRAPPABLE = "part of the PDF is encoded in a way that cannot be checked (LZW, predictors...)"
UNREADABLE = "document structures that could not be read"
ACTIONS = "actions that open files, run code, play media or submit forms"


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    data = read_capped(stream, MAX_BYTES, "the PDF is too large to clean")
    report = Report(kind="pdf", output_kind="pdf")
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise Rejected("encrypted", "password-protected PDFs cannot be cleaned") from exc
    except pikepdf.PdfError as exc:
        raise Rejected("malformed", "the PDF could not be read") from exc
    try:
        with pdf:
            _clean(pdf, report, max_pixels)
            out = io.BytesIO()
            # Written anew: unreferenced objects and earlier revisions do not survive; a fresh,
            # content-derived /ID replaces the one that could link back to the original file.
            pdf.save(
                out,
                deterministic_id=True,
                fix_metadata_version=False,
                compress_streams=True,
                object_stream_mode=pikepdf.ObjectStreamMode.generate,
            )
    except Rejected:
        raise
    except (pikepdf.PikepdfError, TypeError, ValueError, AttributeError, KeyError, IndexError,
            NotImplementedError, RecursionError) as exc:  # fmt: skip
        # Every access below checks types; this is the net under them. QPDF also raises on
        # structures it cannot resolve (broken page trees, streams that fail to decode).
        raise Rejected("malformed", "the PDF's structure could not be read") from exc
    dst.write(out.getvalue())
    return report


def _clean(pdf: pikepdf.Pdf, report: Report, max_pixels: int) -> None:
    if len(pdf.objects) > MAX_OBJECTS:
        raise Rejected("malformed", "the PDF has too many objects")
    _clean_trailer(pdf, report)
    root = pdf.Root
    if not isinstance(root, Dictionary):
        raise Rejected("malformed", "the PDF has no document catalog")
    _clean_catalog(root, report)
    widgets = _clean_form(root, report)
    for page in pdf.pages:
        _clean_page_annotations(page.obj, widgets, report)
    forms = []
    for obj in _reachable(pdf):
        _clean_object(obj, widgets, report)
        if isinstance(obj, Stream):
            _clean_jpeg(pdf, obj, report, max_pixels)
            _clean_jpx(pdf, obj, report, max_pixels)
            if obj.get("/Subtype") == Name.Form:
                forms.append(obj)
    _check_content_sizes(pdf, forms)
    pdf.remove_unreferenced_resources()


def _check_content_sizes(pdf: pikepdf.Pdf, forms: list[Stream]) -> None:
    """Page descriptions decode within bounds, checked before QPDF parses them.

    remove_unreferenced_resources() (which drops images and fonts a page holds but does not
    show: an uncropped original, say) decodes every content stream whole, in memory: a 1 MB
    Flate bomb took 25 s and 2 GB. Here each is inflated with a cap first.
    """
    streams: list[object] = list(forms)
    for page in pdf.pages:
        contents = page.obj.get("/Contents")
        streams.extend(contents if isinstance(contents, Array) else [contents])
    total = 0
    for stream in streams:
        if not isinstance(stream, Stream):
            continue
        filters, parms = _filters(stream)
        if not filters:
            total += len(stream.read_raw_bytes())
        elif filters == [Name.FlateDecode] and parms == [None]:
            total += _inflated_size(stream.read_raw_bytes(), MAX_CONTENT_BYTES - total)
        else:  # ASCII layers around Flate and the like: rare, decoded with the same cap
            total += len(_unwrap(pdf, stream, filters, parms, limit=MAX_CONTENT_BYTES - total))
        if total > MAX_CONTENT_BYTES:
            raise Rejected("too_large", "the PDF unpacks to more than the limit")


def _inflated_size(data: bytes, limit: int) -> int:
    """How many bytes `data` inflates to, counted a megabyte at a time (nothing kept)."""
    inflate, size = zlib.decompressobj(), 0
    try:
        while data and size <= limit:
            size += len(inflate.decompress(data, 1024 * 1024))
            data = inflate.unconsumed_tail
    except zlib.error as exc:
        raise Rejected("malformed", "a page of the PDF is damaged") from exc
    if size > limit:
        raise Rejected("too_large", "the PDF unpacks to more than the limit")
    return size


def _clean_trailer(pdf: pikepdf.Pdf, report: Report) -> None:
    trailer = pdf.trailer
    for key in list(trailer.keys()):
        if key == "/Info":
            info = trailer.get(key)
            if not isinstance(info, Dictionary) or len(info.keys()):
                report.remove("document information (author, creator, dates)")
            del trailer[key]
        elif key not in TRAILER_LAYOUT:
            del trailer[key]
            report.remove("other entries of the file trailer")


def _clean_catalog(root: Dictionary, report: Report) -> None:
    for key in list(root.keys()):
        if key not in ROOT_KEYS:
            del root[key]
            report.remove(DROP_KEYS.get(key, "other entries of the document catalog"))
    names = root.get("/Names")
    if names is not None and not isinstance(names, Dictionary):
        del root["/Names"]
        report.remove(UNREADABLE)
    elif isinstance(names, Dictionary):
        for key in list(names.keys()):
            if key not in NAME_TREES:
                del names[key]
                report.remove(NAME_TREE_LABELS.get(key, "named resources"))
    structure = root.get("/StructTreeRoot")
    if structure is not None and not isinstance(structure, Dictionary):
        del root["/StructTreeRoot"]
        report.remove(UNREADABLE)
    elif isinstance(structure, Dictionary):
        for key in list(structure.keys()):
            if key not in STRUCT_ROOT_KEYS:
                del structure[key]
                report.remove("document structure extras")
    _clean_outlines(root, report)
    threads = root.get("/Threads")
    if isinstance(threads, Array):
        for thread in threads:
            if isinstance(thread, Dictionary) and "/I" in thread:
                del thread["/I"]  # the thread information dictionary: title, author, dates
                report.remove("article thread information")
    elif threads is not None:
        del root["/Threads"]
        report.remove(UNREADABLE)


def _clean_outlines(root: Dictionary, report: Report) -> None:
    """Bookmarks keep their title, place in the tree, target, colour and style only."""
    outlines = root.get("/Outlines")
    if outlines is None:
        return
    if not isinstance(outlines, Dictionary):
        del root["/Outlines"]
        report.remove(UNREADABLE)
        return
    _keep_only(outlines, OUTLINE_ROOT_KEYS, "outline extras", report)
    seen: set[tuple[int, int]] = set()
    stack = [outlines.get("/First")]
    while stack:
        item = stack.pop()
        if not isinstance(item, Dictionary) or (item.is_indirect and item.objgen in seen):
            continue
        if item.is_indirect:
            seen.add(item.objgen)
        if len(seen) > MAX_OBJECTS:
            raise Rejected("malformed", "the PDF outline is too large")
        _keep_only(item, OUTLINE_KEYS, "outline extras", report)
        stack += [item.get("/Next"), item.get("/First")]


def _clean_form(root: Dictionary, report: Report) -> set[tuple[int, int]]:
    """Clean the interactive form; return the widgets (by object id) that belong to it."""
    form = root.get("/AcroForm")
    if form is None:
        return set()
    fields = form.get("/Fields") if isinstance(form, Dictionary) else None
    if not isinstance(fields, Array):
        del root["/AcroForm"]  # its widgets go with it: not in the set returned
        report.remove(UNREADABLE)
        return set()
    for key in list(form.keys()):
        if key not in FORM_KEYS:
            del form[key]
            report.remove({"/XFA": "XFA form data", "/SigFlags": SIGNATURES}.get(key, "form data"))
    widgets: set[tuple[int, int]] = set()
    seen: set[tuple[int, int]] = set()
    form.Fields = _fields(fields)
    stack: list[tuple[Dictionary, object]] = [(field, None) for field in form.Fields]
    while stack:
        node, inherited = stack.pop()
        if node.objgen in seen:  # a field that is its own ancestor, or listed twice
            continue
        seen.add(node.objgen)
        if len(seen) > MAX_FIELDS:
            raise Rejected("malformed", "the PDF form has too many fields")
        own = node.get("/FT")
        field_type = own if isinstance(own, Name) else inherited
        is_widget = node.get("/Subtype") == Name.Widget
        if field_type == Name.Sig:
            for key in SIGNATURE_KEYS | ({"/AP", "/AS"} if is_widget else set()):
                if key in node:  # the drawn signature shows the signer's name and the time
                    del node[key]
                    report.remove(SIGNATURES)
        elif isinstance(node.get("/V"), Dictionary):
            del node["/V"]  # a value no field type but signatures has: not something typed
            report.remove(SIGNATURES)
        if is_widget:
            widgets.add(node.objgen)  # its keys are cut down with the other annotations
        else:
            _keep_only(node, FIELD_KEYS, "form field details", report)
        if "/Kids" in node:
            node.Kids = _fields(node.Kids)
            stack.extend((kid, field_type) for kid in node.Kids)
    return widgets


def _fields(fields: object) -> Array:
    """The fields of a list that are fields: indirect dictionaries, as the specification says."""
    if not isinstance(fields, Array):
        return Array()
    return Array([f for f in fields if isinstance(f, Dictionary) and f.is_indirect])


def _clean_page_annotations(page: Dictionary, widgets: set[tuple[int, int]],
                            report: Report) -> None:  # fmt: skip
    """Links and the form's widgets stay on the page; other annotations are taken off."""
    annots = page.get("/Annots")
    if annots is None:
        return
    if not isinstance(annots, Array):
        del page["/Annots"]
        report.remove("annotations and comments")
        return
    kept = Array()
    for annot in annots:
        if not isinstance(annot, Dictionary):
            report.remove("annotations and comments")
            continue
        subtype = annot.get("/Subtype")
        widget = subtype == Name.Widget and annot.is_indirect and annot.objgen in widgets
        if subtype == Name.Link or widget:
            kept.append(annot)
        else:
            report.remove("annotations and comments")
    page.Annots = kept


def _reachable(pdf: pikepdf.Pdf) -> Iterator[Dictionary | Stream]:
    """Every dictionary and stream the saved file will hold, direct ones nested in others too.

    Walked from the trailer as the writer will: objects no longer referenced (an earlier
    revision, what was dropped above) are not visited, nor written. Each is yielded before
    its children are read, so what the caller removes is not walked either.
    """
    seen: set[tuple[int, int]] = set()
    stack: list[object] = [pdf.trailer]
    while stack:
        item = stack.pop()
        if not isinstance(item, Dictionary | Stream | Array):
            continue
        if item.is_indirect:
            if item.objgen in seen:
                continue
            seen.add(item.objgen)
            if len(seen) > MAX_OBJECTS:
                raise Rejected("malformed", "the PDF has too many objects")
        if isinstance(item, Array):
            stack.extend(item)
            continue
        yield item
        stack.extend(item.get(key) for key in list(item.keys()))


def _is_annotation(obj: Dictionary | Stream) -> bool:
    if isinstance(obj, Stream):
        return False
    # /Type is optional on annotations; their subtypes are used by no other dictionary.
    subtype = obj.get("/Subtype")
    return obj.get("/Type") == Name.Annot or (
        isinstance(subtype, Name) and str(subtype) in ANNOT_SUBTYPES
    )


def _clean_object(obj: Dictionary | Stream, widgets: set[tuple[int, int]],
                  report: Report) -> None:  # fmt: skip
    for key, label in DROP_KEYS.items():
        if key in obj:
            del obj[key]
            report.remove(label)
    kind = obj.get("/Type")
    if kind == Name.Filespec or kind == Name.EmbeddedFile:
        report.remove("embedded files")
    if kind == Name.Page:
        _keep_only(obj, PAGE_KEYS, PRIVATE, report)
    if isinstance(obj, Stream):
        subtype = obj.get("/Subtype")
        if subtype == Name.XML or kind == Name.Metadata:  # XMP, under whatever key holds it
            obj.write(b"")
            report.remove("XMP metadata")
        elif subtype == Name.Image:
            _keep_only(obj, IMAGE_KEYS, PRIVATE, report)
        elif subtype == Name.Form and kind in (None, Name.XObject):
            _keep_only(obj, FORM_XOBJECT_KEYS, PRIVATE, report)
    if kind in (Name.Sig, Name.DocTimeStamp) or ("/ByteRange" in obj and "/Contents" in obj):
        _keep_only(obj, {"/Type"}, SIGNATURES, report)
    if obj.get("/O") == Name.UserProperties and "/P" in obj:
        del obj["/P"]  # name/value pairs the authoring tool attached to structure elements
        report.remove("user properties in the document structure")
    if _is_annotation(obj):
        subtype = obj.get("/Subtype")
        if subtype == Name.Link:
            _keep_only(obj, LINK_KEYS, "annotation details (authors, dates)", report)
        elif subtype == Name.Widget and obj.is_indirect and obj.objgen in widgets:
            _keep_only(obj, WIDGET_KEYS, "annotation details (authors, dates)", report)
        else:
            _keep_only(obj, STUB_KEYS, "annotations and comments", report)
    action = obj.get("/A")
    if isinstance(action, Dictionary) and "/S" in action:  # links, outline items, widgets
        cleaned = _clean_action(action, report)
        if cleaned is None:
            del obj["/A"]
        else:
            obj.A = cleaned
    elif action is not None and ("/Title" in obj or _is_annotation(obj)):
        # On an outline item or an annotation /A can only be an action; elsewhere (structure
        # elements) it holds attributes, cleaned where they are.
        del obj["/A"]
        report.remove(ACTIONS)


def _keep_only(obj: Dictionary | Stream, keys: set[str], label: str, report: Report) -> None:
    for key in list(obj.keys()):
        if key not in keys:
            del obj[key]
            report.remove(label)


def _clean_action(action: Dictionary, report: Report) -> Dictionary | None:
    """A page jump or a web link, rebuilt with only its target (no /Next chain); else None."""
    kind = action.get("/S")
    cleaned: Dictionary | None = None
    if kind == Name.GoTo:
        target = action.get("/D")
        if isinstance(target, Array | Name | String):
            cleaned = Dictionary(S=Name.GoTo, D=target)
    elif kind == Name.URI:
        uri = action.get("/URI")
        # file: and other schemes name paths on the source's own computer.
        if isinstance(uri, String) and bytes(uri).strip().lower().startswith(WEB_SCHEMES):
            cleaned = Dictionary(S=Name.URI, URI=uri)
    if cleaned is None:
        report.remove(ACTIONS)
    elif set(action.keys()) - {"/Type", "/S", "/D", "/URI"}:
        report.remove("chained and extra action entries")
    return cleaned


def _filters(obj: Stream) -> tuple[list[object], list[object]]:
    """The stream's filters and their parameters, as lists of equal length."""
    filters = obj.get("/Filter")
    parms = obj.get("/DecodeParms")
    if isinstance(filters, Name):
        return [filters], [parms]
    if not isinstance(filters, Array):
        return [], []
    names = list(filters)
    values = list(parms) if isinstance(parms, Array) else [None] * len(names)
    return names, (values + [None] * len(names))[: len(names)]


def _clean_jpeg(pdf: pikepdf.Pdf, obj: Stream, report: Report, max_pixels: int) -> None:
    """A stream holding a JPEG (an image, a form's icon, an odd one out): cleaned."""
    filters, parms = _filters(obj)
    if not any(isinstance(f, Name) and str(f) in JPEG_FILTERS for f in filters):
        return
    if not isinstance(filters[-1], Name) or str(filters[-1]) not in JPEG_FILTERS:
        raise Rejected("unsupported", UNWRAPPABLE)  # JPEG data filtered again after decoding?
    raw = _unwrap(pdf, obj, filters[:-1], parms[:-1])
    out = io.BytesIO()
    inner = jpeg.scrub(io.BytesIO(raw), out, max_pixels=max_pixels)
    if inner.removed or len(filters) > 1:  # stored as a plain JPEG, its outer filters undone
        jpeg_parms = parms[-1] if isinstance(parms[-1], Dictionary) else None
        obj.write(out.getvalue(), filter=Name.DCTDecode, decode_parms=jpeg_parms)
    if inner.removed:
        report.remove("metadata inside embedded JPEG images")


def _clean_jpx(pdf: pikepdf.Pdf, obj: Stream, report: Report, max_pixels: int) -> None:
    """A JPEG 2000 image: decoded and stored again as plain pixels.

    JPEG 2000 data can carry XMP, GeoJP2 and comment boxes and markers of its own; rather than
    parse a second container format, the picture is decoded (Pillow's OpenJPEG, bounded by the
    pixel limit read from the image dictionary first) and deflated. Larger, and clean.
    """
    filters, _parms = _filters(obj)
    if not any(isinstance(f, Name) and str(f) in ("/JPXDecode",) for f in filters):
        return
    if filters != [Name.JPXDecode] or obj.get("/Subtype") != Name.Image:
        raise Rejected("unsupported", UNWRAPPABLE)
    width, height = obj.get("/Width"), obj.get("/Height")
    if not isinstance(width, int) or not isinstance(height, int) or width * height > max_pixels:
        raise Rejected("too_many_pixels", "an image in the PDF is over the pixel limit")
    try:
        with Image.open(io.BytesIO(obj.read_raw_bytes()), formats=["JPEG2000"]) as image:
            if image.width * image.height > max_pixels:
                raise Rejected("too_many_pixels", "an image in the PDF is over the pixel limit")
            image.load()
            alpha = image.getchannel("A") if "A" in image.getbands() else None
            if image.mode.startswith("I;16"):  # 16-bit grey: scaled to 8 bits
                image = image.convert("I").point(lambda value: value * (1 / 256))
            mode = {"1": "L", "L": "L", "LA": "L", "I": "L", "CMYK": "CMYK"}.get(image.mode, "RGB")
            pixels = image.convert(mode)
    except Rejected:
        raise
    except Exception as exc:  # Pillow/OpenJPEG errors of all kinds: damaged data
        raise Rejected("malformed", "an image in the PDF could not be decoded") from exc
    for key in ("/SMaskInData", "/Decode", "/DecodeParms"):
        if key in obj:
            del obj[key]
    # The decoded channels say the colour space (an ICC profile, like JPEG's, is left out).
    obj.ColorSpace = {"L": Name.DeviceGray, "RGB": Name.DeviceRGB, "CMYK": Name.DeviceCMYK}[mode]
    obj.BitsPerComponent = 8
    obj.Width, obj.Height = pixels.size
    obj.write(zlib.compress(pixels.tobytes(), 6), filter=Name.FlateDecode)
    if alpha is not None and "/SMask" not in obj:
        obj.SMask = Stream(
            pdf, zlib.compress(alpha.tobytes(), 6), Type=Name.XObject, Subtype=Name.Image,
            Width=alpha.width, Height=alpha.height, ColorSpace=Name.DeviceGray,
            BitsPerComponent=8, Filter=Name.FlateDecode,
        )  # fmt: skip
    report.remove("JPEG 2000 image boxes and comments (images stored anew)")


def _unwrap(
    pdf: pikepdf.Pdf,
    obj: Stream,
    filters: list[object],
    parms: list[object],
    limit: int | None = None,
) -> bytes:
    """The JPEG inside its outer filters ([/FlateDecode /DCTDecode] and the like).

    Flate is inflated here with a bound (QPDF would inflate a bomb whole); the ASCII encodings
    only shrink, and QPDF decodes them. Other combinations are not seen in real files.
    """
    limit = MAX_IMAGE_BYTES if limit is None else limit
    data = obj.read_raw_bytes()
    for name, parm in zip(filters, parms, strict=True):
        if str(name) in ("/FlateDecode", "/Fl") and (
            parm is None or (isinstance(parm, Dictionary) and parm.get("/Predictor", 1) == 1)
        ):
            inflate = zlib.decompressobj()
            try:
                data = inflate.decompress(data, limit + 1)
            except zlib.error as exc:
                raise Rejected("malformed", "a stream in the PDF is damaged") from exc
            if len(data) > limit:
                raise Rejected("too_large", "the PDF unpacks to more than the limit")
        elif str(name) in ("/ASCIIHexDecode", "/AHx", "/ASCII85Decode", "/A85"):
            data = Stream(pdf, data, Filter=name).read_bytes()
        else:
            raise Rejected("unsupported", UNWRAPPABLE)
    return data
