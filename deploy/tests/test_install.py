"""deploy/install.sh into a temporary prefix, without systemd: a real venv, env file and database.

The first install (a fresh venv and pip install) takes about half a minute; the other tests
reuse it and run the script again, as an operator would.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from deploy.tests.units import UNIT_NAMES, default_environment, exec_start
from tests.support.workers import wait_for

BASE_DIR = Path(settings.BASE_DIR)
INSTALL_SH = BASE_DIR / "deploy" / "install.sh"
# The only deploy check an operator decides on: asking browsers to preload the host.
ACCEPTED_DEPLOY_WARNINGS = {"security.W021"}


def _clean_env(*, uv: bool = True) -> dict[str, str]:
    """What a root shell has: no test settings leak into the installed app. With `uv`, the dev
    venv's uv is on the PATH (when make test put one there), as on a machine that has it."""
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "http_proxy", "https_proxy", "no_proxy"}
    keep |= {"SSL_CERT_FILE", "SSL_CERT_DIR"}  # the machine's CA bundle, for uv as for pip's config
    env = {key: value for key, value in os.environ.items() if key in keep or key.startswith("PIP_")}
    # The installers' compiling of every installed module is their own work (and most of an
    # install's time here: 10 s of CPU for uv); the app compiles what it imports.
    env["PIP_NO_COMPILE"] = "1"
    env["UV_COMPILE_BYTECODE"] = "0"
    venv_bin = str(BASE_DIR / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(
        [
            *(_uv_only() if uv else []),
            *(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin),
        ]
    )
    return env


@functools.cache
def _uv_only() -> list[str]:
    """A folder holding only the dev venv's uv (make test puts it there when PyPI answers), so that
    install.sh installs with uv as on a machine that has it; none without one (then pip)."""
    uv = BASE_DIR / ".venv" / "bin" / "uv"
    if not uv.exists():
        return []
    folder = Path(tempfile.mkdtemp(prefix="uv-only-"))
    (folder / "uv").symlink_to(uv)
    return [str(folder)]


def run_install(
    prefix: Path, *args: str, timeout: float = 170, uv: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(INSTALL_SH), *args, "--prefix", str(prefix)],
        env=_clean_env(uv=uv),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_manage(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(prefix / "opt/left4me/deploy/manage.sh"), *args],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_env_file(prefix: Path) -> dict[str, str]:
    lines = (prefix / "etc/left4me/env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    """Every file under the prefix with its mtime and size (bytecode caches aside)."""
    found = {}
    for folder, dirs, names in os.walk(prefix):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            found[os.path.join(folder, name)] = (st.st_mtime_ns, st.st_size)
    return found


@pytest.fixture(scope="module")
def first_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One install for the module's tests: its prefix, and what it printed."""
    root = tmp_path_factory.mktemp("install") / "root"
    result = run_install(root, "--no-systemd")
    yield root, result.stdout
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def prefix(first_install: tuple[Path, str]) -> Path:
    return first_install[0]


def test_install_creates_the_venv_the_data_folder_and_an_env_file_with_a_secret(prefix: Path) -> None:
    venv_bin = prefix / "opt/left4me/.venv/bin"
    for program in ("python", "gunicorn", "celery"):
        assert os.access(venv_bin / program, os.X_OK), program
    assert (prefix / "opt/left4me/manage.py").is_file()
    assert not (prefix / "opt/left4me/.git").exists() and not (prefix / "opt/left4me/var").exists()

    env_file = prefix / "etc/left4me/env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    env = read_env_file(prefix)
    assert len(env["SECRET_KEY"]) >= 50
    data = prefix / "var/lib/left4me"
    assert env["LEFT4ME_ROOT"] == str(data)
    assert env["STATIC_ROOT"] == str(data / "static")
    assert env["DATABASE_URL"] == f"sqlite:///{data}/left4me.sqlite3"
    assert env["SECURE_COOKIES"] == "true" and env["DEBUG"] == "false"
    assert (data / "left4me.sqlite3").is_file()
    assert stat.S_IMODE((data / "left4me.sqlite3").stat().st_mode) & 0o007 == 0
    assert (data / "static/admin/css/base.css").is_file()


def test_the_installed_server_has_no_test_lint_or_browser_tools(prefix: Path) -> None:
    """install.sh installs requirements.txt alone: requirements-dev.txt stays on developers' machines."""
    python = prefix / "opt/left4me/.venv/bin/python"
    code = "import importlib.util, sys; print(*[m for m in sys.argv[1:] if importlib.util.find_spec(m)])"
    dev_tools = [
        "pytest",
        "pytest_django",
        "xdist",
        "responses",
        "playwright",
        "mypy",
        "ruff",
        "importlinter",
    ]
    found = subprocess.run(
        [python, "-c", code, "celery", "gunicorn", *dev_tools], capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["celery", "gunicorn"]


def test_the_database_is_created_0640_and_its_journal_files_follow(prefix: Path, tmp_path: Path) -> None:
    """install.sh runs with umask 0022; its migrate creates the SQLite database with umask 0027."""
    installed = prefix / "var/lib/left4me/left4me.sqlite3"
    assert stat.S_IMODE(installed.stat().st_mode) & 0o027 == 0

    # A process with the worker's umask (0022) writing to it: SQLite gives the journal files
    # (-wal, -shm) the database's mode, not the umask's. (On a copy, mode and all: the module's
    # other tests use the installed one.)
    database = tmp_path / installed.name
    shutil.copy2(installed, database)
    old = os.umask(0o022)
    try:
        connection = sqlite3.connect(database)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE probe (x)")
        connection.commit()
        for suffix in ("-wal", "-shm"):
            journal = Path(f"{database}{suffix}")
            assert stat.S_IMODE(journal.stat().st_mode) & 0o007 == 0, suffix
        connection.close()
    finally:
        os.umask(old)


def test_manage_check_deploy_passes_with_the_installed_env(prefix: Path) -> None:
    result = run_manage(prefix, "check", "--deploy")
    assert result.returncode == 0, result.stderr
    found = set(re.findall(r"\((\w+\.[WE]\d+)\)", result.stdout + result.stderr))
    assert found <= ACCEPTED_DEPLOY_WARNINGS, result.stdout + result.stderr


def test_migrate_set_up_the_periodic_tasks(prefix: Path) -> None:
    code = "from django_celery_beat.models import PeriodicTask; print(PeriodicTask.objects.filter(enabled=True).count())"
    result = run_manage(prefix, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) >= 1


def test_a_second_run_changes_nothing_and_keeps_the_secret(prefix: Path) -> None:
    env_bytes = (prefix / "etc/left4me/env").read_bytes()
    before = snapshot(prefix)
    result = run_install(prefix, "--no-systemd")
    assert (prefix / "etc/left4me/env").read_bytes() == env_bytes
    assert "keeping" in result.stdout
    assert "installing requirements" not in result.stdout
    assert snapshot(prefix) == before


def test_the_install_says_which_installer_it_used(first_install: tuple[Path, str]) -> None:
    prefix, printed = first_install
    installer = "uv" if _uv_only() else "pip"
    assert f"installing requirements.txt into {prefix}/opt/left4me/.venv with {installer}" in printed


def test_first_admin_instructions_are_printed(first_install: tuple[Path, str]) -> None:
    prefix, printed = first_install
    assert f"{prefix}/opt/left4me/deploy/manage.sh ensure_admin" in printed
    assert "createsuperuser" in printed
    created = run_manage(prefix, "ensure_admin")
    assert created.returncode == 0 and "created admin account" in created.stdout


def test_upgrade_brings_source_changes_and_keeps_the_env_file(prefix: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        BASE_DIR, source, ignore=shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "*_cache")
    )
    (source / "deploy" / "NEW_FILE").write_text("new\n")
    requirements = (source / "requirements.txt").read_text()
    (source / "requirements.txt").write_text(requirements + "# a changed requirements file\n")
    env_bytes = (prefix / "etc/left4me/env").read_bytes()

    # On a machine without uv (most servers) the upgrade installs with pip, into a venv that uv
    # made without one when the first install had uv.
    upgraded = run_install(prefix, "upgrade", "--no-systemd", "--source", str(source), uv=False)
    assert f"installing requirements.txt into {prefix}/opt/left4me/.venv with pip" in upgraded.stdout
    assert os.access(prefix / "opt/left4me/.venv/bin/pip", os.X_OK)
    assert (prefix / "opt/left4me/deploy/NEW_FILE").read_text() == "new\n"
    (source / "deploy" / "NEW_FILE").unlink()
    (source / "requirements.txt").write_text(requirements)
    run_install(prefix, "upgrade", "--no-systemd", "--source", str(source))
    assert not (prefix / "opt/left4me/deploy/NEW_FILE").exists()
    assert (prefix / "etc/left4me/env").read_bytes() == env_bytes


def test_with_systemd_the_units_are_installed_for_the_prefix(prefix: Path) -> None:
    # Not root on / here, so the units are written but systemctl is not called.
    result = run_install(prefix)
    assert "skipping systemctl" in result.stdout
    for name in UNIT_NAMES:
        text = (prefix / f"etc/systemd/system/{name}.service").read_text()
        assert f"EnvironmentFile={prefix}/etc/left4me/env" in text
        assert f"ReadWritePaths={prefix}/var/lib/left4me" in text
        program = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
        assert program.startswith(f"{prefix}/opt/left4me/.venv/bin/") and os.access(program, os.X_OK)
    if shutil.which("systemd-analyze"):
        units = [str(prefix / f"etc/systemd/system/{name}.service") for name in UNIT_NAMES]
        verify = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True
        )
        assert verify.returncode == 0 and "left4me-" not in verify.stdout + verify.stderr, verify.stderr


def test_a_fleet_machine_gets_its_host_name_queue_and_role(prefix: Path) -> None:
    host_env = prefix / "etc/left4me/host.env"
    env_before = (prefix / "etc/left4me/env").read_bytes()
    try:
        result = run_install(prefix, "--no-systemd", "--host-name", "gs1", "--role", "worker")
        assert (
            "This machine: host gs1, role worker (services: left4me-worker left4me-housekeeping left4me-beat)"
            in result.stdout
        )
        lines = [line for line in host_env.read_text().splitlines() if not line.startswith("#")]
        assert lines == ["LEFT4ME_HOST=gs1", "LEFT4ME_WORKER_QUEUE=host-gs1", "LEFT4ME_ROLE=worker"]
        assert (prefix / "etc/left4me/env").read_bytes() == env_before  # the shared file is untouched
        # An upgrade (or a run without the flags) keeps this machine's name and role.
        again = run_install(prefix, "upgrade", "--no-systemd")
        assert "host gs1, role worker" in (again.stdout + run_install(prefix, "--no-systemd").stdout)
        assert "LEFT4ME_ROLE=worker" in host_env.read_text()
    finally:
        host_env.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "worker"], "--role worker needs --host-name NAME"),
        (["--role", "db"], "--role db: use web, worker or all"),
        (["--host-name", "a/b"], "--host-name a/b: use letters, digits"),
    ],
)
def test_a_bad_role_or_host_name_is_refused_before_anything_is_done(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = subprocess.run(
        ["bash", str(INSTALL_SH), *args, "--prefix", str(tmp_path / "root")],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "root").exists()


def test_unknown_arguments_are_refused() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL_SH), "--frobnicate"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown argument: --frobnicate" in result.stderr
    assert "--prefix DIR" in result.stderr + result.stdout


def _unit_argv(name: str, prefix: Path, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart for an app under `prefix`, with ${VAR} expanded as systemd does."""
    argv = [arg.replace("/opt/left4me", f"{prefix}/opt/left4me") for arg in exec_start(name)]
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], arg) for arg in argv]


def _service_env(name: str, prefix: Path, **overrides: str) -> dict[str, str]:
    # Environment= first, then the EnvironmentFile wins, as under systemd.
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} | default_environment(name) | read_env_file(prefix)
    return env | overrides


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": "localhost", **headers}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:  # a cold gunicorn worker, a busy machine
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _start(argv: list[str], env: dict[str, str], prefix: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        env=env,
        cwd=prefix / "opt/left4me",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_the_units_commands_serve_the_installed_app(prefix: Path) -> None:
    """Web and worker started exactly as their units say, from the installed venv and env file."""
    port = _free_port()
    overrides = {"CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "LEFT4ME_BIND": f"127.0.0.1:{port}"}
    overrides["LEFT4ME_WORKER_QUEUE"] = "install-test"
    overrides["WORKSHOP_MIN_FREE_BYTES"] = "0"  # the health check must not depend on this disk
    web_env = _service_env("left4me-web", prefix, **overrides)
    worker_env = _service_env("left4me-worker", prefix, **overrides)
    web = _start(_unit_argv("left4me-web", prefix, web_env), web_env, prefix)
    worker = None
    try:
        wait_for(lambda: _port_open(port), timeout=30)
        status, _, body = _get(port, "/healthz")
        assert status == 200, body
        assert json.loads(body) == {
            "status": "ok",
            "database": "ok",
            "broker": "ok",
            "worker": "none seen",
            "workers": {},
            "disk": "ok",
            "hosts": {},
        }
        # Plain http goes to https; behind the proxy the app sees https and sets secure cookies.
        status, headers, _ = _get(port, "/accounts/login/")
        assert status == 301 and headers["Location"].startswith("https://")
        status, headers, _ = _get(port, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
        assert status == 200 and "Strict-Transport-Security" in headers
        assert "secure" in headers["Set-Cookie"].lower()

        worker = _start(_unit_argv("left4me-worker", prefix, worker_env), worker_env, prefix)
        wait_for(lambda: json.loads(_get(port, "/healthz")[2])["worker"] == "ok", timeout=90, interval=1)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(web)


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True
