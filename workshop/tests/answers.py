"""Recorded Steam answers (fixtures/steam/*.json) and the API addresses the unit tests mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BASE = "https://steam.test"
DETAILS_URL = f"{BASE}/ISteamRemoteStorage/GetPublishedFileDetails/v1/"
COLLECTIONS_URL = f"{BASE}/ISteamRemoteStorage/GetCollectionDetails/v1/"
FIXTURES = Path(__file__).parent / "fixtures" / "steam"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())
