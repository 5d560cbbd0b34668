"""Which failures of a build or a refresh may pass (JobRetryable: the job waits and runs again)
and which are for good (JobFailed)."""

from __future__ import annotations

import pytest

from fleet.refresh import items_refresh_all
from jobs.runner import JobFailed, JobRetryable
from overlays.build import overlay_build
from overlays.refresh import overlay_refresh
from tests.support.fakesteam import ApiStep, Step
from tests.support.helpers import item_from_steam

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def _failure_of(run) -> JobFailed:
    with pytest.raises(JobFailed) as caught:
        run()
    return caught.value


@pytest.mark.parametrize(
    "step",
    [Step(503), Step(429), Step(500), Step(truncate_after=100)],
    ids=["503", "429", "500", "short body"],
)
def test_a_build_whose_every_failure_may_pass_is_retryable(overlay, steam, ctx, step):
    steam.add_item("2001", size=1000, default=step)
    steam.add_item("2002", size=1000)
    for sid in ("2001", "2002"):
        item_from_steam(steam, sid, overlay=overlay)

    failure = _failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))

    assert type(failure) is JobRetryable
    assert str(failure) == "download failed for 1 item(s): 2001"
    assert (overlay.addons_path / "2002.vpk").is_symlink()  # what did download is linked


@pytest.mark.parametrize("status, kind", [(503, JobRetryable), (404, JobFailed)])
def test_a_range_of_a_big_item_that_keeps_failing_decides_like_the_whole_file(
    overlay, steam, ctx, settings, status, kind
):
    settings.WORKSHOP_SEGMENT_MIN_BYTES, settings.WORKSHOP_SEGMENTS_PER_ITEM = 1000, 2
    steam.add_item("2003", size=4000, range_steps={2000: [status] * 10})
    item_from_steam(steam, "2003", overlay=overlay)

    failure = _failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))

    assert type(failure) is kind
    assert not (overlay.addons_path / "2003.vpk").exists()


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_build_with_a_permanent_failure_is_not_retryable(overlay, steam, ctx, status):
    steam.add_item("2001", size=1000, default=Step(status))
    item_from_steam(steam, "2001", overlay=overlay)

    assert type(_failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))) is JobFailed


def test_one_permanent_failure_among_transient_ones_makes_the_build_fail_for_good(overlay, steam, ctx):
    steam.add_item("2001", size=1000, default=Step(503))
    steam.add_item("2002", size=1000, default=Step(404))
    for sid in ("2001", "2002"):
        item_from_steam(steam, sid, overlay=overlay)

    failure = _failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))

    assert type(failure) is JobFailed
    assert str(failure) == "download failed for 2 item(s): 2001, 2002"


def test_a_size_mismatch_and_a_refused_host_are_for_good(overlay, steam, ctx):
    steam.add_item("2001", size=1000)
    item_from_steam(steam, "2001", overlay=overlay, file_size=999)  # the server sends 1000
    steam.add_item("2002", size=1000)
    item_from_steam(steam, "2002", overlay=overlay, file_url="http://files.example.org/2002")

    assert type(_failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))) is JobFailed


def test_no_space_left_is_for_good(overlay, steam, ctx, settings):
    settings.WORKSHOP_MIN_FREE_BYTES = 2**62
    steam.add_item("2001", size=1000)
    item_from_steam(steam, "2001", overlay=overlay)

    failure = _failure_of(lambda: overlay_build(overlay=overlay, ctx=ctx))

    assert type(failure) is JobFailed
    assert str(failure).startswith("not enough disk space")


@pytest.mark.parametrize("step", [ApiStep(502), ApiStep(503), ApiStep(429), ApiStep(200, body="<html>")])
def test_a_refresh_steam_kept_failing_is_retryable(overlay, steam, ctx, step):
    steam.add_item("101", size=10)
    item_from_steam(steam, "101", overlay=overlay)
    steam.script_api(*[step] * 4)  # every attempt of the one call

    failure = _failure_of(lambda: overlay_refresh(overlay=overlay, ctx=ctx))

    assert type(failure) is JobRetryable
    assert str(failure).startswith("steam api error: GetPublishedFileDetails: ")
    assert steam.api_post_count == 4


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refresh_steam_refused_is_not_retryable(overlay, steam, ctx, status):
    steam.add_item("101", size=10)
    item_from_steam(steam, "101", overlay=overlay)
    steam.script_api(status)

    failure = _failure_of(lambda: overlay_refresh(overlay=overlay, ctx=ctx))

    assert type(failure) is JobFailed
    assert steam.api_post_count == 1


def test_the_daily_refresh_retries_when_steam_is_down(overlay, steam, ctx):
    steam.add_item("101", size=10)
    item_from_steam(steam, "101", overlay=overlay)
    steam.script_api(*[502] * 4)

    assert type(_failure_of(lambda: items_refresh_all(ctx=ctx))) is JobRetryable


def test_a_refresh_with_one_refused_call_among_failing_ones_is_not_retryable(overlay, steam, ctx):
    from overlays.models import OverlayWorkshopCollection

    steam.add_collection("900", ["101"])
    steam.add_item("101", size=10)
    item_from_steam(steam, "101", overlay=overlay)
    OverlayWorkshopCollection.objects.create(overlay=overlay, steam_id="900")
    steam.script_api(403, method="GetCollectionDetails")
    steam.script_api(*[502] * 4, method="GetPublishedFileDetails")

    failure = _failure_of(lambda: overlay_refresh(overlay=overlay, ctx=ctx))

    assert type(failure) is JobFailed
    assert "GetCollectionDetails: HTTP 403" in str(failure)
