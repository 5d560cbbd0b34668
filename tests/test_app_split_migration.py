"""Upgrading a database from the old layout (links in workshop, jobs with an overlay foreign key)
keeps every row and every link."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

OLD = [
    ("overlays", "0001_initial"),
    ("workshop", "0002_daily_refresh_schedule"),
    ("jobs", "0003_reaper_schedule"),
]
NEW = [
    ("overlays", "0002_workshop_links"),
    ("workshop", "0003_move_overlay_links"),
    ("jobs", "0006_remove_job_overlay"),
]


class Migrator:
    """Moves the test database between migration states (and back to the latest at the end)."""

    def __init__(self) -> None:
        self.executor = MigrationExecutor(connection)

    def migrate(self, targets: list[tuple[str, str]]) -> Any:
        self.executor.loader.build_graph()
        self.executor.migrate(targets)
        self.executor.loader.build_graph()
        graph = self.executor.loader.graph
        named = {app for app, _ in targets}
        allowed = {node for target in targets for node in graph.forwards_plan(target)}

        def fits(leaf: tuple[str, str]) -> bool:
            """The app's migrations ask for none of a named app's past its target (an app made
            later, such as servers, went back with them)."""
            return all(node[0] not in named or node in allowed for node in graph.forwards_plan(leaf))

        others = [node for node in graph.leaf_nodes() if node[0] not in named and fits(node)]
        return self.executor.loader.project_state([*targets, *others]).apps

    def latest(self) -> None:
        self.migrate(self.executor.loader.graph.leaf_nodes())


@pytest.fixture
def migrator() -> Any:
    migrator = Migrator()
    yield migrator
    migrator.latest()


def _old_rows(apps: Any) -> dict[str, Any]:
    User = apps.get_model("auth", "User")
    Overlay = apps.get_model("overlays", "Overlay")
    Item = apps.get_model("workshop", "WorkshopItem")
    Link = apps.get_model("workshop", "OverlayWorkshopItem")
    Collection = apps.get_model("workshop", "OverlayWorkshopCollection")
    Job = apps.get_model("jobs", "Job")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    coop = Overlay.objects.create(owner=alice, name="coop")
    versus = Overlay.objects.create(owner=bob, name="versus")
    items = [Item.objects.create(steam_id=str(sid), title=f"map {sid}") for sid in (101, 102, 103)]
    links = [
        Link.objects.create(overlay=coop, item=items[0]),
        Link.objects.create(overlay=coop, item=items[1]),
        Link.objects.create(overlay=versus, item=items[1]),
        Link.objects.create(overlay=versus, item=items[2]),
    ]
    collection = Collection.objects.create(overlay=coop, steam_id="900")
    build = Job.objects.create(operation="build_overlay", overlay=versus, user=alice, state="succeeded")
    refresh = Job.objects.create(operation="refresh_workshop_items", state="queued")
    return {
        "users": (alice.pk, bob.pk),
        "overlays": (coop.pk, versus.pk),
        "links": {link.pk: (link.overlay_id, link.item_id, link.added_at) for link in links},
        "collection": (collection.pk, coop.pk, "900"),
        "jobs": (build.pk, refresh.pk),
    }


def _old_permission_on_links(apps: Any) -> int:
    """A permission granted on the link model under its old app label (going back to the old
    state gave its content type back to workshop)."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    assert not ContentType.objects.filter(app_label="overlays", model="overlayworkshopitem").exists()
    old_type = ContentType.objects.get(app_label="workshop", model="overlayworkshopitem")
    return Permission.objects.create(content_type=old_type, codename="audit_links", name="Audit links").pk


def test_links_collections_and_jobs_keep_their_rows_and_constraints(migrator: Any) -> None:
    old_apps = migrator.migrate(OLD)
    before = _old_rows(old_apps)
    permission_id = _old_permission_on_links(old_apps)

    apps = migrator.migrate(NEW)
    Link = apps.get_model("overlays", "OverlayWorkshopItem")
    Collection = apps.get_model("overlays", "OverlayWorkshopCollection")
    assert {link.pk: (link.overlay_id, link.item_id, link.added_at) for link in Link.objects.all()} == before[
        "links"
    ]
    collection = Collection.objects.get()
    assert (collection.pk, collection.overlay_id, collection.steam_id) == before["collection"]

    Job = apps.get_model("jobs", "Job")
    build_id, refresh_id = before["jobs"]
    alice_id, bob_id = before["users"]
    _coop_id, versus_id = before["overlays"]
    build = Job.objects.select_related("subject_type").get(pk=build_id)
    assert (build.subject_type.app_label, build.subject_type.model) == ("overlays", "overlay")
    assert (build.subject_id, build.owner_id, build.user_id) == (versus_id, bob_id, alice_id)
    assert build.queue == settings.LEFT4ME_WORKER_QUEUE
    refresh = Job.objects.get(pk=refresh_id)
    assert (refresh.subject_type_id, refresh.subject_id, refresh.owner_id) == (None, None, None)

    Permission = apps.get_model("auth", "Permission")
    assert Permission.objects.get(pk=permission_id).content_type.app_label == "overlays"

    # The moved link table keeps its unique (overlay, item).
    coop_id = before["overlays"][0]
    third = apps.get_model("workshop", "WorkshopItem").objects.get(steam_id="103")
    Link.objects.create(overlay_id=coop_id, item=third)
    assert Link.objects.filter(overlay_id=coop_id).count() == 3
    with pytest.raises(IntegrityError), transaction.atomic():
        Link.objects.create(overlay_id=coop_id, item=third)
