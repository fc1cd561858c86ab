from __future__ import annotations

from dataclasses import asdict, dataclass, field


class Rejected(Exception):
    """The file cannot be cleaned with certainty. `code` is stable; `detail` is for editors."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class Report:
    """What was removed, by structure name or category. Never a value from the file."""

    kind: str
    output_kind: str
    removed: list[str] = field(default_factory=list)
    # File name extension for the cleaned file when the kind does not say it (docx, odt...).
    extension: str = ""
    notes: list[str] = field(default_factory=list)
    # For the queue's counts (image, video, audio, document, archive): set by scrubbers whose
    # kind does not say it (an MP4 may hold only audio); see scrub.category().
    category: str = ""
    # Audio and video: the length in seconds, as the container states it (for editors).
    duration: float | None = None

    def remove(self, what: str) -> None:
        if what not in self.removed:
            self.removed.append(what)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# What a source is told was removed from their file: a few kinds anyone understands, read off
# the report's structure names (ours, in English). Checked in this order; the first kind whose
# words appear wins, and a structure that names none is "other hidden data".
SOURCE_KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("location", ("gps", "location", "geotag", "©xyz", "latitude", "place")),
    ("device", ("make", "model", "serial", "camera", "lens", "encoder", "handler", "software",
                "device", "vendor", "workstation", "maker")),
    ("people", ("author", "owner", "user", "creator", "editor", "artist", "copyright", "name",
                "account", "person")),
    ("dates", ("date", "time")),
    ("hidden", ("comment", "hidden", "deleted", "annotation", "thumbnail", "preview",
                "embedded", "after the end", "tracked", "revision")),
]  # fmt: skip
SOURCE_KIND_ORDER = [kind for kind, _ in SOURCE_KINDS] + ["other"]


def source_kinds(removed: list[str]) -> list[str]:
    """The kinds of data (SOURCE_KIND_ORDER) a report's removed structures fall under.

    A list such as "EXIF tags: GPSInfo, Make, DateTime" or "container metadata (title,
    location)" counts under each kind it names."""
    found: set[str] = set()
    for entry in removed:
        if "(" in entry and entry.endswith(")"):
            entry = entry[entry.index("(") + 1 : -1]
        elif ":" in entry:
            entry = entry.split(":", 1)[1]
        parts = entry.split(",")
        for part in parts:
            text = part.lower()
            found.add(next((k for k, words in SOURCE_KINDS if any(w in text for w in words)),
                           "other"))  # fmt: skip
    return [kind for kind in SOURCE_KIND_ORDER if kind in found]
