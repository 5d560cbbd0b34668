#!/usr/bin/env bash
# Install or upgrade left4me on a server (README: "Install on a server"). Safe to run again.
#
#   deploy/install.sh [options]            install, or repair an install
#   deploy/install.sh upgrade [options]    pull (git checkout), pip install, migrate,
#                                          collectstatic, restart the services
# Options:
#   --prefix DIR         root of everything (default /): DIR/opt/left4me, DIR/var/lib/left4me,
#                        DIR/etc/left4me/env. With DIR other than /, no system user is made,
#                        systemctl is not called and the env file gets paths under DIR.
#   --source DIR         the left4me tree to install (default: the one holding this script)
#   --no-systemd         no units, no systemctl (e.g. for a test or a container)
#   --host NAME          public host name: sets ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS
#   --database-url URL   database for a new env file (default: SQLite in the data folder)
#   --broker-url URL     Redis for a new env file (default: redis://127.0.0.1:6379/0)
#   --host-name NAME     this machine's name in a fleet (README "More than one host"): written
#                        with its queue host-NAME to /etc/left4me/host.env, which the units read
#                        after the shared env file; its worker registers the host NAME
#   --role ROLE          which services this machine runs: all (default: web, worker,
#                        housekeeping, beat), web (web, housekeeping, beat) or worker (worker,
#                        housekeeping, beat; needs --host-name). Beat may run on every machine:
#                        one holds a lock in Redis and sends the schedule, the others stand by.
#                        The role is kept in host.env for later upgrades.
# The options --host, --database-url and --broker-url only shape a new env file: an
# existing one is never overwritten (edit it, then run `upgrade`).
set -euo pipefail
umask 022

SERVICE_USER=left4me
ALL_UNITS=(left4me-web left4me-worker left4me-housekeeping left4me-beat)
UNITS=("${ALL_UNITS[@]}")
PYTHON="${PYTHON:-python3}"
ORIG_ARGS=("$@")
COMMAND=install
PREFIX=/
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
USE_SYSTEMD=1
HOST_NAME=""
MACHINE_NAME=""
ROLE=""
DATABASE_URL_ARG=""
BROKER_URL_ARG=""
APP_CHANGED=0
UNITS_CHANGED=0

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      upgrade) COMMAND=upgrade ;;
      --prefix) PREFIX="${2:?--prefix needs a folder}" && shift ;;
      --source) SOURCE="${2:?--source needs a folder}" && shift ;;
      --no-systemd) USE_SYSTEMD=0 ;;
      --host) HOST_NAME="${2:?--host needs a name}" && shift ;;
      --database-url) DATABASE_URL_ARG="${2:?--database-url needs a URL}" && shift ;;
      --broker-url) BROKER_URL_ARG="${2:?--broker-url needs a URL}" && shift ;;
      --host-name) MACHINE_NAME="${2:?--host-name needs a name}" && shift ;;
      --role) ROLE="${2:?--role needs web, worker or all}" && shift ;;
      -h | --help) usage 0 ;;
      *) printf 'install.sh: unknown argument: %s\n\n' "$1" >&2 && usage 2 ;;
    esac
    shift
  done
}

set_paths() {
  PREFIX="$(realpath -m "$PREFIX")"
  SOURCE="$(realpath "$SOURCE")"
  local root="${PREFIX%/}"
  APP_DIR="$root/opt/left4me"
  DATA_DIR="$root/var/lib/left4me"
  ETC_DIR="$root/etc/left4me"
  ENV_FILE="$ETC_DIR/env"
  HOST_ENV_FILE="$ETC_DIR/host.env"
  UNIT_DIR="$root/etc/systemd/system"
  VENV="$APP_DIR/.venv"
  [ -f "$SOURCE/manage.py" ] || die "$SOURCE is not a left4me tree (no manage.py)"
  if [ "$PREFIX" = / ] && ! is_root; then
    die "installing into / needs root (or give --prefix DIR)"
  fi
}

is_root() { [ "$(id -u)" = 0 ]; }
system_install() { [ "$PREFIX" = / ] && is_root; }
have_service_user() { system_install && id -u "$SERVICE_USER" >/dev/null 2>&1; }

ensure_service_user() {
  if ! system_install; then
    say "skipping the $SERVICE_USER system user ($( is_root && echo "--prefix is not /" || echo "not root")): files stay owned by $(id -un)"
    return
  fi
  if id -u "$SERVICE_USER" >/dev/null 2>&1; then
    return
  fi
  say "creating system user $SERVICE_USER"
  useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "left4me panel" "$SERVICE_USER"
}

ensure_data_dir() {
  mkdir -p "$DATA_DIR"
  if have_service_user; then
    chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"
  fi
}

# Copy the source tree into APP_DIR: only files that differ, and delete what the source no
# longer has. The app's venv, local data and caches are neither copied nor deleted.
sync_app() {
  if [ "$SOURCE" = "$APP_DIR" ]; then
    return
  fi
  if [ -d "$APP_DIR/.git" ]; then
    note "$APP_DIR is a git checkout: not copying $SOURCE over it (upgrade pulls instead)"
    return
  fi
  mkdir -p "$APP_DIR"
  local changed
  changed="$("$PYTHON" - "$SOURCE" "$APP_DIR" <<'PY'
import filecmp, os, shutil, sys
from pathlib import Path

SKIP = {".venv", "var", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".import_linter_cache", "node_modules"}
src, dst = Path(sys.argv[1]), Path(sys.argv[2])


def files(root):
    found = set()
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for name in names:
            # A worktree's .git is a file: it names the main checkout, which is not installed.
            if name not in SKIP and not name.endswith(".pyc") and not name.startswith("celerybeat-schedule"):
                found.add(Path(folder, name).relative_to(root))
    return found


wanted, present, changed = files(src), files(dst), 0
for rel in sorted(wanted):
    s, d = src / rel, dst / rel
    if d.exists() and not d.is_symlink() and filecmp.cmp(s, d, shallow=True):
        continue
    d.parent.mkdir(parents=True, exist_ok=True)
    if d.is_symlink():
        d.unlink()
    shutil.copy2(s, d, follow_symlinks=False)
    changed += 1
for rel in sorted(present - wanted):
    (dst / rel).unlink()
    changed += 1
print(changed)
PY
)"
  if [ "$changed" != 0 ]; then
    say "copied $SOURCE to $APP_DIR ($changed files changed)"
    APP_CHANGED=1
  fi
}

ensure_venv() {
  # uv, when this machine has it, makes the venv and installs the pinned file in seconds; pip
  # otherwise (a venv made for uv has no pip: it gets one when uv is gone at a later upgrade).
  # Both write the bytecode now: the services' user cannot write it into the venv later (unless
  # the caller says otherwise with each installer's own switch: PIP_NO_COMPILE, UV_COMPILE_BYTECODE=0).
  local installer=pip
  if command -v uv >/dev/null 2>&1; then installer=uv; fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    if [ "$installer" = uv ]; then "$PYTHON" -m venv --without-pip "$VENV"; else "$PYTHON" -m venv "$VENV"; fi
    APP_CHANGED=1
  fi
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$APP_DIR/requirements.txt" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing requirements.txt into $VENV with $installer"
    if [ "$installer" = uv ]; then
      UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE:-1}" uv pip install --quiet --python "$VENV/bin/python" -r "$APP_DIR/requirements.txt"
    else
      [ -x "$VENV/bin/pip" ] || "$VENV/bin/python" -m ensurepip --default-pip >/dev/null
      "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$APP_DIR/requirements.txt"
    fi
    echo "$want" >"$stamp"
    APP_CHANGED=1
  fi
}

# A new env file from env.example: a fresh SECRET_KEY, the chosen URLs, and paths moved
# under the prefix. An existing file is the operator's and is left alone.
write_env_file() {
  if [ -e "$ENV_FILE" ]; then
    note "keeping $ENV_FILE"
    return
  fi
  say "writing $ENV_FILE"
  mkdir -p "$ETC_DIR"
  local tmp="$ENV_FILE.new.$$"
  (umask 077 && L4M_DATA_DIR="$DATA_DIR" L4M_HOST="$HOST_NAME" \
    L4M_DATABASE_URL="${DATABASE_URL_ARG:-sqlite:///$DATA_DIR/left4me.sqlite3}" \
    L4M_BROKER_URL="$BROKER_URL_ARG" "$PYTHON" - "$APP_DIR/deploy/env.example" >"$tmp" <<'PY'
import os, secrets, sys

env = os.environ
values = {"SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": env["L4M_DATABASE_URL"]}
if env["L4M_BROKER_URL"]:
    values["CELERY_BROKER_URL"] = env["L4M_BROKER_URL"]
if env["L4M_HOST"]:
    values["ALLOWED_HOSTS"] = f"{env['L4M_HOST']},127.0.0.1,localhost"
    values["CSRF_TRUSTED_ORIGINS"] = f"https://{env['L4M_HOST']}"
for line in open(sys.argv[1]):
    key = line.split("=", 1)[0]
    if not line.startswith("#") and key in values:
        line = f"{key}={values[key]}\n"
    else:
        line = line.replace("/var/lib/left4me", env["L4M_DATA_DIR"])
    sys.stdout.write(line)
PY
  )
  if have_service_user; then
    chgrp "$SERVICE_USER" "$tmp"
    chmod 0640 "$tmp"
  fi
  mv "$tmp" "$ENV_FILE"
  if [ -z "$HOST_NAME" ]; then
    note "set ALLOWED_HOSTS and CSRF_TRUSTED_ORIGINS in $ENV_FILE to the panel's host name"
  fi
}

host_env_value() {
  [ -f "$HOST_ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$HOST_ENV_FILE" | tail -n 1
}

# This machine's part of a fleet: its name, queue and role, kept in host.env (the env file is
# the one every machine shares). The role of an earlier run stays unless --role changes it.
choose_role() {
  [ -n "$MACHINE_NAME" ] || MACHINE_NAME="$(host_env_value LEFT4ME_HOST)"
  [ -n "$ROLE" ] || ROLE="$(host_env_value LEFT4ME_ROLE)"
  ROLE="${ROLE:-all}"
  if [ -n "$MACHINE_NAME" ] && ! [[ "$MACHINE_NAME" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ ]]; then
    die "--host-name $MACHINE_NAME: use letters, digits, _ . - (at most 63)"
  fi
  case "$ROLE" in
    all) UNITS=("${ALL_UNITS[@]}") ;;
    web) UNITS=(left4me-web left4me-housekeeping left4me-beat) ;;
    worker)
      [ -n "$MACHINE_NAME" ] || die "--role worker needs --host-name NAME (the host its overlays are placed on)"
      UNITS=(left4me-worker left4me-housekeeping left4me-beat)
      ;;
    *) die "--role $ROLE: use web, worker or all" ;;
  esac
}

write_host_env() {
  [ -n "$MACHINE_NAME" ] || [ "$ROLE" != all ] || return 0
  local tmp="$HOST_ENV_FILE.new.$$"
  mkdir -p "$ETC_DIR"
  {
    echo "# This machine in the fleet (written by install.sh --host-name/--role; the shared settings are in env)."
    if [ -n "$MACHINE_NAME" ]; then
      echo "LEFT4ME_HOST=$MACHINE_NAME"
      echo "LEFT4ME_WORKER_QUEUE=host-$MACHINE_NAME"
    fi
    echo "LEFT4ME_ROLE=$ROLE"
  } >"$tmp"
  if cmp -s "$tmp" "$HOST_ENV_FILE"; then
    rm "$tmp"
    return
  fi
  chmod 0644 "$tmp"
  mv "$tmp" "$HOST_ENV_FILE"
  say "wrote $HOST_ENV_FILE (host ${MACHINE_NAME:-local}, role $ROLE)"
  APP_CHANGED=1
}

env_value() {
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

broker_is_local() {
  case "$(env_value CELERY_BROKER_URL)" in
    redis://127.0.0.1* | redis://localhost* | redis://:*@127.0.0.1* | redis://:*@localhost* | '') return 0 ;;
    *) return 1 ;;
  esac
}

ensure_redis() {
  if ! broker_is_local || command -v redis-server >/dev/null 2>&1; then
    return
  fi
  if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    if [ "$USE_SYSTEMD" = 0 ]; then
      say "skipping redis-server: it is missing and this is not a root install on Debian/Ubuntu"
      return
    fi
    die "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server) and run again"
  fi
  say "installing redis-server with apt-get"
  apt-get update -qq
  # Debian's package enables and starts the system Redis on 127.0.0.1:6379.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

manage() {
  LEFT4ME_ENV_FILE="$ENV_FILE" "$APP_DIR/deploy/manage.sh" "$@"
}

# migrate also creates the periodic tasks (data migrations), so beat finds its schedule.
# One start of Django for both: migrate creates a SQLite database with umask 0027 (it holds
# password hashes and sessions: not world-readable), collectstatic keeps this script's umask.
update_database_and_static() {
  say "migrating the database and collecting static files"
  manage migrate_and_collectstatic
}

# Units go in with the paths of this prefix; UNITS_CHANGED=1 when any unit file changed.
install_units() {
  local unit dst
  UNITS_CHANGED=0
  mkdir -p "$UNIT_DIR"
  for unit in "${UNITS[@]}"; do
    dst="$UNIT_DIR/$unit.service"
    sed -e "s#/opt/left4me#$APP_DIR#g" -e "s#/etc/left4me#$ETC_DIR#g" -e "s#/var/lib/left4me#$DATA_DIR#g" \
      "$APP_DIR/deploy/systemd/$unit.service" >"$dst.new"
    if cmp -s "$dst.new" "$dst"; then
      rm "$dst.new"
    else
      mv "$dst.new" "$dst"
      say "installed $dst"
      UNITS_CHANGED=1
    fi
  done
}

can_use_systemctl() {
  system_install && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]
}

start_services() {
  [ "$USE_SYSTEMD" = 1 ] || return 0
  install_units
  if ! can_use_systemctl; then
    say "skipping systemctl (needs root, --prefix /, and a running systemd): units are in $UNIT_DIR"
    return
  fi
  [ "$UNITS_CHANGED" = 0 ] || systemctl daemon-reload
  if broker_is_local && systemctl cat redis-server.service >/dev/null 2>&1; then
    systemctl enable --now --quiet redis-server.service
  fi
  local unit
  for unit in "${ALL_UNITS[@]}"; do
    if [[ " ${UNITS[*]} " != *" $unit "* ]] && systemctl is-enabled --quiet "$unit.service" 2>/dev/null; then
      say "disabling $unit (not part of role $ROLE)"
      systemctl disable --now --quiet "$unit.service"
    fi
  done
  systemctl enable --quiet "${UNITS[@]/%/.service}"
  if [ "$COMMAND" = upgrade ] || [ "$APP_CHANGED" = 1 ] || [ "$UNITS_CHANGED" = 1 ]; then
    say "restarting ${UNITS[*]}"
    systemctl restart "${UNITS[@]/%/.service}"
  else
    systemctl start "${UNITS[@]/%/.service}"
  fi
  systemctl --no-pager --lines=0 status "${UNITS[@]/%/.service}" || true
}

print_next_steps() {
  local manage_sh="$APP_DIR/deploy/manage.sh" sudo="" options=""
  system_install && sudo="sudo "
  [ "$PREFIX" = / ] || options+=" --prefix $PREFIX"
  [ "$USE_SYSTEMD" = 1 ] || options+=" --no-systemd"
  cat <<EOF

left4me is installed in $APP_DIR, data in $DATA_DIR, settings in $ENV_FILE.
This machine: host ${MACHINE_NAME:-local}, role $ROLE (services: ${UNITS[*]}).
Create the first admin (a random password is printed once):
    ${sudo}$manage_sh ensure_admin
or choose its name and password:
    ${sudo}$manage_sh createsuperuser
Put nginx in front with TLS: $APP_DIR/deploy/nginx/left4me.conf
Health check: curl http://127.0.0.1:8000/healthz
Upgrade later with: ${sudo}$APP_DIR/deploy/install.sh upgrade$options
EOF
}

# An upgrade of a git checkout pulls, then goes on with the pulled version of this script.
pull_app() {
  if [ -n "${LEFT4ME_PULLED:-}" ] || [ ! -d "$APP_DIR/.git" ]; then
    return
  fi
  say "pulling $APP_DIR"
  local before
  before="$(git -C "$APP_DIR" rev-parse HEAD)"
  git -C "$APP_DIR" pull --ff-only
  if [ "$(git -C "$APP_DIR" rev-parse HEAD)" != "$before" ]; then
    LEFT4ME_PULLED=1 exec "$APP_DIR/deploy/install.sh" "${ORIG_ARGS[@]}"
  fi
}

cmd_install() {
  ensure_service_user
  ensure_data_dir
  sync_app
  ensure_venv
  write_env_file
  write_host_env
  ensure_redis
  update_database_and_static
  start_services
  print_next_steps
}

cmd_upgrade() {
  [ -e "$ENV_FILE" ] || die "no $ENV_FILE: run install.sh first"
  pull_app
  sync_app
  ensure_data_dir
  ensure_venv
  write_host_env
  update_database_and_static
  start_services
  say "upgraded"
}

main() {
  parse_args "$@"
  set_paths
  choose_role
  case "$COMMAND" in
    install) cmd_install ;;
    upgrade) cmd_upgrade ;;
  esac
}

main "$@"
