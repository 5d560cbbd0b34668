"""Login throttling (django-axes): a username and address pair is locked after too many wrong
passwords, the lock is kept in the database, and deleting the attempts lifts it."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from left4me.http import client_ip

LOGIN = "/accounts/login/"
PASSWORD = "correct horse battery"
MESSAGE = "Too many failed logins for this account from your address: try again in 15 minutes."


@pytest.fixture
def gamer(django_user_model):
    return django_user_model.objects.create_user("gamer", password=PASSWORD)


def _login(client: Client, username: str, password: str, ip: str = "203.0.113.7", **extra: str):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def _fail(client: Client, times: int, username: str = "gamer", ip: str = "203.0.113.7", **extra: str):
    for _ in range(times):
        _login(client, username, "wrong password", ip, **extra)


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/overlays/"


def test_a_wrong_password_shows_the_form_again(client, gamer):
    response = _login(client, "gamer", "wrong password")
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_five_failures_lock_the_account_from_that_address_even_with_the_right_password(client, gamer):
    _fail(client, 4)
    assert _logged_in(_login(Client(), "gamer", PASSWORD))  # four do not lock (and success resets)
    _fail(client, 5)

    response = _login(client, "gamer", PASSWORD)

    assert response.status_code == 429
    assert MESSAGE in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lock_holds_one_user_at_one_address(client, gamer, django_user_model):
    django_user_model.objects.create_user("other", password=PASSWORD)
    _fail(client, 5)

    assert _logged_in(_login(Client(), "other", PASSWORD))
    assert _logged_in(_login(Client(), "gamer", PASSWORD, ip="198.51.100.9"))
    assert _login(Client(), "gamer", PASSWORD).status_code == 429


def test_the_lock_is_in_the_database_so_a_restart_keeps_it(client, gamer):
    _fail(client, 5)

    attempt = AccessAttempt.objects.get(username="gamer", ip_address="203.0.113.7")
    assert attempt.failures_since_start == 5
    # A fresh client (no session, no cookies) is refused: nothing lives in the process.
    assert _login(Client(), "gamer", PASSWORD).status_code == 429


def test_deleting_the_attempts_in_the_admin_unlocks(client, gamer, superuser):
    _fail(client, 5)
    attempt = AccessAttempt.objects.get(username="gamer")
    admin = Client()
    admin.force_login(superuser)
    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "gamer" in listing.content.decode()

    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert _logged_in(_login(client, "gamer", PASSWORD))


def test_axes_reset_unlocks(client, gamer):
    _fail(client, 5)
    call_command("axes_reset_username", "gamer")
    assert _logged_in(_login(client, "gamer", PASSWORD))


def test_without_the_proxy_a_forwarded_for_header_changes_nothing(client, gamer, settings):
    settings.SECURE_COOKIES = False
    for n in range(5):
        _login(client, "gamer", "wrong password", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    response = _login(client, "gamer", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 429
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_behind_the_proxy_the_address_nginx_appended_counts(client, gamer, settings):
    settings.SECURE_COOKIES = True
    # nginx appends the address it was reached from; what the client wrote stays on the left.
    for n in range(5):
        _login(
            client,
            "gamer",
            "wrong password",
            ip="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7",
        )

    spoofed = _login(
        Client(), "gamer", PASSWORD, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="10.0.0.1, 203.0.113.7"
    )
    elsewhere = _login(Client(), "gamer", PASSWORD, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.9")

    assert spoofed.status_code == 429
    assert _logged_in(elsewhere)
    assert AccessAttempt.objects.get().ip_address == "203.0.113.7"


def test_client_ip_without_a_forwarded_header_is_the_socket_address(rf, settings):
    settings.SECURE_COOKIES = True
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"
    settings.SECURE_COOKIES = False
    assert client_ip(rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1")) == "127.0.0.1"


def test_one_address_trying_many_usernames_is_locked_for_every_username(client, gamer, settings):
    assert settings.LEFT4ME_LOGIN_FAILURES_PER_ADDRESS == 20  # the default, above the per-user 5
    for n in range(5):
        _fail(client, 4, username=f"guess{n}")  # 4 each: no username reaches its own lock
    assert _logged_in(_login(Client(), "gamer", PASSWORD, ip="198.51.100.9"))  # another address

    response = _login(Client(), "gamer", PASSWORD)  # the right password, from the address

    assert response.status_code == 429
    assert "Too many failed logins from your address: try again in 15 minutes." in response.content.decode()
    assert _login(Client(), "nobody-yet", "x").status_code == 429


def test_fewer_failures_than_the_address_limit_lock_no_one_else(client, gamer, settings):
    settings.LEFT4ME_LOGIN_FAILURES_PER_ADDRESS = 9
    _fail(client, 4, username="guess1")
    _fail(client, 4, username="guess2")

    assert _logged_in(_login(Client(), "gamer", PASSWORD))
