"""Permissions come from the user and their groups, read in one query per request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User


def _perm(codename):
    return Permission.objects.get(codename=codename)


@pytest.mark.django_db
def test_group_and_own_permissions_in_one_query(django_assert_num_queries):
    user = User.objects.create_user("op", password="x")
    group = Group.objects.create(name="crew")
    group.permissions.add(_perm("manage_all_overlays"))
    user.groups.add(group)
    user.user_permissions.add(_perm("manage_all_jobs"))
    user = User.objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        assert user.has_perm("overlays.manage_all_overlays")
        assert user.has_perm("jobs.manage_all_jobs")
        assert not user.has_perm("overlays.view_storage")
    assert user.get_all_permissions() == {"overlays.manage_all_overlays", "jobs.manage_all_jobs"}


@pytest.mark.django_db
def test_no_permission_without_a_grant_and_none_for_the_inactive():
    plain = User.objects.create_user("plain", password="x")
    assert not plain.has_perm("overlays.manage_all_overlays")
    inactive = User.objects.create_user("gone", password="x", is_active=False)
    inactive.user_permissions.add(_perm("manage_all_overlays"))
    assert not User.objects.get(pk=inactive.pk).has_perm("overlays.manage_all_overlays")


@pytest.mark.django_db
def test_a_superuser_has_every_permission_without_a_query(django_assert_num_queries):
    admin = User.objects.create_superuser("root", password="x")
    with django_assert_num_queries(0):
        assert admin.has_perm("overlays.view_storage")
