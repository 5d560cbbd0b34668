"""Operations are declared once with their policy; a declared operation without a task stops start-up."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from jobs import registry
from jobs.checks import check_operations_have_tasks
from jobs.services import job_enqueue


@pytest.fixture
def orphan() -> object:
    operation = registry.declare(registry.Operation(name="orphan_operation", label="Orphan"))
    yield operation
    registry.undeclare("orphan_operation")


def test_the_check_passes_when_every_operation_has_a_task() -> None:
    assert check_operations_have_tasks() == []
    call_command("check")


def test_the_check_fails_when_a_declared_operation_has_no_task(orphan: object) -> None:
    errors = check_operations_have_tasks()
    assert [error.id for error in errors] == ["jobs.E001"]
    assert "orphan_operation" in errors[0].msg and "jobs.orphan_operation" in errors[0].msg
    with pytest.raises(SystemCheckError, match="orphan_operation"):
        call_command("check")


def test_the_overlay_operations_are_declared_with_their_policy() -> None:
    build = registry.get("build_overlay")
    assert (build.coalesce, build.exclusive_per) == ("queued", "overlay files")
    assert registry.get("refresh_workshop_items").coalesce == "active"
    assert set(registry.exclusive_group(build)) == {
        "build_overlay",
        "refresh_overlay",
        "delete_overlay",
        "move_overlay",
    }


def test_a_second_declaration_with_another_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        registry.declare(registry.Operation(name="build_overlay", label="Build overlay"))


@pytest.mark.django_db
def test_enqueue_of_an_unknown_operation_writes_nothing() -> None:
    from jobs.models import Job

    with pytest.raises(LookupError, match="no job operation named 'nothing_such'"):
        job_enqueue(operation=registry.Operation("nothing_such"))
    assert not Job.objects.exists()
