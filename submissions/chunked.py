"""Resumable uploads, for sources whose browser runs JavaScript (static/tipline/upload.js).

A large file over Tor may take an hour; a dropped connection must not start it over. The
browser asks for an upload (its declared size), gets an id and a token, and sends the file in
CHUNK-sized pieces, each of which may be sent again; after a failure it asks which piece comes
next. Each piece is encrypted on arrival (ChaCha20-Poly1305, bound to the upload and its
index) under a random key that is kept only sealed under the token, which only the browser
holds: the server alone cannot read a partial upload. When the form is sent, the pieces are
read back in order through the same handler as a plain upload (limits, type sniffing, a key of
its own sealed to the intake key). Pieces are deleted once the submission holding them is
stored; until then a refused or failed post gives their references back with the form, so
nothing already uploaded is lost. Unfinished uploads expire after hours idle (sweep_expired).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from django.conf import settings

CHUNK = 1024 * 1024
# An upload idle this long (no piece arrived) is deleted: a source whose connection is down
# for hours starts that file again, rather than pieces filling the disk for a day.
EXPIRE_SECONDS = 6 * 3600
_ID = re.compile(r"[0-9a-f]{32}")


class Invalid(Exception):
    """No such upload, a wrong token, or a piece that does not fit."""


def _root() -> Path:
    return settings.SPOOL_DIR / "resumable"


def _dir(upload_id: str) -> Path:
    if not _ID.fullmatch(upload_id):
        raise Invalid("no such upload")
    return _root() / upload_id


def _token_key(token: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"tipline/v1/upload/" + token.encode(),
                    hashlib.sha256).digest()  # fmt: skip


def start(size: int) -> tuple[str, str]:
    """A new upload of `size` bytes: its id and the token the browser keeps."""
    upload_id, token, key = secrets.token_hex(16), secrets.token_urlsafe(32), os.urandom(32)
    where = _root() / upload_id
    where.mkdir(parents=True)
    sealed = ChaCha20Poly1305(_token_key(token)).encrypt(bytes(12), key, upload_id.encode())
    (where / "key").write_bytes(sealed)
    (where / "size").write_text(json.dumps(size))
    return upload_id, token


def _open(upload_id: str, token: str) -> tuple[Path, ChaCha20Poly1305, int]:
    where = _dir(upload_id)
    try:
        sealed = (where / "key").read_bytes()
        size = int(json.loads((where / "size").read_text()))
    except (OSError, ValueError):
        raise Invalid("no such upload") from None
    try:
        key = ChaCha20Poly1305(_token_key(token)).decrypt(bytes(12), sealed, upload_id.encode())
    except Exception:  # noqa: BLE001 - InvalidTag: the wrong token
        raise Invalid("no such upload") from None
    return where, ChaCha20Poly1305(key), size


def _count(size: int) -> int:
    return max(1, -(-size // CHUNK))


def put(upload_id: str, token: str, index: int, data: bytes) -> None:
    """Store piece `index` (encrypted); sending it again replaces it."""
    where, aead, size = _open(upload_id, token)
    count = _count(size)
    expected = CHUNK if index < count - 1 else size - CHUNK * (count - 1)
    if not 0 <= index < count or len(data) != expected:
        raise Invalid("this piece does not fit the upload")
    sealed = aead.encrypt(index.to_bytes(12, "big"), data, f"{upload_id}:{index}".encode())
    partial = where / f"{index}.{secrets.token_hex(8)}.tmp"  # a retry may overlap its original
    with partial.open("wb") as handle:
        handle.write(sealed)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(where / f"{index}.part")


def _first_missing(where: Path, count: int) -> int:
    return next((i for i in range(count) if not (where / f"{i}.part").exists()), count)


def next_missing(upload_id: str, token: str) -> int:
    """The first piece not stored yet (the piece count when all are)."""
    where, _, size = _open(upload_id, token)
    return _first_missing(where, _count(size))


def read(upload_id: str, token: str) -> tuple[int, list[bytes]]:
    """The declared size, and an iterator over the plaintext pieces (all must be there)."""
    where, aead, size = _open(upload_id, token)
    if _first_missing(where, _count(size)) != _count(size):
        raise Invalid("the upload is not complete")

    def pieces() -> object:
        for index in range(_count(size)):
            sealed = (where / f"{index}.part").read_bytes()
            try:
                yield aead.decrypt(index.to_bytes(12, "big"), sealed,
                                   f"{upload_id}:{index}".encode())  # fmt: skip
            except Exception:  # noqa: BLE001 - InvalidTag: a damaged piece
                (where / f"{index}.part").unlink(missing_ok=True)  # asked for again
                raise Invalid("a piece was damaged") from None

    return size, pieces()  # type: ignore[return-value]


def discard(upload_id: str) -> None:
    shutil.rmtree(_dir(upload_id), ignore_errors=True)


def sweep_expired(now: float | None = None) -> int:
    """Delete unfinished uploads older than EXPIRE_SECONDS (beat, hourly)."""
    now = now or time.time()
    removed = 0
    root = _root()
    for where in root.iterdir() if root.exists() else []:
        try:
            idle = where.stat().st_mtime < now - EXPIRE_SECONDS  # a piece's arrival touches it
        except FileNotFoundError:  # finished meanwhile
            continue
        if idle:
            shutil.rmtree(where, ignore_errors=True)
            removed += 1
    return removed
