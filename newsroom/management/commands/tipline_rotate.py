"""Rotate the newsroom key: resumable, and no file body is re-encrypted."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsroom import cli, rotation


class Command(BaseCommand):
    help = (
        "Create a new newsroom key, re-address every stored ciphertext to it and delete the old "
        "one. Safe to interrupt and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_password_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        actor, identities = cli.unlock_as(options)
        try:
            progress = rotation.rotate(identities, actor=actor)
        except rotation.RotationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{progress.rewrapped} ciphertexts re-wrapped, {progress.already} already done."
        )
        for note in progress.notes:
            self.stdout.write(note)
        if not progress.finished:
            raise CommandError("not finished yet: run the command again")
        self.stdout.write("Rotation finished: the old key is gone. Editors sign in again.")
