"""Independent tools the tests judge with: exiftool, the age CLI. Missing tools fail loudly."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
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
        # the BITMAPINFOHEADER of an AVI video stream
        "BMPVersion",
        "Planes",
        "BitDepth",
        "Compression",
        "ImageLength",
        "PixelsPerMeterX",
        "PixelsPerMeterY",
        "NumColors",
        "NumImportantColors",
        "RedMask",
        "GreenMask",
        "BlueMask",
        "AlphaMask",
        "ColorSpace",
    },
    "JFIF": {"JFIFVersion", "ResolutionUnit", "XResolution", "YResolution"},
    "Adobe": {"DCTEncodeVersion", "APP14Flags0", "APP14Flags1", "ColorTransform"},
    "IFD0": {"Orientation"},
    "Composite": {"ImageSize", "Megapixels", "Duration", "Rotation"},
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
    # Audio and video containers, as FFmpeg writes them: structure and codec parameters only.
    "QuickTime": {
        "MajorBrand",
        "MinorVersion",
        "CompatibleBrands",
        "MovieHeaderVersion",
        "CreateDate",
        "ModifyDate",
        "TimeScale",
        "Duration",
        "PreferredRate",
        "PreferredVolume",
        "MatrixStructure",
        "PreviewTime",
        "PreviewDuration",
        "PosterTime",
        "SelectionTime",
        "SelectionDuration",
        "CurrentTime",
        "NextTrackID",
        "Unknown_mvex",
        "HandlerType",
        "HandlerVendorID",
        "MovieFragmentSequence",
        "Unknown_tfhd",
        "Unknown_tfdt",
        "Unknown_trun",
        "MediaDataSize",
        "MediaDataOffset",
        "MediaData",
        "Unknown_mfra",
        # HEIF stills (HEIC/AVIF): item properties and decoder configurations
        "ImageSpatialExtent",
        "ImagePixelDepth",
        "Rotation",
        "ImageMirror",
        "CleanAperture",
        "ColorProfiles",
        "ColorPrimaries",
        "TransferCharacteristics",
        "MatrixCoefficients",
        "VideoFullRangeFlag",
        "HEVCConfigurationVersion",
        "GeneralProfileSpace",
        "GeneralTierFlag",
        "GeneralProfileIDC",
        "GenProfileCompatibilityFlags",
        "ConstraintIndicatorFlags",
        "GeneralLevelIDC",
        "MinSpatialSegmentationIDC",
        "ParallelismType",
        "ChromaFormat",
        "BitDepthLuma",
        "BitDepthChroma",
        "AverageFrameRate",
        "ConstantFrameRate",
        "NumTemporalLayers",
        "TemporalIDNested",
        "AV1ConfigurationVersion",
        "SeqProfile",
        "SeqLevelIdx0",
        "SeqTier0",
        "HighBitDepth",
        "TwelveBit",
        "ChromaSamplePosition",
        "InitialDelaySamples",
    },
    "Meta": {"PrimaryItemReference"},
    "Track": {
        # Matroska track elements (codec setup, colour, display): structure
        "CodecPrivate",
        "DisplayUnit",
        "Matroska_0x15b0",
        "VideoScanType",
        "VideoCodecID",
        "DefaultDuration",
        "TrackTimecodeScale",
        "CodecDelay",
        "SeekPreRoll",
        "TrackHeaderVersion",
        "TrackCreateDate",
        "TrackModifyDate",
        "TrackID",
        "TrackDuration",
        "TrackLayer",
        "TrackVolume",
        "MatrixStructure",
        "MediaHeaderVersion",
        "MediaCreateDate",
        "MediaModifyDate",
        "MediaTimeScale",
        "MediaDuration",
        "MediaLanguageCode",
        "HandlerType",
        "HandlerDescription",
        "Balance",
        "AudioFormat",
        "AudioChannels",
        "AudioBitsPerSample",
        "AudioSampleRate",
        "Unknown_esds",
        "Unknown_btrt",
        "TimeToSampleTable",
        "SampleToChunk",
        "SampleSizes",
        "ChunkOffset",
        "TrackNumber",
        "TrackUID",
        "TrackLacing",
        "TrackLanguage",
        "TrackDefault",
        "CodecID",
        "TrackType",
        "ImageWidth",
        "ImageHeight",
        "GraphicsMode",
        "OpColor",
        "CompressorID",
        "SourceImageWidth",
        "SourceImageHeight",
        "XResolution",
        "YResolution",
        "BitDepth",
        "AVCConfiguration",
        "HEVCConfiguration",
        "ColorProfiles",
        "ColorPrimaries",
        "TransferCharacteristics",
        "MatrixCoefficients",
        "PixelAspectRatio",
        "BufferSize",
        "MaxBitrate",
        "AverageBitrate",
        "VideoFrameRate",
        "Unknown_dOps",
        "Unknown_av1C",
        "Unknown_vpcC",
        "CleanApertureDimensions",
        "ProductionApertureDimensions",
        "EncodedPixelsDimensions",
        "SyncSampleTable",
        "CompositionTimeToSample",
        "SampleDescriptions",
    },
    "Matroska": {
        "EBMLVersion",
        "EBMLReadVersion",
        "EBMLMaxIDLength",
        "EBMLMaxSizeLength",
        "DocType",
        "DocTypeVersion",
        "DocTypeReadVersion",
        "SeekID",
        "SeekPosition",
        "TimecodeScale",
        "MuxingApp",
        "WritingApp",
        "CRC-32",
        "Duration",
        "VideoCodecID",
        "AudioCodecID",
        "ImageWidth",
        "ImageHeight",
        "AudioSampleRate",
        "AudioChannels",
        "AudioBitsPerSample",
        "CodecPrivate",
        "DefaultDuration",
        "VideoScanType",
    },
    "FLAC": {
        "BlockSizeMin",
        "BlockSizeMax",
        "FrameSizeMin",
        "FrameSizeMax",
        "SampleRate",
        "Channels",
        "BitsPerSample",
        "TotalSamples",
        "MD5Signature",
        "Padding",
    },
    "MPEG": {
        "MPEGAudioVersion",
        "AudioLayer",
        "AudioBitrate",
        "SampleRate",
        "ChannelMode",
        "MSStereo",
        "IntensityStereo",
        "CopyrightFlag",
        "OriginalMedia",
        "Emphasis",
        "ModeExtension",
    },
    "Vorbis": {
        "Vendor",
        "VorbisVersion",
        "AudioChannels",
        "SampleRate",
        "NominalBitrate",
        "MinimumBitrate",
        "MaximumBitrate",
    },
    "ZIP": {
        "ZipRequiredVersion",
        "ZipBitFlag",
        "ZipCompression",
        "ZipModifyDate",
        "ZipCRC",
        "ZipCompressedSize",
        "ZipUncompressedSize",
        "ZipFileName",
    },
    "Opus": {"OpusVersion", "AudioChannels", "SampleRate", "OutputGain"},
    "ASF": {
        "FileID",
        "FileLength",
        "CreationDate",
        "DataPackets",
        "Duration",
        "SendDuration",
        "Preroll",
        "Flags",
        "MinPacketSize",
        "MaxPacketSize",
        "MaxBitrate",
        "ImageWidth",
        "ImageHeight",
        "StreamType",
        "ErrorCorrectionType",
        "TimeOffset",
        "StreamNumber",
        "AudioCodecID",
        "AudioChannels",
        "AudioSampleRate",
        "VideoCodecName",
        "VideoCodecDescription",
        "AudioCodecName",
        "AudioCodecDescription",
        "VideoCodecID",
    },
    "RIFF": {
        "Encoding",
        "NumChannels",
        "AvgBytesPerSec",
        "BitsPerSample",
        "FrameRate",
        "MaxDataRate",
        "FrameCount",
        "StreamCount",
        "StreamType",
        "VideoCodec",
        "VideoFrameRate",
        "VideoFrameCount",
        "Quality",
        "SampleSize",
        "AudioCodec",
        "AudioSampleRate",
        "AudioSampleCount",
        "SampleRate",
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
        group = re.sub(r"^Track\d+$", "Track", group)
        allowed = ALLOWED_TAGS.get(group, set())  # an unknown group is never allowed
        if allowed is None or name in allowed:
            continue
        found[key] = value
    return found


SAFE_MEDIA_TAGS = {"major_brand", "minor_version", "compatible_brands", "language", "DURATION"}
SAFE_MEDIA_VALUES = {("handler_name", "VideoHandler"), ("handler_name", "SoundHandler"),
                     ("vendor_id", "[0][0][0][0]"), ("vendor_id", "FFMP"), ("encoder", "Lavf"),
                     ("ENCODER", "Lavf")}  # fmt: skip


def ffprobe_problems(path: Path) -> list[str]:
    """What ffprobe sees that a cleaned audio/video file must not have: streams other than
    audio and video, chapters, and tags beyond container structure."""
    out = subprocess.run(
        [require("ffprobe"), "-v", "error", "-show_format", "-show_streams", "-show_chapters",
         "-of", "json", str(path)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    probe = json.loads(out)
    problems = []
    streams = probe.get("streams", [])
    if not streams:
        problems.append("no streams")
    for stream in streams:
        if stream.get("codec_type") not in ("audio", "video"):
            problems.append(f"{stream.get('codec_type')} stream")
        if stream.get("disposition", {}).get("attached_pic"):
            problems.append("cover art")
        problems += [f"stream tag {k}" for k, v in (stream.get("tags") or {}).items()
                     if k not in SAFE_MEDIA_TAGS and (k, v) not in SAFE_MEDIA_VALUES]  # fmt: skip
    problems += [f"format tag {k}" for k, v in (probe.get("format", {}).get("tags") or {}).items()
                 if k not in SAFE_MEDIA_TAGS and (k, v) not in SAFE_MEDIA_VALUES]  # fmt: skip
    problems += ["chapter"] * len(probe.get("chapters", []))
    return problems


def age_decrypt(blob: Path, identity_file: Path) -> bytes:
    result = subprocess.run(
        [require("age"), "--decrypt", "--identity", str(identity_file), str(blob)],
        capture_output=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"age could not decrypt {blob.name}: {result.stderr.decode()}")
    return result.stdout


def age_decrypt_file(blob: Path, sealed_key: bytes, identity_file: Path) -> bytes:
    """A stored file, opened with the age CLI alone: first its own key (sealed to the key in
    `identity_file`: submissions/filekeys.py), then the file with that key."""
    with tempfile.TemporaryDirectory() as tmp:
        sealed = Path(tmp, "file-key.age")
        sealed.write_bytes(bytes(sealed_key))
        key = Path(tmp, "file.key")
        key.write_bytes(age_decrypt(sealed, identity_file))
        return age_decrypt(blob, key)


def files_containing(root: Path, needles: list[bytes]) -> list[tuple[Path, bytes]]:
    """Every (file, needle) under root whose bytes contain the needle."""
    hits = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hits += [(path, needle) for needle in needles if needle in data]
    return hits


def scrub_bytes(data: bytes, max_pixels: int = 10**8, **options: object) -> tuple[bytes, object]:
    """Scrub as the worker does: type sniffed from the bytes, a buffered (non-seekable-looking)
    reader, the output re-read by the verifier. Returns the cleaned bytes and the report."""
    import io

    from submissions import scrub

    out = io.BytesIO()
    report = scrub.scrub_verified(
        scrub.sniff(data[: scrub.SNIFF_BYTES]),
        io.BufferedReader(io.BytesIO(data)),  # type: ignore[arg-type]
        out,
        max_pixels=max_pixels,
        **options,  # type: ignore[arg-type]
    )
    return out.getvalue(), report


def run_on_tty(argv: list[str], answers: list[tuple[bytes, str]], timeout: float = 60) -> bytes:
    """Run `argv` on a fresh pseudo-terminal, typing each answer once its prompt (a substring
    of the output) appears; returns the terminal transcript, or fails with it."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as for a person at a shell
        try:
            os.execv(argv[0], argv)  # noqa: S606 -- a fixed age command on files made here
        finally:
            os._exit(127)
    transcript, answered, pending = bytearray(), 0, list(answers)
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([fd], [], [], left)[0]:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child exited and closed the terminal
                break
            if not data:
                break
            transcript += data
            if pending and pending[0][0] in transcript[answered:]:
                answered = len(transcript)
                os.write(fd, pending.pop(0)[1].encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if status != 0 or pending:
        raise AssertionError(f"{argv} exited {status}: {bytes(transcript)!r}")
    return bytes(transcript)


def database_bytes() -> bytes:
    """Every value of every row of our tables and auth tables, as bytes."""
    from django.db import connection

    out = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
            for row in cursor.fetchall():
                for value in row:
                    out += (
                        bytes(value)
                        if isinstance(value, bytes | memoryview)
                        else str(value).encode()
                    )
    return bytes(out)
