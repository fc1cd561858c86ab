"""A key of its own for every stored file: crypto-shredding.

Each blob (an upload as it arrives, then its cleaned file) is age-encrypted to a fresh X25519
key made for it alone. The secret half is kept nowhere but sealed in the attachment's row
(`blob_key`): to the intake key while the blob is the upload, to the newsroom key once it is
the cleaned file. Deleting the row (a purge) destroys the key, so a copy of the blob from a
storage backup no longer opens, even with the newsroom key. (Database backups made before
the purge still hold the sealed key: keep them short-lived, or rotate the newsroom key after
purging and destroy the old key's offline copies: old backups are then sealed to a key nobody
holds.)

Rows from before this scheme have no `blob_key`: their blob is encrypted to the intake or
newsroom key directly, and a key rotation moves a cleaned one to a key of its own.
"""

from __future__ import annotations

from . import crypto


def new() -> crypto.Identity:
    return crypto.Identity.generate()


def _aad(attachment_id: object, purpose: str) -> str:
    return crypto.binding("attachment", attachment_id, f"{purpose}-key")


def seal(identity: crypto.Identity, *, to: list[crypto.Recipient], attachment_id: object,
         purpose: str) -> bytes:  # fmt: skip
    """The file key's secret half, sealed to `to` and bound to this attachment and purpose
    ("raw" for an upload, "clean" for a cleaned file)."""
    return crypto.seal_bytes(identity.secret_str().encode(), recipients=to,
                             aad=_aad(attachment_id, purpose))  # fmt: skip


def identities(sealed: bytes | None, *, opener: list[crypto.Identity], attachment_id: object,
               purpose: str) -> list[crypto.Identity]:  # fmt: skip
    """What opens the blob: its own key, unsealed with `opener`; for a row from before file
    keys (`sealed` empty), `opener` itself."""
    if not sealed:
        return opener
    secret = crypto.open_bytes(bytes(sealed), identities=opener, aad=_aad(attachment_id, purpose))
    return [crypto.Identity.parse(secret.decode())]
