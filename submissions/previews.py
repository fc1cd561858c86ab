"""Safe previews for editors: a small JPEG made by the worker from the *cleaned* file.

Made in the same pass that cleans the file (from its cleaned bytes as they stream into
encryption, never from the upload), sealed to the newsroom key like the file, and served as
an image we generated: pixels only, no metadata (Pillow writes none unless asked), whatever
the original carried.

- photos: the picture, turned upright (EXIF orientation applied to the pixels), scaled down;
- videos: the first frame, from the head of the cleaned file (its header and first fragment);
- PDFs: the first page, rendered by PDFium (Chrome's PDF engine, via pypdfium2).
Documents (DOCX, ODT...) and audio get none: rendering office files needs LibreOffice, and
audio has no picture. A preview that fails is left out, never a reason to fail the file.
"""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

MAX_SIDE = 640
QUALITY = 80
# Cleaned bytes kept for a preview. A video's first frame is in its head; a photo or a PDF
# bigger than this gets no preview (the worker's memory stays bounded).
BUFFER_LIMIT = 48 * 1024 * 1024
MAX_PIXELS = 100_000_000  # JPEGs decode at a reduced size (draft); others in full:
MAX_FULL_PIXELS = 25_000_000  # 100 MB of RGBA at most
# Kinds that may get a preview (the category is known only once cleaned: MP4 may be audio).
WANTED = {"jpeg", "png", "gif", "webp", "tiff", "heic", "avif", "pdf", "isobmff", "matroska",
          "avi", "asf"}  # fmt: skip


def wanted(kind: str) -> bool:
    return kind in WANTED


class Buffer:
    """A sink that keeps the first BUFFER_LIMIT bytes written to it."""

    def __init__(self, limit: int = BUFFER_LIMIT) -> None:
        self._data = bytearray()
        self._limit = limit
        self.complete = True

    def write(self, data: bytes) -> int:
        room = self._limit - len(self._data)
        if len(data) > room:
            self.complete = False
        if room > 0:
            self._data += data[:room]
        return len(data)

    @property
    def data(self) -> bytes:
        return bytes(self._data)


def make(category: str, kind: str, buffer: Buffer) -> bytes | None:
    """A JPEG preview of the cleaned file, or None."""
    try:
        if category == "image" and buffer.complete:
            picture = _image(buffer.data)
        elif category == "video":
            picture = _video_frame(buffer.data)
        elif kind == "pdf" and buffer.complete:
            picture = _pdf_page(buffer.data)
        else:
            return None
    except Exception as exc:  # noqa: BLE001 - a preview is optional; the file is not affected
        logger.debug("preview.skipped error=%s", type(exc).__name__)
        return None
    return _jpeg(picture) if picture is not None else None


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        limit = MAX_PIXELS if image.format == "JPEG" else MAX_FULL_PIXELS
        if image.width * image.height > limit:
            raise ValueError("too many pixels for a preview")
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size
        upright = ImageOps.exif_transpose(image)
        upright.thumbnail((MAX_SIDE, MAX_SIDE))
        return upright.copy()


def _video_frame(data: bytes) -> Image.Image | None:
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        if stream.codec_context.width * stream.codec_context.height > MAX_PIXELS:
            raise ValueError("too many pixels for a preview")
        for frame in container.decode(stream):
            picture = frame.to_image()
            picture.thumbnail((MAX_SIDE, MAX_SIDE))
            return picture
    return None


def _pdf_page(data: bytes) -> Image.Image | None:
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        if len(document) == 0:
            return None
        page = document[0]
        width, height = page.get_size()
        scale = min(MAX_SIDE / max(width, height, 1), 4.0)
        return page.render(scale=scale).to_pil()
    finally:
        document.close()


def _jpeg(picture: Image.Image) -> bytes:
    """Pixels only: a new RGB image, written without EXIF, ICC, XMP or comments."""
    flat = Image.new("RGB", picture.size, "white")
    if picture.mode in ("RGBA", "LA", "P"):
        picture = picture.convert("RGBA")
        flat.paste(picture, mask=picture.getchannel("A"))
    else:
        flat.paste(picture.convert("RGB"))
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
