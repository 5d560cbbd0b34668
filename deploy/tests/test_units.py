"""The systemd units: each runs a real program of the venv with the right app and options."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.module_loading import import_string

from deploy.tests.units import (
    DEPLOY_DIR,
    INSTALLED_APP_DIR,
    UNIT_NAMES,
    default_environment,
    exec_start,
    load_unit,
    map_to_checkout,
    referenced_variables,
    service,
    unit_path,
)

BASE_DIR = Path(settings.BASE_DIR)
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/left4me",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
}


def _program_in_checkout(argv0: str) -> Path:
    assert argv0.startswith(f"{INSTALLED_APP_DIR}/.venv/bin/"), argv0
    return BASE_DIR / argv0.removeprefix(f"{INSTALLED_APP_DIR}/")


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_unit_runs_as_the_service_user_with_the_env_file_and_hardening(name: str) -> None:
    svc = service(name)
    assert svc["User"] == "left4me"
    assert svc["Group"] == "left4me"
    # The shared settings, then this machine's own (optional: install.sh --host-name writes it).
    assert load_unit(name)["Service"]["EnvironmentFile"] == ["/etc/left4me/env", "-/etc/left4me/host.env"]
    assert svc["WorkingDirectory"] == INSTALLED_APP_DIR
    assert svc["Restart"] == "on-failure"
    for key, value in HARDENING.items():
        assert svc.get(key) == value, f"{name}: {key}"
    assert load_unit(name)["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_exec_start_names_a_program_of_the_venv(name: str) -> None:
    argv = exec_start(name)
    program = _program_in_checkout(argv[0])
    assert program.is_file() and os.access(program, os.X_OK), program
    assert "-B" not in argv and "--beat" not in argv


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_every_variable_in_exec_start_has_a_default_and_is_documented(name: str) -> None:
    used = referenced_variables(exec_start(name))
    assert used <= set(default_environment(name)), (
        f"{name}: no default for {used - set(default_environment(name))}"
    )
    example = (DEPLOY_DIR / "env.example").read_text()
    for variable in used:
        assert re.search(rf"^{variable}=", example, re.M), f"{variable} missing from env.example"


def test_web_is_gunicorn_on_localhost_with_workers_from_the_environment() -> None:
    argv = exec_start("left4me-web")
    assert Path(argv[0]).name == "gunicorn"
    assert argv[1] == "left4me.wsgi"
    import_string("left4me.wsgi.application")
    assert argv[argv.index("--bind") + 1] == "${LEFT4ME_BIND}"
    assert argv[argv.index("--workers") + 1] == "${WEB_CONCURRENCY}"
    assert default_environment("left4me-web")["LEFT4ME_BIND"].startswith("127.0.0.1:")
    assert service("left4me-web")["Type"] == "notify"


# Web and beat write only private files (the SQLite database, beat's state); the worker writes
# the overlays and the workshop cache that game servers, running as other users, read.
UMASKS = {
    "left4me-web": "0027",
    "left4me-beat": "0027",
    "left4me-worker": "0022",
    "left4me-housekeeping": "0027",
}


@pytest.mark.parametrize("name", UNIT_NAMES)
def test_unit_sets_its_umask(name: str) -> None:
    assert service(name)["UMask"] == UMASKS[name]


def test_dev_run_sets_a_private_umask_before_it_starts_anything() -> None:
    script = (DEPLOY_DIR / "dev.sh").read_text()
    body = script[script.index("cmd_run() {") :]
    assert body.index("umask 0027") < body.index("cmd_setup")


def _celery_app_and_command(argv: list[str]) -> tuple[str, str]:
    assert Path(argv[0]).name == "celery"
    assert argv[1] == "-A"
    return argv[2], argv[3]


def test_worker_is_celery_of_this_app_on_the_shared_the_host_and_the_housekeeping_queue() -> None:
    argv = exec_start("left4me-worker")
    app_name, command = _celery_app_and_command(argv)
    assert (app_name, command) == ("left4me", "worker")
    assert import_string(f"{app_name}.celery.app").main == "left4me"
    queues = argv[argv.index("--queues") + 1].split(",")
    assert queues == ["celery", "${LEFT4ME_WORKER_QUEUE}", "${LEFT4ME_HOUSEKEEPING_QUEUE}"]


def test_housekeeping_is_a_worker_of_one_slot_on_that_queue_alone_under_its_own_name() -> None:
    argv = exec_start("left4me-housekeeping")
    assert _celery_app_and_command(argv) == ("left4me", "worker")
    assert argv[argv.index("--queues") + 1] == "${LEFT4ME_HOUSEKEEPING_QUEUE}"
    assert argv[argv.index("--concurrency") + 1] == "1"
    assert argv[argv.index("--hostname") + 1] == "housekeeping@%%h"  # systemd passes on %h
    assert default_environment("left4me-housekeeping")["LEFT4ME_HOUSEKEEPING_QUEUE"] == "housekeeping"
    assert service("left4me-housekeeping")["Type"] == "simple"


def test_make_run_serves_the_housekeeping_queue_twice_like_the_units() -> None:
    procs = dict(
        line.split(": ", 1) for line in (BASE_DIR / "Procfile").read_text().splitlines() if ": " in line
    )
    assert '${LEFT4ME_HOUSEKEEPING_QUEUE:-housekeeping}"' in procs["worker"]
    housekeeping = shlex.split(procs["housekeeping"])
    assert housekeeping[housekeeping.index("--queues") + 1] == "${LEFT4ME_HOUSEKEEPING_QUEUE:-housekeeping}"
    assert housekeeping[housekeeping.index("--concurrency") + 1] == "1"
    assert "housekeeping" in (DEPLOY_DIR / "dev.sh").read_text().split("local procs=(", 1)[1].split(")")[0]


def test_worker_stops_gracefully_and_long_enough_for_a_warm_shutdown() -> None:
    svc = service("left4me-worker")
    assert svc["Type"] == "simple"
    assert svc["KillSignal"] == "SIGTERM"
    # SIGTERM to the main process only: the pool's children finish their task.
    assert svc["KillMode"] == "mixed"
    assert int(svc["TimeoutStopSec"]) >= 60
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST


def test_beat_uses_the_database_scheduler_under_the_lock() -> None:
    argv = exec_start("left4me-beat")
    assert _celery_app_and_command(argv) == ("left4me", "beat")
    scheduler = argv[argv.index("--scheduler") + 1]
    assert scheduler == settings.CELERY_BEAT_SCHEDULER == "left4me.beat:LockedScheduler"
    module, _, cls = scheduler.partition(":")
    from django_celery_beat.schedulers import DatabaseScheduler

    assert issubclass(import_string(f"{module}.{cls}"), DatabaseScheduler)


def test_env_example_covers_every_setting_in_the_readme() -> None:
    readme = (BASE_DIR / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    example = (DEPLOY_DIR / "env.example").read_text()
    present = set(re.findall(r"^#? ?(\w+)=", example, re.M))
    assert documented, "no configuration table found"
    assert documented - present == set()


def test_every_setting_in_env_example_is_read_somewhere() -> None:
    example = (DEPLOY_DIR / "env.example").read_text()
    keys = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.M))
    readers = [BASE_DIR / "left4me" / "settings.py", BASE_DIR / "left4me/management/commands/ensure_admin.py"]
    readers += [unit_path(name) for name in UNIT_NAMES]
    text = "\n".join(path.read_text() for path in readers)
    unread = {key for key in keys if not re.search(rf"\b{key}\b", text)}
    assert unread == set()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    # verify checks that ExecStart programs exist: point the units at this checkout's venv.
    for name in UNIT_NAMES:
        (tmp_path / f"{name}.service").write_text(map_to_checkout(unit_path(name).read_text(), BASE_DIR))
    units = [str(tmp_path / f"{name}.service") for name in UNIT_NAMES]
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # verify exits 0 even for unknown keys; it says so in its output, naming the unit.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "left4me-" in line]
    assert result.returncode == 0, result.stderr
    assert complaints == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_notices_a_broken_unit(tmp_path: Path) -> None:
    text = map_to_checkout(unit_path("left4me-web").read_text(), BASE_DIR).replace(
        "ProtectHome=", "ProtectHomes="
    )
    (tmp_path / "left4me-web.service").write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / "left4me-web.service")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "ProtectHomes" in result.stdout + result.stderr


def test_the_web_timeout_is_one_and_longer_than_an_add_may_take() -> None:
    """An add asks Steam within WORKSHOP_ADD_DEADLINE_SECONDS, so gunicorn never kills it midway."""
    sources = [BASE_DIR / "Procfile", BASE_DIR / "deploy" / "systemd" / "left4me-web.service"]
    timeouts = {int(re.search(r"--timeout (\d+)", path.read_text()).group(1)) for path in sources}
    assert len(timeouts) == 1
    assert timeouts.pop() > settings.WORKSHOP_ADD_DEADLINE_SECONDS
