"""Passphrase age files (the scrypt stanza), judged by the reference `age` CLI both ways.

The use case is exporting the newsroom identity: Tipline writes it under a passphrase and an
editor opens it offline with `age -d`, which reads the passphrase from the terminal only, so the
CLI is driven through a pseudo-terminal here. scrypt at the real work factor (18) costs about a
second, so only the tests that run the CLI pay it; the others use work factor 10.
"""

from __future__ import annotations

import io
import os
import re

import pytest

from submissions import crypto
from submissions.crypto import age
from tests.tools import age_decrypt, require, run_on_tty

PASSPHRASE = "correct horse battery staple"
FAST = 10  # scrypt work factor for tests that do not involve the age CLI


def split(blob: bytes) -> tuple[bytes, bytes]:
    """(header up to and including "---", everything after the MAC line)."""
    end = blob.index(b"\n--- ") + 1
    return blob[:end] + b"---", blob[blob.index(b"\n", end) + 1 :]


def with_header(header: bytes, file_key: bytes, payload: bytes) -> bytes:
    """An age file with `header` (ending in "---"), correctly MACed, over an existing payload."""
    return header + b" " + age._b64(age._header_mac(file_key, header)) + b"\n" + payload


def test_age_cli_opens_exported_identity(tmp_path):
    identity = crypto.Identity.generate()
    crypto.write_identity_file(tmp_path / "key.txt", identity)
    key_text = (tmp_path / "key.txt").read_bytes()
    exported = crypto.seal_with_passphrase(key_text, PASSPHRASE)  # the default work factor
    assert re.search(rb"^-> scrypt [A-Za-z0-9+/]{22} 18\n", exported, re.MULTILINE)
    (tmp_path / "key.txt.age").write_bytes(exported)

    out = tmp_path / "key.out"
    run_on_tty(
        [require("age"), "-d", "-o", str(out), str(tmp_path / "key.txt.age")],
        [(b"passphrase", PASSPHRASE)],
    )
    assert out.read_bytes() == key_text

    # The decrypted identity is the newsroom key: it opens a blob sealed to its recipient...
    payload = os.urandom(crypto.CHUNK_SIZE + 11)
    aad = crypto.binding("tip", 1, "content")
    blob = tmp_path / "blob.age"
    blob.write_bytes(crypto.seal_bytes(payload, recipients=[identity.recipient], aad=aad))
    assert age_decrypt(blob, out) == payload
    # ...and so does the export itself, used directly as `age -i` (prompting for the passphrase).
    exported_as_identity = ["-i", str(tmp_path / "key.txt.age"), "-o", str(tmp_path / "p")]
    run_on_tty(
        [require("age"), "-d", *exported_as_identity, str(blob)], [(b"passphrase", PASSPHRASE)]
    )
    assert (tmp_path / "p").read_bytes() == payload


def test_we_open_age_cli_passphrase_file(tmp_path):
    data = os.urandom(2 * crypto.CHUNK_SIZE + 3)
    (tmp_path / "plain").write_bytes(data)
    run_on_tty(
        [require("age"), "-p", "-o", str(tmp_path / "c.age"), str(tmp_path / "plain")],
        [(b"Enter passphrase", PASSPHRASE), (b"Confirm passphrase", PASSPHRASE)],
    )
    assert crypto.open_with_passphrase((tmp_path / "c.age").read_bytes(), PASSPHRASE) == data


def test_wrong_passphrase_fails():
    blob = crypto.seal_with_passphrase(b"key", PASSPHRASE, work_factor=FAST)
    assert crypto.open_with_passphrase(blob, PASSPHRASE) == b"key"
    with pytest.raises(crypto.DecryptionError, match="wrong passphrase"):
        crypto.open_with_passphrase(blob, PASSPHRASE + " ")


def test_passphrase_and_key_files_do_not_mix():
    ident = crypto.Identity.generate()
    keyed = crypto.seal_bytes(b"x", recipients=[ident.recipient], aad="k")
    with pytest.raises(crypto.DecryptionError, match="not a passphrase"):
        crypto.open_with_passphrase(keyed, PASSPHRASE)
    unbound = crypto.seal_with_passphrase(b"x", PASSPHRASE, work_factor=FAST)
    assert b"tipline-bind" not in unbound
    with pytest.raises(crypto.DecryptionError):
        crypto.open_bytes(unbound, identities=[ident], aad="k")


@pytest.mark.parametrize(
    ("work_factor", "message"),
    [
        (b"23", "too large"),  # one above the ceiling: an 8 GiB scrypt run
        (b"30", "too large"),
        (b"9" * 5000, "too large"),  # past Python's int() digit limit: still DecryptionError
        (b"018", "malformed"),  # leading zero: not canonical
        (b"0", "malformed"),
        (b"+18", "malformed"),
        (b"1e1", "malformed"),
    ],
)
def test_work_factor_is_checked_before_any_scrypt(work_factor, message, monkeypatch):
    blob = crypto.seal_with_passphrase(b"key", PASSPHRASE, work_factor=FAST)
    line = re.compile(rb"^(-> scrypt \S+) 10$", re.MULTILINE)
    forged = line.sub(rb"\1 " + work_factor, blob, count=1)
    assert forged != blob

    def no_scrypt(*args: object, **kwargs: object) -> None:
        raise AssertionError("scrypt ran for a work factor that must be refused first")

    monkeypatch.setattr(age, "Scrypt", no_scrypt)
    with pytest.raises(crypto.DecryptionError, match=message):
        crypto.open_with_passphrase(forged, PASSPHRASE)


def test_scrypt_stanza_must_be_alone(tmp_path):
    """A correctly MACed file whose header has a scrypt stanza beside X25519 and bind stanzas
    is refused by our readers and by `age -d`; the same file without it opens. (age 1.1 opens
    it with `-i` and an X25519 key; we refuse either way, as the spec says.)"""
    ident = crypto.Identity.generate()
    original = crypto.seal_with_passphrase(b"payload", PASSPHRASE, work_factor=FAST)
    header, payload = split(original)
    ((_, args, body),), _, _ = age._parse_header(io.BytesIO(original))
    file_key = age._scrypt_unwrap(args, body, PASSPHRASE)
    scrypt_lines = header[len(age.VERSION_LINE) + 1 : -len(b"---")]
    others = age._x25519_stanza(file_key, ident.recipient) + age._stanza(
        age.BIND_TYPE, [age._b64(age.binding_digest("k"))], b""
    )
    version = age.VERSION_LINE + b"\n"

    keyed_only = with_header(version + others + b"---", file_key, payload)
    assert crypto.open_bytes(keyed_only, identities=[ident], aad="k") == b"payload"

    for mixed_header in (version + scrypt_lines + others, version + others + scrypt_lines):
        mixed = with_header(mixed_header + b"---", file_key, payload)
        with pytest.raises(crypto.DecryptionError, match="only one"):
            crypto.open_with_passphrase(mixed, PASSPHRASE)
        with pytest.raises(crypto.DecryptionError, match="only one"):
            crypto.open_bytes(mixed, identities=[ident], aad="k")
        (tmp_path / "mixed.age").write_bytes(mixed)
        argv = [require("age"), "-d", "-o", str(tmp_path / "out"), str(tmp_path / "mixed.age")]
        with pytest.raises(AssertionError, match="scrypt recipient must be the only one"):
            run_on_tty(argv, [(b"passphrase", PASSPHRASE)])


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 1]) + blob[index + 1 :]


def _other_b64(data: bytes, at: int) -> bytes:
    """`data` with the base64 character at `at` replaced by another valid one (a flipped bit
    could make it invalid base64, which is refused before the MAC is even checked)."""
    other = b"A" if data[at : at + 1] != b"A" else b"B"
    return data[:at] + other + data[at + 1 :]


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: _other_b64(b, b.index(b"\n--- ") + 6), "header MAC"),  # MAC changed
        (lambda b: b.replace(b"\n--- ", b"\n-> grease\n\n--- ", 1), "only one"),  # stanza added
        (lambda b: _flip(b, len(b) - 20), "authentication"),  # payload bit flipped
        (lambda b: b[:-1], "authentication"),  # truncated
        (lambda b: b + b"\x00", "authentication"),  # trailing data
    ],
)
def test_tampering_is_detected(mangle, message):
    blob = crypto.seal_with_passphrase(os.urandom(100), PASSPHRASE, work_factor=FAST)
    with pytest.raises(crypto.DecryptionError, match=message):
        crypto.open_with_passphrase(mangle(blob), PASSPHRASE)


def test_header_mac_is_checked_with_the_right_passphrase():
    """A MAC made under another file key fails even though the scrypt stanza unwraps."""
    blob = crypto.seal_with_passphrase(b"key", PASSPHRASE, work_factor=FAST)
    header, payload = split(blob)
    forged = with_header(header, os.urandom(age.FILE_KEY_SIZE), payload)
    with pytest.raises(crypto.DecryptionError, match="header MAC mismatch"):
        crypto.open_with_passphrase(forged, PASSPHRASE)


def test_encryptor_refuses_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        crypto.seal_with_passphrase(b"x", "")
    with pytest.raises(ValueError, match="work factor"):
        crypto.seal_with_passphrase(b"x", PASSPHRASE, work_factor=age.SCRYPT_MAX_WORK_FACTOR + 1)
    sink, keys = io.BytesIO(), [crypto.Identity.generate().recipient]
    with pytest.raises(ValueError, match="no recipients and no binding"):
        crypto.Encryptor(sink, keys, "k", passphrase=PASSPHRASE)  # type: ignore[call-overload]
