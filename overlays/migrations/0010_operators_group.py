"""The group "Operators": every in-app power over other users' things and the shared cache.

Permissions are normally created after `migrate` ends (post_migrate), too late for this step,
so it creates the ones it needs itself; running it twice changes nothing. Reversing it removes
the group (the permissions stay, as Django keeps them for the models).
"""

from django.db import migrations

OPERATORS = "Operators"
PERMISSIONS = [
    ("overlays", "overlay", "manage_all_overlays", "see and change every user's overlays"),
    (
        "overlays",
        "overlay",
        "view_storage",
        "see the workshop cache and collect it, and read /healthz's detail",
    ),
    ("jobs", "job", "manage_all_jobs", "see and cancel every user's jobs"),
]


def create_operators(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=OPERATORS)
    for app_label, model, codename, name in PERMISSIONS:
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def remove_operators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=OPERATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0008_job_permissions"),
        ("overlays", "0009_overlay_permissions"),
    ]

    operations = [migrations.RunPython(create_operators, remove_operators)]
