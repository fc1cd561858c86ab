"""Is what the rows say true of storage? `reconcile` compares them; `verify` reads every blob.

reconcile finds blobs no row points to (left by a crash between storing and committing),
rows whose blob is missing (storage lost it, or a restore was partial), states that can't be
(a rejected file whose upload was not destroyed, a scrub holding no lease) and spooled
ciphertext left by a killed process. It lists them; with `force`, it repairs: orphans and old
spools deleted, missing files marked `failed` with the reason, impossible states put right.

verify decrypts every blob, chunk by chunk in constant memory, which checks each chunk's
authentication tag: an upload with the intake key (where workers run), a cleaned file with
the newsroom key an editor unlocks. Damage is reported, never repaired: a human decides.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import crypto, filekeys, keys, storage
from .models import Attachment

logger = logging.getLogger(__name__)
# A blob is only an orphan once no upload or scrub in flight could still commit a row for it.
ORPHAN_HOURS = 2


@dataclass
class Findings:
    orphans: list[str] = field(default_factory=list)  # blob names
    spools: list[str] = field(default_factory=list)  # spool file names
    missing: list[tuple[str, str]] = field(default_factory=list)  # (attachment id, blob)
    impossible: list[tuple[str, str]] = field(default_factory=list)  # (attachment id, what)
    repaired: bool = False

    def lines(self) -> Iterator[str]:
        yield from (f"orphan blob {name}" for name in self.orphans)
        yield from (f"stale spool {name}" for name in self.spools)
        yield from (f"missing blob: attachment {pk}" for pk, _ in self.missing)
        yield from (f"impossible state: attachment {pk}: {what}" for pk, what in self.impossible)

    @property
    def count(self) -> int:
        return len(self.orphans) + len(self.spools) + len(self.missing) + len(self.impossible)


def reconcile(*, min_age: timedelta, force: bool = False) -> Findings:
    """Compare rows and storage; with `force`, repair. Blobs and spools younger than `min_age`
    are left alone: an upload or a scrub in flight may still commit a row for them."""
    findings = Findings(repaired=force)
    store = storage.blobs()
    cutoff = timezone.now() - min_age
    rows = dict(Attachment.objects.exclude(blob_name="").values_list("blob_name", "pk"))
    present = set()
    for name in storage.walk():
        present.add(name)
        if name not in rows and store.get_modified_time(name) < cutoff:
            findings.orphans.append(name)
    old = [path for path in settings.SPOOL_DIR.glob("*.age") if _older(path, cutoff.timestamp())]
    findings.spools = [path.name for path in old if not storage.spool_in_use(path)]
    findings.missing = [(str(pk), name) for name, pk in rows.items() if name not in present]
    rejected_with_blob = Attachment.objects.filter(state=Attachment.State.REJECTED).exclude(
        blob_name=""
    )
    unleased = Attachment.objects.filter(state=Attachment.State.SCRUBBING, lease_until=None)
    findings.impossible = [
        *((str(pk), "rejected, but its upload was kept") for pk in
          rejected_with_blob.values_list("pk", flat=True)),
        *((str(pk), "being cleaned, with no lease") for pk in
          unleased.values_list("pk", flat=True)),
    ]  # fmt: skip
    if force:
        _repair(findings)
    return findings


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:  # closed and deleted meanwhile
        return False


def sweep(*, min_age: timedelta) -> Findings:
    """What beat does hourly: delete old orphaned blobs and spools (always safe: nothing
    points to them), and only report the rest, which needs a human (reconcile --force)."""
    findings = reconcile(min_age=min_age)
    _delete_orphans(findings)
    logger.info("blob.sweep orphans=%d spools=%d", len(findings.orphans), len(findings.spools))
    if findings.missing or findings.impossible:
        logger.warning("reconcile.needed missing=%d impossible=%d", len(findings.missing),
                       len(findings.impossible))  # fmt: skip
    return findings


def _delete_orphans(findings: Findings) -> None:
    """Delete the orphans found, each only if no row points at it now (one may have committed
    since the rows were read), and the stale spools no live process holds (storage.Spool
    keeps a lock on its file while an upload or a scrub writes it)."""
    for name in findings.orphans:
        if not Attachment.objects.filter(blob_name=name).exists():
            storage.delete(name)
    for name in findings.spools:
        storage.delete_spool_unless_held(settings.SPOOL_DIR / name)


def _repair(findings: Findings) -> None:
    _delete_orphans(findings)
    store = storage.blobs()
    with transaction.atomic():
        for pk, name in findings.missing:
            # Only if the row still points at that blob and it is still absent: a scrub that
            # flipped the row meanwhile (its old blob deleted on commit) is not a loss.
            if not Attachment.objects.select_for_update().filter(pk=pk, blob_name=name).exists():
                continue
            if store.exists(name):
                continue
            Attachment.objects.filter(pk=pk, blob_name=name).update(
                state=Attachment.State.FAILED, blob_name="", blob_key=None, lease_until=None,
                lease_owner="", reason="its stored file is missing (found by reconcile)",
            )  # fmt: skip
        for pk, _ in findings.impossible:
            attachment = Attachment.objects.select_for_update().get(pk=pk)
            if attachment.state == Attachment.State.REJECTED and attachment.blob_name:
                name = attachment.blob_name
                Attachment.objects.filter(pk=pk).update(blob_name="", blob_key=None)
                transaction.on_commit(lambda name=name: storage.delete(name))
            elif attachment.state == Attachment.State.SCRUBBING and attachment.lease_until is None:
                Attachment.objects.filter(pk=pk).update(state=Attachment.State.RECEIVED)


@dataclass
class Verified:
    ok: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (attachment id, why)
    skipped: int = 0  # uploads, where no intake key is configured


def verify(*, newsroom: list[crypto.Identity], intake: list[crypto.Identity]) -> Verified:
    """Decrypt every blob to nowhere, authenticating each chunk, and check its size."""
    result = Verified()
    for attachment in Attachment.objects.exclude(blob_name="").iterator():
        clean = attachment.state == Attachment.State.CLEAN
        if not clean and not intake:
            result.skipped += 1
            continue
        purpose = "clean" if clean else "raw"
        try:
            opener = filekeys.identities(attachment.blob_key, opener=newsroom if clean else intake,
                                         attachment_id=attachment.pk, purpose=purpose)  # fmt: skip
            size = 0
            for chunk in crypto.iter_plaintext(
                storage.open_blob(attachment.blob_name), identities=opener,
                aad=crypto.binding("attachment", attachment.pk, purpose),
            ):  # fmt: skip
                size += len(chunk)
        except FileNotFoundError:
            result.damaged.append((str(attachment.pk), "missing from storage"))
            continue
        except OSError as exc:  # S3's "no such key" and other read failures
            result.damaged.append((str(attachment.pk), f"unreadable: {type(exc).__name__}"))
            continue
        except crypto.DecryptionError as exc:
            result.damaged.append((str(attachment.pk), f"does not decrypt: {exc}"))
            continue
        if size != attachment.size:
            result.damaged.append((str(attachment.pk), f"{size} bytes, the row says "
                                                       f"{attachment.size}"))  # fmt: skip
            continue
        result.ok += 1
    return result


def intake_identities_if_any() -> list[crypto.Identity]:
    """The intake key where this process holds it (workers), else none."""
    try:
        return keys.intake_identities()
    except Exception:  # noqa: BLE001 - web and manage containers hold no intake key
        return []
