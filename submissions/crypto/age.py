"""The age v1 file format (https://age-encryption.org/v1): X25519 recipients and passphrases.

Why write it here instead of shelling out to `age` or binding rage: uploads arrive as a push
stream of chunks (Django's upload handler API), and both existing Python options want a whole
buffer or a pull stream. The format is small; every output of this module is checked against the
reference `age` CLI in the tests, in both directions.

What is ours on top of the standard: a `tipline-bind` stanza carrying SHA-256 of the row a blob
belongs to. It sits inside the header, which the header MAC authenticates under the file key, so
swapping a blob between rows (or replaying a note onto another tip) fails to decrypt, while the
standard `age` CLI ignores the unknown stanza and still decrypts the file offline.

Passphrase files (the standard `scrypt` stanza) exist for one job: handing a key to a person, who
opens it with `age -d` and no other tool. The spec allows no stanza beside `scrypt`, so these files
carry no binding and are never used for a row's blobs.

Threat notes:
- Plaintext only ever lives in a 64 KiB chunk buffer; nothing here touches the disk.
- The reader refuses truncation (a missing final chunk), trailing data and a final empty chunk
  after data, so a cut-off or extended blob never decrypts to a "shorter but valid" file.
- Header size is bounded so a hostile blob cannot make the reader allocate without limit.
- The scrypt work factor is read from the file, so it is capped (as age and rage do) and checked
  before any derivation: a hostile file cannot buy minutes of CPU or gigabytes of memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import re
from dataclasses import dataclass
from typing import BinaryIO, overload

import bech32
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

VERSION_LINE = b"age-encryption.org/v1"
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
FILE_KEY_SIZE = 16
NONCE_SIZE = 16
X25519_LABEL = b"age-encryption.org/v1/X25519"
BIND_TYPE = b"tipline-bind"
SCRYPT_TYPE = b"scrypt"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
SCRYPT_SALT_SIZE = 16
SCRYPT_WORK_FACTOR = 18  # log2(N), what `age -p` writes: about a second, 256 MiB
SCRYPT_MAX_WORK_FACTOR = 22  # age's and rage's default ceiling when decrypting (4 GiB)
MAX_HEADER_BYTES = 16 * 1024  # a header with a few recipients is < 1 KiB
COLUMNS = 64

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"


class DecryptionError(Exception):
    """The blob is not an age file we can open: wrong key, wrong row, tampered or truncated."""


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes:
    # age uses canonical unpadded base64; reject padding and non-canonical encodings.
    if b"=" in text or b"\r" in text or b"\n" in text:
        raise DecryptionError("malformed base64 in header")
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except ValueError as exc:
        raise DecryptionError("malformed base64 in header") from exc
    if _b64(data) != text:
        raise DecryptionError("non-canonical base64 in header")
    return data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _bech32_encode(hrp: str, data: bytes) -> str:
    words = bech32.convertbits(list(data), 8, 5)
    assert words is not None
    return bech32.bech32_encode(hrp, words)


def _bech32_decode(text: str, hrp: str) -> bytes:
    got_hrp, words = bech32.bech32_decode(text.lower())
    if got_hrp != hrp or words is None:
        raise ValueError(f"not an age key with prefix {hrp!r}")
    data = bech32.convertbits(words, 5, 8, False)
    if data is None or len(data) != 32:
        raise ValueError("age key has the wrong length")
    return bytes(data)


@dataclass(frozen=True)
class Recipient:
    """An X25519 public key, written as `age1...`."""

    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> Recipient:
        return cls(_bech32_decode(text.strip(), RECIPIENT_HRP))

    def __str__(self) -> str:
        return _bech32_encode(RECIPIENT_HRP, self.public_key)


@dataclass(frozen=True, repr=False)
class Identity:
    """An X25519 private key, written as `AGE-SECRET-KEY-1...`. Its repr never shows the key."""

    private_key: bytes

    @classmethod
    def generate(cls) -> Identity:
        raw = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw)

    @classmethod
    def parse(cls, text: str) -> Identity:
        return cls(_bech32_decode(text.strip(), IDENTITY_HRP))

    def secret_str(self) -> str:
        return _bech32_encode(IDENTITY_HRP, self.private_key).upper()

    @property
    def recipient(self) -> Recipient:
        key = X25519PrivateKey.from_private_bytes(self.private_key)
        return Recipient(_raw_public(key.public_key()))

    def __repr__(self) -> str:
        return f"Identity(recipient={self.recipient})"

    def unwrap(self, args: list[bytes], body: bytes) -> bytes | None:
        """Return the file key if this X25519 stanza is addressed to us, else None."""
        if len(args) != 1:
            raise DecryptionError("malformed X25519 stanza")
        share = _unb64(args[0])
        if len(share) != 32 or len(body) != FILE_KEY_SIZE + TAG_SIZE:
            raise DecryptionError("malformed X25519 stanza")
        key = X25519PrivateKey.from_private_bytes(self.private_key)
        try:
            shared = key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError as exc:  # a low-order point gives the all-zero secret: refused
            raise DecryptionError("malformed X25519 stanza") from exc
        ours = _raw_public(key.public_key())
        wrap_key = _hkdf(shared, share + ours, X25519_LABEL)
        try:
            return ChaCha20Poly1305(wrap_key).decrypt(b"\x00" * 12, body, None)
        except InvalidTag:
            return None


def binding_digest(binding: str) -> bytes:
    return hashlib.sha256(b"tipline/v1/" + binding.encode()).digest()


def _stanza(kind: bytes, args: list[bytes], body: bytes) -> bytes:
    line = b"-> " + b" ".join([kind, *args]) + b"\n"
    encoded = _b64(body)
    lines = [encoded[i : i + COLUMNS] for i in range(0, len(encoded), COLUMNS)]
    if not lines or len(lines[-1]) == COLUMNS:
        lines.append(b"")  # the body always ends with a line shorter than 64 columns
    return line + b"".join(chunk + b"\n" for chunk in lines)


def _x25519_stanza(file_key: bytes, recipient: Recipient) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    share = _raw_public(ephemeral.public_key())
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient.public_key))
    wrap_key = _hkdf(shared, share + recipient.public_key, X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\x00" * 12, file_key, None)
    return _stanza(b"X25519", [_b64(share)], body)


def _scrypt_key(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase.encode())


def _scrypt_stanza(file_key: bytes, passphrase: str, work_factor: int) -> bytes:
    if not passphrase:
        raise ValueError("the passphrase must not be empty")
    # Never above what decryptors accept, or the file could not be opened by `age -d`.
    if not 1 <= work_factor <= SCRYPT_MAX_WORK_FACTOR:
        raise ValueError(f"scrypt work factor must be 1..{SCRYPT_MAX_WORK_FACTOR}")
    salt = os.urandom(SCRYPT_SALT_SIZE)
    wrap_key = _scrypt_key(passphrase, salt, work_factor)
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\x00" * 12, file_key, None)
    return _stanza(SCRYPT_TYPE, [_b64(salt), str(work_factor).encode()], body)


def _scrypt_unwrap(args: list[bytes], body: bytes, passphrase: str) -> bytes:
    """The file key from a scrypt stanza, or DecryptionError (malformed, too costly, wrong)."""
    # The work factor must be canonical decimal (no sign, no leading zero) so that one header
    # has one meaning; its length is checked before int() so the cap is cheap to enforce.
    if len(args) != 2 or not re.fullmatch(rb"[1-9][0-9]*", args[1]):
        raise DecryptionError("malformed scrypt stanza")
    if len(args[1]) > 2 or int(args[1]) > SCRYPT_MAX_WORK_FACTOR:
        raise DecryptionError("scrypt work factor too large")
    salt = _unb64(args[0])
    if len(salt) != SCRYPT_SALT_SIZE or len(body) != FILE_KEY_SIZE + TAG_SIZE:
        raise DecryptionError("malformed scrypt stanza")
    wrap_key = _scrypt_key(passphrase, salt, int(args[1]))
    try:
        return ChaCha20Poly1305(wrap_key).decrypt(b"\x00" * 12, body, None)
    except InvalidTag as exc:
        raise DecryptionError("wrong passphrase") from exc


def _header_mac(file_key: bytes, header_without_mac: bytes) -> bytes:
    mac_key = _hkdf(file_key, b"", b"header")
    return hmac.new(mac_key, header_without_mac, hashlib.sha256).digest()


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class Encryptor:
    """Push-style age encryption: `write()` plaintext pieces, `close()` to finish.

    Writes ciphertext to `sink` as soon as a whole chunk is known not to be the last one, so
    memory stays at one chunk however large the input.

    Either `recipients` and the `binding` of the row, or (for a file a person opens with
    `age -d`) a `passphrase` alone: its scrypt stanza must be the only one, so no binding.
    """

    @overload
    def __init__(self, sink: BinaryIO, recipients: list[Recipient], binding: str) -> None: ...

    @overload
    def __init__(self, sink: BinaryIO, *, passphrase: str, work_factor: int = ...) -> None: ...

    def __init__(
        self,
        sink: BinaryIO,
        recipients: list[Recipient] | None = None,
        binding: str | None = None,
        *,
        passphrase: str | None = None,
        work_factor: int = SCRYPT_WORK_FACTOR,
    ) -> None:
        file_key = os.urandom(FILE_KEY_SIZE)
        header = VERSION_LINE + b"\n"
        if passphrase is not None:
            if recipients or binding is not None:
                raise ValueError("a passphrase file has no recipients and no binding")
            header += _scrypt_stanza(file_key, passphrase, work_factor)
        else:
            if not recipients:
                raise ValueError("at least one recipient is required")
            if binding is None:
                raise ValueError("a binding is required")
            for recipient in recipients:
                header += _x25519_stanza(file_key, recipient)
            header += _stanza(BIND_TYPE, [_b64(binding_digest(binding))], b"")
        header += b"---"
        self._sink = sink
        mac = _header_mac(file_key, header)
        nonce = os.urandom(NONCE_SIZE)
        sink.write(header + b" " + _b64(mac) + b"\n" + nonce)
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._buffer = bytearray()
        self._out = memoryview(bytearray(CHUNK_SIZE + TAG_SIZE))
        self._counter = 0
        self._closed = False
        self.plaintext_size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._closed:
            raise ValueError("write to a closed Encryptor")
        view = memoryview(data).cast("B")
        size = len(view)
        self.plaintext_size += size
        # Hold back at least one byte: a chunk is only "not last" once more data follows it.
        if self._buffer:
            take = min(size, CHUNK_SIZE - len(self._buffer))
            self._buffer += view[:take]
            view = view[take:]
            if not view:
                return size
            self._emit(self._buffer, last=False)
            self._buffer = bytearray()
        # Whole chunks straight from the caller's buffer: no copy before the cipher.
        start, end = 0, len(view)
        while end - start > CHUNK_SIZE:
            self._emit(view[start : start + CHUNK_SIZE], last=False)
            start += CHUNK_SIZE
        self._buffer += view[start:]
        return size

    def close(self) -> None:
        if self._closed:
            return
        self._emit(bytes(self._buffer), last=True)
        self._buffer = bytearray()
        self._closed = True

    def _emit(self, chunk: bytes | bytearray | memoryview, last: bool) -> None:
        nonce = _chunk_nonce(self._counter, last)
        # Into one buffer, reused: `write` may not keep what it is given (io's contract).
        out = self._out[: len(chunk) + TAG_SIZE]
        self._aead.encrypt_into(nonce, chunk, None, out)
        self._sink.write(out)
        self._counter += 1


def _read_line(source: BinaryIO, budget: list[int]) -> bytes:
    line = bytearray()
    while True:
        byte = source.read(1)
        if not byte:
            raise DecryptionError("truncated header")
        budget[0] -= 1
        if budget[0] < 0:
            raise DecryptionError("header too large")
        if byte == b"\n":
            return bytes(line)
        line += byte


def _parse_header(source: BinaryIO) -> tuple[list[tuple[bytes, list[bytes], bytes]], bytes, bytes]:
    """Read the header. Returns (stanzas, bytes covered by the MAC, MAC)."""
    budget = [MAX_HEADER_BYTES]
    raw = bytearray()
    if _read_line(source, budget) != VERSION_LINE:
        raise DecryptionError("not an age v1 file")
    raw += VERSION_LINE + b"\n"
    stanzas: list[tuple[bytes, list[bytes], bytes]] = []
    line = _read_line(source, budget)
    while line.startswith(b"-> "):
        raw += line + b"\n"
        parts = line[3:].split(b" ")
        # Arguments are non-empty strings of visible ASCII (VCHAR, 0x21-0x7E).
        if not parts or any(not p or any(c < 0x21 or c > 0x7E for c in p) for p in parts):
            raise DecryptionError("malformed stanza")
        body = bytearray()
        while True:
            body_line = _read_line(source, budget)
            raw += body_line + b"\n"
            if len(body_line) > COLUMNS:
                raise DecryptionError("malformed stanza body")
            body += body_line
            if len(body_line) < COLUMNS:
                break
        stanzas.append((parts[0], parts[1:], _unb64(bytes(body)) if body else b""))
        line = _read_line(source, budget)
    if not line.startswith(b"--- "):
        raise DecryptionError("malformed header")
    raw += b"---"
    return stanzas, bytes(raw), _unb64(line[4:])


def _identity_file_key(
    stanzas: list[tuple[bytes, list[bytes], bytes]], identities: list[Identity]
) -> bytes:
    for kind, args, body in stanzas:
        if kind != b"X25519":
            continue
        for identity in identities:
            file_key = identity.unwrap(args, body)
            if file_key is not None:
                return file_key
    raise DecryptionError("no identity matches this file")


class Decryptor(io.RawIOBase):
    """Pull-style age decryption as a readable raw stream (wrap in io.BufferedReader to peek).

    Each chunk is authenticated before a byte of it is returned. A chunk that fails, or a stream
    that ends without its final chunk, raises DecryptionError instead of returning short data.

    Either `identities` and the `binding` of the row, or a `passphrase` for a file whose header
    is a lone scrypt stanza (such a file is never bound to a row).
    """

    @overload
    def __init__(self, source: BinaryIO, identities: list[Identity], binding: str) -> None: ...

    @overload
    def __init__(self, source: BinaryIO, *, passphrase: str) -> None: ...

    def __init__(
        self,
        source: BinaryIO,
        identities: list[Identity] | None = None,
        binding: str | None = None,
        *,
        passphrase: str | None = None,
    ) -> None:
        super().__init__()
        if passphrase is None and (identities is None or binding is None):
            raise ValueError("identities and a binding are required")
        if passphrase is not None and (identities is not None or binding is not None):
            raise ValueError("a passphrase file has no identities and no binding")
        self._source = source
        stanzas, covered, mac = _parse_header(source)
        kinds = [kind for kind, _, _ in stanzas]
        # Spec: a scrypt stanza must be alone. Otherwise anyone else holding the file key could
        # copy the stanza into a file of their own, which the passphrase would then vouch for.
        if SCRYPT_TYPE in kinds and len(kinds) != 1:
            raise DecryptionError("a scrypt stanza must be the only one in the header")
        if passphrase is not None:
            if kinds != [SCRYPT_TYPE]:
                raise DecryptionError("not a passphrase-encrypted file")
            file_key = _scrypt_unwrap(stanzas[0][1], stanzas[0][2], passphrase)
        else:
            file_key = _identity_file_key(stanzas, identities or [])
        if not hmac.compare_digest(_header_mac(file_key, covered), mac):
            raise DecryptionError("header MAC mismatch")
        bound = [args for kind, args, _ in stanzas if kind == BIND_TYPE]
        if binding is not None and bound != [[_b64(binding_digest(binding))]]:
            raise DecryptionError("blob is bound to another record")
        nonce = source.read(NONCE_SIZE)
        if len(nonce) != NONCE_SIZE:
            raise DecryptionError("truncated payload")
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._readinto = getattr(source, "readinto", None)
        self._spare, self._in_use = (
            bytearray(CHUNK_SIZE + TAG_SIZE),
            bytearray(CHUNK_SIZE + TAG_SIZE),
        )
        self._pending = self._read_sealed()
        self._plain = b""
        self._offset = 0
        self._done = False

    def _read_sealed(self) -> memoryview:
        """The next sealed chunk (shorter only at the end of the stream), read into whichever of
        two buffers is not holding the chunk about to be decrypted: no allocation per chunk."""
        self._spare, buffer = self._in_use, self._spare
        self._in_use = buffer
        view, filled = memoryview(buffer), 0
        while filled < len(buffer):
            if self._readinto is not None:
                got = self._readinto(view[filled:])
            else:
                piece = self._source.read(len(buffer) - filled)
                got = len(piece)
                view[filled : filled + got] = piece
            if not got:
                break
            filled += got
        return view[:filled]

    def _next_sealed(self) -> tuple[memoryview, bytes, bool]:
        """The next sealed chunk, its nonce, and whether it is the last one."""
        sealed = self._pending
        if not sealed:
            raise DecryptionError("truncated payload")
        following = (self._read_sealed() if len(sealed) == CHUNK_SIZE + TAG_SIZE
                     else memoryview(b""))  # fmt: skip
        last = not following
        if last and len(sealed) == TAG_SIZE and self._counter > 0:
            raise DecryptionError("empty final chunk")
        nonce = _chunk_nonce(self._counter, last)
        self._counter += 1
        self._pending = following
        self._done = last
        return sealed, nonce, last

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while self._offset >= len(self._plain):
            if self._done:
                return 0
            sealed, nonce, _ = self._next_sealed()
            size = len(sealed) - TAG_SIZE
            try:
                if len(view) < size:
                    self._plain, self._offset = self._aead.decrypt(nonce, sealed, None), 0
                    continue
                # A whole chunk fits: decrypt straight into the caller's buffer.
                try:
                    self._aead.decrypt_into(nonce, sealed, None, view[:size])
                except InvalidTag:
                    view[:size] = bytes(size)  # nothing unauthenticated left behind
                    raise
                return size
            except InvalidTag as exc:
                raise DecryptionError("payload chunk failed authentication") from exc
        n = min(len(view), len(self._plain) - self._offset)
        view[:n] = self._plain[self._offset : self._offset + n]
        self._offset += n
        return n


class SeekableDecryptor(io.RawIOBase):
    """Random-access age decryption over a seekable ciphertext (for containers such as MP4,
    whose index may sit at the end). Chunks are independent in the STREAM construction, so
    any one can be decrypted on its own; each is authenticated before a byte is returned, and
    only the final chunk is accepted with the "last" flag, so truncation is still detected.
    """

    def __init__(self, source: BinaryIO, identities: list[Identity], binding: str) -> None:
        super().__init__()
        reader = Decryptor(source, identities, binding)  # header, MAC and binding checks
        self._aead = reader._aead
        self._source = source
        self._start = source.tell() - len(reader._pending)
        total = source.seek(0, io.SEEK_END) - self._start
        sealed = CHUNK_SIZE + TAG_SIZE
        self._chunks = max(1, -(-total // sealed))
        last = total - (self._chunks - 1) * sealed
        if last < TAG_SIZE or (self._chunks > 1 and last == TAG_SIZE):
            raise DecryptionError("truncated payload")
        self._size = (self._chunks - 1) * CHUNK_SIZE + last - TAG_SIZE
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _chunk(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        sealed = CHUNK_SIZE + TAG_SIZE
        self._source.seek(self._start + index * sealed)
        data = self._source.read(sealed)
        last = index == self._chunks - 1
        try:
            plain = self._aead.decrypt(_chunk_nonce(index, last), data, None)
        except InvalidTag as exc:
            raise DecryptionError("payload chunk failed authentication") from exc
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        index, offset = divmod(self._pos, CHUNK_SIZE)
        plain = self._chunk(index)
        n = min(len(buffer), len(plain) - offset)
        buffer[:n] = plain[offset : offset + n]
        self._pos += n
        return n
