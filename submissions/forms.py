"""Source-facing forms and every message a source can see about their submission."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import scrub
from .scrub.links import clean_link
from .uploads import Refusal

MAX_LINK_CHARS = 2000


def accepted_types() -> str:
    return ", ".join(scrub.describe(kind) for kind in scrub.SUPPORTED)


def limits_text() -> str:
    return _(
        "Up to %(files)s files, %(per_file)s each, %(total)s in total. Accepted: %(types)s."
    ) % {
        "files": settings.MAX_FILES,
        "per_file": filesizeformat(settings.MAX_FILE_BYTES),
        "total": filesizeformat(settings.MAX_SUBMISSION_BYTES),
        "types": accepted_types(),
    }


def refusal_message(refusal: Refusal) -> str:
    file_label = _("File %(number)s (%(name)s)") % {
        "number": refusal.position,
        "name": refusal.filename or _("no name"),
    }
    messages = {
        "too_many_files": _(
            "You can send at most %(max)s files at once. Send the rest in another tip."
        )
        % {"max": settings.MAX_FILES},
        "file_too_large": _(
            "%(file)s is larger than %(max)s. Send a smaller or shorter version, "
            "or split it into parts."
        )
        % {"file": file_label, "max": filesizeformat(settings.MAX_FILE_BYTES)},
        "submission_too_large": _(
            "All files together are larger than %(max)s. Send some of them in another tip."
        )
        % {"max": filesizeformat(settings.MAX_SUBMISSION_BYTES)},
        "unsupported_type": _(
            "%(file)s is a type we cannot clean of identifying data (%(kind)s). "
            "We accept: %(types)s. Take a screenshot or convert it, then send it again."
        )
        % {
            "file": file_label,
            "types": accepted_types(),
            # Formats' names are the same in every language; "unrecognised" is not.
            "kind": _("unrecognised")
            if refusal.kind == "unknown"
            else scrub.describe(refusal.kind),
        },
        "empty_file": _("%(file)s is empty. Choose the file again.") % {"file": file_label},
    }
    return messages.get(refusal.code, _("The submission could not be read. Please try again."))


def busy_server_message() -> str:
    return _(
        "Too many files are waiting to be cleaned right now, so nothing was sent or kept. "
        "Please try again in a few minutes."
    )


def request_error_message(code: str) -> str:
    messages = {
        "too_big": _(
            "The note is too long (at most %(max)s characters). Shorten it or send the rest "
            "as a text file."
        )
        % {"max": settings.MAX_NOTE_CHARS},
        "too_many_files": refusal_message(Refusal("too_many_files")),
        "malformed": _("The submission could not be read. Please reload the page and try again."),
    }
    return messages[code]


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class TipForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("What do you want to tell us?"),
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    links = forms.CharField(
        label=gettext_lazy("Links (one per line)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    files = MultipleFileField(
        label=gettext_lazy("Photos, videos, audio, documents"),
        required=False,
        widget=MultipleFileInput(attrs={"aria-describedby": "limits"}),
    )
    # A honeypot: hidden from people (and from screen readers) by the stylesheet, filled by
    # bots that fill every field. Filled, the form is refused and the field shown with its
    # error, so a person whose browser filled it can empty it: nothing is dropped silently.
    website = forms.CharField(
        label=gettext_lazy("Leave this field empty"), required=False, strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Limits are settings, read per form so tests and deployments can change them.
        self.fields["note"].widget.attrs["maxlength"] = str(settings.MAX_NOTE_CHARS)

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"]
        if len(note) > settings.MAX_NOTE_CHARS:
            raise ValidationError(request_error_message("too_big"))
        return note

    def clean_website(self) -> str:
        if self.cleaned_data["website"]:
            raise ValidationError(
                _("This field must stay empty: delete what is in it, then send again.")
            )
        return ""

    def clean_links(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["links"].splitlines()]
        links = [line for line in lines if line]
        if len(links) > settings.MAX_LINKS:
            raise ValidationError(
                _("At most %(max)s links, please. Put the rest in the note.")
                % {"max": settings.MAX_LINKS}
            )
        validate = URLValidator(schemes=["http", "https"])
        cleaned = []
        for link in links:
            candidate = link if "://" in link else f"https://{link}"
            try:
                if len(candidate) > MAX_LINK_CHARS or "\\" in candidate:
                    # A backslash: browsers read it as "/", Python's parser does not, so the
                    # domain editors are shown could differ from where the link goes.
                    raise ValidationError("too long or ambiguous")
                validate(candidate)
            except ValidationError:
                raise ValidationError(
                    _(
                        "“%(link)s” is not a web address. Put one address per line, "
                        "or write it in the note instead."
                    )
                    % {"link": link[:100]}
                ) from None
            cleaned.append(clean_link(candidate)[0])
        return cleaned

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not (data.get("note") or data.get("links") or data.get("files")):
            raise ValidationError(
                _("The form is empty. Write a note, add a link or choose at least one file.")
            )
        return data


# ------------------------------------------------------------- a source coming back


class CodeForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Your receipt code"), required=False, strip=True,
                           widget=forms.TextInput(attrs={
                               "autocomplete": "off", "autocapitalize": "none",
                               "spellcheck": "false", "autocorrect": "off",
                           }))  # fmt: skip


def wrong_code_message() -> str:
    return _(
        "This code does not open a tip. Check each word and the order of the words, then try "
        "again. Codes are not case-sensitive and cannot be recovered if lost."
    )


def busy_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return _(
        "Too many people are checking codes right now. Wait %(minutes)s minute(s) and try again."
    ) % {"minutes": minutes}


def busy_sending_message(seconds: int) -> str:
    minutes = max(1, (seconds + 59) // 60)
    return _(
        "Many people are sending right now, so nothing was sent or kept. Wait %(minutes)s "
        "minute(s) and try again."
    ) % {"minutes": minutes}


def too_often_message(seconds: int, *, what: str) -> str:
    minutes = max(1, (seconds + 59) // 60)
    if what == "sign-in":
        text = _("This code was used to sign in many times in the last hour.")
    else:
        text = _("Many messages were sent for this tip in the last hour.")
    return text + " " + _("Wait %(minutes)s minute(s) and try again.") % {"minutes": minutes}


def session_ended_message() -> str:
    return _(
        "You were signed out (after a while without activity, or from another page). "
        "Enter your code again to continue."
    )


def status_text(status: str) -> tuple[str, str]:
    """A tip's neutral status (sources.NEUTRAL_STATUS) and what it means."""
    texts = {
        "received": (_("Received"), _("It has arrived; the newsroom has not reviewed it yet.")),
        "in_review": (_("Being reviewed"), _("Someone in the newsroom is working on it.")),
        "closed": (_("Closed"), _("The newsroom has finished with it. You can still write.")),
    }
    return texts[status]


def file_text(file: Any) -> str:
    """One of the source's files (sources.FileView), as the source is told about it."""
    names = {"image": _("photo"), "video": _("video"), "audio": _("audio"),
             "document": _("document"), "archive": _("archive")}  # fmt: skip
    label = _("File %(number)s (%(kind)s)") % {
        "number": file.position, "kind": names.get(file.category, _("file")),
    }  # fmt: skip
    if file.state == "cleaning":
        return _("%(file)s: being cleaned of identifying data.") % {"file": label}
    if file.state == "stuck":
        return _(
            "%(file)s: could not be cleaned automatically yet. It is kept, unopened, for the "
            "newsroom to try again."
        ) % {"file": label}
    if file.state == "refused":
        reasons = {
            "encrypted": _("it is protected with a password. Send it without the protection."),
            "too_large": _("it is too large to clean. Send a smaller or shorter version."),
            "too_many_pixels": _("it is too large to clean. Send a smaller version."),
        }
        reason = reasons.get(file.refusal, _(
            "we could not clean it with certainty. Send it in another format, or a screenshot."
        ))  # fmt: skip
        return _("%(file)s was not kept: %(reason)s") % {"file": label, "reason": reason}
    kinds = {
        "location": _("location (GPS)"),
        "device": _("camera or device details"),
        "people": _("names of people or accounts"),
        "dates": _("dates and times"),
        "hidden": _("hidden text, comments or thumbnails"),
        "other": _("other hidden data"),
    }
    if file.removed is None:  # cleaned before its report was sealed for the source
        return _("%(file)s: cleaned.") % {"file": label}
    if not file.removed:
        return _("%(file)s: cleaned; it carried no identifying data we know of.") % {"file": label}
    removed = ", ".join(str(kinds[kind]) for kind in file.removed)
    return _("%(file)s: cleaned. Removed: %(removed)s.") % {"file": label, "removed": removed}
