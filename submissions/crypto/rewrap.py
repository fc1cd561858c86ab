"""Key rotation without re-encryption: an age file's header, addressed anew.

The payload of an age file is encrypted under a random file key; the header only wraps that
key for each recipient. Re-wrapping opens the file key with the old identity and writes a new
header (the new recipients, the other recipients' stanzas as they were, the same binding, a new
MAC); the payload bytes are copied as they are.
"""

from __future__ import annotations

import hmac
from typing import BinaryIO

from .age import (
    BIND_TYPE,
    VERSION_LINE,
    DecryptionError,
    Identity,
    Recipient,
    _b64,
    _header_mac,
    _parse_header,
    _stanza,
    _x25519_stanza,
    binding_digest,
)


def _file_key(stanzas: list[tuple[bytes, list[bytes], bytes]],
              identities: list[Identity]) -> bytes | None:  # fmt: skip
    for kind, args, body in stanzas:
        if kind == b"X25519":
            for identity in identities:
                if (key := identity.unwrap(args, body)) is not None:
                    return key
    return None


def _others(stanzas: list[tuple[bytes, list[bytes], bytes]],
            identities: list[Identity]) -> list[tuple[bytes, list[bytes], bytes]]:  # fmt: skip
    """The X25519 stanzas for recipients other than `identities` (a source's own key on a
    reply): kept as they are when the file is re-addressed."""
    return [(kind, args, body) for kind, args, body in stanzas if kind == b"X25519"
            and all(identity.unwrap(args, body) is None for identity in identities)]  # fmt: skip


def addressed_to(source: BinaryIO, identities: list[Identity]) -> bool:
    """Whether the file's header wraps its key for one of `identities` (source is consumed)."""
    stanzas, _, _ = _parse_header(source)
    return _file_key(stanzas, identities) is not None


def rewrap_header(source: BinaryIO, *, identities: list[Identity], recipients: list[Recipient],
                  aad: str) -> bytes:  # fmt: skip
    """The new header for the age file `source` is positioned at the start of; afterwards
    `source` is positioned at its payload, which follows the new header unchanged."""
    stanzas, covered, mac = _parse_header(source)
    file_key = _file_key(stanzas, identities)
    if file_key is None:
        raise DecryptionError("no identity matches this file")
    if not hmac.compare_digest(_header_mac(file_key, covered), mac):
        raise DecryptionError("header MAC mismatch")
    bound = [args for kind, args, _ in stanzas if kind == BIND_TYPE]
    if bound != [[_b64(binding_digest(aad))]]:
        raise DecryptionError("blob is bound to another record")
    header = VERSION_LINE + b"\n"
    for _, args, body in _others(stanzas, identities):
        header += _stanza(b"X25519", args, body)
    for recipient in recipients:
        header += _x25519_stanza(file_key, recipient)
    header += _stanza(BIND_TYPE, [_b64(binding_digest(aad))], b"") + b"---"
    return header + b" " + _b64(_header_mac(file_key, header)) + b"\n"
