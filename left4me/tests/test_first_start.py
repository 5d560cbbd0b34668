"""A first start: the login page says where the admin's password is until anyone has logged in,
and `make run` prints ensure_admin's note last, framed, once everything answers."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from left4me.management.commands import announce_when_up
from left4me.management.commands.announce_when_up import framed, wait_until

pytestmark = pytest.mark.django_db


def test_the_login_page_says_where_the_first_password_is_until_someone_logs_in(client, superuser):
    body = client.get("/accounts/login/").content.decode()
    assert "Log in as <strong>root</strong>." in body
    assert "framed block at the end of its output" in body
    assert "manage.py changepassword root" in body

    superuser.last_login = timezone.now()
    superuser.save(update_fields=["last_login"])
    assert 'id="first-start"' not in client.get("/accounts/login/").content.decode()


def test_without_an_admin_the_login_page_has_no_note(client, owner):
    assert 'id="first-start"' not in client.get("/accounts/login/").content.decode()


def test_the_note_comes_framed_once_everything_answers(monkeypatch):
    monkeypatch.setenv(
        "LEFT4ME_ADMIN_NOTE",
        "created admin account: username=boss\npassword (shown once, change it after logging in): s3cret",
    )
    monkeypatch.setattr(announce_when_up, "wait_until", lambda checks, **kw: len(checks) == 3)
    out = io.StringIO()
    call_command("announce_when_up", "--bind", "127.0.0.1:8123", stdout=out)

    lines = out.getvalue().strip().splitlines()
    assert lines[0] == lines[-1] and set(lines[0]) == {"+", "-"}
    assert all(
        line.startswith("| ") and line.endswith(" |") and len(line) == len(lines[0]) for line in lines[1:-1]
    )
    text = "\n".join(lines)
    assert "left4me is up at http://127.0.0.1:8123/" in text
    assert "password (shown once, change it after logging in): s3cret" in text
    assert "Log in at http://127.0.0.1:8123/accounts/login/" in text
    assert "manage.py changepassword boss" in text


def test_no_note_prints_nothing(monkeypatch):
    monkeypatch.delenv("LEFT4ME_ADMIN_NOTE", raising=False)
    out = io.StringIO()
    call_command("announce_when_up", stdout=out)
    assert out.getvalue() == ""


def test_waiting_gives_up_when_honcho_is_gone_or_time_runs_out(monkeypatch):
    monkeypatch.setattr(announce_when_up, "POLL_SECONDS", 0.01)
    assert wait_until([lambda: True, lambda: True], pid=None, timeout=1)
    assert not wait_until([lambda: False], pid=None, timeout=0.05)
    assert not wait_until([lambda: False], pid=2**22 + 12345, timeout=60)  # no such process

    def broken() -> bool:
        raise ConnectionError("redis not up yet")

    assert not wait_until([broken], pid=None, timeout=0.05)


def test_framed_lines_share_one_width():
    assert framed(["ab", "abcd"]) == "+------+\n| ab   |\n| abcd |\n+------+"
