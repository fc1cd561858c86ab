"""Triage: editors change tips (status, priority, assignee, labels, title) and labels;
administrators also purge tips."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

ADDED = {
    "Editors": [("submissions", "change_tip"), ("submissions", "view_label"),
                ("submissions", "add_label"), ("submissions", "view_tipchange")],
    "Admins": [("submissions", "change_tip"), ("submissions", "delete_tip"),
               ("submissions", "view_label"), ("submissions", "add_label"),
               ("submissions", "change_label"), ("submissions", "delete_label"),
               ("submissions", "view_tipchange")],
}  # fmt: skip


def add_permissions(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, permissions in ADDED.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for app_label, codename in permissions:
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [("newsroom", "0002_roles"), ("submissions", "0002_triage")]
    operations = [migrations.RunPython(add_permissions, migrations.RunPython.noop)]
