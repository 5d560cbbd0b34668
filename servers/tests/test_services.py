"""Registering servers, who may see and change them, and the enqueue of applies after builds."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from jobs.models import Job
from servers.models import AddonsChange, GameServer
from servers.services import (
    ServerError,
    addons_changed,
    server_apply_enqueue,
    server_for_user,
    server_save,
    servers_visible_to,
)

pytestmark = pytest.mark.django_db


def _form(overlay_row, **fields):
    data = {"name": "Coop #2", "overlay": str(overlay_row.pk), "address": "10.0.0.5", "rcon_password": "pw"}
    return data | fields


def test_defaults_port_rcon_port_host_and_policy(overlay):
    server = server_save(data=_form(overlay))
    assert (server.port, server.rcon_port, server.host, server.apply_policy) == (
        27015, 27015, overlay.host, "when_empty"
    )  # fmt: skip
    assert server_save(data=_form(overlay, name="b", port="27016")).rcon_port == 27016


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"port": "70000"}, "port: 70000 is not a port"),
        ({"port": "x"}, "port: a whole number is needed"),
        ({"rcon_port": "0"}, "rcon_port: 0 is not a port"),
        ({"overlay": "999999"}, "overlay: no such overlay"),
        ({"address": "10.0.0.5 x"}, "address: a host name or IP address has no spaces"),
        ({"address": ""}, "address:"),
        ({"name": ""}, "name:"),
        ({"apply_policy": "sometimes"}, "apply_policy:"),
    ],
)
def test_bad_input_is_refused_with_its_reason_and_saves_nothing(overlay, fields, reason):
    with pytest.raises(ServerError, match=reason.replace("(", r"\(")):
        server_save(data=_form(overlay, **fields))
    assert not GameServer.objects.exists()


def test_a_second_server_of_the_same_name_is_refused(overlay):
    server_save(data=_form(overlay))
    with pytest.raises(ServerError, match="name: a server with this name already exists"):
        server_save(data=_form(overlay))


def test_an_empty_password_keeps_the_stored_one_on_a_change(overlay):
    server = server_save(data=_form(overlay, rcon_password="first"))
    server_save(data=_form(overlay, rcon_password="", address="10.0.0.6"), server=server)
    server.refresh_from_db()
    assert (server.rcon_password, server.address) == ("first", "10.0.0.6")


def test_the_password_is_in_no_repr_nor_str(overlay):
    server = server_save(data=_form(overlay, rcon_password="hunter2-secret"))
    assert "hunter2" not in repr(server) + str(server) + server.status_line


def test_operators_hold_manage_servers():
    assert Group.objects.get(name="Operators").permissions.filter(codename="manage_servers").exists()


def test_owners_see_their_overlays_servers_operators_all(overlay, owner, stranger, operator):
    server = server_save(data=_form(overlay))
    assert list(servers_visible_to(owner)) == [server]
    assert list(servers_visible_to(stranger)) == []
    assert list(servers_visible_to(operator)) == [server]
    assert server_for_user(owner, server.pk) == server
    with pytest.raises(PermissionDenied):
        server_for_user(owner, server.pk, manage=True)
    with pytest.raises(PermissionDenied):
        server_for_user(stranger, server.pk)
    assert server_for_user(operator, server.pk, manage=True) == server


def test_a_build_that_changed_addons_queues_an_apply_per_server_but_manual(overlay, sent):
    servers = [
        server_save(data=_form(overlay, name=name, apply_policy=policy))
        for name, policy in [("a", "when_empty"), ("b", "now"), ("c", "announce"), ("d", "manual")]
    ]
    jobs = addons_changed(overlay=overlay, build=41, items=5)
    assert sorted(job.subject_name for job in jobs) == ["a", "b", "c"]
    assert {job.title for job in jobs} >= {"apply to server 'a' · build 41 changed 5 items"}
    assert {job.queue for job in jobs} == {overlay.host.job_queue}
    assert AddonsChange.objects.get(overlay=overlay, build=41).items == 5
    assert servers[3].pending_changes == 5


def test_a_newer_build_joins_the_waiting_apply(overlay, sent):
    server = server_save(data=_form(overlay))
    first = addons_changed(overlay=overlay, build=41, items=5)[0]
    second = addons_changed(overlay=overlay, build=42, items=1)[0]
    assert first.pk == second.pk
    assert Job.objects.get(pk=first.pk).reason == "build 41 changed 5 items; build 42 changed 1 item"
    assert server.pending_changes == 6


def test_apply_by_hand_marks_it_now(overlay, sent, operator):
    server = server_save(data=_form(overlay, apply_policy="manual"))
    job = server_apply_enqueue(server=server, user=operator, reason="asked by hand", now=True)
    server.refresh_from_db()
    assert server.apply_now and job.state == "queued"


def test_the_line_says_what_runs_and_what_changed_since(overlay):
    server = server_save(data=_form(overlay))
    assert server.status_line == "unknown · not polled yet · no build applied yet"
    AddonsChange.objects.create(overlay=overlay, build=41, items=2)
    AddonsChange.objects.create(overlay=overlay, build=45, items=5)
    GameServer.objects.filter(pk=server.pk).update(
        applied_build=41, state="up", map="c2m1_highway", players=3, max_players=8
    )
    server.refresh_from_db()
    assert (
        server.status_line
        == "up · c2m1_highway · 3/8 players · runs the addons of build 41; 5 items changed since"
    )


def test_the_apply_goes_to_the_queue_of_the_host_the_server_runs_beside(overlay, sent):
    from left4me.models import Host

    far = Host.objects.create(name="gs1")
    server = server_save(data=_form(overlay, host="gs1"))
    assert server.host == far
    job = server_apply_enqueue(server=server, reason="asked by hand")
    assert job.queue == "host-gs1"
