"""Django's model backend, reading a user's permissions in one query instead of two; the
per-address login limit django-axes is given."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import Model, Q, Sum
from django.http import HttpRequest
from django.utils import timezone

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


def login_failure_limit(request: HttpRequest, credentials: object = None) -> int:
    """AXES_FAILURE_LIMIT: LEFT4ME_LOGIN_FAILURES wrong passwords for one username from one
    address; none at all (0: locked) once the address has LEFT4ME_LOGIN_FAILURES_PER_ADDRESS
    within the lockout time, whatever usernames it tried. axes counts failures per parameter set
    against a single limit, so the per-address threshold is checked here."""
    return 0 if address_locked(request) else settings.LEFT4ME_LOGIN_FAILURES


def address_locked(request: HttpRequest) -> bool:
    """Whether the request's address has reached LEFT4ME_LOGIN_FAILURES_PER_ADDRESS (one query)."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return False
    since = timezone.now() - timedelta(minutes=settings.LEFT4ME_LOGIN_LOCKOUT_MINUTES)
    attempts = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)
    failures = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
    return bool(failures >= settings.LEFT4ME_LOGIN_FAILURES_PER_ADDRESS)
