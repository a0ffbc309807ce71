# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared helpers for deploy/local/*.sh: install what is missing, run a RabbitMQ node of the project's
# own (state under .local/rabbitmq/NAME, git-ignored) and the TLS material its tests use.
# Sourced, never run; callers use `set -euo pipefail`. This file holds the settings, logging and
# set-up, and sources the rest from lib/: net.sh (ports, URLs, the Erlang cookie), tls.sh (test
# certificates), node.sh (a node's files, environment and processes), broker.sh (starting and
# stopping a node), cluster.sh (three nodes joined in a cluster), choose.sh (which broker test.sh
# and demo.sh use, and stopping at exit) and postgres.sh (a PostgreSQL server of our own).

PF_RMQ_BIN=/usr/lib/rabbitmq/bin
# The largest message our nodes accept, in bytes (max_message_size).
: "${PF_MAX_MESSAGE_SIZE:=4194304}"
# The default node (read by broker.sh, test.sh and demo.sh). Its ports differ from the system node's
# 5672/25672 so the two never collide.
: "${PF_DEFAULT_NODE:=parcelflow}" "${PF_DEFAULT_PORT:=5682}" "${PF_DEFAULT_DIST_PORT:=25682}" "${PF_DEFAULT_TLS_PORT:=5683}"
# How the release programs are built, for the figures and for deployment: the Swift runtime linked
# in (one file to copy), and linked by lld with packed relative relocations (RELR), which keeps a
# position-independent executable (ASLR) but shrinks its relocation table from 2.5 MB, read at every
# start, to 40 KB: 2 to 3 MB less resident memory per worker.
PF_RELEASE_BUILD=(-c release --static-swift-stdlib -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs)
# Seconds to wait for a node to boot or to stop before giving up.
PF_START_TIMEOUT=${PF_START_TIMEOUT:-60}
PF_STOP_TIMEOUT=${PF_STOP_TIMEOUT:-60}

pf_log() { printf '[parcelflow] %s\n' "$*" >&2; }
pf_die() {
  printf '[parcelflow] error: %s\n' "$*" >&2
  exit 1
}
# A section header for the long-running scripts (test.sh, demo.sh).
pf_section() { printf '\n========== %s ==========\n' "$*"; }

# The repository root, whichever directory the caller was started from.
pf_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P); }

# The toolchain lives in /opt/swift on the project's machines but is not always on PATH.
pf_ensure_swift_path() {
  if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
  fi
  command -v swift >/dev/null 2>&1 || pf_die "swift is not on PATH (and /opt/swift/usr/bin/swift does not exist)"
}

# Install with apt only the packages that are missing; `apt-get update` only when something is.
# Arguments name further packages a script needs beyond these (test.sh: postgresql).
pf_install_deps() {
  # prometheus (and its promtool) and chromium: the observability tests scrape a worker and render the dashboard.
  # systemd (systemd-analyze) and python3-venv (for pf_python_tools): the deployment recipes' tests.
  local pkgs=(librabbitmq-dev rabbitmq-server libsqlite3-dev openssl python3 python3-jsonschema python3-yaml pkg-config gcc procps curl
    prometheus chromium systemd python3-venv "$@")
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  pf_log "installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || pf_die "need root (or sudo) to install: ${missing[*]}"
    sudo=(sudo)
  fi
  local log
  log=$(mktemp)
  # Quiet on success, the whole apt log on failure.
  if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1 </dev/null; then
    cat "$log" >&2
    rm -f "$log"
    pf_die "apt-get install failed for: ${missing[*]}"
  fi
  rm -f "$log"
  pf_log "installed: ${missing[*]}"
}

# pf_python_tools: the Python tools from PyPI that deploy/k8s/validate.py needs (kubernetes-validate,
# jsonschema, PyYAML), at the versions deploy/k8s/requirements.txt pins, in a venv of the project's own
# (.local/venv: Debian refuses pip installs into the system's Python). Made when missing or when the
# pins changed, else left alone. Exports PARCELFLOW_PYTHON_TOOLS, the venv's bin folder, for the tests.
pf_python_tools() {
  local root venv requirements python log
  root=$(pf_root)
  venv="$root/.local/venv"
  requirements="$root/deploy/k8s/requirements.txt"
  if ! [ -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
    # Debian's own Python, which python3-venv completes, before any other on PATH.
    python=/usr/bin/python3
    [ -x "$python" ] || python=$(command -v python3) || pf_die "python3 is not installed"
    pf_log "installing the Python tools of deploy/k8s/requirements.txt into .local/venv"
    log=$(mktemp)
    if ! { rm -rf "$venv" && "$python" -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"; } >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      pf_die "could not install the Python tools into $venv"
    fi
    rm -f "$log"
    cp "$requirements" "$venv/requirements.txt"
  fi
  export PARCELFLOW_PYTHON_TOOLS="$venv/bin"
}

# The rest, by concern, in deploy/local/lib/ (each file only defines functions).
# shellcheck source=lib/net.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/net.sh"
# shellcheck source=lib/tls.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/tls.sh"
# shellcheck source=lib/node.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/node.sh"
# shellcheck source=lib/broker.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/broker.sh"
# shellcheck source=lib/cluster.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"
# shellcheck source=lib/choose.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/choose.sh"
# shellcheck source=lib/postgres.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/postgres.sh"

# pf_begin [PACKAGE…]: the set-up every entry script starts with — install what is missing (and the
# packages named), put Swift on PATH — and a note of the broker nodes running now, so that pf_cleanup
# stops only the nodes this script started (none at all with PARCELFLOW_KEEP_BROKER=1). Scripts call
# pf_cleanup from their EXIT trap. The demo needs no PostgreSQL; the tests and store figures do.
pf_begin() {
  pf_section "Set-up: packages and toolchain"
  pf_install_deps "$@"
  pf_ensure_swift_path
  swift --version 2>&1 | head -n 1
  PF_NODES_BEFORE=$(pf_running_nodes)
}

pf_cleanup() {
  if [ "${PARCELFLOW_KEEP_BROKER:-0}" != 1 ]; then
    pf_stop_new_nodes "${PF_NODES_BEFORE:-}"
    if [ "${PF_PG_STARTED:-0}" = 1 ]; then pf_pg_stop; fi
  fi
}
