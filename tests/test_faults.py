"""Nothing a source sent is lost: faults against real processes (tests/stack.py).

Each test runs the system (its own PostgreSQL and Redis, a gunicorn web process, Celery
workers and beat, the production settings), breaks one thing while sources send, and ends
with every accepted attachment in a terminal state, one blob each and no orphan in storage.
A file marked SLOW-SCRUB takes a few seconds to clean and one marked KILL-THE-WORKER kills its
process (tests/hooked_celery.py): that is how a test catches a worker mid-scrub.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests import fixtures
from tests.hooked_celery import POISON, SLOW
from tests.stack import (
    PASSWORD,
    Stack,
    build_stack,
    elapsed,
    scrubbing_pid,
    tagged_jpeg,
)

requests = pytest.importorskip("requests")  # comes with moto[server] (requirements-dev.txt)


@pytest.fixture
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    options = getattr(request, "param", {})
    built = build_stack(tmp_path_factory.mktemp("faults"), **options)
    try:
        yield built
    finally:
        built.stop_all()
        if built.redis.process and built.redis.process.poll() is None:
            built.redis.stop()
        built.postgres.remove()


def photo(name: str = "IMG_1.jpg") -> tuple[str, bytes]:
    return name, fixtures.jpeg_with_gps()


def test_a_pool_process_killed_mid_scrub(stack):
    """kill -9 of the worker's pool process while it cleans: Celery puts the message back
    (acks_late, reject_on_worker_lost), the new pool process sees the lease's holder is gone
    and takes over at once; the other file of the tip is cleaned as usual."""
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    stack.submit("two files", [("slow.jpg", tagged_jpeg(SLOW)), photo()])
    started = time.monotonic()
    pid = scrubbing_pid(stack)
    import os

    os.kill(pid, signal.SIGKILL)
    stack.wait_settled(60)
    rows = stack.attachments()
    assert [state for _, state, *_ in rows] == ["clean", "clean"], rows
    assert rows[0][3] == 2  # the killed attempt and the one that finished
    assert elapsed(started) < 20 + 6  # sooner than the lease: taken over, not waited out
    stack.assert_whole(2)


def test_the_whole_worker_killed_then_a_new_one(stack):
    """kill -9 of the worker and its pool: its message stays unacknowledged in Redis, so beat
    queues the file again from its row once the lease ends, for the new worker."""
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    stack.submit("one slow file", [("slow.jpg", tagged_jpeg(SLOW))])
    scrubbing_pid(stack)
    stack.kill("worker")
    assert stack.attachments()[0][1] == "scrubbing"
    stack.start_worker("worker2")
    stack.wait_settled(90)
    assert [row[1] for row in stack.attachments()] == ["clean"]
    stack.assert_whole(1)


def test_redis_stopped_while_sources_send(stack):
    """Redis down: sources still get their receipts, at once; the rows wait as `received`;
    once Redis is back (empty: nothing was kept), the operator's `tipline_requeue` (what beat
    does on its own: the other tests) queues them from the rows and they are cleaned."""
    stack.start_web()
    stack.start_worker()
    stack.redis.stop()
    for n in range(3):
        started = time.monotonic()
        stack.submit(f"tip {n} while redis is down", [photo(), photo("IMG_2.jpg")])
        assert elapsed(started) < 5
    assert {row[1] for row in stack.attachments()} == {"received"}
    stack.redis.start()
    time.sleep(3)  # TIPLINE_REQUEUE_AFTER: their deadline passes
    assert "6 attachment(s) queued again." in stack.manage("tipline_requeue")
    stack.wait_settled(90)
    assert {row[1] for row in stack.attachments()} == {"clean"}
    stack.assert_whole(6)


@pytest.mark.parametrize("stack", [{"persist_redis": True}], indirect=True)
def test_redis_killed_and_restarted_with_persistence(stack):
    """Messages queued while no worker runs survive kill -9 of Redis when it persists them
    (appendonly, as deploy's redis.conf does): the worker finds them, with no beat to help."""
    stack.start_web()
    for n in range(3):
        stack.submit(f"tip {n}", [photo()])
    stack.redis.stop(signal.SIGKILL)
    stack.redis.start()
    stack.start_worker()
    stack.wait_settled(60)
    assert {row[1] for row in stack.attachments()} == {"clean"}
    stack.assert_whole(3)


def test_postgresql_restarted_while_a_worker_is_mid_task(stack):
    """The database restarts under a scrub: the flip fails, the new blob is deleted (no row
    points at it), the lease runs out and the file is cleaned again."""
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    stack.submit("slow", [("slow.jpg", tagged_jpeg(SLOW))])
    scrubbing_pid(stack)
    stack.postgres.restart()
    stack.wait_settled(90)
    rows = stack.attachments()
    assert [(row[1], row[3]) for row in rows] == [("clean", 2)], rows  # failed once, then done
    stack.assert_whole(1)


def test_the_same_task_delivered_twice_at_once(stack):
    """Two workers get the same file at the same moment: one claims it, the other skips."""
    stack.start_web()
    stack.start_worker("worker1")
    stack.start_worker("worker2")
    stack.submit("slow", [("slow.jpg", tagged_jpeg(SLOW))])
    ((attachment_id, *_),) = stack.attachments()
    from celery import Celery

    client = Celery(broker=stack.redis.url)
    client.send_task("submissions.scrub_attachment", [attachment_id], queue="scrub")
    client.send_task("submissions.scrub_attachment", [attachment_id], queue="scrub")
    stack.wait_settled(60)
    time.sleep(2)  # let the later deliveries arrive and skip
    rows = stack.attachments()
    assert [(row[1], row[3]) for row in rows] == [("clean", 1)], rows
    stack.assert_whole(1)


def test_a_file_that_kills_its_worker_every_time_ends_failed(stack):
    """A poison file: each attempt kills the pool process; after TIPLINE_SCRUB_MAX_ATTEMPTS
    it ends `failed` with the reason, its upload kept for a retry, and the worker goes on."""
    stack.start_web()
    stack.start_worker()
    stack.submit("poison and a photo", [("poison.jpg", tagged_jpeg(POISON)), photo()])
    stack.wait_settled(90)
    rows = stack.attachments()
    assert [row[1] for row in rows] == ["failed", "clean"], rows
    assert "repeated worker failures" in rows[0][4] and rows[0][2]  # upload kept
    assert stack.log("worker").count("exited with 'signal 9 (SIGKILL)'") >= 2
    stack.assert_whole(2)


def test_storage_unwritable_during_a_submission(stack):
    """Blob storage refuses writes: the source gets "try again later" in their language,
    nothing of the submission remains (no row, no blob, no spool), and once storage is back
    the same form works."""
    stack.start_web()
    stack.start_worker()
    stack.submit("before", [photo()])
    stack.wait_settled(30)
    stored = stack.stored()
    saved = stack.blob_dir.with_name("blobs-away")
    stack.blob_dir.rename(saved)
    stack.blob_dir.write_text("not a directory")  # every write under it fails, even as root
    sent = requests.post(f"{stack.url}/es/", data={"note": "during"},
                         files=[("files", ("a.jpg", fixtures.jpeg_with_gps(), "image/jpeg"))],
                         timeout=60)  # fmt: skip
    assert sent.status_code == 503
    assert "No pudimos guardar tu envío" in sent.text and "receipt-code" not in sent.text
    assert stack.sql("SELECT count(*) FROM submissions_tip")[0][0] == 1
    spool = stack.blob_dir.parent / "spool"
    assert not [p for p in spool.rglob("*") if p.is_file()]
    stack.blob_dir.unlink()
    saved.rename(stack.blob_dir)
    assert stack.stored() == stored
    stack.submit("after", [photo()])
    stack.wait_settled(30)
    stack.assert_whole(2)


def _trickle(port: int, stop: threading.Event, sent: list[int]) -> None:
    """An upload at about 2 KB/s that never ends (until `stop`): a source on a slow circuit."""
    boundary = "tricklebound"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(b"POST /en/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: multipart/form-data; boundary=" + boundary.encode() +
                     b"\r\nContent-Length: 100000000\r\n\r\n" + head)  # fmt: skip
        while not stop.wait(0.25):
            conn.sendall(b"\xff" * 512)
            sent[0] += 512


def test_slow_uploads_do_not_starve_the_server(stack):
    """20 sources trickling uploads at a few KB/s: the form still loads in under a second."""
    stack.start_web()
    stop, sent = threading.Event(), [0]
    trickles = [threading.Thread(target=_trickle, args=(stack.web_port, stop, sent), daemon=True)
                for _ in range(20)]  # fmt: skip
    for thread in trickles:
        thread.start()
    try:
        time.sleep(3)  # all 20 connected and sending
        timings = []
        for _ in range(10):
            started = time.monotonic()
            page = requests.get(f"{stack.url}/es/", timeout=10)
            timings.append(elapsed(started))
            assert page.status_code == 200
        assert sent[0] > 20 * 4 * 512  # they were really sending meanwhile
        assert max(timings) < 1.0, timings
    finally:
        stop.set()
        for thread in trickles:
            thread.join(timeout=10)


def test_retention_purges_what_the_policy_says_and_shreds_the_files(stack, tmp_path):
    """spam after 30 days, dismissed after 90, everything else after 365, never on legal hold:
    exactly the tips past their period go, with their blobs and the blobs' own keys, so a copy
    of a purged blob restored from a backup no longer opens, even with the newsroom key."""
    import shutil

    from submissions import crypto
    from tests.tools import age_decrypt, age_decrypt_file

    stack.env["TIPLINE_RETENTION"] = "spam=30,dismissed=90,*=365"
    stack.start_web()
    stack.start_worker()
    plan = {  # note: (status, days since the last activity, legal hold, purged?)
        "A spam, 40 days": ("spam", 40, False, True),
        "B dismissed, 10 days": ("dismissed", 10, False, False),
        "C new, 400 days, on hold": ("new", 400, True, False),
        "D published, 400 days": ("published", 400, False, True),
        "E in review, 100 days": ("in_review", 100, False, False),
    }
    codes = {note: stack.submit(note, [photo()]) for note in plan}
    stack.wait_settled(60)
    tips = {}
    for note, (status, days, hold, _) in plan.items():
        tip_id = stack.tip_of(codes[note])
        stack.sql("UPDATE submissions_tip SET status = %s, legal_hold = %s, created_at = "
                  "now() - make_interval(days => %s) WHERE id = %s RETURNING id",
                  status, hold, days, tip_id)  # fmt: skip
        ((attachment_id, blob, key),) = stack.sql(
            "SELECT id::text, blob_name, blob_key FROM submissions_attachment WHERE tip_id = %s",
            tip_id)  # fmt: skip
        tips[note] = (tip_id, attachment_id, blob, bytes(key))
    backup = tmp_path / "blobs-backup"
    shutil.copytree(stack.blob_dir, backup)
    # The newsroom key, exported as an editor would: with each file's key from its row, it
    # opens every copy in the backup, purged-to-be or not.
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "phrase").write_text("sixteen or more characters")
    stack.manage("tipline_export_identity", "--by", "editor", "--password-file",
                 str(tmp_path / "pw"), "--passphrase-file", str(tmp_path / "phrase"), "-o",
                 str(tmp_path / "newsroom.key.age"))  # fmt: skip
    newsroom = tmp_path / "newsroom.key"
    newsroom.write_bytes(crypto.open_with_passphrase(
        (tmp_path / "newsroom.key.age").read_bytes(), "sixteen or more characters"))  # fmt: skip
    for _, _, blob, key in tips.values():
        assert age_decrypt_file(backup / blob, key, newsroom).startswith(b"\xff\xd8")

    listed = stack.manage("tipline_retention", "--dry-run")
    due = {note for note, (*_, purged) in plan.items() if purged}
    assert {tips[note][0] for note in due} == set(re.findall(r"tip (\S+)", listed))
    assert "2 tip(s) purged" in stack.manage("tipline_retention")
    left = {tip_id for (tip_id,) in stack.sql("SELECT id::text FROM submissions_tip")}
    assert left == {tips[note][0] for note in plan if note not in due}
    assert stack.stored() == {tips[note][2] for note in plan if note not in due}
    audited = stack.sql("SELECT target FROM newsroom_auditevent WHERE action = 'tip_purged' "
                        "AND detail = 'retention policy'")  # fmt: skip
    assert {target for (target,) in audited} == {f"tip:{tips[note][0]}" for note in due}
    assert "0 tip(s) purged" in stack.manage("tipline_retention")  # nothing more, next time

    # After the purge, the key that opened a purged file's copy is nowhere: not in a row, so
    # the copy in the backup opens with nothing the newsroom holds.
    _, _, kept_blob, kept_key = tips["B dismissed, 10 days"]
    assert age_decrypt_file(backup / kept_blob, kept_key, newsroom).startswith(b"\xff\xd8")
    for note in due:
        _, attachment_id, blob, key = tips[note]
        assert (backup / blob).exists() and not (stack.blob_dir / blob).exists()
        assert stack.sql("SELECT count(*) FROM submissions_attachment WHERE id = %s OR "
                         "blob_key = %s", attachment_id, key) == [(0,)]  # fmt: skip
        with pytest.raises(AssertionError, match="no identity matched"):
            age_decrypt(backup / blob, newsroom)
