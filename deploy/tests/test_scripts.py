"""The deploy scripts pass shellcheck and refuse what they do not understand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

DEPLOY_DIR = Path(settings.BASE_DIR) / "deploy"
SCRIPTS = [
    DEPLOY_DIR / "install.sh",
    DEPLOY_DIR / "manage.sh",
    DEPLOY_DIR / "dev.sh",
    DEPLOY_DIR.parent / ".ci" / "run",
]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_is_clean() -> None:
    result = subprocess.run(["shellcheck", *map(str, SCRIPTS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_executable_and_strict(script: Path) -> None:
    assert script.stat().st_mode & 0o111
    assert "set -euo pipefail" in script.read_text()


def test_manage_sh_names_the_env_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "env"
    result = subprocess.run(
        [str(DEPLOY_DIR / "manage.sh"), "check"],
        env={"PATH": "/usr/bin:/bin", "LEFT4ME_ENV_FILE": str(missing)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot read {missing}" in result.stderr


def test_manage_sh_refuses_a_line_that_is_not_a_setting(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nDEBUG=false\nrm -rf /\n")
    result = subprocess.run(
        [str(DEPLOY_DIR / "manage.sh"), "check"],
        env={"PATH": "/usr/bin:/bin", "LEFT4ME_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "not KEY=VALUE: rm -rf /" in result.stderr
