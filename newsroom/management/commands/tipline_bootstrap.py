"""Create the newsroom key and the first administrator, who holds it. Once per deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from newsroom import audit, cli, custody
from newsroom.models import NewsroomKey


class Command(BaseCommand):
    help = (
        "Create the newsroom key pair and the first administrator (Admins and Editors). The "
        "private key is stored only sealed to that administrator's password-protected key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument(
            "--password-file", type=Path, help="read the password from this file, not a terminal"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if NewsroomKey.objects.exists():
            raise CommandError("already bootstrapped: there is a newsroom key")
        username = options["username"]
        model = get_user_model()
        if model.objects.filter(username=username).exists():
            raise CommandError(f"{username} exists already")
        password = cli.read_secret(options["password_file"], f"Password for {username}: ")
        if options["password_file"] is None and password != cli.read_secret(None, "Again: "):
            raise CommandError("the passwords differ")
        candidate = model(username=username)
        try:
            password_validation.validate_password(password, candidate)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        with transaction.atomic():
            admin = model.objects.create_user(username, password=password, is_staff=True)
            admin.groups.add(*Group.objects.filter(name__in=["Admins", "Editors"]))
            identity = custody.create_newsroom_key()
            custody.set_personal_key(admin, password)
            custody.seal_for(NewsroomKey.objects.get(current=True), identity, admin)
            audit.record("bootstrapped", actor=admin, target=f"user:{admin.pk}")
        self.stdout.write(
            f"Created the newsroom key and {username} (Admins, Editors). Sign in at the staff "
            "site: you will be asked to set up an authenticator app first."
        )
