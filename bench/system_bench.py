"""The whole system under load, as processes on this machine: ingest, latency, load, scaling.

    .venv/bin/python bench/system_bench.py [--only ingest,latency,load,scaling]
        [--ingest-mib 1024] [--photos 120] [--load-seconds 20] [--backlog 160]

One stack for every section (tests/stack.py): its own PostgreSQL cluster and Redis server,
gunicorn in the production serving configuration (tipline.gunicorn_conf: 2 gthread workers of
32 threads, the production settings module), Celery workers started as the image starts them,
blobs on this machine's disk. Production defaults throughout, but two limits meant for a live
deployment: the submissions-per-minute cap and the backlog cap are raised, so that the load
reaches the code instead of the throttle.

2. Ingest: one --ingest-mib multipart upload (the form's `files` field, an MP4 head and random
   bytes) streamed to Tipline, beside the same request to the two apps of bench/discard_wsgi.py
   under the same gunicorn configuration: one reads the raw body and throws it away, one has
   Django's multipart parser hand the file to an upload handler that throws it away. In
   rotation, --ingest-runs times, medians (the disk's writeback of one run's gigabyte lands on
   the next runs' clocks: a single run says little). Also the web workers' memory (VmRSS)
   growth during the upload, sampled every 20 ms. Targets (issue 11): at least 60 % of the
   discard handler's throughput; under 100 MiB.
4. Latency: --photos posts of a 5 MB phone photo (EXIF, GPS, thumbnail, XMP) by 8 submitters
   at once, each waiting for its photo to be clean before sending the next (8 in flight), one
   worker container's worth of scrubbing (`--concurrency 2`, as docker-compose runs it); from
   the start of each POST until its file is `clean` (watched in the database every 20 ms).
   Baseline: the POSTs' own response times. Target: p99 under 2 s.
5. Load: 8 submitters posting a note and a 1 MB photo as fast as the server answers, for
   --load-seconds, while one client GETs the form every 50 ms; no scrubbing meanwhile (the web
   tier's own capacity; the backlog drains at section 7's rate). Baselines: the same POSTs to
   the discard handler, and the form's GET on an idle server. Target: GET p99 under 300 ms.
7. Scaling: a backlog of --backlog 1 MB phone photos, drained by 1, 2 and 4 worker processes
   (separate Celery workers, as separate machines would run them, one pool process each):
   files per second from the first file clean to the last. Baseline: the same photo scrubbed,
   verified and encrypted in this process, back to back, times the cores the workers can use.
   Target: two processes drain at least 1.6 times what one does (two cores, shared with the
   database and the broker); four no slower than two.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

import django

django.setup()

import requests  # noqa: E402

from bench.common import MB, MIB, Line, children, percentile, report, rss_bytes  # noqa: E402
from bench.media import mp4_head, phone_photo  # noqa: E402
from tests.conftest import ROOT, free_port, wait_for  # noqa: E402
from tests.stack import Stack, build_stack  # noqa: E402

SHORT_CLOCKS = (
    "TIPLINE_TASK_TIME_LIMIT",
    "TIPLINE_LEASE_GRACE",
    "TIPLINE_REQUEUE_AFTER",
    "TIPLINE_REQUEUE_EVERY",
    "TIPLINE_SCRUB_MAX_ATTEMPTS",
    "TIPLINE_HOOK_DIR",
)


# -- the stack -------------------------------------------------------------------------------


def stack_for_bench(root: Path) -> Stack:
    stack = build_stack(root, TIPLINE_SUBMISSIONS_PER_MINUTE="1000000",
                        TIPLINE_MAX_BACKLOG="1000000")  # fmt: skip
    for name in SHORT_CLOCKS:  # the fault tests' short clocks: back to production's
        stack.env.pop(name, None)
    return stack


def serve(stack: Stack, name: str, app: str) -> int:
    """gunicorn with the production configuration, serving `app`; returns its port."""
    port = free_port()
    stack._start(name, ["-m", "gunicorn", app, "--config", "python:tipline.gunicorn_conf",
                        "--bind", f"127.0.0.1:{port}"])  # fmt: skip

    def up() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code < 500
        except requests.RequestException:
            return False

    assert wait_for(up, 60, 0.3), stack.log(name)
    return port


def start_workers(stack: Stack, name: str, concurrency: int, queues: str = "scrub,celery") -> None:
    log = stack.root / f"{name}.log"
    stack._start(name, ["-m", "celery", "-A", "tipline", "worker", "--queues", queues,
                        "--loglevel", "INFO", "--concurrency", str(concurrency), "-n",
                        f"{name}@%h", "--without-gossip", "--without-mingle"])  # fmt: skip
    assert wait_for(lambda: b"ready." in log.read_bytes(), 60, 0.2), stack.log(name)


def stop(stack: Stack, *names: str) -> None:
    import signal

    from tests.conftest import stop_process

    for name in names:
        process = stack.processes.pop(name)
        if not stop_process(process, signal.SIGTERM):
            os.killpg(process.pid, signal.SIGKILL)


def execute(stack: Stack, statement: str) -> None:
    import psycopg

    with psycopg.connect(stack.postgres.url.replace("postgres://", "postgresql://")) as db:
        db.execute(statement)  # type: ignore[arg-type]


def fresh_start(stack: Stack) -> None:
    """No files, blobs or queued tasks left from the sections before."""
    import redis

    execute(stack, "DELETE FROM submissions_attachment")
    redis.Redis(port=stack.redis.port).flushdb()
    shutil.rmtree(stack.blob_dir, ignore_errors=True)


def receipt(text: str) -> str:
    match = re.search(r'id="receipt-code">([^<]+)<', text)
    assert match, text[-2000:]
    return match.group(1)


def post_photo(url: str, photo: bytes, note: str = "") -> requests.Response:
    return requests.post(f"{url}/en/", data={"note": note or "bench"}, timeout=120,
                         files=[("files", ("IMG_0001.jpg", photo, "image/jpeg"))])  # fmt: skip


# -- 2. ingest -------------------------------------------------------------------------------


class RssWatch:
    """The largest VmRSS of each of a gunicorn arbiter's workers, sampled every 20 ms."""

    def __init__(self, arbiter: int) -> None:
        self.workers = children(arbiter)
        self.before = {pid: rss_bytes(pid) for pid in self.workers}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.workers:
                self.peak[pid] = max(self.peak[pid], rss_bytes(pid))

    def growth(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak[pid] - self.before[pid] for pid in self.workers)


def stream_upload(port: int, mib: int) -> tuple[float, int, str]:
    """POST a `mib` MiB file in a multipart form, streamed in 1 MiB writes; returns seconds,
    the status and the body."""
    boundary = secrets.token_hex(16)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
            f"a big leak\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
            f"filename=\"VID_0001.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode()  # fmt: skip
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = os.urandom(MIB)
    first = mp4_head() + block[len(mp4_head()) :]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.putrequest("POST", "/en/")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + mib * MIB + len(tail)))
    connection.endheaders()
    connection.send(head)
    connection.send(first)
    for _ in range(mib - 1):
        connection.send(block)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds, response.status, body


def ingest(stack: Stack, mib: int, runs: int) -> list[Line]:
    apps = {"raw": "bench.discard_wsgi:application",
            "django": "bench.discard_wsgi:django_application"}  # fmt: skip
    ports = {name: serve(stack, f"discard-{name}", app) for name, app in apps.items()}
    ports["tipline"] = stack.web_port
    for port in ports.values():
        stream_upload(port, 1)  # warm: the first request imports what the rest use
    seconds: dict[str, list[float]] = {name: [] for name in ports}
    growth: list[int] = []
    for _ in range(runs):
        for name, port in ports.items():
            watch = RssWatch(stack.processes["web"].pid) if name == "tipline" else None
            took, status, body = stream_upload(port, mib)
            assert status == 200, body[-2000:]
            seconds[name].append(took)
            if watch is None:  # the raw body holds the form around the file
                assert int(body.split()[1]) >= mib * MIB if name == "raw" else (
                    body == f"discarded {mib * MIB}"), body  # fmt: skip
                continue
            growth.append(watch.growth())
            tip = stack.tip_of(receipt(body))
            ((stored,),) = stack.sql("SELECT sum(size) FROM submissions_attachment WHERE "
                                     "tip_id = %s", tip)  # fmt: skip
            assert stored == mib * MIB, stored
            fresh_start(stack)  # the disk is not the point: keep it free
    stop(stack, *(f"discard-{name}" for name in apps))
    rate = {name: mib * MIB / MB / statistics.median(times) for name, times in seconds.items()}
    for name, times in seconds.items():
        print(f"  {name:>8}: " + ", ".join(f"{mib * MIB / MB / t:.0f}" for t in times) + " MB/s")
    what = f"{mib} MiB multipart upload, gunicorn (production config)"
    return [
        Line("2 ingest", what, "discard, raw body", rate["raw"], rate["tipline"], "MB/s",
             ">= 0.60", rate["tipline"] / rate["raw"] >= 0.60),
        Line("2 ingest", what, "discard, Django's parser", rate["django"], rate["tipline"],
             "MB/s", ">= 0.60", rate["tipline"] / rate["django"] >= 0.60),
        Line("2 ingest", "web worker memory growth during that upload", "limit", 100,
             max(growth) / MIB, "MiB", "< 100 MiB", max(growth) < 100 * MIB),
    ]  # fmt: skip


# -- 4. latency ------------------------------------------------------------------------------


class CleanWatch:
    """When each upload became clean, by the size it was uploaded with (each post's photo has
    a size of its own; no tip can be told from a receipt code without the KDF, whose cost here
    would load the machine being measured). The database keeps the upload's size until the
    file is clean, then the clean file's: each row is first seen, by its id, with the former.
    Looked at every 10 ms."""

    def __init__(self, stack: Stack) -> None:
        import psycopg

        self.at: dict[int, float] = {}
        self.failed: set[int] = set()
        self.unseen = 0  # clean before it was ever seen with its upload's size
        self._uploaded: dict[str, int] = {}
        self._db = psycopg.connect(stack.postgres.url.replace("postgres://", "postgresql://"),
                                   autocommit=True)  # fmt: skip
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        done: set[str] = set()
        while not self._stop.wait(0.01):
            rows = self._db.execute("SELECT id::text, size, state FROM submissions_attachment"
                                    ).fetchall()  # fmt: skip
            now = time.perf_counter()
            for row_id, size, state in rows:
                if row_id in done:
                    continue
                if state in ("received", "scrubbing"):
                    self._uploaded.setdefault(row_id, size)
                    continue
                done.add(row_id)
                uploaded = self._uploaded.get(row_id)
                if uploaded is None:
                    self.unseen += 1
                elif state == "clean":
                    self.at[uploaded] = now
                else:
                    self.failed.add(uploaded)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._db.close()


def submitters(count: int, jobs: list[Callable[[], None]]) -> None:
    with ThreadPoolExecutor(count) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def latency(stack: Stack, photos: int) -> list[Line]:
    """8 sources at once, each sending a photo and waiting until it is clean before the next:
    8 submissions in flight, the POST to `clean` of each one timed."""
    photo = phone_photo(5)
    fresh_start(stack)
    start_workers(stack, "worker", concurrency=2)
    post_photo(stack.url, photo)  # warm: the first scrub imports the engines
    stack.wait_settled(300)
    watch = CleanWatch(stack)
    sizes = iter(range(len(photo) + 1, len(photo) + 1 + photos))
    lock = threading.Lock()
    posts: list[float] = []
    ends: list[float] = []

    def submit() -> None:
        with lock:
            size = next(sizes)
        padded = photo + b"\0" * (size - len(photo))  # after the image's end: dropped by scrub
        started = time.perf_counter()
        response = post_photo(stack.url, padded)
        assert response.status_code == 200, response.text[-2000:]
        posts.append(time.perf_counter() - started)
        assert wait_for(lambda: size in watch.at or size in watch.failed, 120, 0.01), (
            f"not seen clean ({watch.unseen} rows were clean before they were first seen)",
            stack.logs())  # fmt: skip
        assert size not in watch.failed, stack.logs()
        ends.append(watch.at[size] - started)

    submitters(8, [submit] * photos)
    watch.close()
    stop(stack, "worker")
    return [
        Line("4 latency", f"5 MB photo, POST to clean, 8 in flight, {photos} posts: p50",
             "POST alone", percentile(posts, 50), percentile(ends, 50), "s", "", None),
        Line("4 latency", "the same, p99", "POST alone", percentile(posts, 99),
             percentile(ends, 99), "s", "p99 < 2 s", percentile(ends, 99) < 2.0),
    ]  # fmt: skip


# -- 5. load ---------------------------------------------------------------------------------


def form_gets(url: str, stop: threading.Event, interval: float = 0.05) -> list[float]:
    times = []
    with requests.Session() as session:
        while not stop.is_set():
            started = time.perf_counter()
            response = session.get(f"{url}/en/", timeout=30)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            stop.wait(interval)
    return times


def hammer(url: str, photo: bytes, seconds: float, check: Callable[[requests.Response], None],
           clients: int = 8) -> tuple[float, list[float]]:  # fmt: skip
    """`clients` submitters posting note + photo back to back for `seconds`; returns the
    submissions per second and the GET times of the form meanwhile."""
    deadline = time.perf_counter() + seconds
    done = [0] * clients
    stop = threading.Event()

    def client(index: int) -> None:
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                upload = [("files", ("IMG.jpg", photo, "image/jpeg"))]
                response = session.post(f"{url}/en/", data={"note": "a note " * 40},
                                        files=upload, timeout=120)  # fmt: skip
                check(response)
                done[index] += 1

    with ThreadPoolExecutor(clients + 1) as pool:
        gets = pool.submit(form_gets, url, stop)
        started = time.perf_counter()
        futures = [pool.submit(client, index) for index in range(clients)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
        stop.set()
        get_times = gets.result()
    return sum(done) / elapsed, get_times


def load(stack: Stack, seconds: float) -> list[Line]:
    photo = phone_photo(1)
    discard = serve(stack, "discard", "bench.discard_wsgi:application")

    def ours_ok(response: requests.Response) -> None:
        assert response.status_code == 200 and 'id="receipt-code"' in response.text, (
            response.status_code, response.text[-1500:])  # fmt: skip

    def discard_ok(response: requests.Response) -> None:
        assert response.status_code == 200, response.text

    idle_stop = threading.Event()
    timer = threading.Timer(seconds / 2, idle_stop.set)
    timer.start()
    idle = form_gets(stack.url, idle_stop)
    base_rate, _ = hammer(f"http://127.0.0.1:{discard}", photo, seconds / 2, discard_ok)
    stop(stack, "discard")
    before = stack.sql("SELECT count(*) FROM submissions_tip")[0][0]
    rate, busy = hammer(stack.url, photo, seconds, ours_ok)
    after = stack.sql("SELECT count(*) FROM submissions_tip")[0][0]
    assert after - before >= rate * seconds * 0.9, (before, after, rate)
    return [
        Line("5 load", "submissions/s (note + 1 MB photo), 8 clients", "discard handler",
             base_rate, rate, "/s", "", None),
        Line("5 load", f"GET form p99 under that load ({len(busy)} GETs)", "GET p99, idle",
             percentile(idle, 99) * 1000, percentile(busy, 99) * 1000, "ms", "p99 < 300 ms",
             percentile(busy, 99) < 0.300),
    ]  # fmt: skip


# -- 7. scaling ------------------------------------------------------------------------------


def in_process_rate(photo: bytes, runs: int = 20) -> float:
    """Photos per second that one process handles back to back as a worker does (decrypt the
    upload, scrub and verify, encrypt the result, make the preview), with no queue, database
    or storage round trip: the engine's own speed."""
    import io

    from django.conf import settings

    from submissions import crypto, previews, scrub
    from submissions.services import Tee

    identity = crypto.Identity.generate()
    raw = crypto.seal_bytes(photo, recipients=[identity.recipient], aad="raw")
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        plain = crypto.open_seekable(io.BytesIO(raw), identities=[identity], aad="raw")
        sealed = crypto.seal_stream(io.BytesIO(), recipients=[identity.recipient], aad="clean")
        cleaned = previews.Buffer(previews.BUFFER_LIMIT)
        report = scrub.scrub_verified("jpeg", plain, Tee(sealed, cleaned),  # type: ignore[arg-type]
                                      max_pixels=settings.MAX_IMAGE_PIXELS)  # fmt: skip
        sealed.close()
        assert previews.make(scrub.category(report), report.output_kind, cleaned)
        seconds.append(time.perf_counter() - started)
    return 1 / statistics.median(seconds)


def seed_backlog(stack: Stack, photo: bytes, files: int) -> None:
    per_tip = 10
    jobs = []
    for start in range(0, files, per_tip):
        count = min(per_tip, files - start)

        def send(count: int = count) -> None:
            upload = [("files", (f"IMG_{n}.jpg", photo, "image/jpeg")) for n in range(count)]
            response = requests.post(f"{stack.url}/en/", data={"note": "backlog"}, files=upload,
                                     timeout=300)  # fmt: skip
            assert response.status_code == 200, response.text[-2000:]

        jobs.append(send)
    submitters(4, jobs)


def drain(stack: Stack, processes: int, files: int, photo: bytes) -> float:
    fresh_start(stack)
    seed_backlog(stack, photo, files)
    times: list[float] = []
    # Booted first, listening to the other queue, then all told at once to take the scrub
    # queue: a worker's boot (a second or two) is not drain time.
    names = [f"drain{processes}-{n}" for n in range(processes)]
    for name in names:
        start_workers(stack, name, concurrency=1, queues="celery")
    # In the background: the database is watched from before the workers are told.
    told = subprocess.Popen([sys.executable, "manage.py", "shell", "-c",
                             "from tipline.celery import app; "
                             "app.control.add_consumer('scrub', reply=True)"],
                            cwd=ROOT, env=stack.env)  # fmt: skip

    def clean_count() -> bool:
        ((clean, bad),) = stack.sql("SELECT count(*) FILTER (WHERE state = 'clean'), count(*) "
                                    "FILTER (WHERE state IN ('failed', 'rejected')) "
                                    "FROM submissions_attachment")  # fmt: skip
        assert not bad, stack.logs()
        now = time.perf_counter()
        if clean and not times:
            times.append(now)
        if clean == files:
            times.append(now)
            return True
        return False

    assert wait_for(clean_count, 900, 0.02), stack.logs()
    assert told.wait(60) == 0
    stop(stack, *names)
    print(
        f"  {processes} worker process(es): {files} files, first clean to last "
        f"{times[-1] - times[0]:.2f} s",
        flush=True,
    )
    return (files - 1) / max(times[-1] - times[0], 0.02)


def scaling(stack: Stack, files: int) -> list[Line]:
    photo = phone_photo(1)
    one = in_process_rate(photo)
    cores = os.cpu_count() or 1
    rates = {n: drain(stack, n, files, photo) for n in (1, 2, 4)}
    lines = [
        Line("7 scaling", f"backlog of {files} 1 MB photos, {n} worker process{'es' * (n > 1)}",
             f"in-process x {min(n, cores)} core{'s' * (min(n, cores) > 1)}", one * min(n, cores),
             rate, "files/s", "", None)
        for n, rate in rates.items()
    ]  # fmt: skip
    lines.append(Line("7 scaling", "drain rate, 2 processes over 1", "1 process", rates[1],
                      rates[2], "files/s", ">= 1.60", rates[2] / rates[1] >= 1.6))  # fmt: skip
    lines.append(Line("7 scaling", "drain rate, 4 processes over 2", "2 processes", rates[2],
                      rates[4], "files/s", ">= 0.95", rates[4] / rates[2] >= 0.95))  # fmt: skip
    return lines


# -- main ------------------------------------------------------------------------------------

SECTIONS = ("ingest", "latency", "load", "scaling")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--ingest-mib", type=int, default=1024)
    parser.add_argument("--ingest-runs", type=int, default=5)
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--load-seconds", type=float, default=20)
    parser.add_argument("--backlog", type=int, default=160)
    args = parser.parse_args()
    wanted = args.only.split(",")
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    root = Path(tempfile.mkdtemp(prefix="tipline-system-bench-"))
    stack = stack_for_bench(root)
    lines: list[Line] = []
    try:
        stack.start_web()
        if "ingest" in wanted:
            lines += ingest(stack, args.ingest_mib, args.ingest_runs)
        if "latency" in wanted:
            lines += latency(stack, args.photos)
        if "load" in wanted:
            lines += load(stack, args.load_seconds)
        if "scaling" in wanted:
            lines += scaling(stack, args.backlog)
    finally:
        stack.stop_all()
        stack.postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    report(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
