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
