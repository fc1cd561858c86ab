"""What a source holds after sending: the receipt code on the page, and the tip it opens."""

from __future__ import annotations

import re

from submissions import receipts
from submissions.models import Tip


def receipt_code(page: str) -> str:
    match = re.search(r'id="receipt-code">([^<]+)<', page)
    assert match, page[-2000:]
    return match.group(1)


def tip_of(code: str) -> Tip:
    """The tip this code opens. Not "the newest tip": times are kept to the hour only."""
    return Tip.objects.get(receipt_hash=receipts.digest(code))
