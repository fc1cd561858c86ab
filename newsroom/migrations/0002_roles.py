"""The two staff roles. Editors read and triage tips; Admins manage accounts and key access.

Access to the *content* of tips also needs the newsroom key (an envelope): a role alone
decrypts nothing.
"""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from newsroom import roles

ROLES = {
    "Editors": [("submissions", "view_tip"), ("submissions", "view_attachment")],
    "Admins": [
        ("submissions", "view_tip"),
        ("submissions", "view_attachment"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "view_user"),
        ("auth", "view_group"),
        ("newsroom", "manage_keys"),
        ("newsroom", "view_auditevent"),
    ],
}


def create_roles(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    roles.grant(apps, ROLES)


class Migration(migrations.Migration):
    dependencies = [
        ("newsroom", "0001_initial"),
        ("submissions", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
