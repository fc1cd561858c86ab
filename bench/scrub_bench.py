"""Scrubbing speed and residue, Tipline's engine beside exiftool and mat2, on the same files.

    .venv/bin/python bench/scrub_bench.py [--corpus ../shared/corpus] [--video-mb 200]

Images: every image in the corpus, cleaned by
  - Tipline in this process (the way a worker runs it: scrub + streamed verification),
  - exiftool with a process per file (`exiftool -all= -o OUT IN`),
  - exiftool in one batch process (`exiftool -all= -o DIR/ FILES...`),
  - mat2 with a process per file (`mat2 --inplace` on a copy), when installed.
Video: one MP4 of about --video-mb MB made by ffmpeg (H.264 as phones record, or
--video-codec mpeg4; with location and make/model tags),
cleaned by Tipline, by a bare `ffmpeg -c copy` remux (the physical floor for a remux), by
exiftool and by mat2. "residue" counts outputs where exiftool still shows a tag outside the
allowlist the tests use. Targets (issue 3): images at least 10x exiftool per file and 2x exiftool
in batch; video within 1.2x of ffmpeg -c copy and faster than exiftool and mat2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from bench.common import Line, report, scratch  # noqa: E402
from submissions import scrub  # noqa: E402
from tests.tools import disallowed_tags  # noqa: E402

# rebuilt from structures, coded pixels untouched
LOSSLESS_KINDS = {"jpeg", "png", "gif", "webp", "heic", "avif"}
CONVERTED_KINDS = {"tiff"}  # decoded and written anew (PNG)
IMAGE_KINDS = LOSSLESS_KINDS | CONVERTED_KINDS
MAX_PIXELS = 200_000_000


def row(name: str, files: int, megabytes: float, seconds: float, residue: str) -> None:
    rate = files / seconds if seconds else float("inf")
    print(
        f"  {name:<34} {files:>5} files {seconds:>8.2f} s {rate:>9.1f} files/s "
        f"{megabytes / seconds:>8.1f} MB/s  residue {residue}"
    )


def residue(outputs: list[Path]) -> str:
    dirty = sum(1 for path in outputs if path.exists() and disallowed_tags(path))
    missing = sum(1 for path in outputs if not path.exists())
    return f"{dirty} with tags, {missing} not written"


def tipline(files: list[Path], out: Path) -> tuple[float, list[Path]]:
    outputs = []
    started = time.perf_counter()
    for path in files:
        target = out / path.name
        with path.open("rb") as source, target.open("wb") as sink:
            kind = scrub.sniff(source.read(scrub.SNIFF_BYTES))
            source.seek(0)
            try:
                scrub.scrub_verified(kind, source, sink, max_pixels=MAX_PIXELS)
            except scrub.Rejected:
                target.unlink()
        outputs.append(target)
    return time.perf_counter() - started, outputs


def per_process(command: list[str], files: list[Path], out: Path,
                inplace: bool = False) -> tuple[float, list[Path]]:  # fmt: skip
    outputs = []
    started = time.perf_counter()
    for path in files:
        target = out / path.name
        if inplace:
            shutil.copy(path, target)
            subprocess.run([*command, str(target)], capture_output=True)
        else:
            subprocess.run([*command, "-o", str(target), str(path)], capture_output=True)
        outputs.append(target)
    return time.perf_counter() - started, outputs


def exiftool_batch(files: list[Path], out: Path) -> tuple[float, list[Path]]:
    started = time.perf_counter()
    subprocess.run(["exiftool", "-q", "-q", "-all=", "-o", f"{out}/", *map(str, files)],
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started, [out / p.name for p in files]


# Video encoders for the test clip and their rate (MB per second of clip) at these settings.
# H.264 is what phones record; MPEG-4 Part 2 (Xvid/DivX) is the old case whose user data is
# searched for in every packet, in Python.
VIDEO_CODECS = {
    "h264": (["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "28M"], 2.3),
    "mpeg4": (["-c:v", "mpeg4", "-b:v", "32M"], 1.6),
}


def make_video(path: Path, megabytes: int, codec: str) -> None:
    options, rate = VIDEO_CODECS[codec]
    seconds = max(2, int(megabytes / rate))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
         *options, "-c:a", "aac", "-movflags", "use_metadata_tags",
         "-metadata", "location=+19.4326-099.1332/", "-metadata", "make=CanaryMake",
         "-metadata", "model=CanaryModel", str(path)],
        check=True,
    )  # fmt: skip


def compare_images(label: str, images: list[Path], tools: dict[str, str | None],
                   work: Path) -> dict[str, float]:  # fmt: skip
    """Seconds each tool took over `images`."""
    size = sum(p.stat().st_size for p in images) / 1e6
    print(f"Images, {label}: {len(images)} corpus files, {size:.1f} MB")
    results: dict[str, float] = {}
    runs = [("tipline (this process)", lambda out: tipline(images, out))]
    if tools["exiftool"]:
        runs += [
            ("exiftool, a process per file",
             lambda out: per_process(["exiftool", "-q", "-q", "-all="], images, out)),
            ("exiftool, one batch process", lambda out: exiftool_batch(images, out)),
        ]  # fmt: skip
    if tools["mat2"]:
        runs += [
            ("mat2, a process per file",
             lambda out: per_process(["mat2", "--inplace"], images, out, inplace=True)),
        ]  # fmt: skip
    # The two that take under a second run five times each, alternating, fastest kept: one
    # run of either is within the machine's noise of the other's.
    fast = {"tipline (this process)", "exiftool, one batch process"}
    for attempt in range(5):
        for index, (name, run) in enumerate(runs):
            if attempt and name not in fast:
                continue
            out = work / label.replace(" ", "-") / f"{index}-{attempt}"
            out.mkdir(parents=True)
            seconds, outputs = run(out)
            if seconds < results.get(name, float("inf")):
                results[name] = seconds
            if not attempt:
                row(name, len(images), size, seconds, residue(outputs))
    for name in fast & results.keys():
        print(f"  {name}: fastest of 5 runs {results[name]:.2f} s")
    ours = results["tipline (this process)"]
    for name, target in (("exiftool, a process per file", 10), ("exiftool, one batch process", 2)):
        if name in results:
            print(f"  speed-up over {name}: {results[name] / ours:.1f}x (target {target}x)")
    return results


def video(megabytes_wanted: int, codec: str, tools: dict[str, str | None],
          work: Path) -> tuple[float, dict[str, float]]:  # fmt: skip
    """The clip's size in MB, and the seconds each tool took (Tipline's and ffmpeg's: their
    runs' medians; the paired ratio is printed as it goes)."""
    if not tools["ffmpeg"]:
        print("Video: ffmpeg is not installed")
        return 0.0, {}
    clip = work / "video.mp4"
    make_video(clip, megabytes_wanted, codec)
    megabytes = clip.stat().st_size / 1e6
    print(f"Video: one {codec} MP4 of {megabytes:.0f} MB")
    # The two closest contenders run in alternation, seven times each: the page cache, the
    # disk and the other core's load drift (a command's own runs vary by a fifth here), and
    # alternating puts both under the same drift. Each row shows its fastest run; the ratio
    # is the median of the seven paired ratios, with the ratio of the fastest runs beside it.
    ours: list[float] = []
    copies: list[float] = []
    outputs: list[Path] = []
    results: dict[str, float] = {}
    for _ in range(7):
        seconds, outputs = tipline([clip], _fresh(work / "tipline-video"))
        ours.append(seconds)
        started = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-map", "0", "-c",
                        "copy", str(work / "copy.mp4")], check=True)  # fmt: skip
        copies.append(time.perf_counter() - started)
    row("tipline (scrub + verification)", 1, megabytes, min(ours), residue(outputs))
    row("ffmpeg -c copy (baseline)", 1, megabytes, min(copies), "n/a")
    if tools["exiftool"]:
        seconds, outputs = per_process(["exiftool", "-q", "-q", "-all="], [clip],
                                       _fresh(work / "exiftool-video"))  # fmt: skip
        row("exiftool -all=", 1, megabytes, seconds, residue(outputs))
        results["exiftool"] = seconds
    if tools["mat2"]:
        seconds, outputs = per_process(["mat2", "--inplace"], [clip], _fresh(work / "mat2-video"),
                                       inplace=True)  # fmt: skip
        row("mat2 --inplace", 1, megabytes, seconds, residue(outputs))
        results["mat2"] = seconds
    paired = statistics.median(a / b for a, b in zip(ours, copies, strict=True))
    print(
        f"  tipline / ffmpeg -c copy: {paired:.2f}x median of paired runs, "
        f"{min(ours) / min(copies):.2f}x fastest to fastest (target <= 1.2x)"
    )
    results.update(tipline=statistics.median(ours), copy=statistics.median(copies))
    return megabytes, results


def image_lines(images: list[Path], results: dict[str, float]) -> list[Line]:
    count = len(images)
    ours = count / results["tipline (this process)"]
    what = f"corpus images ({count} files, {sum(p.stat().st_size for p in images) / 1e6:.0f} MB)"
    lines = []
    targets = {"exiftool, a process per file": 10.0, "exiftool, one batch process": 2.0,
               "mat2, a process per file": None}  # fmt: skip
    for name, target in targets.items():
        if name in results:
            theirs = count / results[name]
            lines.append(Line("3 scrub", what, name.replace(", a process", ", process"), theirs,
                              ours, "files/s", f">= {target:.2f}" if target else "",
                              ours / theirs >= target if target else None))  # fmt: skip
    return lines


def video_lines(megabytes: float, codec: str, results: dict[str, float]) -> list[Line]:
    if not results:
        return []
    ours = megabytes / results["tipline"]
    what = f"{megabytes:.0f} MB {codec} MP4 with location tags"
    # Medians of the seven alternating runs (the rows printed above show the fastest).
    theirs = megabytes / results["copy"]
    lines = [Line("3 scrub", what, "ffmpeg -c copy", theirs, ours, "MB/s",
                  ">= 0.83 (1.2x time)", ours / theirs >= 1 / 1.2)]  # fmt: skip
    for name in ("exiftool", "mat2"):
        if name in results:
            theirs = megabytes / results[name]
            lines.append(Line("3 scrub", what, name, theirs, ours, "MB/s", ">= 1.00",
                              ours >= theirs))  # fmt: skip
    return lines


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--video-mb", type=int, default=200)
    parser.add_argument("--video-codec", choices=sorted(VIDEO_CODECS), default="h264")
    parser.add_argument("--max-images", type=int, default=0,
                        help="only this many corpus images, families together")  # fmt: skip
    args = parser.parse_args()
    tools = {name: shutil.which(name) for name in ("exiftool", "mat2", "ffmpeg")}
    lines: list[Line] = []
    with scratch("tipline-bench-") as work:
        for label, kinds in (("all", IMAGE_KINDS), ("lossless families", LOSSLESS_KINDS),
                             ("converted families", CONVERTED_KINDS)):  # fmt: skip
            images = sorted(p for p in args.corpus.rglob("*") if p.is_file()
                            and scrub.sniff(p.read_bytes()[:32]) in kinds)  # fmt: skip
            if not images:
                raise SystemExit(f"no images in {args.corpus}: the corpus is missing")
            if args.max_images:
                if label != "all":
                    continue
                images = images[: args.max_images]
            results = compare_images(label, images, tools, work)
            if label == "all":
                lines += image_lines(images, results)
        megabytes, results = video(args.video_mb, args.video_codec, tools, work)
        lines += video_lines(megabytes, args.video_codec, results)
    report(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
