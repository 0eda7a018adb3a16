# Shared settings and helpers for the native stack scripts. Source it; don't run it.
# Every path is project-local: state lives in .state/ (git-ignored) and survives `make down`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${LCM_STATE_DIR:-$REPO_DIR/.state}"
VENV="$REPO_DIR/.venv"
PY="$VENV/bin/python"
LIB_DIR="$STATE_DIR/lib"
mkdir -p "$STATE_DIR"

# Secrets and settings: .env is created by stack/setup.sh and git-ignored. It is parsed by
# the project's one .env reader (python-dotenv, lcm/settings.py), which prints the values
# as shell exports, so the scripts read comments, quotes and '#' exactly as Python and
# docker compose do. A variable already in the environment wins over .env (tests point
# LCM_DB elsewhere that way). setup.sh runs before the virtualenv can read it.
# (A service the supervisor runs as another user cannot read .env, which is the project
# user's only: it gets the same settings from the supervisor's environment.)
_env_file="${LCM_ENV_FILE:-$REPO_DIR/.env}"
if [[ -r "$_env_file" ]]; then
  # It holds passwords: owner-only, whoever wrote it (cp .env.example .env is 0644).
  if [[ -O "$_env_file" && -n "$(find "$_env_file" -perm /077 2>/dev/null)" ]]; then
    chmod 600 "$_env_file" && echo "[stack] .env was readable by other users: made it 0600" >&2
  fi
  if [[ -z "${LCM_SETUP:-}" ]]; then
    # No virtualenv yet (a fresh clone with a .env, or after 'make clean'): install first.
    [[ -x "$PY" ]] || "$REPO_DIR/stack/setup.sh" >&2 || exit 1
    _exports=$(LCM_ENV_FILE="$_env_file" "$PY" -m lcm.settings shell) \
      || { echo "reading $_env_file failed (see above)" >&2; exit 2; }
    eval "$_exports"
    unset _exports
  fi
fi
: "${LCM_BIND:=127.0.0.1}"
: "${KAFKA_PORT:=9092}"
: "${KAFKA_CONTROLLER_PORT:=9093}"
: "${FLINK_REST_PORT:=8081}"
: "${FLINK_RPC_PORT:=6123}"
: "${PGHOST:=127.0.0.1}"
: "${PGPORT:=5432}"
: "${LCM_DB:=lcm}"

log()  { printf '\033[1m[%s]\033[0m %s\n' "$(basename "$0" .sh)" "$*"; }
die()  { printf '\033[31m[%s] error:\033[0m %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

need() {  # need CMD "how to get it"
  command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH. $2"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuse to start a service on a port something else holds, naming the holder.
ensure_port_free() {  # ensure_port_free PORT SERVICE ENV_VAR
  if port_busy "$1"; then
    local who; who=$(ss -ltnp "sport = :$1" 2>/dev/null | awk 'NR>1{print $NF}' | head -1)
    die "port $1 needed by $2 is already taken${who:+ by $who}. Stop that process or set $3 in .env."
  fi
}

wait_for_port() {  # wait_for_port PORT SECONDS SERVICE LOGFILE
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    port_busy "$1" && return 0
    sleep 0.5
  done
  die "$3 did not open port $1 within $2 s; see $4"
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

java_check() {
  need java "Install a JDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
  local v; v=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}')
  [[ "${v%%.*}" -ge 17 ]] || die "Java $v found; Kafka 4 and Flink 2 need Java 17 or newer (set JAVA_HOME)."
}

flink_home() {
  [[ -x "$PY" ]] || die "no virtualenv at $VENV; run 'make setup' first."
  "$PY" -c 'import os, pyflink; print(os.path.dirname(os.path.abspath(pyflink.__file__)))'
}

# The user Kafka and Flink run as. Started as root, they run as an unprivileged service user
# (LCM_SERVICE_USER, default 'lcm', created by stack/setup.sh) when that user can run the
# project's Python (Flink starts the Python UDF workers); stack/setup.sh records the choice.
service_user() {
  if [[ $EUID -ne 0 ]]; then id -un; return; fi
  local f="$STATE_DIR/service-user"
  if [[ -s "$f" ]]; then cat "$f"; else echo root; fi
}

# Give the service user the state directories its services write to.
own_service_dirs() {
  local user; user=$(service_user)
  [[ $EUID -eq 0 && "$user" != root ]] || return 0
  mkdir -p "$STATE_DIR/kafka" "$STATE_DIR/flink"/{log,run,checkpoints,savepoints,jobs}
  chown -R "$user:" "$STATE_DIR/kafka" "$STATE_DIR/flink/log" "$STATE_DIR/flink/run" \
    "$STATE_DIR/flink/checkpoints" "$STATE_DIR/flink/savepoints"
}

supervised() { "$REPO_DIR/stack/supervise.sh" ctl pid >/dev/null 2>&1; }
