"""Receipt codes: enough entropy, slow keyed hash, forgiving input."""

from __future__ import annotations

import math

import pytest

from submissions import receipts


def test_code_has_at_least_90_bits():
    words = receipts.wordlist()
    assert len(words) == 7776 == len(set(words))
    assert receipts.WORDS * math.log2(len(words)) >= 90
    code = receipts.generate()
    assert len(code.split()) == receipts.WORDS
    assert all(word in words for word in code.split())


def test_codes_are_random():
    assert len({receipts.generate() for _ in range(200)}) == 200


def test_hash_is_deterministic_keyed_and_forgiving(settings):
    code = "abacus abdomen able about above absent absorb"
    stored = receipts.digest(code)
    assert len(stored) == 64 and code not in stored
    assert receipts.matches("  Abacus-abdomen ABLE about above absent   absorb ", stored)
    assert not receipts.matches(code.replace("absorb", "abstain"), stored)
    settings.RECEIPT_SALT = "another-deployment"
    assert receipts.digest(code) != stored


@pytest.mark.parametrize("text", ["ábacus", "ABACUS"])
def test_normalize(text):
    assert receipts.normalize(text) == "abacus"


def test_one_scrypt_gives_unrelated_digest_and_keys(monkeypatch):
    """The code's one slow step, then HMACs: the stored digest, each tip's source key and the
    legacy digest are all different, and deterministic."""
    calls: list[int] = []
    stretch = receipts._stretch
    monkeypatch.setattr(receipts, "_stretch",
                        lambda text, salt: calls.append(1) or stretch(text, salt))  # fmt: skip
    code = receipts.generate()
    secret = receipts.Secret(code)
    values = [secret.digest, secret.legacy_digest, secret.identity("tip-a").secret_str(),
              secret.identity("tip-b").secret_str()]  # fmt: skip
    assert len(calls) == 1
    assert len(set(values)) == 4
    assert secret.digest == receipts.digest(code)
    assert str(secret.identity("tip-a").recipient) == str(
        receipts.source_identity(code, "tip-a").recipient)  # fmt: skip
    assert repr(secret) == "Secret(...)"
