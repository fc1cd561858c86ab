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
