"""Our age implementation, judged by the reference `age` CLI in both directions."""

from __future__ import annotations

import base64
import io
import os
import subprocess
from pathlib import Path

import pytest

from submissions import crypto
from tests.tools import age_decrypt, require

SIZES = [
    0,
    1,
    crypto.CHUNK_SIZE - 1,
    crypto.CHUNK_SIZE,
    crypto.CHUNK_SIZE + 1,
    3 * crypto.CHUNK_SIZE,
    200_003,
]


@pytest.fixture
def identity(tmp_path: Path) -> tuple[crypto.Identity, Path]:
    ident = crypto.Identity.generate()
    path = tmp_path / "key.txt"
    crypto.write_identity_file(path, ident)
    return ident, path


@pytest.mark.parametrize("size", SIZES)
def test_age_cli_decrypts_what_we_encrypt(size, identity, tmp_path):
    ident, key_file = identity
    data = os.urandom(size)
    blob = tmp_path / "blob.age"
    blob.write_bytes(crypto.seal_bytes(data, recipients=[ident.recipient], aad="tip:1:content"))
    assert age_decrypt(blob, key_file) == data
    assert crypto.open_bytes(blob.read_bytes(), identities=[ident], aad="tip:1:content") == data


@pytest.mark.parametrize("size", [0, 5, crypto.CHUNK_SIZE, 150_000])
def test_we_decrypt_what_age_cli_encrypts(size, identity, tmp_path):
    """Payload parsing is compatible; our binding stanza is then required, so the CLI's own
    files are refused for a row (nothing unbound is ever accepted as a row's blob)."""
    ident, _ = identity
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    subprocess.run(
        [
            require("age"),
            "-r",
            str(ident.recipient),
            "-o",
            str(tmp_path / "c"),
            str(tmp_path / "plain"),
        ],
        check=True,
    )
    with pytest.raises(crypto.DecryptionError, match="bound to another record"):
        crypto.open_bytes((tmp_path / "c").read_bytes(), identities=[ident], aad="tip:1:content")


def test_blob_bound_to_its_row(identity):
    ident, _ = identity
    blob = crypto.seal_bytes(b"note", recipients=[ident.recipient], aad="tip:1:content")
    with pytest.raises(crypto.DecryptionError, match="another record"):
        crypto.open_bytes(blob, identities=[ident], aad="tip:2:content")


def test_several_recipients_each_decrypt(tmp_path):
    a, b = crypto.Identity.generate(), crypto.Identity.generate()
    blob = crypto.seal_bytes(b"x" * 100, recipients=[a.recipient, b.recipient], aad="k")
    for ident in (a, b):
        assert crypto.open_bytes(blob, identities=[ident], aad="k") == b"x" * 100


def test_wrong_key_fails(identity):
    ident, _ = identity
    blob = crypto.seal_bytes(b"secret", recipients=[ident.recipient], aad="k")
    with pytest.raises(crypto.DecryptionError, match="no identity"):
        crypto.open_bytes(blob, identities=[crypto.Identity.generate()], aad="k")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-1],  # truncated final chunk
        lambda b: b[: -(crypto.CHUNK_SIZE + 16) - 100],  # a whole chunk cut off
        lambda b: b + b"\x00",  # trailing data
        lambda b: b[:-20] + bytes([b[-20] ^ 1]) + b[-19:],  # flipped payload bit
        lambda b: b.replace(b"tipline-bind", b"tipline-bine"),  # header edited
    ],
)
def test_tampering_is_detected(identity, mangle):
    ident, _ = identity
    blob = crypto.seal_bytes(
        os.urandom(3 * crypto.CHUNK_SIZE + 7), recipients=[ident.recipient], aad="k"
    )
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(mangle(blob), identities=[ident], aad="k")


class Trickle(io.RawIOBase):
    """A source that hands out at most `step` bytes per call, as a pipe or a socket does."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._pos = data, step, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("seed", range(6))
def test_any_write_and_read_pattern_gives_the_same_file(seed, identity, tmp_path):
    """Writes of every size and kind (straddling chunks, exactly a chunk, empty), reads into
    buffers of every size from a source that returns short reads: the age CLI and our reader
    both get the original back."""
    import random

    ident, key_file = identity
    rng = random.Random(seed)  # noqa: S311 - a reproducible test pattern, not a secret
    data = os.urandom(rng.choice([0, 1, crypto.CHUNK_SIZE, 5 * crypto.CHUNK_SIZE + 3, 400_001]))
    sink = io.BytesIO()
    encryptor = crypto.seal_stream(sink, recipients=[ident.recipient], aad="k")
    pos = 0
    while pos < len(data):
        size = rng.choice(
            [0, 1, 7, crypto.CHUNK_SIZE - 1, crypto.CHUNK_SIZE, 3 * crypto.CHUNK_SIZE + 5]
        )
        piece = data[pos : pos + size]
        kind = rng.choice([bytes, bytearray, memoryview])
        assert encryptor.write(kind(piece)) == len(piece)
        pos += len(piece)
    encryptor.close()
    blob = tmp_path / "blob.age"
    blob.write_bytes(sink.getvalue())
    assert age_decrypt(blob, key_file) == data

    source = Trickle(sink.getvalue(), step=rng.choice([1000, crypto.CHUNK_SIZE + 16, 1 << 20]))
    reader = crypto.age.Decryptor(source, [ident], "k")
    out = bytearray()
    buffer = bytearray(1 << 20)
    while True:
        view = memoryview(buffer)[
            : rng.choice([1, 100, crypto.CHUNK_SIZE - 1, crypto.CHUNK_SIZE, 1 << 20])
        ]
        got = reader.readinto(view)
        if not got:
            break
        out += view[:got]
    assert out == data


def test_a_failed_chunk_leaves_no_plaintext_in_the_callers_buffer(identity):
    ident, _ = identity
    blob = bytearray(crypto.seal_bytes(b"secret" * 20_000, recipients=[ident.recipient], aad="k"))
    blob[-40] ^= 1  # inside the last chunk
    reader = crypto.age.Decryptor(io.BytesIO(bytes(blob)), [ident], "k")
    buffer = bytearray(1 << 20)
    assert reader.readinto(buffer) == crypto.CHUNK_SIZE  # the first chunk is sound
    buffer[:] = bytes(len(buffer))
    with pytest.raises(crypto.DecryptionError, match="authentication"):
        reader.readinto(buffer)
    assert not any(buffer)


def test_streaming_writer_keeps_one_chunk_in_memory(identity):
    ident, _ = identity

    class Sink:
        def __init__(self) -> None:
            self.written = 0

        def write(self, data: bytes) -> int:
            self.written += len(data)
            return len(data)

    sink = Sink()
    encryptor = crypto.seal_stream(sink, recipients=[ident.recipient], aad="k")  # type: ignore[arg-type]
    piece = b"a" * 10_000
    for _ in range(1000):  # 10 MB
        encryptor.write(piece)
        assert len(encryptor._buffer) <= crypto.CHUNK_SIZE
    encryptor.close()
    assert sink.written > 10_000_000


def test_identity_file_is_private_and_age_keygen_compatible(identity):
    ident, path = identity
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"# public key: {ident.recipient}" in path.read_text()
    assert crypto.read_identity_file(path)[0] == ident
    assert ident.secret_str() not in repr(ident)
    assert str(crypto.Recipient.parse(str(ident.recipient))) == str(ident.recipient)


def test_low_order_share_is_a_decryption_error(identity):
    ident, _ = identity
    blob = crypto.seal_bytes(b"x", recipients=[ident.recipient], aad="k")
    header, rest = blob.split(b"\n", 1)
    _stanza, body = rest.split(b"\n", 1)
    zero_share = base64.b64encode(b"\x00" * 32).rstrip(b"=")
    forged = header + b"\n" + b"-> X25519 " + zero_share + b"\n" + body
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(forged, identities=[ident], aad="k")


@pytest.mark.parametrize("size", [0, 1, crypto.CHUNK_SIZE, 3 * crypto.CHUNK_SIZE + 17])
def test_seekable_reader_random_access(identity, size):
    ident, _ = identity
    data = os.urandom(size)
    blob = io.BytesIO(crypto.seal_bytes(data, recipients=[ident.recipient], aad="k"))
    reader = crypto.open_seekable(blob, identities=[ident], aad="k")
    assert reader.read() == data
    for offset in (0, size // 2, max(0, size - 5), crypto.CHUNK_SIZE - 3):
        reader.seek(offset)
        assert reader.read(100) == data[offset : offset + 100]
    assert reader.seek(0, io.SEEK_END) == size


def test_seekable_reader_detects_truncation_and_binding(identity):
    ident, _ = identity
    blob = crypto.seal_bytes(os.urandom(3 * crypto.CHUNK_SIZE), recipients=[ident.recipient],
                             aad="k")  # fmt: skip
    with pytest.raises(crypto.DecryptionError):
        crypto.open_seekable(io.BytesIO(blob), identities=[ident], aad="other")
    cut = crypto.open_seekable(io.BytesIO(blob[: -(crypto.CHUNK_SIZE + 16)]),
                               identities=[ident], aad="k")  # fmt: skip
    with pytest.raises(crypto.DecryptionError):
        cut.read()
