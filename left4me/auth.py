"""Django's model backend, reading a user's permissions in one query instead of two."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Model, Q

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser


class ModelBackendOneQuery(ModelBackend):
    """Every page's navigation asks for a permission; ModelBackend reads the user's own and
    their groups' in two queries, this in one (the same set, cached on the user per request)."""

    def get_all_permissions(
        self, user_obj: AbstractBaseUser | AnonymousUser, obj: Model | None = None
    ) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        cached: set[str] | None = getattr(user_obj, "_perm_cache", None)
        if cached is None:
            perms = Permission.objects.all()
            if not getattr(user_obj, "is_superuser", False):
                perms = perms.filter(Q(user=user_obj) | Q(group__user=user_obj))
            names = perms.values_list("content_type__app_label", "codename").distinct()
            cached = {f"{app}.{codename}" for app, codename in names}
            user_obj.__dict__["_perm_cache"] = cached  # where ModelBackend keeps it too
        return cached
