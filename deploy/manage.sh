#!/usr/bin/env bash
# Run a manage.py command of an installed left4me with the settings and the user of its services:
#   sudo /opt/left4me/deploy/manage.sh ensure_admin
#   sudo /opt/left4me/deploy/manage.sh createsuperuser
# The env file is <prefix>/etc/left4me/env for an app in <prefix>/opt/left4me, or $LEFT4ME_ENV_FILE.
set -euo pipefail

APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$(realpath -m "$APP_DIR/../..")"
ENV_FILE="${LEFT4ME_ENV_FILE:-${PREFIX%/}/etc/left4me/env}"
SERVICE_USER="${LEFT4ME_USER-left4me}"

die() { printf 'manage.sh: %s\n' "$*" >&2; exit 1; }

# Export KEY=VALUE lines the way systemd's EnvironmentFile= reads them: comments and blank
# lines skipped, one pair of surrounding quotes removed, nothing evaluated.
load_env_file() {
  local line key value
  [ -r "$ENV_FILE" ] || die "cannot read $ENV_FILE (run as root, or set LEFT4ME_ENV_FILE)"
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line#"${line%%[![:space:]]*}"}"
    case "$line" in '' | '#'* | ';'*) continue ;; esac
    [[ "$line" == *=* ]] || die "$ENV_FILE: not KEY=VALUE: $line"
    key="${line%%=*}"
    value="${line#*=}"
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "$ENV_FILE: bad name: $key"
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then
      value="${BASH_REMATCH[1]}"
    fi
    export "$key=$value"
  done <"$ENV_FILE"
}

# Root runs the command as the service user, so files it creates stay the services' own.
run_as_service_user() {
  [ "$PREFIX" = / ] && [ -n "$SERVICE_USER" ] && [ "$(id -u)" = 0 ] && id -u "$SERVICE_USER" >/dev/null 2>&1
}

main() {
  load_env_file
  cd "$APP_DIR"
  local cmd=("$APP_DIR/.venv/bin/python" "$APP_DIR/manage.py" "$@")
  if run_as_service_user; then
    exec runuser -u "$SERVICE_USER" -- "${cmd[@]}"
  fi
  exec "${cmd[@]}"
}

main "$@"
