"""The only code that talks to django-storages. Names are random; contents are ciphertext."""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

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
    name = blobs().save(new_name(), content)
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
    return blobs().open(name, "rb")


def delete(name: str) -> None:
    """Delete a blob; a missing one is not an error (delete is retried after crashes)."""
    if not name:
        return
    with contextlib.suppress(FileNotFoundError):
        blobs().delete(name)
    logger.info("blob.deleted")


class Spool(File):
    """A ciphertext-only temporary file in SPOOL_DIR, on its way into blob storage.

    FileSystemStorage moves it into place (temporary_file_path), other storages stream it. It
    is deleted on close if it was not moved. Plaintext is never written to one.
    """

    def __init__(self) -> None:
        from django.conf import settings

        settings.SPOOL_DIR.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=settings.SPOOL_DIR, suffix=".age")  # noqa: SIM115
        super().__init__(handle, name=None)

    def temporary_file_path(self) -> str:
        return self.file.name

    def close(self) -> None:
        # Moved into storage by FileSystemStorage: nothing is left to delete.
        with contextlib.suppress(FileNotFoundError):
            self.file.close()


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
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        anyone = principal == "*" or (isinstance(principal, dict) and "*" in (
            principal.get("AWS") if isinstance(principal.get("AWS"), list)
            else [principal.get("AWS")]
        ))  # fmt: skip
        if statement.get("Effect") == "Allow" and anyone:
            return "its bucket policy allows anyone"
    return ""
