"""Sign-in and sign-out: the session's sealed keys, its start time, the audit log."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from submissions import crypto

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


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _keep_the_key(sender: type, instance: object, update_fields: object = None,
                  **kwargs: object) -> None:  # fmt: skip
    """A password set other than by the owner's own change (admin, `changepassword`, shell)
    loses the personal key it wrapped, and the access with it: never for the last holder of
    a newsroom key. A new hash of the same password (a hasher upgrade at login) is fine."""
    if instance.pk is None or getattr(instance, "_tipline_rewrapping", False):  # type: ignore[attr-defined]
        return
    if update_fields is not None and "password" not in update_fields:  # type: ignore[operator]
        return
    stored = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()  # type: ignore[attr-defined]
    if stored is None or stored == instance.password:  # type: ignore[attr-defined]
        return
    raw = getattr(instance, "_password", None)
    try:
        if raw is not None and custody.personal_key(instance, raw) is not None:  # type: ignore[arg-type]
            return
    except crypto.DecryptionError:
        pass
    if custody.sole_holder(instance):  # type: ignore[arg-type]
        raise custody.WouldLoseKey(
            "this account is the only holder of the newsroom key: setting its password would "
            "lose every tip (grant access to someone else first)"
        )
