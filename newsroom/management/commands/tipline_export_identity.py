"""Export the newsroom identity for an air-gapped machine, under a passphrase (age scrypt).

age -d -o newsroom.key newsroom.key.age     # asks for the passphrase
age -d -i newsroom.key tip-blob.age > file  # then any stored blob opens offline
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from newsroom import audit, cli
from submissions import crypto

MIN_PASSPHRASE = 16


class Command(BaseCommand):
    help = (
        "Write the newsroom identities the --by editor holds to a file encrypted with a "
        "passphrase (age format, scrypt): `age -d` opens it on an offline machine."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_password_arguments(parser)
        parser.add_argument("-o", "--output", type=Path, required=True)
        parser.add_argument(
            "--passphrase-file", type=Path, help="read the passphrase from a file, not a terminal"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output: Path = options["output"]
        if output.exists():
            raise CommandError(f"{output} exists; refusing to overwrite it")
        actor, identities = cli.unlock_as(options)
        passphrase = cli.read_secret(options["passphrase_file"], "Passphrase for the export: ")
        if options["passphrase_file"] is None and passphrase != cli.read_secret(None, "Again: "):
            raise CommandError("the passphrases differ")
        if len(passphrase) < MIN_PASSPHRASE:
            raise CommandError(f"use a passphrase of at least {MIN_PASSPHRASE} characters")
        text = "".join(
            f"# public key: {identity.recipient}\n{identity.secret_str()}\n"
            for identity in identities
        )
        sealed = crypto.seal_with_passphrase(text.encode(), passphrase)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
        audit.record("identity_exported", actor=actor, detail=f"{len(identities)} key(s)")
        self.stdout.write(f"Wrote {output}: open it with `age -d` and the passphrase.")
