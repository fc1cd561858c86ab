"""Triage: editors change tips (status, priority, assignee, labels, title) and labels;
administrators also purge tips."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from newsroom import roles

ADDED = {
    "Editors": [("submissions", "change_tip"), ("submissions", "view_label"),
                ("submissions", "add_label"), ("submissions", "view_tipchange")],
    "Admins": [("submissions", "change_tip"), ("submissions", "delete_tip"),
               ("submissions", "view_label"), ("submissions", "add_label"),
               ("submissions", "change_label"), ("submissions", "delete_label"),
               ("submissions", "view_tipchange")],
}  # fmt: skip


def add_permissions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    roles.grant(apps, ADDED)


class Migration(migrations.Migration):
    dependencies = [("newsroom", "0002_roles"), ("submissions", "0002_triage")]
    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
