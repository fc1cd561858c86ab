from __future__ import annotations

import pytest

from submissions.scrub.links import clean_link


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.com/a?utm_source=x&utm_medium=y&id=7", "https://example.com/a?id=7"),
    ("https://www.instagram.com/p/Cabc/?igsh=MWZ3ZXN0", "https://www.instagram.com/p/Cabc/"),
    ("https://youtu.be/dQw4w9WgXcQ?si=AbCdEf12", "https://youtu.be/dQw4w9WgXcQ"),
    ("https://x.com/user/status/1?s=20&t=AbCdEf", "https://x.com/user/status/1"),
    ("https://www.tiktok.com/@u/video/1?_r=1&_t=8abc&lang=es",
     "https://www.tiktok.com/@u/video/1?lang=es"),
    ("https://m.facebook.com/story.php?story_fbid=1&id=2&fbclid=IwAR0",
     "https://m.facebook.com/story.php?story_fbid=1&id=2"),
    ("https://news.example/?s=search+term", "https://news.example/?s=search+term"),
    ("https://example.com/path#frag", "https://example.com/path#frag"),
])  # fmt: skip
def test_tracking_parameters_removed(url, expected):
    assert clean_link(url)[0] == expected


def test_removed_names_reported():
    _, removed = clean_link("https://example.com/?gclid=1&mc_eid=2&q=3")
    assert removed == ["gclid", "mc_eid"]
