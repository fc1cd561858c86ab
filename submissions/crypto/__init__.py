"""Encryption for everything Tipline stores: the age v1 format, bound to the row it belongs to.

The rest of the code uses only this module's names; `cryptography.hazmat` is imported nowhere
else. Bindings are strings such as "attachment:<uuid>:raw" built by `binding()`, so a blob can
only be opened as the record it was written for. The one exception is a passphrase file, made to
hand a key to a person with the `age` CLI; it is never stored as a row's blob.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from .age import (
    CHUNK_SIZE,
    SCRYPT_WORK_FACTOR,
    DecryptionError,
    Decryptor,
    Encryptor,
    Identity,
    Recipient,
    SeekableDecryptor,
)

__all__ = [
    "CHUNK_SIZE",
    "DecryptionError",
    "Encryptor",
    "Identity",
    "Recipient",
    "binding",
    "iter_plaintext",
    "open_bytes",
    "open_seekable",
    "open_stream",
    "open_with_passphrase",
    "read_identity_file",
    "seal_bytes",
    "seal_stream",
    "seal_with_passphrase",
    "write_identity_file",
]


def binding(kind: str, pk: object, purpose: str) -> str:
    """What a ciphertext is bound to: one purpose of one row."""
    return f"{kind}:{pk}:{purpose}"


def seal_stream(sink: BinaryIO, *, recipients: list[Recipient], aad: str) -> Encryptor:
    """Start an age stream into `sink`; write plaintext to the result, then close() it."""
    return Encryptor(sink, recipients, aad)


def open_stream(source: BinaryIO, *, identities: list[Identity], aad: str) -> io.BufferedReader:
    """A buffered plaintext reader over an age stream (supports peek())."""
    return io.BufferedReader(Decryptor(source, identities, aad), buffer_size=CHUNK_SIZE)


def open_seekable(source: BinaryIO, *, identities: list[Identity], aad: str) -> io.BufferedReader:
    """A buffered, seekable plaintext reader over a seekable age file."""
    return io.BufferedReader(SeekableDecryptor(source, identities, aad), buffer_size=CHUNK_SIZE)


def iter_plaintext(source: BinaryIO, *, identities: list[Identity], aad: str) -> Iterator[bytes]:
    """Yield plaintext chunk by chunk (for streaming responses); closes `source` at the end."""
    try:
        reader = open_stream(source, identities=identities, aad=aad)
        while chunk := reader.read(CHUNK_SIZE):
            yield chunk
    finally:
        source.close()


def seal_bytes(data: bytes, *, recipients: list[Recipient], aad: str) -> bytes:
    sink = io.BytesIO()
    encryptor = Encryptor(sink, recipients, aad)
    encryptor.write(data)
    encryptor.close()
    return sink.getvalue()


def open_bytes(data: bytes, *, identities: list[Identity], aad: str) -> bytes:
    return open_stream(io.BytesIO(data), identities=identities, aad=aad).read()


def seal_with_passphrase(
    data: bytes, passphrase: str, *, work_factor: int = SCRYPT_WORK_FACTOR
) -> bytes:
    """An age file that `age -d` opens with the passphrase alone, for exporting a key to a person.

    Unbound (the spec allows no stanza beside scrypt), so never a row's blob. `work_factor` is
    log2 of scrypt's N; lower it only in tests.
    """
    sink = io.BytesIO()
    encryptor = Encryptor(sink, passphrase=passphrase, work_factor=work_factor)
    encryptor.write(data)
    encryptor.close()
    return sink.getvalue()


def open_with_passphrase(data: bytes, passphrase: str) -> bytes:
    """The plaintext of a passphrase age file (ours or `age -p`'s); DecryptionError if the
    passphrase is wrong or the file is malformed, tampered or asks for too much scrypt work."""
    reader = Decryptor(io.BytesIO(data), passphrase=passphrase)
    return io.BufferedReader(reader, buffer_size=CHUNK_SIZE).read()


def write_identity_file(path: Path, identity: Identity) -> None:
    """Write an identity in age-keygen's format, readable by `age -i`, mode 0600 from birth."""
    text = (
        f"# created: {datetime.now(UTC).replace(microsecond=0).isoformat()}\n"
        f"# public key: {identity.recipient}\n"
        f"{identity.secret_str()}\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_identity_file(path: Path) -> list[Identity]:
    identities = [
        Identity.parse(line)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if not identities:
        raise ValueError(f"no identity in {path}")
    return identities
