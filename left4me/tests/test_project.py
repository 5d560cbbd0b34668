from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_system_check_is_clean() -> None:
    call_command("check", fail_level="WARNING")


def test_no_missing_migrations() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.parametrize(
    "model", [m for m in apps.get_models() if m in site._registry], ids=lambda m: m._meta.label
)
def test_admin_pages_load_for_staff(admin_client: Client, model) -> None:
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(changelist + "?q=x").status_code == 200
    if site._registry[model].has_add_permission(_request_for(admin_client)):
        assert admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200


def _request_for(client: Client):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = get_user_model().objects.get(username="admin")
    return request


def test_every_project_model_is_in_the_admin() -> None:
    ours = [m for m in apps.get_models() if m._meta.app_label in {"overlays", "workshop", "jobs"}]
    assert ours and all(m in site._registry for m in ours)


def test_anonymous_user_is_sent_to_login(client: Client) -> None:
    for url in ["/", "/overlays/", "/jobs/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_login_then_home_redirects_to_overlays(client: Client, django_user_model) -> None:
    django_user_model.objects.create_user("alice", password="s3cret-pass")
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    bad = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert bad.status_code == 200 and b"didn't match" in bad.content
    response = client.post("/accounts/login/", {"username": "alice", "password": "s3cret-pass"})
    assert response.status_code == 302 and response["Location"] == "/overlays/"
    assert client.get("/")["Location"] == "/overlays/"
    overlays = client.get("/overlays/")
    assert overlays.status_code == 200 and b"Log out alice" in overlays.content


def test_logout_ends_the_session(client: Client, django_user_model) -> None:
    user = django_user_model.objects.create_user("bob", password="pw-123456")
    client.force_login(user)
    assert client.get("/overlays/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logout is a POST, CSRF-protected
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/overlays/").status_code == 302


def test_navigation_shows_admin_only_to_staff(
    client: Client, admin_client: Client, django_user_model
) -> None:
    client.force_login(django_user_model.objects.create_user("carol", password="pw-123456"))
    assert b'href="/admin/"' not in client.get("/overlays/").content
    assert b'href="/admin/"' in admin_client.get("/overlays/").content


def test_static_assets_are_served_locally(client: Client) -> None:
    response = client.get("/static/left4me/style.css")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"--accent" in body


def test_ensure_admin_creates_one_account_once(monkeypatch: pytest.MonkeyPatch, django_user_model) -> None:
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    text = out.getvalue()
    assert "username=admin" in text and "password (shown once" in text
    password = text.rsplit(": ", 1)[1].strip()
    assert django_user_model.objects.get(username="admin").check_password(password)
    again = io.StringIO()
    call_command("ensure_admin", stdout=again)
    assert again.getvalue() == ""
    assert django_user_model.objects.filter(is_superuser=True).count() == 1


def test_ensure_admin_takes_password_from_env(monkeypatch: pytest.MonkeyPatch, django_user_model) -> None:
    monkeypatch.setenv("LEFT4ME_ADMIN_PASSWORD", "chosen-by-operator")
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "chosen-by-operator" not in out.getvalue()
    assert django_user_model.objects.get(username="admin").check_password("chosen-by-operator")


def test_pages_ask_for_news_as_often_as_the_setting_says(client: Client, django_user_model, settings) -> None:
    """LEFT4ME_PAGE_POLL_SECONDS reaches the scripts of every page (overlay, job, server lines)."""
    client.force_login(django_user_model.objects.create_user("carol", password="pw-123456"))
    settings.LEFT4ME_PAGE_POLL_SECONDS = 5
    assert b'<body data-poll-ms="5000">' in client.get("/overlays/").content
    settings.LEFT4ME_PAGE_POLL_SECONDS = 0.25
    assert b'<body data-poll-ms="250">' in client.get("/servers/").content
