"""Secrets wrapped under a key derived from a password (Argon2id), for editors' personal keys.

The parameters travel with the wrapped secret (bounded when read back), so they can be raised
later without locking anyone out: a secret is wrapped with the current ones whenever its
password changes.
"""

from __future__ import annotations

import base64
import os
from typing import TypedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .age import DecryptionError

SALT_SIZE = 16
NONCE_SIZE = 12
# RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes); about 0.1 s here.
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_ITERATIONS = 3
DEFAULT_LANES = 4
# Bounds on stored parameters: a tampered row must not make sign-in allocate gigabytes.
MAX_MEMORY_KIB = 1024 * 1024
MAX_ITERATIONS = 20


class KdfParameters(TypedDict):
    algorithm: str
    salt: str
    memory_kib: int
    iterations: int
    lanes: int


def new_parameters(memory_kib: int = DEFAULT_MEMORY_KIB) -> KdfParameters:
    return {
        "algorithm": "argon2id",
        "salt": base64.b64encode(os.urandom(SALT_SIZE)).decode(),
        "memory_kib": memory_kib,
        "iterations": DEFAULT_ITERATIONS,
        "lanes": DEFAULT_LANES,
    }


def _derive(password: str, parameters: KdfParameters) -> bytes:
    try:
        lanes, memory, iterations = (int(parameters["lanes"]), int(parameters["memory_kib"]),
                                     int(parameters["iterations"]))  # fmt: skip
        salt = base64.b64decode(parameters["salt"], validate=True)
        if (
            parameters.get("algorithm") != "argon2id"
            or not 1 <= lanes <= 64
            or not 8 * lanes <= memory <= MAX_MEMORY_KIB
            or not 1 <= iterations <= MAX_ITERATIONS
            or len(salt) < 8
        ):
            raise ValueError("out of bounds")
        argon = Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes,
                         memory_cost=memory)  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise DecryptionError("unsupported key derivation parameters") from exc
    return argon.derive(password.encode())


def wrap(secret: bytes, password: str, *, aad: str, parameters: KdfParameters) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    key = _derive(password, parameters)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, secret, aad.encode())


def unwrap(wrapped: bytes, password: str, *, aad: str, parameters: KdfParameters) -> bytes:
    """The secret, or DecryptionError for a wrong password (or a tampered row)."""
    key = _derive(password, parameters)
    try:
        return ChaCha20Poly1305(key).decrypt(
            wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], aad.encode()
        )
    except InvalidTag as exc:
        raise DecryptionError("wrong password") from exc


def session_seal(secret: bytes, key: bytes, *, aad: str) -> bytes:
    """Seal under a random 32-byte key (an editor's unlocked keys, kept in their session)."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, secret, aad.encode())


def session_open(sealed: bytes, key: bytes, *, aad: str) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad.encode())
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("session key mismatch") from exc
