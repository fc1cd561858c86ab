"""Receipt codes: what a source keeps to come back. Shown once, never stored or logged.

A code is 7 words from the EFF large wordlist (7776 words, 12.9 bits each): 90.5 bits, beyond
brute force even against a stolen database, since each guess also costs a scrypt evaluation.

One scrypt per code, keyed with the deployment secret (TIPLINE_RECEIPT_SALT), gives the code's
master secret; two HMACs of it give what is used, each useless for finding the other:
  - the digest the database keeps, to find the tip again: deterministic so it can be looked up,
    keyed so a dump alone cannot be tested offline, and slow to guess;
  - the seed of the source's own key (X25519), salted with the tip's id: replies are sealed to
    it, so the source reads them with the code and the server alone cannot.
Only the master secret costs scrypt, so a submission or a sign-in pays for it once.

Tips made before this scheme (v1) keep scrypt(code) itself as their digest and a key from a
second scrypt salted with the tip's id; `derive` recognises them by their digest, and only
their right codes pay for the second derivation (a wrong code costs one scrypt, whatever it is).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from functools import cache

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from xkcdpass import xkcd_password

from . import crypto

WORDS = 7
SCRYPT_N = 2**15  # 32 MiB of memory per evaluation, about 0.1 s
SCRYPT_R = 8
SCRYPT_P = 1


@cache
def wordlist() -> tuple[str, ...]:
    words = xkcd_password.generate_wordlist(
        wordfile=xkcd_password.locate_wordfile("eff-long"), min_length=1, max_length=64
    )
    unique = tuple(sorted(set(words)))
    if len(unique) < 7776:
        raise RuntimeError("receipt wordlist is smaller than the EFF large list")
    return unique


def generate() -> str:
    words = wordlist()
    return " ".join(secrets.choice(words) for _ in range(WORDS))


@sensitive_variables("code", "text")
def normalize(code: str) -> str:
    """Forgive case, accents, extra spaces, hyphens: the words are what count."""
    text = unicodedata.normalize("NFKD", code).encode("ascii", "ignore").decode().lower()
    for separator in "-_.,;":
        text = text.replace(separator, " ")
    return " ".join(text.split())


@sensitive_variables("code")
def _stretch(code: str, salt: bytes) -> bytes:
    """scrypt of the normalised code: 32 MiB and about 0.1 s per guess."""
    return hashlib.scrypt(normalize(code).encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                          p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip


class Secret:
    """A code's master secret: the one slow step, then cheap derivations. Never stored."""

    __slots__ = ("_master",)

    @sensitive_variables("code")
    def __init__(self, code: str) -> None:
        self._master = _stretch(code, settings.RECEIPT_SALT.encode())

    def __repr__(self) -> str:
        return "Secret(...)"

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._master, label, hashlib.sha256).digest()

    @property
    def digest(self) -> str:
        """What the database keeps to find the tip."""
        return self._derive(b"tipline/v2/receipt-digest").hex()

    @property
    def legacy_digest(self) -> str:
        """The digest a v1 tip keeps: scrypt(code) itself."""
        return self._master.hex()

    def identity(self, tip_id: object) -> crypto.Identity:
        """The source's own key for this tip."""
        return crypto.Identity(self._derive(b"tipline/v2/source-key/" + str(tip_id).encode()))


@sensitive_variables("code")
def digest(code: str) -> str:
    return Secret(code).digest


@sensitive_variables("code")
def source_identity(code: str, tip_id: object) -> crypto.Identity:
    """The source's own key for a tip made with this scheme (see the module's docstring)."""
    return Secret(code).identity(tip_id)


@sensitive_variables("code")
def legacy_source_identity(code: str, tip_id: object) -> crypto.Identity:
    """A v1 tip's source key: scrypt of the code, salted with the tip's id under the secret."""
    salt = hmac.new(settings.RECEIPT_SALT.encode(), b"tipline/v1/source-key/" +
                    str(tip_id).encode(), hashlib.sha256).digest()  # fmt: skip
    return crypto.Identity(_stretch(code, salt))


@sensitive_variables("code")
def matches(code: str, stored: str) -> bool:
    return hmac.compare_digest(digest(code), stored)
