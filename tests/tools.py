"""Independent tools the tests judge with: exiftool, the age CLI. Missing tools fail loudly."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

# What exiftool may report on a cleaned image: structure, never provenance.
ALLOWED_TAGS: dict[str, set[str] | None] = {
    "SourceFile": None,
    "System": None,  # our own temp file's name, size, dates and permissions
    "ExifTool": None,
    "File": {
        "FileType",
        "FileTypeExtension",
        "MIMEType",
        "ImageWidth",
        "ImageHeight",
        "EncodingProcess",
        "BitsPerSample",
        "ColorComponents",
        "YCbCrSubSampling",
        "ExifByteOrder",
    },
    "JFIF": {"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"},
    "Adobe": {"DCTEncodeVersion", "APP14Flags0", "APP14Flags1", "ColorTransform"},
    "IFD0": {"Orientation"},
    "Composite": {"ImageSize", "Megapixels"},
    "PNG": {
        "ImageWidth",
        "ImageHeight",
        "BitDepth",
        "ColorType",
        "Compression",
        "Filter",
        "Interlace",
        "Gamma",
        "BackgroundColor",
        "WhitePointX",
        "WhitePointY",
        "RedX",
        "RedY",
        "GreenX",
        "GreenY",
        "BlueX",
        "BlueY",
        "SRGBRendering",
        "Transparency",
        "Palette",
        "SignificantBits",
        "AnimationFrames",
        "AnimationPlays",
    },
    "PNG-pHYs": None,
    "GIF": {
        "GIFVersion",
        "ImageWidth",
        "ImageHeight",
        "HasColorMap",
        "ColorResolutionDepth",
        "BitsPerPixel",
        "BackgroundColor",
        "PixelAspectRatio",
        "AnimationIterations",
        "TransparentColor",
        "FrameCount",
        "Duration",
    },
    "PDF": {
        "PDFVersion",
        "Linearized",
        "PageCount",
        "HasXFA",
        "Language",
        "TaggedPDF",
        "PageLayout",
        "PageMode",
        "EmbeddedImage",
        "EmbeddedImageColorSpace",
        "EmbeddedImageFilter",
        "EmbeddedImageHeight",
        "EmbeddedImageWidth",
        "EmbeddedImageBitsPerComponent",
    },
    "RIFF": {
        "WebP_Flags",
        "ImageWidth",
        "ImageHeight",
        "AlphaPreprocessing",
        "AlphaFiltering",
        "AlphaCompression",
        "VP8Version",
        "HorizontalScale",
        "VerticalScale",
        "BackgroundColor",
        "AnimationLoopCount",
        "FrameCount",
        "Duration",
    },
}

PACKAGES = {
    "exiftool": "libimage-exiftool-perl",
    "age": "age",
    "curl": "curl",
    "mat2": "mat2",
    "ffprobe": "ffmpeg",
}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not installed: apt-get install {PACKAGES.get(tool, tool)} "
            "(`make test` and .ci/run install it)"
        )
    return path


def exiftool_tags(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [require("exiftool"), "-j", "-a", "-u", "-G1", "-ee", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)[0]


def disallowed_tags(path: Path) -> dict[str, object]:
    found = {}
    for key, value in exiftool_tags(path).items():
        group, _, name = key.partition(":")
        allowed = ALLOWED_TAGS.get(group, set())  # an unknown group is never allowed
        if allowed is None or name in allowed:
            continue
        found[key] = value
    return found


def age_decrypt(blob: Path, identity_file: Path) -> bytes:
    result = subprocess.run(
        [require("age"), "--decrypt", "--identity", str(identity_file), str(blob)],
        capture_output=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"age could not decrypt {blob.name}: {result.stderr.decode()}")
    return result.stdout


def files_containing(root: Path, needles: list[bytes]) -> list[tuple[Path, bytes]]:
    """Every (file, needle) under root whose bytes contain the needle."""
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hits += [(path, needle) for needle in needles if needle in data]
    return hits
