"""PDF: a full rewrite with pikepdf (QPDF), keeping the pages and dropping what identifies.

Removed: the document information dictionary (author, creator, producer, dates), every XMP
metadata stream (document, page and image level), embedded files and associated files (/AF),
JavaScript and automatic actions, page thumbnails and application data (PieceInfo), annotations
other than links (comments carry their author's name), XFA forms, and — because the file is
written anew from the objects the pages use — every earlier revision an incremental update left
behind. JPEG images inside the PDF are cleaned with the JPEG scrubber.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import pikepdf
from pikepdf import Array, Dictionary, Name, Stream

from . import jpeg
from .report import Rejected, Report

MAX_BYTES = 256 * 1024 * 1024
MAX_OBJECTS = 2_000_000
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
}
LINK_KEYS = {"/Type", "/Subtype", "/Rect", "/Border", "/A", "/Dest", "/QuadPoints", "/F"}


def _clean_action(action: object) -> bool:
    """Only URI and go-to actions survive on links; anything else (JavaScript, launch...) not."""
    return isinstance(action, Dictionary) and action.get("/S") in (Name.URI, Name.GoTo)


def _clean_annotations(page: pikepdf.Page, report: Report) -> None:
    annots = page.obj.get("/Annots")
    if not isinstance(annots, Array):
        return
    kept = Array()
    for annot in annots:
        if not isinstance(annot, Dictionary) or annot.get("/Subtype") != Name.Link:
            report.remove("annotations and comments")
            continue
        for key in list(annot.keys()):
            if key not in LINK_KEYS:
                del annot[key]
        if "/A" in annot and not _clean_action(annot.A):
            del annot["/A"]
            report.remove("link actions other than web links")
        kept.append(annot)
    page.obj.Annots = kept


def _clean_jpeg_images(pdf: pikepdf.Pdf, report: Report, max_pixels: int) -> None:
    for obj in pdf.objects:
        if not isinstance(obj, Stream) or obj.get("/Subtype") != Name.Image:
            continue
        if obj.get("/Filter") != Name.DCTDecode:
            continue
        raw = obj.read_raw_bytes()
        out = io.BytesIO()
        inner = jpeg.scrub(io.BytesIO(raw), out, max_pixels=max_pixels)
        if inner.removed:
            obj.write(out.getvalue(), filter=Name.DCTDecode)
            report.remove("metadata inside embedded JPEG images")


def scrub(stream: BinaryIO, dst: BinaryIO, *, max_pixels: int) -> Report:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Rejected("too_large", "the PDF is too large to clean")
    report = Report(kind="pdf", output_kind="pdf")
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise Rejected("encrypted", "password-protected PDFs cannot be cleaned") from exc
    except pikepdf.PdfError as exc:
        raise Rejected("malformed", "the PDF could not be read") from exc
    with pdf:
        if len(pdf.objects) > MAX_OBJECTS:
            raise Rejected("malformed", "the PDF has too many objects")
        if "/Info" in pdf.trailer:
            if len(pdf.trailer.Info.keys()):
                report.remove("document information (author, creator, dates)")
            del pdf.trailer["/Info"]
        root = pdf.Root
        names = root.get("/Names")
        if isinstance(names, Dictionary):
            for key, label in (("/EmbeddedFiles", "embedded files"), ("/JavaScript", "JavaScript")):
                if key in names:
                    del names[key]
                    report.remove(label)
        if "/AcroForm" in root and "/XFA" in root.AcroForm:
            del root.AcroForm["/XFA"]
            report.remove("XFA form data")
        for page in pdf.pages:
            _clean_annotations(page, report)
        for obj in pdf.objects:
            if isinstance(obj, Dictionary | Stream):
                for key, label in DROP_KEYS.items():
                    if key in obj:
                        del obj[key]
                        report.remove(label)
                if obj.get("/Type") == Name.Filespec or obj.get("/Type") == Name.EmbeddedFile:
                    report.remove("embedded files")
        _clean_jpeg_images(pdf, report, max_pixels)
        pdf.remove_unreferenced_resources()
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
    dst.write(out.getvalue())
    return report
