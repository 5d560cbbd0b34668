"""1,000 random and hostile strings into the add and create forms: never a 500, nothing created
for invalid input, and nothing the user typed comes back as live HTML."""

from __future__ import annotations

import random
import string

import pytest
import responses
from django.conf import settings
from django.test import Client

from jobs.models import Job
from overlays.items import INPUT_MODES
from overlays.models import Overlay, OverlayWorkshopItem
from workshop.models import WorkshopItem

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

FIXED = [
    "../../../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "/overlays/1/../../secret_key",
    "1/../../2",
    "9" * 40,
    str(2**64),
    "-1",
    "+123",
    "0x1f",
    "1e9",
    "\uff11\uff12\uff13",  # full-width digits
    "٣٤٥",  # Arabic-Indic digits
    "123\x00456",
    "1; DROP TABLE workshop_workshopitem; --",
    "' OR '1'='1",
    '"><script>alert(1)</script>',
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "https://steamcommunity.com/sharedfiles/filedetails/?id=<script>",
    "https://steamcommunity.com/sharedfiles/filedetails/?id=../../1",
    "https://evil.example/sharedfiles/filedetails/?id=123",
    "https://steamcommunity.com.evil.example/sharedfiles/filedetails/?id=123",
    "file:///etc/passwd",
    "https://steamcommunity.com/sharedfiles/filedetails/?id=" + "9" * 40,
    "\u202e123",
    "🧟" * 50,
    "A" * 100_000,
    "",
    "   ",
    ",,,,",
    "\n\n\n",
    "{{ settings.SECRET_KEY }}",
    "{% debug %}",
    "%s%s%s%n",
]
ALPHABET = string.printable + "<>&\"'ä漢🧟\u200b\u202e\x00"


def hostile_strings(count: int, seed: int = 550) -> list[str]:
    rng = random.Random(seed)
    out = list(FIXED)
    while len(out) < count:
        kind = rng.randrange(4)
        if kind == 0:
            out.append("".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 80))))
        elif kind == 1:
            out.append(rng.choice(FIXED) + rng.choice([" ", ",", "\n"]) + rng.choice(FIXED))
        elif kind == 2:
            out.append(str(rng.randrange(10**20, 10**60)))
        else:
            junk = "".join(rng.choice(string.ascii_letters + "<>'\"/") for _ in range(rng.randrange(1, 12)))
            out.append(f"https://steamcommunity.com/sharedfiles/filedetails/?id={junk}")
    return out[:count]


def _not_found_for_every_id(request):
    body = dict(pair.split("=", 1) for pair in request.body.split("&"))
    count = int(body["itemcount"])
    ids = [body[f"publishedfileids%5B{i}%5D"] for i in range(count)]
    details = [{"publishedfileid": i, "result": 9} for i in ids]
    import json

    return (
        200,
        {},
        json.dumps({"response": {"result": 1, "resultcount": count, "publishedfiledetails": details}}),
    )


@pytest.fixture
def steam_says_not_found():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        base = settings.STEAM_API_BASE_URL
        mock.add_callback(
            responses.POST, f"{base}/ISteamRemoteStorage/GetPublishedFileDetails/v1/", _not_found_for_every_id
        )
        mock.add(
            responses.POST,
            f"{base}/ISteamRemoteStorage/GetCollectionDetails/v1/",
            json={"response": {"result": 1, "resultcount": 0, "collectiondetails": []}},
        )
        yield mock


def _row_counts() -> tuple[int, int, int]:
    return WorkshopItem.objects.count(), OverlayWorkshopItem.objects.count(), Job.objects.count()


def _assert_inert(body: str, baseline_scripts: int, typed: str) -> None:
    """What the user typed may be shown, but only as text: no new tags reach the page."""
    lowered = body.lower()
    assert lowered.count("<script") == baseline_scripts, typed[:80]
    assert "<img src=x" not in lowered and "<script>alert" not in lowered, typed[:80]


# The 1,000 strings, each posted once, in turn in each input mode; in two halves that parallel
# runs spread out.
@pytest.mark.parametrize("half", [0, 1])
def test_hostile_strings_into_add_form(
    client: Client, django_user_model, steam_says_not_found, half: int
) -> None:
    owner = django_user_model.objects.create_user("owner", password="pw-123456")
    client.force_login(owner)
    overlay = Overlay.objects.create(owner=owner, name="fuzz")
    baseline_scripts = client.get(f"/overlays/{overlay.pk}/").content.decode().lower().count("<script")
    rows = _row_counts()
    for n, text in enumerate(hostile_strings(1000)[half::2]):
        mode = INPUT_MODES[n % len(INPUT_MODES)]
        response = client.post(f"/overlays/{overlay.pk}/items/", {"input": text, "input_mode": mode})
        assert response.status_code in (302, 400), (response.status_code, mode, text[:80])
        if response.status_code == 400:
            assert _row_counts() == rows, (mode, text[:80])
            _assert_inert(response.content.decode(), baseline_scripts, text)
        else:
            rows = _row_counts()  # what the accepted input added
    # Nothing that Steam does not know as an item ever links into the overlay.
    assert not OverlayWorkshopItem.objects.filter(overlay=overlay, item__steam_result=1).exists()


def test_hostile_overlay_names(client: Client, django_user_model) -> None:
    owner = django_user_model.objects.create_user("namer", password="pw-123456")
    client.force_login(owner)
    baseline_scripts = client.get("/overlays/").content.decode().lower().count("<script")
    for text in hostile_strings(300, seed=222860):
        response = client.post("/overlays/", {"name": text})
        assert response.status_code in (302, 400), (response.status_code, text[:80])
        if response.status_code == 400:
            _assert_inert(response.content.decode(), baseline_scripts, text)
    listing = client.get("/overlays/").content.decode().lower()
    assert "<script>alert" not in listing and "<img src=x" not in listing
    for overlay in Overlay.objects.filter(owner=owner):
        # Whatever name was accepted, its folder is the overlay's id, inside the overlays root.
        assert overlay.path.parent == settings.OVERLAYS_ROOT
        if not set(overlay.name) & set("<>&\"'{%"):
            continue  # plain text, shown as in the listing above
        page = client.get(f"/overlays/{overlay.pk}/")
        assert page.status_code == 200
        assert "<script>alert" not in page.content.decode().lower()
        assert "<img src=x" not in page.content.decode().lower()
