"""Who holds the newsroom key, and how an editor's session gets it.

    password --Argon2id--> wraps the editor's personal identity      (StaffKey)
    personal identity    --age-->  opens the newsroom identities      (Envelope, one per key)
    newsroom identities  --age-->  open notes, links, files, reports

At sign-in the password unwraps the personal identity, which opens the envelopes. The newsroom
identities are then sealed under a random key that lives only in the editor's cookie; the
sealed bytes live in the server-side session. A request carrying both gets them back for its
own duration (a context variable), never longer. Logout, expiry, revocation and a password
change end it. Nothing at rest — database, storage, settings, Redis, logs — opens a tip
without an editor's password.

Personal keys exist so that granting access or rotating the newsroom key never needs another
editor's password: both seal to public halves.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from submissions import crypto
from submissions.crypto import password as passwords

from .models import Envelope, NewsroomKey, StaffKey

logger = logging.getLogger(__name__)

SESSION_SEALED = "tipline_unlocked"
SESSION_KEYS = "tipline_unlocked_keys"
COOKIE = "tipline_unlock"

_unlocked: contextvars.ContextVar[tuple[crypto.Identity, ...]] = contextvars.ContextVar(
    "tipline_unlocked", default=()
)


class Locked(Exception):
    """This request holds no newsroom key (not signed in with a password, or no access)."""


class WouldLoseKey(Exception):
    """The change would leave a newsroom key with no holder: every tip would be lost."""


# ----------------------------------------------------------------------- personal keys


def _staff_aad(user: AbstractBaseUser) -> str:
    return crypto.binding("staff-key", user.pk, "identity")


def _envelope_aad(key: NewsroomKey, user: AbstractBaseUser) -> str:
    return crypto.binding("envelope", f"{key.pk}:{user.pk}", "identity")


def set_personal_key(user: AbstractBaseUser, password: str,
                     identity: crypto.Identity | None = None) -> crypto.Identity:  # fmt: skip
    """Wrap `identity` (a new one by default) under `password`: the user's personal key."""
    identity = identity or crypto.Identity.generate()
    parameters = passwords.new_parameters(settings.KDF_MEMORY_KIB)
    wrapped = passwords.wrap(identity.private_key, password, aad=_staff_aad(user),
                             parameters=parameters)  # fmt: skip
    StaffKey.objects.update_or_create(
        user=user,
        defaults={"recipient": str(identity.recipient), "kdf": parameters, "wrapped": wrapped},
    )
    return identity


def personal_key(user: AbstractBaseUser, password: str) -> crypto.Identity | None:
    """The user's personal identity; None when it no longer opens with this (correct)
    password: someone else set the password, so the old key is lost and access with it."""
    try:
        stored = StaffKey.objects.get(user=user)
    except StaffKey.DoesNotExist:
        return None
    try:
        secret = passwords.unwrap(bytes(stored.wrapped), password, aad=_staff_aad(user),
                                  parameters=stored.kdf)  # fmt: skip
    except crypto.DecryptionError:
        return None
    identity = crypto.Identity(secret)
    if str(identity.recipient) != stored.recipient:  # grants would go to someone else's key
        raise crypto.DecryptionError("the stored personal key does not match its public half")
    return identity


def sign_in(user: AbstractBaseUser, password: str) -> tuple[list[crypto.Identity], list[str]]:
    """Unlock at sign-in (the password was just checked): the newsroom identities this user
    holds and their key ids. A user whose password someone else set has a personal key that
    no longer opens: they get a new one, to be granted access to again (the envelopes sealed
    to the old one stay, useless, until then: nothing is deleted on the way)."""
    try:
        personal = personal_key(user, password)
    except crypto.DecryptionError:
        logger.warning("staff_key.mismatch user=%s", user.pk)  # tampered: left for a human
        return [], []
    if personal is None:
        set_personal_key(user, password)
        return [], []
    return _open_envelopes(user, personal)


def unlock(user: AbstractBaseUser, password: str) -> list[crypto.Identity]:
    """The newsroom identities `user` holds, for a management command; Locked otherwise."""
    if not user.check_password(password):
        raise Locked("wrong username or password")
    try:
        personal = personal_key(user, password)
    except crypto.DecryptionError as exc:
        raise Locked(str(exc)) from exc
    identities = _open_envelopes(user, personal)[0] if personal else []
    if not identities:
        raise Locked(f"{user.get_username()} holds no newsroom key")
    return identities


def _open_envelopes(
    user: AbstractBaseUser, personal: crypto.Identity
) -> tuple[list[crypto.Identity], list[str]]:
    identities, key_ids = [], []
    for envelope in Envelope.objects.filter(user=user).select_related("key"):
        try:
            secret = crypto.open_bytes(bytes(envelope.sealed), identities=[personal],
                                       aad=_envelope_aad(envelope.key, user))  # fmt: skip
        except crypto.DecryptionError:
            continue  # sealed to an older personal key: unusable, left for revocation
        identities.append(crypto.Identity.parse(secret.decode()))
        key_ids.append(str(envelope.key_id))
    return identities, key_ids


def change_password(user: AbstractBaseUser, old: str, new: str) -> None:
    """Re-wrap the personal key under the new password (a new key if the old was lost)."""
    set_personal_key(user, new, personal_key(user, old))


# ---------------------------------------------------------------------- access to keys


def seal_for(key: NewsroomKey, identity: crypto.Identity, user: AbstractBaseUser) -> None:
    """Give `user` access to `key`: its identity sealed to the user's personal key."""
    staff_key = StaffKey.objects.get(user=user)
    sealed = crypto.seal_bytes(identity.secret_str().encode(),
                               recipients=[crypto.Recipient.parse(staff_key.recipient)],
                               aad=_envelope_aad(key, user))  # fmt: skip
    Envelope.objects.update_or_create(key=key, user=user, defaults={"sealed": sealed})


def grant(user: AbstractBaseUser, identities: list[crypto.Identity]) -> int:
    """Seal every newsroom key the granter holds for `user`. Idempotent; returns how many.

    Only to accounts that signed in and set up their authenticator: before that, whoever
    knows the initial password could enrol their own phone and read everything."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not StaffKey.objects.filter(user=user).exists():
        raise Locked("this account has never signed in: it has no personal key yet")
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise Locked("this account has not set up its authenticator app yet")
    granted = 0
    by_recipient = {str(identity.recipient): identity for identity in identities}
    for key in NewsroomKey.objects.filter(recipient__in=by_recipient):
        seal_for(key, by_recipient[key.recipient], user)
        granted += 1
    return granted


def sole_holder(user: AbstractBaseUser) -> bool:
    """Whether some newsroom key has no other holder than `user`."""
    for key_id in Envelope.objects.filter(user=user).values_list("key_id", flat=True):
        if not Envelope.objects.filter(key_id=key_id).exclude(user=user).exists():
            return True
    return False


def revoke(user: AbstractBaseUser) -> int:
    """Remove every envelope of `user`; open sessions lose the keys on their next request.
    Refused for the last holder of a key."""
    with transaction.atomic():
        if sole_holder(user):
            raise WouldLoseKey(
                f"{user.get_username()} is the only holder of a newsroom key: grant it to "
                "someone else first"
            )
        deleted, _ = Envelope.objects.filter(user=user).delete()
    return deleted


# ------------------------------------------------------------------------ the session


def store(session: object, identities: list[crypto.Identity], key_ids: list[str]) -> str:
    """Seal the identities into the session; return the cookie value that opens them."""
    cookie_key = os.urandom(32)
    secret = json.dumps([identity.secret_str() for identity in identities]).encode()
    session[SESSION_SEALED] = base64.b64encode(  # type: ignore[index]
        passwords.session_seal(secret, cookie_key, aad="tipline/session")
    ).decode()
    session[SESSION_KEYS] = key_ids  # type: ignore[index]
    return base64.urlsafe_b64encode(cookie_key).decode()


def load(session: object, cookie: str | None, user: AbstractBaseUser) -> list[crypto.Identity]:
    """The identities the session holds, if the cookie opens them and the user still has
    access to every key they were unlocked for (revocation and rotation take effect now)."""
    sealed = session.get(SESSION_SEALED)  # type: ignore[attr-defined]
    key_ids = session.get(SESSION_KEYS) or []  # type: ignore[attr-defined]
    if not sealed or not cookie or not key_ids:
        return []
    held = {str(pk) for pk in Envelope.objects.filter(user=user).values_list("key_id", flat=True)}
    if not set(key_ids) <= held:
        return []
    try:
        secret = passwords.session_open(base64.b64decode(sealed),
                                        base64.urlsafe_b64decode(cookie),
                                        aad="tipline/session")  # fmt: skip
    except (crypto.DecryptionError, ValueError):
        return []
    return [crypto.Identity.parse(text) for text in json.loads(secret)]


@contextmanager
def unlocked(identities: list[crypto.Identity]) -> Iterator[None]:
    """Make `identities` the newsroom keys of the code run inside (one request, one command)."""
    token = _unlocked.set(tuple(identities))
    try:
        yield
    finally:
        _unlocked.reset(token)


def current_identities() -> list[crypto.Identity]:
    identities = list(_unlocked.get())
    if not identities:
        raise Locked("the newsroom key is locked: sign in again with your password")
    return identities


def create_newsroom_key() -> crypto.Identity:
    """A new newsroom key pair; current if there is no current key yet. The caller seals
    the identity for someone (it exists nowhere else)."""
    identity = crypto.Identity.generate()
    NewsroomKey.objects.create(
        recipient=str(identity.recipient),
        current=not NewsroomKey.objects.filter(current=True).exists(),
    )
    return identity
