"""The only code that talks to django-storages. Names are random; contents are ciphertext."""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

logger = logging.getLogger(__name__)


def blobs() -> Storage:
    return storages["blobs"]


def new_name() -> str:
    # Two-level fan-out keeps directories small on filesystem storage; 128 random bits.
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


def save(content: File) -> str:
    """Store ciphertext under a fresh random name and return the name actually used."""
    store = blobs()
    name = store.save(new_name(), content)
    if isinstance(store, FileSystemStorage):
        # A moved spool keeps its old time: a blob's age is since it was stored (reconcile
        # deletes only orphans older than hours, and this one's row commits in a moment).
        os.utime(store.path(name))
    return name


def walk(directory: str = "") -> Iterator[str]:
    """Every blob name in storage (filesystem and S3 alike, through the storage API)."""
    store = blobs()
    # A filesystem root may not exist yet; a bucket has no "" key to ask about (S3 refuses it).
    if directory == "" and isinstance(store, FileSystemStorage) and not store.exists(""):
        return
    dirs, files = store.listdir(directory)
    for name in files:
        yield f"{directory}/{name}" if directory else name
    for sub in dirs:
        yield from walk(f"{directory}/{sub}" if directory else sub)


def open_blob(name: str) -> BinaryIO:
    """The blob's ciphertext, seekable. From S3, read by ranges as it is read (RangedObject):
    django-storages' own file would download the whole object first, for every open."""
    store = blobs()
    connection = getattr(store, "connection", None)
    if connection is None:
        return store.open(name, "rb")
    key = store._normalize_name(name)  # type: ignore[attr-defined]  # with its location prefix
    return RangedObject(connection.meta.client, store.bucket_name, key)  # type: ignore[attr-defined]


class RangedObject(io.RawIOBase):
    """A read-only, seekable view of an S3 object: each read asks for the byte range it needs
    (one block at a time, the last block kept), so a player seeking in a 2 GB video, or the
    worker reading an MP4's index at its end, fetches what it reads and no more."""

    BLOCK = 4 * 1024 * 1024

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:  # botocore's errors: storage failed, not the file
            raise OSError(f"S3 read failed ({type(exc).__name__})") from exc
        self.size = int(head["ContentLength"])
        self._position = 0
        self._block_start = -1
        self._block = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def _fetch(self, start: int) -> None:
        end = min(start + self.BLOCK, self.size) - 1
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._key,
                                             Range=f"bytes={start}-{end}")  # fmt: skip
            block = answer["Body"].read()
        except Exception as exc:  # botocore's errors: storage failed, not the file
            raise OSError(f"S3 read failed ({type(exc).__name__})") from exc
        if len(block) != end - start + 1:
            raise OSError("S3 returned a short range")
        self._block_start, self._block = start, block

    def readinto(self, buffer: Any) -> int:
        """Fills `buffer` (across blocks) unless the object ends first: callers such as the
        age decryptor read a whole chunk with one read()."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self.size:
            offset = self._position - self._block_start
            if self._block_start < 0 or not 0 <= offset < len(self._block):
                self._fetch(self._position - self._position % self.BLOCK)
                offset = self._position - self._block_start
            count = min(len(view) - filled, len(self._block) - offset)
            view[filled : filled + count] = self._block[offset : offset + count]
            self._position += count
            filled += count
        return filled


def delete(name: str) -> None:
    """Delete a blob; a missing one is not an error (delete is retried after crashes)."""
    if not name:
        return
    with contextlib.suppress(FileNotFoundError):
        blobs().delete(name)
    logger.debug("blob.deleted")


class Spool(File):
    """A ciphertext-only temporary file in SPOOL_DIR, on its way into blob storage.

    FileSystemStorage moves it into place (temporary_file_path), other storages stream it. It
    is deleted on close if it was not moved. Plaintext is never written to one.
    """

    def __init__(self) -> None:
        from django.conf import settings

        settings.SPOOL_DIR.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=settings.SPOOL_DIR, suffix=".age")  # noqa: SIM115
        # Held while this process may still use the file (an upload over Tor can take hours
        # after this file arrived): the sweep of stale spools skips what is held.
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        super().__init__(handle, name=None)

    def temporary_file_path(self) -> str:
        return self.file.name

    def close(self) -> None:
        # Moved into storage by FileSystemStorage: nothing is left to delete.
        with contextlib.suppress(FileNotFoundError):
            self.file.close()


@contextlib.contextmanager
def _probe(path: Path) -> Iterator[bool | None]:
    """Try a spooled file's exclusive lock, held for the block: True if nobody holds the file
    (a live Spool holds it shared), False if someone does, None if it is gone."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        yield None
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def spool_in_use(path: Path) -> bool:
    """Whether a live Spool (of any process on this host) holds this spooled file."""
    with _probe(path) as free:
        return free is False


def delete_spool_unless_held(path: Path) -> bool:
    """Delete a spooled file left by a process that died (nobody holds it). True if deleted."""
    with _probe(path) as free:
        if free:
            path.unlink(missing_ok=True)  # under the lock: no Spool can be holding it
        return bool(free)


def save_spool(spool: Spool) -> str:
    spool.seek(0)
    try:
        return save(spool)
    finally:
        spool.close()


ALL_USERS = {"http://acs.amazonaws.com/groups/global/AllUsers",
             "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}  # fmt: skip


def bucket_exposure() -> str:
    """What makes the S3 bucket readable by others ("" if nothing): a grant to everyone in its
    ACL, or a bucket policy allowing anyone ("Principal": "*")."""
    import json

    from botocore.exceptions import ClientError

    store = blobs()
    client = store.connection.meta.client  # type: ignore[attr-defined]
    bucket = store.bucket_name  # type: ignore[attr-defined]
    acl = client.get_bucket_acl(Bucket=bucket)
    for grant in acl.get("Grants", []):
        if grant.get("Grantee", {}).get("URI") in ALL_USERS:
            return f"its ACL grants {grant.get('Permission')} to everyone"
    try:
        policy = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucketPolicy", "NoSuchPolicy"):
            return ""
        raise
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        principal = statement.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and "*" in (
            principal.get("AWS") if isinstance(principal.get("AWS"), list)
            else [principal.get("AWS")]
        ))  # fmt: skip
        if statement.get("Effect") == "Allow" and anyone:
            return "its bucket policy allows anyone"
    return ""
