"""Links: drop the query parameters that track clicks or identify who shared the link.

Sharing a link from an app often appends the sharer's id (igsh, si, s/t on X, _r/_t on
TikTok...). Only parameters known to be tracking are removed; the rest of the link, which may
be what makes it point at the right thing, is kept as is.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "hsa_", "oly_", "__hs", "_hs")
TRACKING = {
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
    "ttclid", "li_fat_id", "igsh", "igshid", "si", "mibextid", "ref_src", "ref_url",
    "_openstat", "vero_id", "wickedid", "rb_clickid", "s_cid", "ncid", "sr_share", "share_id",
    "share_app_id", "sender_device", "sender_web_id", "is_from_webapp", "is_copy_url",
    "utm", "xmt", "feature", "app", "rdt", "trk", "trkCampaign", "spm", "_ga", "_gl",
}  # fmt: skip
# Parameters that track only on some hosts (elsewhere they can be meaningful).
HOST_TRACKING = {
    ("x.com", "twitter.com"): {"s", "t"},
    ("tiktok.com",): {"_r", "_t", "_d", "u_code", "user_id", "share_item_id", "timestamp"},
    ("youtube.com", "youtu.be"): {"pp"},
    ("facebook.com", "fb.com", "fb.watch"): {"rdid", "share_url", "sfnsn"},
    ("instagram.com",): {"img_index"},
}


def _host_tracking(host: str) -> set[str]:
    found: set[str] = set()
    for hosts, names in HOST_TRACKING.items():
        if any(host == h or host.endswith("." + h) for h in hosts):
            found |= names
    return found


def clean_link(url: str) -> tuple[str, list[str]]:
    """Return the link without tracking parameters, and the names removed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    per_host = _host_tracking(host)
    kept, removed = [], []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        lowered = name.lower()
        if lowered in TRACKING or lowered.startswith(TRACKING_PREFIXES) or name in per_host:
            removed.append(name)
        else:
            kept.append((name, value))
    if not removed:
        return url, []
    return urlunsplit(parts._replace(query=urlencode(kept))), removed
