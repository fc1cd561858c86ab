"""Grant or revoke an editor's access to the newsroom key (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsroom import audit, cli, custody


class Command(BaseCommand):
    help = (
        "grant: seal the newsroom key for USER (the --by editor's password unlocks it); "
        "USER must have signed in once. revoke: remove USER's access; their sessions lose it "
        "on their next request."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["grant", "revoke"])
        parser.add_argument("username")
        cli.add_password_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        target = cli.user(options["username"])
        actor, identities = cli.unlock_as(options)  # who acts proves it, for the audit log
        if options["action"] == "revoke":
            try:
                removed = custody.revoke(target)
            except custody.WouldLoseKey as exc:
                raise CommandError(str(exc)) from exc
            audit.record("access_revoked", actor=actor, target=f"user:{target.pk}")
            self.stdout.write(f"Revoked: {removed} key(s) removed from {target.get_username()}.")
            return
        try:
            granted = custody.grant(target, identities)
        except custody.Locked as exc:
            raise CommandError(str(exc)) from exc
        audit.record("access_granted", actor=actor, target=f"user:{target.pk}")
        self.stdout.write(f"Granted {granted} key(s) to {target.get_username()}.")
