"""A download that is not a readable VPK: fetched once more, then failed, the old upload kept."""

from __future__ import annotations

import pytest

from jobs.runner import JobFailed
from overlays.build import cache_file, overlay_build
from tests.support.fakesteam import Step
from tests.support.helpers import T0, item_from_steam, link_target
from tests.support.vpkfiles import addoninfo, vpk_bytes
from workshop.cache import kept_versions, version_path

pytestmark = pytest.mark.django_db

NEW = T0 + 900


def _error_page(size: int) -> bytes:
    page = b"<!DOCTYPE html><html><body>Sorry! Something went wrong.</body></html>"
    return (page * (size // len(page) + 1))[:size]


def test_a_file_of_the_right_size_that_is_not_a_vpk_is_fetched_again_then_fails(
    overlay, steam, ctx, tmp_path
):
    good = vpk_bytes(tmp_path, {"addoninfo.txt": addoninfo("Old but good")})
    steam.add_item("4001", data=good, time_updated=T0)
    item = item_from_steam(steam, "4001", overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)
    size = len(good) + 500
    steam.add_item("4001", data=b"\0" * size, time_updated=NEW, default=Step(body=_error_page(size)))
    item.file_size, item.time_updated = size, NEW
    item.save()
    steam.reset_counters()

    with pytest.raises(JobFailed, match="download failed for 1 item"):
        overlay_build(overlay=overlay, ctx=ctx)

    assert steam.get_count("4001") == 2  # fetched once more, not once per attempt
    item.refresh_from_db()
    assert item.last_error.startswith("download failed: not a valid VPK: bad magic")
    assert "workshop 4001 not a valid VPK: bad magic 3c21444f; downloading it once more" in ctx.stderr
    assert any(line.startswith("workshop 4001 download failed: not a valid VPK") for line in ctx.stderr)
    assert ctx.items["4001"]["state"] == "failed"
    # the previous good upload stays in the cache and linked; nothing of the bad one is kept
    assert cache_file("4001").read_bytes() == good
    assert link_target(overlay.addons_path / "4001.vpk") == str(cache_file("4001"))
    assert kept_versions(cache_file("4001").parent, "4001") == [T0]
    assert not version_path(cache_file("4001").parent, "4001", NEW).exists()
    assert item.contents.get().title == "Old but good"


def test_a_bad_download_followed_by_a_good_one_is_installed(overlay, steam, ctx, tmp_path):
    good = vpk_bytes(tmp_path, {"addoninfo.txt": addoninfo("Fine")})
    steam.add_item("4002", data=good, steps=[Step(body=_error_page(len(good)))])
    item_from_steam(steam, "4002", overlay=overlay)

    overlay_build(overlay=overlay, ctx=ctx)

    assert steam.get_count("4002") == 2
    assert cache_file("4002").read_bytes() == good
    assert link_target(overlay.addons_path / "4002.vpk") == str(cache_file("4002"))
