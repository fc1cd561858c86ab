"""Sign-in and sign-out: the session's sealed keys, its start time, the audit log."""

from __future__ import annotations

import time

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from . import audit, custody
from .middleware import SIGNED_IN_AT


@receiver(user_logged_in)
def _signed_in(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    if request is None:
        return
    request.session[SIGNED_IN_AT] = time.time()
    unlock = getattr(request, "_tipline_unlock", None)
    if unlock is not None:
        identities, key_ids = unlock
        request._tipline_unlock_cookie = custody.store(request.session, identities, key_ids)  # type: ignore[attr-defined]
        audit.record("signed_in", actor=user, detail=f"unlocked {len(key_ids)} key(s)")


@receiver(user_logged_out)
def _signed_out(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    if user is not None:
        audit.record("signed_out", actor=user)
