#!/usr/bin/env bash
# Install what the native stack needs, idempotently (fast when nothing changed):
#   PostgreSQL server (Debian package, if absent), the Python virtualenv with the project,
#   the pinned Kafka/Flink jars (Maven), and .env with generated passwords.
LCM_SETUP=1 source "$(dirname "$0")/common.sh"

stamp_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- tools ---------------------------------------------------------------------------
java_check
need mvn "Install Maven (apt-get install maven)."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3.12 || command -v python3 || true)}"
[[ -n "$PYTHON" ]] || die "Python 3.11 or 3.12 not found; PyFlink 2.2 supports 3.9-3.12."
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ "$pyver" =~ ^3\.(9|10|11|12)$ ]] || die "$PYTHON is Python $pyver; PyFlink 2.2 needs 3.9-3.12 (set PYTHON=...)."

# --- PostgreSQL server ------------------------------------------------------------------
if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing the PostgreSQL server (Debian package postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
      || die "apt-get install postgresql failed"
    # The package starts a system cluster on 5432; the project runs its own in .state/.
    if command -v pg_lsclusters >/dev/null; then
      pg_lsclusters --no-header | while read -r ver name _; do
        pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true
      done
    fi
  else
    die "PostgreSQL server not found. Install it (Debian/Ubuntu: sudo apt-get install postgresql) and re-run."
  fi
fi

# --- Chromium, headless: the report page test opens make report's HTML in it ------------
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
    && [[ -z "${LCM_CHROMIUM:-}" ]]; then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing Chromium (Debian package chromium) for the report page test"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null \
      || die "apt-get install chromium failed"
  else
    log "warning: Chromium not found; tests/test_report_browser.py fails until it is installed (sudo apt-get install chromium)"
  fi
fi

# --- Python virtualenv ------------------------------------------------------------------
if [[ ! -x "$PY" ]]; then
  log "creating virtualenv .venv with $PYTHON ($pyver)"
  "$PYTHON" -m venv "$VENV"
fi
want=$(hash_of "$REPO_DIR/pyproject.toml" "$REPO_DIR/constraints.txt")
if ! stamp_ok "$STATE_DIR/pip.stamp" "$want"; then
  log "installing Python packages (first time takes a few minutes)"
  "$PY" -m pip install -q --upgrade pip
  # Ranges from pyproject.toml, exact versions from constraints.txt.
  "$PY" -m pip install -q -c "$REPO_DIR/constraints.txt" -e "$REPO_DIR[dev]" \
    || die "pip install failed"
  echo "$want" >"$STATE_DIR/pip.stamp"
fi

# --- JVM jars (pinned in stack/pom.xml) -------------------------------------------------
want=$(hash_of "$REPO_DIR/stack/pom.xml")
if ! stamp_ok "$STATE_DIR/jars.stamp" "$want"; then
  log "resolving Kafka broker and Flink connector jars with Maven"
  rm -rf "$LIB_DIR"
  if ! out=$(mvn -B -q -f "$REPO_DIR/stack/pom.xml" generate-resources -Dlib.dir="$LIB_DIR" 2>&1); then
    echo "$out" | grep -E "ERROR|Could not" | head -5 >&2
    die "a pinned jar did not resolve (see above); check the versions in stack/pom.xml and Maven's network access."
  fi
  echo "$want" >"$STATE_DIR/jars.stamp"
fi

# --- The job's Java function (flink_jobs/java), into the same lib dir --------------------
want=$(hash_of "$REPO_DIR/flink_jobs/java/pom.xml" "$REPO_DIR"/flink_jobs/java/src/main/java/io/lcm/flink/*.java \
        "$REPO_DIR"/flink_jobs/java/src/main/resources/META-INF/services/*)
if ! stamp_ok "$STATE_DIR/functions.stamp" "$want" || [[ ! -f "$LIB_DIR/flink/lcm-flink-functions.jar" ]]; then
  log "building the job's Java code (flink_jobs/java) with Maven"
  if ! out=$(mvn -B -q -f "$REPO_DIR/flink_jobs/java/pom.xml" package 2>&1); then
    echo "$out" | grep -E "ERROR" | head -5 >&2
    die "building flink_jobs/java failed (see above)"
  fi
  cp "$REPO_DIR/flink_jobs/java/target/lcm-flink-functions.jar" "$LIB_DIR/flink/"
  echo "$want" >"$STATE_DIR/functions.stamp"
fi

# --- Node packages the tests use (npm), each installed once per package.json ----------
# npm_once DIR STAMP WHAT TEST: `npm install` in DIR unless STAMP matches its package.json.
npm_once() {
  local want
  want=$(hash_of "$REPO_DIR/$1/package.json")
  stamp_ok "$STATE_DIR/$2" "$want" && return 0
  if command -v npm >/dev/null; then
    log "installing $3 (npm, $1)"
    (cd "$REPO_DIR/$1" && npm install --silent >/dev/null) || die "npm install in $1 failed"
    echo "$want" >"$STATE_DIR/$2"
  else
    log "warning: npm not found; $4 will fail until Node.js is installed"
  fi
}
npm_once harness/timescale npm-harness.stamp "the TimescaleDB test engine (a WebAssembly TimescaleDB)" \
  tests/test_timescale_schema.py
npm_once deploy/kubernetes/validate npm-k8s.stamp "Strimzi's CRD schemas as validators" \
  tests/test_kubernetes.py

# --- Kubernetes manifest tools (tests/test_kubernetes.py), from the Go module proxy -----
# kustomize builds deploy/kubernetes/overlays/*; kubeconform validates what it builds.
GO_TOOLS="sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0"
if ! stamp_ok "$STATE_DIR/go-tools.stamp" "$GO_TOOLS"; then
  if command -v go >/dev/null; then
    log "installing kustomize and kubeconform (go install, first time takes a few minutes)"
    for tool in $GO_TOOLS; do
      GOBIN="$STATE_DIR/bin" GOFLAGS=-modcacherw go install "$tool" >/dev/null 2>&1 \
        || die "go install $tool failed"
    done
    echo "$GO_TOOLS" >"$STATE_DIR/go-tools.stamp"
  else
    log "warning: Go not found; tests/test_kubernetes.py needs kustomize and kubeconform (install Go, re-run make setup)"
  fi
fi

# --- the service user Kafka and Flink run as when the stack is started as root ---------
# Flink runs code that anyone who reaches its REST API submits, so not as root. The user
# must be able to run the project's Python (Flink starts the Python UDF workers with it);
# if it cannot (an interpreter under a private home directory), the stack warns and runs
# as root: install Python where the service user can read it, e.g. PYTHON=/usr/bin/python3.11.
if [[ $EUID -eq 0 ]]; then
  svc="${LCM_SERVICE_USER:-lcm}"
  if ! id -u "$svc" >/dev/null 2>&1; then
    log "creating the service user '$svc' (Kafka and Flink run as it)"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$svc" \
      || die "useradd $svc failed"
  fi
  if runuser -u "$svc" -- "$PY" -c 'import pyflink, flink_jobs' >/dev/null 2>&1; then
    echo "$svc" >"$STATE_DIR/service-user"
  else
    echo root >"$STATE_DIR/service-user"
    log "warning: user '$svc' cannot run $PY (its interpreter $(readlink -f "$PY") is not readable by it); Kafka and Flink run as root. See docs/security.md."
  fi
fi

# --- .env with generated secrets --------------------------------------------------------
if [[ ! -f "$REPO_DIR/.env" ]]; then
  log "writing .env with generated passwords (git-ignored)"
  umask 077
  while IFS= read -r line; do
    if [[ "$line" =~ ^[A-Z_]*PASSWORD=$ ]]; then
      line="${line}$("$PY" -c 'import secrets; print(secrets.token_hex(16))')"
    fi
    printf '%s\n' "$line"
  done <"$REPO_DIR/.env.example" >"$REPO_DIR/.env"
fi
log "setup complete"
