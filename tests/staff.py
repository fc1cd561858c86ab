"""Staff accounts for tests, signed in the real way: password, authenticator code, unlock."""

from __future__ import annotations

from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from newsroom import custody
from newsroom.models import NewsroomKey
from newsroom.roles import grant
from submissions import crypto

PASSWORD = "a-long-password-123"


def make_staff(username: str, identity: crypto.Identity | None, *, role: str | None = "Editors",
               is_staff: bool = True, enrolled: bool = True) -> User:  # fmt: skip
    """A staff account with a personal key; with `identity`, access to the current key."""
    user = User.objects.create_user(username, password=PASSWORD, is_staff=is_staff)
    if role:
        if not Group.objects.filter(name=role).exists():  # flushed by a transactional test
            import importlib

            from django.apps import apps

            for module, roles in (
                ("0002_roles", "ROLES"),
                ("0003_triage_permissions", "ADDED"),
                ("0006_authenticator_resets", "ADDED"),
            ):
                defined = importlib.import_module(f"newsroom.migrations.{module}")
                grant(apps, getattr(defined, roles))
        user.groups.add(Group.objects.get(name=role))
    custody.set_personal_key(user, PASSWORD)
    if identity is not None:
        custody.seal_for(NewsroomKey.objects.get(current=True), identity, user)
    if enrolled:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


def code(device: TOTPDevice) -> str:
    """The authenticator's code now (as the phone shows it), usable once more."""
    device.refresh_from_db()
    device.last_t = -1
    device.save(update_fields=["last_t"])
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return str(value).zfill(device.digits)


def sign_in(user: User, password: str = PASSWORD, client: Client | None = None) -> Client:
    client = client or Client(HTTP_ACCEPT_LANGUAGE="en")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    response = client.post("/staff/login/", {
        "username": user.username, "password": password,
        "otp_token": code(device) if device else "", "next": "/staff/",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    return client
