"""Reading the shipped systemd units the way the tests need them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from django.conf import settings

DEPLOY_DIR = Path(settings.BASE_DIR) / "deploy"
UNIT_DIR = DEPLOY_DIR / "systemd"
UNIT_NAMES = ("left4me-web", "left4me-worker", "left4me-housekeeping", "left4me-beat")
INSTALLED_APP_DIR = "/opt/left4me"


def unit_path(name: str) -> Path:
    return UNIT_DIR / f"{name}.service"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key may repeat, so each maps to all its values in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def load_unit(name: str) -> dict[str, dict[str, list[str]]]:
    return parse_unit(unit_path(name).read_text())


def service(name: str) -> dict[str, str]:
    """The [Service] section with the last value of each key (systemd's rule for most keys)."""
    return {key: values[-1] for key, values in load_unit(name)["Service"].items()}


def exec_start(name: str) -> list[str]:
    return shlex.split(service(name)["ExecStart"])


def default_environment(name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in load_unit(name)["Service"].get("Environment", []):
        for item in shlex.split(line):
            key, _, value = item.partition("=")
            pairs[key] = value
    return pairs


def referenced_variables(argv: list[str]) -> set[str]:
    return {match for arg in argv for match in re.findall(r"\$\{(\w+)\}", arg)}


def map_to_checkout(unit_text: str, app_dir: Path) -> str:
    """The unit as it would be with the app installed at `app_dir` (e.g. this checkout)."""
    return unit_text.replace(INSTALLED_APP_DIR, str(app_dir))
