"""Administrators may reset an account's authenticator (delete it: the account sets up a new one
at its next sign-in), e.g. after a server is seized; nobody can read one's secret."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from newsroom import roles

ADDED = {"Admins": [("otp_totp", "view_totpdevice"), ("otp_totp", "delete_totpdevice")]}


def add_permissions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    roles.grant(apps, ADDED)


class Migration(migrations.Migration):
    dependencies = [("newsroom", "0005_watermark"), ("otp_totp", "0003_add_timestamps")]
    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
