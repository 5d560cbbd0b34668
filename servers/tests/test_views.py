"""The routes of /servers/: who may use them, what they answer, and that bad input changes nothing."""

from __future__ import annotations

import pytest

from jobs.models import Job
from servers.models import AddonsChange, GameServer

pytestmark = pytest.mark.django_db


def _form(overlay, **fields):
    data = {
        "name": "Versus #2",
        "overlay": str(overlay.pk),
        "address": "10.0.0.5",
        "port": "27016",
        "rcon_port": "",
        "rcon_password": "hunter2-secret",
        "apply_policy": "announce",
    }
    return data | fields


def test_an_operator_registers_a_server(client, operator, overlay):
    client.force_login(operator)
    assert client.get("/servers/new/").status_code == 200
    response = client.post("/servers/new/", _form(overlay))
    server = GameServer.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/servers/{server.pk}/"
    assert (server.port, server.rcon_port, server.apply_policy) == (27016, 27016, "announce")


def test_bad_input_answers_400_with_the_reason_and_changes_nothing(client, operator, overlay, server):
    client.force_login(operator)
    response = client.post("/servers/new/", _form(overlay, port="99999"))
    assert response.status_code == 400
    assert "port: 99999 is not a port (1 to 65535)" in response.content.decode()
    response = client.post(f"/servers/{server.pk}/", _form(overlay, name="renamed", rcon_port="abc"))
    assert response.status_code == 400 and "rcon_port: a whole number is needed" in response.content.decode()
    assert list(GameServer.objects.values_list("name", flat=True)) == ["Versus #1"]


def test_the_password_is_never_shown_back(client, operator, overlay):
    client.force_login(operator)
    client.post("/servers/new/", _form(overlay))
    server = GameServer.objects.get()
    pages = client.get(f"/servers/{server.pk}/").content + client.get("/servers/").content
    pages += client.get(f"/servers/{server.pk}/status/").content
    pages += client.post("/servers/new/", _form(overlay, port="x")).content
    assert b"hunter2" not in pages
    assert server.rcon_password == "hunter2-secret"


def test_an_operator_changes_and_deletes_a_server(client, operator, overlay, server):
    client.force_login(operator)
    response = client.post(f"/servers/{server.pk}/", _form(overlay, rcon_password=""))
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.name, server.rcon_password) == ("Versus #2", "secret")
    assert client.post(f"/servers/{server.pk}/delete/").status_code == 302
    assert not GameServer.objects.exists()


def test_the_owner_sees_and_applies_but_does_not_change(client, owner, overlay, server, sent):
    client.force_login(owner)
    assert "Versus #1" in client.get("/servers/").content.decode()
    assert client.get(f"/servers/{server.pk}/").status_code == 200
    assert client.get("/servers/new/").status_code == 403
    assert client.post(f"/servers/{server.pk}/", _form(overlay)).status_code == 403
    assert client.post(f"/servers/{server.pk}/delete/").status_code == 403
    response = client.post(f"/servers/{server.pk}/apply/")
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.title == "apply to server 'Versus #1' · asked by hand"
    assert GameServer.objects.get().apply_now


def test_a_stranger_sees_nothing(client, stranger, server):
    client.force_login(stranger)
    assert "Versus #1" not in client.get("/servers/").content.decode()
    for url in (f"/servers/{server.pk}/", f"/servers/{server.pk}/status/"):
        assert client.get(url).status_code == 403
    assert client.post(f"/servers/{server.pk}/apply/").status_code == 403
    assert client.get("/servers/999999/").status_code == 404


def test_apply_and_delete_take_post_only(client, operator, server):
    client.force_login(operator)
    assert client.get(f"/servers/{server.pk}/apply/").status_code == 405
    assert client.get(f"/servers/{server.pk}/delete/").status_code == 405


def test_the_status_json(client, owner, server, sent):
    client.force_login(owner)
    AddonsChange.objects.create(overlay=server.overlay, build=7, items=3)
    GameServer.objects.filter(pk=server.pk).update(state="up", map="c1m1_hotel", players=2, max_players=4)
    client.post(f"/servers/{server.pk}/apply/")
    body = client.get(f"/servers/{server.pk}/status/").json()
    assert {
        k: body[k] for k in ("state", "map", "players", "max_players", "applied_build", "pending_changes")
    } == {
        "state": "up",
        "map": "c1m1_hotel",
        "players": 2,
        "max_players": 4,
        "applied_build": None,
        "pending_changes": 3,
    }
    assert body["apply_job"]["state"] == "queued"


def test_the_overlay_page_and_the_list_show_the_server_line(client, owner, overlay, server):
    client.force_login(owner)
    AddonsChange.objects.create(overlay=overlay, build=41, items=1)
    AddonsChange.objects.create(overlay=overlay, build=43, items=5)
    GameServer.objects.filter(pk=server.pk).update(
        state="up", map="c2m1_highway", players=3, max_players=8, applied_build=41
    )
    line = "up · c2m1_highway · 3/8 players · runs the addons of build 41; 5 items changed since"
    assert line in client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert line in client.get("/servers/").content.decode()


def test_the_admin_lists_servers(client, superuser, server):
    client.force_login(superuser)
    body = client.get("/admin/servers/gameserver/").content.decode()
    assert "Versus #1" in body and "unknown · not polled yet" in body
    assert "secret" not in client.get(f"/admin/servers/gameserver/{server.pk}/change/").content.decode()
