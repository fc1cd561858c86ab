"""Granting permissions to the staff roles, for the data migrations that define them.

Permissions are otherwise created after `migrate` has finished; a migration that hands them
out creates them first.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions


def grant(apps: Apps, roles: dict[str, list[tuple[str, str]]]) -> None:
    """Give each group (created if missing) its (app label, codename) permissions."""
    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, permissions in roles.items():
        group, _ = group_model.objects.get_or_create(name=name)
        for app_label, codename in permissions:
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
