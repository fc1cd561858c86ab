"""Receipt codes: what a source keeps to come back. Shown once, never stored or logged.

A code is 7 words from the EFF large wordlist (7776 words, 12.9 bits each): 90.5 bits, beyond
brute force even against a stolen database, since each guess also costs a scrypt evaluation.
The database keeps scrypt(code, key=TIPLINE_RECEIPT_SALT): deterministic so it can be looked
up, keyed with a deployment secret so a dump alone cannot be tested offline, and slow.
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


@sensitive_variables("code")
def digest(code: str) -> str:
    return _stretch(code, settings.RECEIPT_SALT.encode()).hex()


@sensitive_variables("code")
def source_identity(code: str, tip_id: object) -> crypto.Identity:
    """The source's own key, derived from their code: replies are sealed to it (and to the
    newsroom), so the source reads them with the code and the server alone cannot.

    Salted with the tip's id under the deployment secret: without the secret, a copy of the
    database and a code found on someone's phone cannot be matched against the tips' public
    halves (as for the digest above)."""
    salt = hmac.new(settings.RECEIPT_SALT.encode(), b"tipline/v1/source-key/" +
                    str(tip_id).encode(), hashlib.sha256).digest()  # fmt: skip
    seed = _stretch(code, salt)
    return crypto.Identity(seed)


@sensitive_variables("code")
def matches(code: str, stored: str) -> bool:
    return hmac.compare_digest(digest(code), stored)
