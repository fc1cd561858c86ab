"""The whole path with real components: test client → PostgreSQL → Redis → a real Celery
worker process → storage; judged by the age CLI and exiftool."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from submissions import crypto, scrub, selectors, services, storage
from submissions.models import Attachment, Tip
from tests import fixtures
from tests.conftest import raw_attachment, wait_for
from tests.sources import receipt_code, tip_of
from tests.tools import age_decrypt, age_decrypt_file, disallowed_tags

pytestmark = pytest.mark.django_db(transaction=True)

NOTE = "CANARY-NOTE meet behind the market"


def submit(*uploads: tuple[str, bytes]) -> Tip:
    files = [SimpleUploadedFile(name, data) for name, data in uploads]
    response = Client().post(
        "/en/", {"note": NOTE, "links": "https://example.com/CANARY-LINK", "files": files}
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    return tip_of(receipt_code(response.content.decode()))


def settled(tip: Tip) -> bool:
    return all(a.state in Attachment.TERMINAL for a in tip.attachments.all())


def test_tip_scrubbed_and_encrypted_by_real_worker(
    celery_worker_process, blob_dir, newsroom_key_file, tmp_path
):
    tip = submit(("IMG_0001.jpg", fixtures.jpeg_with_gps()), ("shot.png", fixtures.png_with_text()))
    assert wait_for(lambda: settled(tip), timeout=10), celery_worker_process.log_path.read_text()[
        -3000:
    ]

    attachments = list(tip.attachments.order_by("position"))
    assert [(a.state, a.kind, a.reason) for a in attachments] == [
        ("clean", "jpeg", ""),
        ("clean", "png", ""),
    ]
    stored = sorted(p for p in blob_dir.rglob("*") if p.is_file())
    assert sorted(blob_dir / a.blob_name for a in attachments) == stored  # raw blobs are gone

    for attachment, suffix in zip(attachments, ["jpg", "png"], strict=True):
        plain = age_decrypt_file(blob_dir / attachment.blob_name, attachment.blob_key,
                                 newsroom_key_file)  # fmt: skip
        out = tmp_path / f"clean.{suffix}"
        out.write_bytes(plain)
        assert disallowed_tags(out) == {}
        assert attachment.size == len(plain)
        report = selectors.attachment_report(attachment)
        assert report["kind"] == attachment.kind and report["removed"]
    assert fixtures.entropy_data(
        age_decrypt_file(blob_dir / attachments[0].blob_name, attachments[0].blob_key,
                         newsroom_key_file)
    ) == fixtures.entropy_data(fixtures.jpeg_with_gps())  # fmt: skip
    # Each file has a key of its own, found only sealed in its row: the newsroom key alone
    # opens no blob (crypto-shredding: filekeys.py).
    with pytest.raises(AssertionError, match="could not decrypt"):
        age_decrypt(blob_dir / attachments[0].blob_name, newsroom_key_file)
    needles = [NOTE.encode(), b"CANARY-LINK", *fixtures.canaries()]
    for path in stored:
        assert not [n for n in needles if n in path.read_bytes()]
    # A clean blob only opens as the row it belongs to.
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(
            (blob_dir / attachments[0].blob_name).read_bytes(),
            identities=selectors.clean_identities(attachments[0]),
            aad=crypto.binding("attachment", attachments[1].pk, "clean"),
        )


def test_running_the_task_twice_changes_nothing(celery_worker_process, blob_dir):
    from submissions.tasks import scrub_attachment

    tip = submit(("a.png", fixtures.png_with_text()))
    assert wait_for(lambda: settled(tip), timeout=10)
    attachment = tip.attachments.get()
    before = sorted(p for p in blob_dir.rglob("*") if p.is_file())
    scrub_attachment.delay(str(attachment.pk))
    services.attachment_scrub(attachment_id=str(attachment.pk))
    wait_for(lambda: False, timeout=1.5)
    again = Attachment.objects.get(pk=attachment.pk)
    assert (again.state, again.blob_name, again.attempts) == ("clean", attachment.blob_name, 1)
    assert sorted(p for p in blob_dir.rglob("*") if p.is_file()) == before


def test_broken_jpeg_rejected_with_reason_and_raw_destroyed(celery_worker_process, blob_dir):
    tip = submit(("broken.jpg", fixtures.jpeg_with_gps()[:-300]))
    assert wait_for(lambda: settled(tip), timeout=10)
    attachment = tip.attachments.get()
    assert attachment.state == "rejected"
    assert attachment.reason.startswith("truncated:")
    assert attachment.blob_name == ""
    assert not [p for p in blob_dir.rglob("*") if p.is_file()]


def test_stale_lease_is_requeued_and_finished(celery_worker_process, blob_dir):
    from submissions.tasks import requeue_stale

    tip = submit(("a.jpg", fixtures.jpeg_with_gps()))
    assert wait_for(lambda: settled(tip), timeout=10)
    # Pretend a worker died mid-task: a raw upload in `scrubbing` with an expired lease.
    raw = raw_attachment(tip)
    Attachment.objects.filter(pk=raw.pk).update(
        state="scrubbing", lease_until=timezone.now() - timedelta(seconds=1), attempts=1
    )
    requeue_stale.delay()
    assert wait_for(lambda: Attachment.objects.get(pk=raw.pk).state == "clean", timeout=10)
    assert Attachment.objects.get(pk=raw.pk).attempts == 2


def test_only_one_claimant_wins_on_postgresql(blob_dir):
    assert connection.vendor == "postgresql"
    tip = Tip.objects.create(receipt_hash="x" * 64, sealed_content=b"")
    attachment = Attachment.objects.create(
        tip=tip, position=1, size=1, blob_name="n", sealed_meta=b""
    )
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def claim() -> None:
        barrier.wait()
        wins.append(services._claim(str(attachment.pk)) is not None)
        connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1


def test_a_worker_that_lost_its_lease_does_not_flip(blob_dir):
    tip = Tip.objects.create(receipt_hash="y" * 64, sealed_content=b"")
    attachment = raw_attachment(tip, position=1)
    claimed = services._claim(str(attachment.pk))
    assert claimed is not None
    # Another worker takes over after the lease expired.
    Attachment.objects.filter(pk=attachment.pk).update(attempts=claimed.attempts + 1)
    services._end(claimed, Attachment.State.REJECTED, "x", destroy_raw=True)
    after = Attachment.objects.get(pk=attachment.pk)
    assert after.state == "scrubbing" and after.blob_name == attachment.blob_name
    assert (blob_dir / attachment.blob_name).exists()


def test_blob_names_are_random(blob_dir):
    names = {storage.new_name() for _ in range(1000)}
    assert len(names) == 1000
    assert all(Path(name).name.isalnum() for name in names)


def test_unforeseen_parser_error_fails_terminally_and_keeps_the_upload(blob_dir, monkeypatch):
    tip = Tip.objects.create(receipt_hash="z" * 64, sealed_content=b"")
    attachment = raw_attachment(tip, position=1)

    def crash(*args, **kwargs):
        raise IndexError("parser bug")

    monkeypatch.setattr("submissions.scrub.scrub", crash)
    services.attachment_scrub(attachment_id=str(attachment.pk))
    failed = Attachment.objects.get(pk=attachment.pk)
    assert failed.state == "failed"
    assert "IndexError" in failed.reason and "kept" in failed.reason
    assert (blob_dir / failed.blob_name).exists()

    monkeypatch.undo()
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    assert services.attachments_retry_failed() == 1
    services.attachment_scrub(attachment_id=str(attachment.pk))
    assert Attachment.objects.get(pk=attachment.pk).state == "clean"


def test_parser_oserror_is_not_mistaken_for_a_storage_failure(blob_dir, monkeypatch):
    """Damaged input makes parsers raise OSError: terminal (kept), not retried for ever."""
    tip = Tip.objects.create(receipt_hash="y" * 64, sealed_content=b"")
    attachment = raw_attachment(tip, position=1)

    def damaged(*args, **kwargs):
        raise OSError("broken data stream when reading image file")

    monkeypatch.setattr("submissions.scrub.scrub", damaged)
    services.attachment_scrub(attachment_id=str(attachment.pk))
    failed = Attachment.objects.get(pk=attachment.pk)
    assert failed.state == "failed" and "OSError" in failed.reason
    assert (blob_dir / failed.blob_name).exists()


def test_storage_failure_mid_scrub_is_transient_and_keeps_the_upload(blob_dir, monkeypatch):
    """Storage failing while a parser streams must never destroy the upload, even when the
    parser turns the error into a refusal of its own."""
    tip = Tip.objects.create(receipt_hash="x" * 64, sealed_content=b"")
    attachment = raw_attachment(tip, position=1)

    class FullDisk:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def write(self, data):
            raise OSError(28, "No space left on device")

    real_seal = crypto.seal_stream
    monkeypatch.setattr(crypto, "seal_stream", lambda *a, **kw: FullDisk(real_seal(*a, **kw)))

    def parser_that_swallows_errors(kind, src, dst, *, max_pixels):
        with contextlib.suppress(OSError):
            dst.write(src.read())
        raise scrub.Rejected("truncated", "the parser saw the stream end")

    monkeypatch.setattr("submissions.scrub.scrub", parser_that_swallows_errors)
    with pytest.raises(services.StorageFailed):
        services.attachment_scrub(attachment_id=str(attachment.pk))
    kept = Attachment.objects.get(pk=attachment.pk)
    assert kept.state == "received" and (blob_dir / kept.blob_name).exists()

    monkeypatch.undo()  # the disk has room again: the retry cleans it
    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    services.attachment_scrub(attachment_id=str(attachment.pk))
    assert Attachment.objects.get(pk=attachment.pk).state == "clean"


def test_reconcile_lists_what_does_not_add_up_then_repairs_it(
    blob_dir, settings, django_capture_on_commit_callbacks
):
    """Orphaned blob, stale spool, a row whose blob is gone, a rejected file whose upload was
    kept, a scrub with no lease: listed (exit 1, nothing changed), then repaired with --force;
    young blobs and spools are left alone (an upload in flight may still commit)."""
    import os

    tip = Tip.objects.create(receipt_hash="w" * 64, sealed_content=b"")
    kept = raw_attachment(tip, position=1)
    spool = storage.Spool()
    spool.write(b"age-encryption.org/v1\n orphan")
    orphan = storage.save_spool(spool)
    stale = settings.SPOOL_DIR / "tmpleft.age"
    stale.write_bytes(b"age-encryption.org/v1\n left by a killed process")
    os.utime(stale, (time.time() - 3 * 3600, time.time() - 3 * 3600))
    live = storage.Spool()  # an upload still going on, its first file long arrived
    live.write(b"age-encryption.org/v1\n still wanted")
    live.flush()
    os.utime(live.temporary_file_path(), (time.time() - 3 * 3600, time.time() - 3 * 3600))
    lost = raw_attachment(tip, position=2)
    storage.delete(lost.blob_name)
    Attachment.objects.filter(pk=lost.pk).update(state="clean")
    rejected = raw_attachment(tip, position=3)
    Attachment.objects.filter(pk=rejected.pk).update(state="rejected", reason="x")
    unleased = raw_attachment(tip, position=4)
    Attachment.objects.filter(pk=unleased.pk).update(state="scrubbing", lease_until=None)

    young = io.StringIO()
    with pytest.raises(CommandError):
        call_command("tipline_reconcile", stdout=young)  # default: 2 hours
    assert orphan not in young.getvalue() and "tmpleft" in young.getvalue()  # spool: 3 h old
    listed = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("tipline_reconcile", "--min-age-hours", "0", stdout=listed)
    assert failed.value.returncode == 1
    out = listed.getvalue()
    assert f"orphan blob {orphan}" in out and "stale spool tmpleft.age" in out
    assert f"missing blob: attachment {lost.pk}" in out
    assert f"attachment {rejected.pk}: rejected, but its upload was kept" in out
    assert f"attachment {unleased.pk}: being cleaned, with no lease" in out
    assert "5 problem(s) found" in out and (blob_dir / orphan).exists()  # nothing changed
    assert Path(live.temporary_file_path()).name not in out

    repaired = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("tipline_reconcile", "--min-age-hours", "0", "--force", stdout=repaired)
    assert "5 problem(s) repaired" in repaired.getvalue()
    assert not (blob_dir / orphan).exists() and not stale.exists()
    assert Path(live.temporary_file_path()).exists()  # held: never swept
    live.close()
    assert (blob_dir / kept.blob_name).exists()
    lost.refresh_from_db()
    assert lost.state == "failed" and "missing" in lost.reason and not lost.blob_name
    rejected_blob = rejected.blob_name
    rejected.refresh_from_db()
    assert not rejected.blob_name and not (blob_dir / rejected_blob).exists()
    assert Attachment.objects.get(pk=unleased.pk).state == "received"
    again = io.StringIO()
    call_command("tipline_reconcile", "--min-age-hours", "0", stdout=again)
    assert "0 problem(s)" in again.getvalue()


def test_verify_reads_every_blob_and_reports_damage(blob_dir, newsroom_identity, monkeypatch,
                                                    tmp_path):  # fmt: skip
    """Each chunk's tag is checked on the way: a flipped bit, a cut file, a missing one."""
    from tests.staff import PASSWORD, make_staff

    monkeypatch.setattr("submissions.services._enqueue_scrub", lambda pk: None)
    tip = submit(*[(f"IMG_{n}.jpg", fixtures.jpeg_with_gps()) for n in range(4)])
    for attachment in tip.attachments.all()[:3]:
        services.attachment_scrub(attachment_id=str(attachment.pk))
    flipped, cut, gone, raw = tip.attachments.order_by("position")
    assert raw.state == "received"  # an upload: checked with the intake key
    data = bytearray((blob_dir / flipped.blob_name).read_bytes())
    data[-40] ^= 1
    (blob_dir / flipped.blob_name).write_bytes(bytes(data))
    (blob_dir / cut.blob_name).write_bytes((blob_dir / cut.blob_name).read_bytes()[:-100])
    (blob_dir / gone.blob_name).unlink()
    make_staff("editor", newsroom_identity)
    (tmp_path / "pw").write_text(PASSWORD)
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("tipline_verify", "--by", "editor", "--password-file", str(tmp_path / "pw"),
                     stdout=out)  # fmt: skip
    assert failed.value.returncode == 1
    report = out.getvalue()
    assert f"damaged: attachment {flipped.pk}: does not decrypt" in report
    assert f"damaged: attachment {cut.pk}: does not decrypt" in report
    assert f"damaged: attachment {gone.pk}: missing from storage" in report
    assert "1 file(s) intact, 3 damaged." in report


def test_phone_video_through_the_real_worker(celery_worker_process, blob_dir, newsroom_key_file,
                                             tmp_path):  # fmt: skip
    from tests.tools import ffprobe_problems

    tip = submit(("IMG_0042.MOV", fixtures.mov_with_location("mov")),
                 ("doc.pdf", fixtures.pdf_with_history()))  # fmt: skip
    assert wait_for(lambda: settled(tip), timeout=20), celery_worker_process.log_path.read_text()[
        -3000:
    ]
    video, document = tip.attachments.order_by("position")
    assert (video.state, video.kind, document.state, document.kind) == (
        "clean",
        "isobmff",
        "clean",
        "pdf",
    )
    out = tmp_path / "video.mp4"
    out.write_bytes(age_decrypt_file(blob_dir / video.blob_name, video.blob_key,
                                     newsroom_key_file))  # fmt: skip
    assert ffprobe_problems(out) == []
    assert fixtures.LOCATION.encode() not in out.read_bytes()
