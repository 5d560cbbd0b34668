#!/usr/bin/env bash
# One entry point for a single host: `setup`, `run` (web + worker + beat + Redis), `test`,
# `screenshots` (the README's pictures from the browser tests) and `soak` (the chaos soak).
set -euo pipefail
cd "$(dirname "$0")/.."
export LEFT4ME_ROOT="${LEFT4ME_ROOT:-$PWD/var}"
PY="${PYTHON:-python3}"
VENV="$PWD/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# What a venv's stamp holds for a requirement file: its hash, and that the install compiled the
# bytecode (venvs made before that are installed again).
stamp() { echo "$(sha256sum "$1" | cut -d' ' -f1) compiled"; }

# The venv with requirements.txt (what a server runs, and honcho for `make run`), and with
# `ensure_venv dev` requirements-dev.txt too (tests, lint, browser tools). A stamp per file
# skips the install while its file is unchanged.
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    # Without pip (its own install takes seconds): uv installs into it, or pip once put in below.
    "$PY" -m venv --without-pip "$VENV"
  fi
  local files=(requirements.txt) file stale=()
  [ "${1:-}" != dev ] || files+=(requirements-dev.txt)
  for file in "${files[@]}"; do
    [ "$(cat "$VENV/.${file%.txt}.sha256" 2>/dev/null)" = "$(stamp "$file")" ] || stale+=("$file")
  done
  [ ${#stale[@]} -gt 0 ] || return 0
  say "installing ${files[*]}"
  # uv (from PyPI, put into the venv by this Python's pip) installs the pinned files in seconds
  # where pip takes half a minute of a fresh clone's set-up; the venv's own pip does it when uv
  # cannot be had (no route to PyPI, only a local index). Both compile the bytecode now: where
  # PYTHONDONTWRITEBYTECODE is set, no process writes it later, and every one (a test's worker,
  # gunicorn) would compile its imports again (a fresh clone's suite took a quarter longer so).
  if ! { ensure_uv && "$VENV/bin/uv" pip install --quiet --compile-bytecode --python "$VENV/bin/python" "${files[@]/#/--requirement=}"; }; then
    ensure_pip
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${files[@]/#/--requirement=}"
  fi
  for file in "${files[@]}"; do
    stamp "$file" >"$VENV/.${file%.txt}.sha256"
  done
}

# uv in the venv: by this Python's pip (aimed at the venv), else by the venv's own pip.
ensure_uv() {
  [ -x "$VENV/bin/uv" ] && return 0
  { "$PY" -m pip --python "$VENV/bin/python" install --quiet --disable-pip-version-check uv ||
    { ensure_pip && "$VENV/bin/pip" install --quiet --disable-pip-version-check uv; }; } >/dev/null 2>&1
}

# pip in the venv (made without it), once something needs it.
ensure_pip() {
  [ -x "$VENV/bin/pip" ] || "$VENV/bin/python" -m ensurepip --default-pip >/dev/null
}

ensure_redis_server() {
  command -v redis-server >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    # Debian starts a system Redis on install; left4me runs its own.
    (systemctl disable --now redis-server 2>/dev/null || service redis-server stop 2>/dev/null) >/dev/null 2>&1 || true
  else
    echo "redis-server is missing: install it (Debian/Ubuntu: sudo apt-get install redis-server) and run again" >&2
    exit 1
  fi
}

# The browser tests drive Debian's chromium through Playwright (never Playwright's own browser
# downloads): its headless build, chromium-headless-shell (what Playwright itself runs headless),
# which spent 13-14 s of CPU where the full chromium spent 22-33 s on the same browser tests; the
# full chromium when only it can be had. LEFT4ME_CHROMIUM names another binary.
HEADLESS_SHELL=/usr/bin/chromium-headless-shell
CHROMIUM="${LEFT4ME_CHROMIUM:-}"

ensure_chromium() {
  if [ -n "$CHROMIUM" ]; then
    [ -x "$CHROMIUM" ] && return 0
    echo "LEFT4ME_CHROMIUM=$CHROMIUM is missing: name a Chromium binary, or unset it" >&2
    exit 1
  fi
  CHROMIUM=$HEADLESS_SHELL
  [ -x "$CHROMIUM" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium-headless-shell with apt-get (for the browser tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null
  elif [ -x /usr/bin/chromium ]; then
    CHROMIUM=/usr/bin/chromium
  else
    echo "chromium is missing: the browser tests need it (Debian: sudo apt-get install" >&2
    echo "chromium-headless-shell, or set LEFT4ME_CHROMIUM to a Chromium binary), then run again" >&2
    exit 1
  fi
}

broker_reachable() {
  "$VENV/bin/python" - <<'PY'
import os, sys, redis
url = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
try:
    redis.Redis.from_url(url, socket_connect_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}

# `setup` is a developer's: both requirement files. `run` installs only requirements.txt.
cmd_setup() {
  ensure_venv "$1"
  ensure_redis_server
  mkdir -p "$LEFT4ME_ROOT"
}

cmd_run() {
  # Files under LEFT4ME_ROOT (the database: password hashes, sessions) are not for other users.
  umask 0027
  cmd_setup server
  local procs=(web worker housekeeping beat)
  # make run's own Redis listens where CELERY_BROKER_URL points, when that is this machine.
  local broker="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}"
  if broker_reachable; then
    say "using the Redis at $broker"
  elif [[ ! "$broker" =~ ^redis://(127\.0\.0\.1|localhost)(:([0-9]+))?(/|$) ]]; then
    echo "CELERY_BROKER_URL=$broker does not answer" >&2
    exit 1
  else
    export LEFT4ME_REDIS_PORT="${BASH_REMATCH[3]:-6379}"
    say "starting Redis on 127.0.0.1:$LEFT4ME_REDIS_PORT with data in $LEFT4ME_ROOT/redis"
    mkdir -p "$LEFT4ME_ROOT/redis"
    procs=(redis "${procs[@]}")
  fi
  "$VENV/bin/python" manage.py migrate_and_collectstatic
  local admin_note
  admin_note="$("$VENV/bin/python" manage.py ensure_admin)"
  say "left4me at http://${LEFT4ME_BIND:-127.0.0.1:8000}/  (Ctrl-C stops everything)"
  # On a first start the admin's password comes last, framed, once the web server, the workers and
  # beat answer (not among their logs); the announcer gives up when honcho (this pid, after exec) ends.
  if [ -n "$admin_note" ]; then
    LEFT4ME_ADMIN_NOTE="$admin_note" "$VENV/bin/python" manage.py announce_when_up --pid $$ &
  fi
  exec "$VENV/bin/honcho" start "${procs[@]}"
}

ensure_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && return 0
  command -v pg_ctl >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing postgresql with apt-get (LEFT4ME_TEST_POSTGRES: the suite runs its own cluster)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    # Debian starts a system cluster on install; the suite runs a private one.
    (systemctl disable --now postgresql 2>/dev/null || service postgresql stop 2>/dev/null) >/dev/null 2>&1 || true
  else
    echo "PostgreSQL is missing: LEFT4ME_TEST_POSTGRES=1 needs it (Debian: sudo apt-get install postgresql)" >&2
    exit 1
  fi
}

# The checkout's bytecode, written once (the venv's is written at its install): where
# PYTHONDONTWRITEBYTECODE is set, each of the suite's hundreds of processes (Celery workers above
# all) would otherwise compile every module of left4me it imports. Up to date files are skipped.
compile_bytecode() {
  "$VENV/bin/python" -m compileall -q -x '/(\.venv|var|node_modules)/' . >/dev/null || true
}

cmd_test() {
  cmd_setup dev
  ensure_chromium
  if [ -n "${LEFT4ME_TEST_POSTGRES:-}" ] && [ "$LEFT4ME_TEST_POSTGRES" != 0 ]; then ensure_postgres; fi
  export LEFT4ME_CHROMIUM="$CHROMIUM"
  compile_bytecode
  # The suite starts a private Redis unless LEFT4ME_TEST_BROKER_URL names one, and with
  # LEFT4ME_TEST_POSTGRES=1 a private PostgreSQL cluster (else SQLite). Three processes
  # (pytest-xdist), each with its own root and Redis (tests/support/plugin.py): on 2 cores, as a
  # third of the suite's time is spent waiting on workers, Steam's stand-in and chromium, three
  # finish sooner than two (277 s and 301 s against 307 s and 325 s, in turn on one machine);
  # ARGS="-n 0" runs the tests in this one.
  exec "$VENV/bin/pytest" -n 3 "$@"
}

cmd_screenshots() {
  # The browser flow once more, writing the README's pictures into docs/ as it goes.
  cmd_setup dev
  ensure_chromium
  export LEFT4ME_CHROMIUM="$CHROMIUM" LEFT4ME_SCREENSHOTS="${LEFT4ME_SCREENSHOTS:-$PWD/docs}"
  exec "$VENV/bin/pytest" -m browser tests/browser "$@"
}

cmd_soak() {
  # Its own throwaway LEFT4ME_ROOT, Redis, workers and beat: nothing of var/ is touched.
  cmd_setup dev
  exec "$VENV/bin/python" bench/soak.py "${1:-3m}"
}

case "${1:-}" in
  setup) cmd_setup dev ;;
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  screenshots) shift; cmd_screenshots "$@" ;;
  soak) shift; cmd_soak "$@" ;;
  *) echo "usage: deploy/dev.sh setup|run|test|screenshots [pytest args] | soak [DURATION]" >&2; exit 2 ;;
esac
