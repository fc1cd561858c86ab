"""Encryption at rest: Tipline's age streams beside OpenSSL's cipher and the age CLI.

    .venv/bin/python bench/crypto_bench.py [--memory-mib 256] [--file-mib 1024] [--runs 3]

1. In memory, the cipher's own speed: `openssl speed -evp chacha20-poly1305 -bytes 65536`
   (encrypt, and with -decrypt) beside Tipline's streaming Encryptor writing to a sink that
   discards, and its Decryptor reading into a reused buffer, over --memory-mib of random bytes
   in 1 MiB writes and reads, as the upload handler and the download view do. age chunks are
   64 KiB, so OpenSSL at 64 KiB is the cipher with nothing around it. Target (issue 11):
   at least 80 % of OpenSSL.
2. On disk, one --file-mib file of random bytes: `age -r` and `age -d` beside Tipline's
   file-to-file encryption and decryption of the same file, each writing its output to the same
   directory (in /dev/shm where there is one). The CLI decrypts Tipline's own file (ours carry
   a binding stanza the CLI ignores, so Tipline cannot open the CLI's).
   Target: faster than or as fast as the CLI.

Each measurement runs --runs times, alternating with its baseline so both share the machine's
drift; the fastest run of each is shown.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import MB, MIB, Line, report, scratch
from submissions import crypto

BINDING = "bench:1:content"


class Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def openssl_speed(decrypt: bool, seconds: int = 2) -> float:
    """Bytes per second of OpenSSL's ChaCha20-Poly1305 on 64 KiB blocks, one core."""
    argv = ["openssl", "speed", "-evp", "chacha20-poly1305", "-bytes", "65536",
            "-seconds", str(seconds), *(["-decrypt"] if decrypt else [])]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^chacha20-poly1305\s+([\d.]+)k\s*$", out, re.IGNORECASE | re.MULTILINE)
    if not match:
        raise SystemExit(f"unexpected openssl speed output:\n{out}")
    return float(match.group(1)) * 1000


def encrypt_in_memory(data: memoryview, recipient: crypto.Recipient) -> float:
    started = time.perf_counter()
    encryptor = crypto.seal_stream(Discard(), recipients=[recipient], aad=BINDING)  # type: ignore[arg-type]
    for start in range(0, len(data), MIB):
        encryptor.write(data[start : start + MIB])
    encryptor.close()
    return len(data) / (time.perf_counter() - started)


def decrypt_in_memory(sealed: bytes, identity: crypto.Identity, size: int) -> float:
    import io

    buffer = memoryview(bytearray(MIB))
    started = time.perf_counter()
    reader = crypto.age.Decryptor(io.BytesIO(sealed), [identity], BINDING)
    total = 0
    while got := reader.readinto(buffer):
        total += got
    seconds = time.perf_counter() - started
    assert total == size
    return size / seconds


def encrypt_file(source: Path, target: Path, recipient: crypto.Recipient) -> None:
    buffer = memoryview(bytearray(MIB))
    with source.open("rb", buffering=0) as plain, target.open("wb") as out:
        encryptor = crypto.seal_stream(out, recipients=[recipient], aad=BINDING)
        while got := plain.readinto(buffer):  # type: ignore[attr-defined]
            encryptor.write(buffer[:got])
        encryptor.close()


def decrypt_file(source: Path, target: Path, identity: crypto.Identity) -> None:
    buffer = memoryview(bytearray(MIB))
    with source.open("rb", buffering=0) as sealed, target.open("wb") as out:
        reader = crypto.age.Decryptor(sealed, [identity], BINDING)  # type: ignore[arg-type]
        while got := reader.readinto(buffer):
            out.write(buffer[:got])


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-mib", type=int, default=256)
    parser.add_argument("--file-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    age = shutil.which("age")
    identity = crypto.Identity.generate()
    lines: list[Line] = []

    data = memoryview(os.urandom(args.memory_mib * MIB))
    sealed = crypto.seal_bytes(bytes(data), recipients=[identity.recipient], aad=BINDING)
    best: dict[str, float] = {}
    for _ in range(args.runs):
        for name, measure in (
            ("openssl encrypt", lambda: openssl_speed(decrypt=False)),
            ("tipline encrypt", lambda: encrypt_in_memory(data, identity.recipient)),
            ("openssl decrypt", lambda: openssl_speed(decrypt=True)),
            ("tipline decrypt", lambda: decrypt_in_memory(sealed, identity, len(data))),
        ):
            best[name] = max(best.get(name, 0.0), measure())
    for way in ("encrypt", "decrypt"):
        ours, theirs = best[f"tipline {way}"] / MB, best[f"openssl {way}"] / MB
        lines.append(Line("1 encryption", f"age stream {way}, in memory, 1 MiB writes",
                          "openssl speed 64 KiB", theirs, ours, "MB/s", ">= 0.80",
                          ours / theirs >= 0.80))  # fmt: skip

    if not age:
        print("the age CLI is not installed (scripts/system-deps): its lines are left out")
        report(lines)
        return 0
    with scratch("tipline-crypto-bench-") as work:
        plain = work / "plain"
        with plain.open("wb") as out:
            for _ in range(args.file_mib):
                out.write(os.urandom(MIB))
        keyfile = work / "key.txt"
        crypto.write_identity_file(keyfile, identity)
        recipient = str(identity.recipient)
        ours_sealed, cli_sealed = work / "ours.age", work / "cli.age"
        cli_open, ours_open = work / "cli.plain", work / "ours.plain"
        times: dict[str, float] = {}
        for _ in range(args.runs):
            for name, run in (
                ("age -r", lambda: subprocess.run([age, "-r", recipient, "-o", str(cli_sealed),
                                                   str(plain)], check=True)),
                ("tipline encrypt", lambda: encrypt_file(plain, ours_sealed, identity.recipient)),
                ("age -d", lambda: subprocess.run([age, "-d", "-i", str(keyfile), "-o",
                                                   str(cli_open), str(ours_sealed)], check=True)),
                ("tipline decrypt", lambda: decrypt_file(ours_sealed, ours_open, identity)),
            ):  # fmt: skip
                seconds = timed(run)
                times[name] = min(times.get(name, float("inf")), seconds)
        size = plain.stat().st_size
        assert ours_open.stat().st_size == size and cli_open.stat().st_size == size
        assert (
            subprocess.run(["cmp", "-s", str(plain), str(ours_open)], check=False).returncode == 0
        )
        assert subprocess.run(["cmp", "-s", str(plain), str(cli_open)], check=False).returncode == 0
        for way, cli in (("encrypt", "age -r"), ("decrypt", "age -d")):
            ours, theirs = size / times[f"tipline {way}"] / MB, size / times[cli] / MB
            lines.append(Line("1 encryption", f"{args.file_mib} MiB file {way}, file to file",
                              f"{cli} (CLI)", theirs, ours, "MB/s", ">= 1.00",
                              ours / theirs >= 1.0))  # fmt: skip
    report(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
