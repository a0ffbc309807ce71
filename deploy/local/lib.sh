# shellcheck shell=bash
# Shared helpers for deploy/local/*.sh: install what is missing, run a RabbitMQ node of the project's
# own (state under .local/rabbitmq/NAME, git-ignored) and the TLS material its tests use.
# Sourced, never run; callers use `set -euo pipefail`.

PF_RMQ_BIN=/usr/lib/rabbitmq/bin
# The largest message our nodes accept, in bytes (max_message_size).
: "${PF_MAX_MESSAGE_SIZE:=4194304}"
# The default node (read by broker.sh, test.sh and demo.sh). Its ports differ from the system node's
# 5672/25672 so the two never collide.
: "${PF_DEFAULT_NODE:=parcelflow}" "${PF_DEFAULT_PORT:=5682}" "${PF_DEFAULT_DIST_PORT:=25682}" "${PF_DEFAULT_TLS_PORT:=5683}"
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
pf_install_deps() {
  # prometheus (and its promtool) and chromium: the observability tests scrape a worker and render the dashboard.
  local pkgs=(librabbitmq-dev rabbitmq-server libsqlite3-dev openssl python3 python3-jsonschema python3-yaml pkg-config gcc procps curl
    prometheus chromium)
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

# --- small utilities -------------------------------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:PORT.
pf_port_open() {
  # shellcheck disable=SC2016 # $1 expands in the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

pf_amqp_url() { printf 'amqp://guest:guest@127.0.0.1:%s/%%2f\n' "$1"; }
# The TLS URL names localhost (not 127.0.0.1) so that host-name verification is exercised too.
pf_amqps_url() { printf 'amqps://guest:guest@localhost:%s/%%2f\n' "$1"; }

pf_home() {
  if [ -n "${HOME:-}" ]; then
    printf '%s\n' "$HOME"
  else
    getent passwd "$(id -u)" | cut -d: -f6
  fi
}

# Erlang creates ~/.erlang.cookie on first use, but two nodes (or a node and rabbitmqctl) starting at
# once can race on it; create it up front. Server and CLI both run as this user with this HOME, so
# rabbitmqctl finds the same cookie. (The system service uses /var/lib/rabbitmq's cookie, not this.)
pf_ensure_cookie() {
  local cookie
  cookie="$(pf_home)/.erlang.cookie"
  [ -s "$cookie" ] && return 0
  local tmp
  tmp=$(mktemp "$cookie.XXXXXX")
  openssl rand -hex 16 | tr 'a-f' 'A-F' | tr -d '\n' >"$tmp"
  chmod 400 "$tmp"
  mv -n "$tmp" "$cookie"
  rm -f "$tmp"
}

# --- TLS material ----------------------------------------------------------------------------------

pf_tls_dir() { printf '%s/.local/tls\n' "$(pf_root)"; }

# Generate, once, a CA, a server cert for localhost/127.0.0.1 and a client cert signed by it, plus an
# unrelated "rogue" CA (and a client cert it signed) for tests that expect verification to fail.
pf_tls_ensure() {
  local dir
  dir=$(pf_tls_dir)
  local f need=0
  for f in ca.pem ca.key server.pem server.key client.pem client.key rogue-ca.pem rogue-ca.key rogue-client.pem rogue-client.key; do
    [ -s "$dir/$f" ] || need=1
  done
  [ $need -eq 0 ] && return 0
  mkdir -p "$(dirname "$dir")"
  # Two nodes may start at once; only one generates, into a temp dir renamed into place.
  (
    flock -w 120 8 || pf_die "timed out waiting for the TLS generation lock"
    [ -s "$dir/rogue-client.key" ] && exit 0
    pf_log "generating TLS test certificates in $dir"
    local tmp
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    pf_tls_generate "$tmp" || {
      rm -rf "$tmp"
      pf_die "openssl failed to generate the TLS test certificates"
    }
    rm -f "$tmp/generate.log"
    chmod 755 "$tmp" # certificates readable; the keys themselves stay 0600
    rm -rf "$dir"
    mv "$tmp" "$dir"
  ) 8>"$dir.lock"
}

pf_tls_generate() {
  local d=$1
  cat >"$d/openssl.cnf" <<'EOF'
# Our own config so that the system's openssl.cnf defaults cannot add or clash with extensions.
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  local days=3650
  (
    set -e
    cd "$d"
    umask 077
    ca() { # ca NAME SUBJECT
      openssl req -x509 -config openssl.cnf -extensions v3_ca -newkey rsa:2048 -nodes \
        -keyout "$1.key" -out "$1.pem" -days $days -subj "$2"
    }
    leaf() { # leaf NAME SUBJECT CA EXTENSIONS
      openssl req -new -config openssl.cnf -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
      openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days $days -extfile openssl.cnf -extensions "$4" -out "$1.pem"
      rm -f "$1.csr"
    }
    ca ca "/O=ParcelFlow/CN=ParcelFlow local test CA"
    leaf server "/O=ParcelFlow/CN=localhost" ca v3_server
    leaf client "/O=ParcelFlow/CN=parcelflow-test-client" ca v3_client
    ca rogue-ca "/O=Rogue/CN=Rogue CA (untrusted by ParcelFlow)"
    leaf rogue-client "/O=Rogue/CN=rogue-client" rogue-ca v3_client
    openssl verify -CAfile ca.pem server.pem client.pem
    chmod 644 ./*.pem
  ) >"$d/generate.log" 2>&1 || {
    cat "$d/generate.log" >&2
    return 1
  }
}

# --- broker nodes ----------------------------------------------------------------------------------

pf_node_dir() { printf '%s/.local/rabbitmq/%s\n' "$(pf_root)" "$1"; }
pf_node_full() { printf '%s@localhost\n' "$1"; }

# Environment shared by the server and rabbitmqctl for node NAME. RABBITMQ_CONF_ENV_FILE points at an
# empty file of ours so /etc/rabbitmq/rabbitmq-env.conf (the system node's settings) is never read.
pf_node_env() {
  local name=$1 dir
  dir=$(pf_node_dir "$name")
  printf '%s\n' \
    "HOME=$(pf_home)" \
    "RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf" \
    "RABBITMQ_NODENAME=$(pf_node_full "$name")"
}

pf_ctl() { # pf_ctl NAME ARGS...  — rabbitmqctl as the current user (not the /usr/sbin su wrapper)
  local name=$1
  shift
  local envs=()
  mapfile -t envs < <(pf_node_env "$name")
  env "${envs[@]}" "$PF_RMQ_BIN/rabbitmqctl" -n "$(pf_node_full "$name")" "$@"
}

# PID ($1) is alive and was started with this node's data dir ($2), i.e. it is ours and not a
# recycled pid from a previous boot.
pf_pid_is_node() {
  local pid=$1 dir=$2
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # (A zombie, or a process that exits meanwhile, has no readable environ: not running.)
  { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qxF "RABBITMQ_MNESIA_BASE=$dir/mnesia"
}

# Pids of node NAME's processes that are still alive: the Erlang VM (from the pid file rabbit
# writes) and the rabbitmq-server shell wrapper we launched.
pf_node_pids() {
  local dir f pid
  dir=$(pf_node_dir "$1")
  for f in "$dir/rabbitmq.pid" "$dir/wrapper.pid"; do
    [ -s "$f" ] || continue
    pid=$(tr -dc '0-9' <"$f")
    if pf_pid_is_node "$pid" "$dir"; then printf '%s\n' "$pid"; fi
  done
}

pf_broker_running() { [ -n "$(pf_node_pids "$1")" ]; }

# The ports a node was last started with (written by pf_broker_start): sets PF_NODE_PORT,
# PF_NODE_DIST_PORT and PF_NODE_TLS_PORT.
pf_node_ports() {
  local f
  f="$(pf_node_dir "$1")/ports.env"
  # shellcheck disable=SC2034 # PF_NODE_DIST_PORT is for callers
  PF_NODE_PORT='' PF_NODE_DIST_PORT='' PF_NODE_TLS_PORT=''
  [ -f "$f" ] || return 1
  # shellcheck source=/dev/null
  . "$f"
}

# Running and accepting AMQP connections.
pf_broker_ready() {
  pf_broker_running "$1" && pf_node_ports "$1" && pf_port_open "$PF_NODE_PORT"
}

pf_write_node_config() { # NAME PORT DIST_PORT TLS_PORT
  local name=$1 port=$2 dist_port=$3 tls_port=$4 dir tls
  dir=$(pf_node_dir "$name")
  tls=$(pf_tls_dir)
  {
    echo "# Written by deploy/local/lib.sh on every start; edits are lost."
    echo "listeners.tcp.default = 127.0.0.1:$port"
    echo "loopback_users.guest = true"
    echo "log.file.level = ${PF_RABBITMQ_LOG_LEVEL:-info}" # debug to see where boot time goes
    echo "log.console = false"
    # A task is about 1 KB and a worker refuses bodies over 256 KiB (--max-body-size) without holding
    # them; the node refuses anything over 4 MiB at publish (RabbitMQ's default is 128 MiB).
    echo "max_message_size = $PF_MAX_MESSAGE_SIZE"
    if [ -n "$tls_port" ]; then
      echo "listeners.ssl.default = 127.0.0.1:$tls_port"
      # Also loopback, but a name the certificate does not list: tests of host-name verification.
      echo "listeners.ssl.unlisted = 127.0.0.2:$tls_port"
      echo "ssl_options.cacertfile = $tls/ca.pem"
      echo "ssl_options.certfile = $tls/server.pem"
      echo "ssl_options.keyfile = $tls/server.key"
      echo "ssl_options.verify = verify_peer"
      echo "ssl_options.fail_if_no_peer_cert = false"
    fi
  } >"$dir/rabbitmq.conf"
  cp "$(pf_root)/deploy/rabbitmq/advanced.config" "$dir/advanced.config"
  echo '[].' >"$dir/enabled_plugins" # no plugins: no management UI, fastest boot
  echo '# Intentionally empty: keeps /etc/rabbitmq/rabbitmq-env.conf out.' >"$dir/rabbitmq-env.conf"
  printf 'PF_NODE_PORT=%s\nPF_NODE_DIST_PORT=%s\nPF_NODE_TLS_PORT=%s\n' "$port" "$dist_port" "$tls_port" >"$dir/ports.env"
}

pf_node_log_tail() {
  local dir f
  dir=$(pf_node_dir "$1")
  for f in "$dir/log/console.log" "$dir/log/$(pf_node_full "$1").log"; do
    [ -s "$f" ] || continue
    printf -- '--- last lines of %s ---\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# Close every file descriptor above 2 in the current (sub)shell.
pf_close_fds() {
  local f n
  for f in /proc/"$BASHPID"/fd/*; do
    n=${f##*/}
    if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi
  done
}

# Start node NAME (idempotent) and wait until it has booted.
# Usage: pf_broker_start NAME PORT DIST_PORT [TLS_PORT]
pf_broker_start() {
  local name=$1 port=$2 dist_port=$3 tls_port=${4:-}
  local dir full
  dir=$(pf_node_dir "$name")
  full=$(pf_node_full "$name")
  [ -x "$PF_RMQ_BIN/rabbitmq-server" ] || pf_die "$PF_RMQ_BIN/rabbitmq-server not found (run pf_install_deps)"
  mkdir -p "$dir/mnesia" "$dir/log"
  # Serialise start/stop of one node (the lock goes with fd 9, closed on return or exit).
  exec 9>"$dir/lock"
  flock -w $((PF_START_TIMEOUT + 30)) 9 || pf_die "timed out waiting for the lock on node $name"

  if pf_broker_running "$name"; then
    pf_node_ports "$name" || true
    if [ "$PF_NODE_PORT" != "$port" ] || [ "$PF_NODE_TLS_PORT" != "$tls_port" ]; then
      pf_die "node $name is already running with port ${PF_NODE_PORT:-?} TLS port ${PF_NODE_TLS_PORT:-none}; stop it first"
    fi
    # Whoever started it held the lock until boot finished, so an open port means it is up; a node
    # whose starter died mid-boot is waited for.
    if ! pf_port_open "$port" && ! pf_broker_await "$name"; then
      exec 9>&-
      return 1
    fi
    exec 9>&-
    pf_log "node $full already running on 127.0.0.1:$port"
    return 0
  fi

  local p
  for p in "$port" "$dist_port" ${tls_port:+"$tls_port"}; do
    if pf_port_open "$p"; then
      pf_die "port $p on 127.0.0.1 is already in use by another process; choose other ports for node $name"
    fi
  done
  [ -n "$tls_port" ] && pf_tls_ensure
  pf_ensure_cookie
  pf_write_node_config "$name" "$port" "$dist_port" "$tls_port"
  rm -f "$dir/rabbitmq.pid" "$dir/wrapper.pid"
  # One log per boot (the previous one kept as .1), so a failure shows this boot's lines.
  local f
  for f in "$dir/log/console.log" "$dir/log/$full.log"; do
    if [ -f "$f" ]; then mv -f "$f" "$f.1"; fi
  done

  local envs=()
  mapfile -t envs < <(pf_node_env "$name")
  envs+=(
    "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
    "RABBITMQ_NODE_PORT=$port"
    "RABBITMQ_DIST_PORT=$dist_port"
    "RABBITMQ_MNESIA_BASE=$dir/mnesia"
    "RABBITMQ_LOG_BASE=$dir/log"
    "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins"
    "RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf"
    # Not /etc/rabbitmq/advanced.config: that belongs to the system node.
    "RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config"
    "RABBITMQ_PID_FILE=$dir/rabbitmq.pid"
    # Erlang distribution listens on loopback only (it would bind every interface otherwise).
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
    "ERL_CRASH_DUMP=$dir/log/erl_crash.dump"
  )
  pf_log "starting node $full (AMQP 127.0.0.1:$port${tls_port:+, AMQPS 127.0.0.1:$tls_port}, dist $dist_port)"
  # setsid: the node outlives this script and is not hit by the caller's Ctrl-C or job control.
  # It keeps no descriptor of ours: not our lock (fd 9), and not whatever the caller passed in.
  # Swift's Foundation.Process, for one, waits until every holder of a socket it gives the child
  # has closed it, so a node holding it would hang a test's waitUntilExit() until the node stops.
  (
    cd "$dir"
    pf_close_fds
    exec setsid env "${envs[@]}" "$PF_RMQ_BIN/rabbitmq-server" >"$dir/log/console.log" 2>&1 </dev/null
  ) &
  echo $! >"$dir/wrapper.pid"
  if ! pf_broker_await "$name"; then
    # Leave nothing half-started behind for the next attempt to trip over.
    exec 9>&-
    pf_broker_stop "$name" || true
    return 1
  fi
  exec 9>&-
  pf_log "node $full is up"
}

# Wait until node NAME has booted: first its AMQP port (cheap to poll), then rabbitmqctl
# await_startup for the rest of the boot. Fails with the node's log if it dies or times out.
pf_broker_await() {
  local name=$1 deadline
  deadline=$((SECONDS + PF_START_TIMEOUT))
  pf_node_ports "$name" || pf_die "node $name has no ports.env; was it started by this script?"
  local wrapper
  wrapper=$(tr -dc '0-9' <"$(pf_node_dir "$name")/wrapper.pid" 2>/dev/null || true)
  until pf_port_open "$PF_NODE_PORT"; do
    # The wrapper we launched counts as alive too: until it has exec'd into the server (slow on a
    # busy machine), its environment is still ours, and pf_broker_running cannot recognise it.
    if ! pf_broker_running "$name" && ! { [ -n "$wrapper" ] && kill -0 "$wrapper" 2>/dev/null; }; then
      pf_log "node $name exited while starting"
      pf_node_log_tail "$name"
      return 1
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      pf_log "node $name did not open port $PF_NODE_PORT within ${PF_START_TIMEOUT}s"
      pf_node_log_tail "$name"
      return 1
    fi
    sleep 0.2
  done
  local left=$((deadline - SECONDS)) out
  [ $left -lt 5 ] && left=5
  if ! out=$(pf_ctl "$name" await_startup --timeout "$left" 2>&1); then
    pf_log "rabbitmqctl await_startup failed for node $name:"
    printf '%s\n' "$out" >&2
    pf_node_log_tail "$name"
    return 1
  fi
}

# Stop node NAME (idempotent) and wait for its processes to exit.
pf_broker_stop() {
  local name=$1 dir full
  dir=$(pf_node_dir "$name")
  full=$(pf_node_full "$name")
  [ -d "$dir" ] || {
    pf_log "node $full was never started here"
    return 0
  }
  exec 9>"$dir/lock"
  flock -w $((PF_STOP_TIMEOUT + 30)) 9 || pf_die "timed out waiting for the lock on node $name"
  local pids
  pids=$(pf_node_pids "$name")
  if [ -z "$pids" ]; then
    exec 9>&-
    pf_log "node $full is not running"
    return 0
  fi
  pf_log "stopping node $full"
  local out
  if ! out=$(pf_ctl "$name" stop 2>&1); then
    # E.g. the node is still booting or the cookie changed: fall back to SIGTERM, which RabbitMQ
    # handles as a graceful shutdown.
    pf_log "rabbitmqctl stop failed ($out); sending SIGTERM"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
  fi
  local deadline=$((SECONDS + PF_STOP_TIMEOUT))
  while pf_broker_running "$name"; do
    if [ $SECONDS -ge "$deadline" ]; then
      pf_log "node $full did not exit within ${PF_STOP_TIMEOUT}s; killing it"
      pids=$(pf_node_pids "$name")
      if [ -n "$pids" ]; then
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $pids 2>/dev/null || true
      fi
      sleep 0.5
      break
    fi
    sleep 0.1
  done
  rm -f "$dir/rabbitmq.pid" "$dir/wrapper.pid"
  exec 9>&-
  pf_log "node $full stopped"
}

# --- choosing the broker for test.sh and demo.sh ---------------------------------------------------

# Print a URL with its password replaced by ***, for logs.
pf_redact_url() { printf '%s\n' "$1" | sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#g'; }

# True when the first URL of a comma-separated PARCELFLOW_AMQP_URL-style list accepts TCP connections.
pf_url_reachable() {
  python3 - "$1" <<'PY'
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1].split(",")[0].strip())
try:
    port = u.port or (5671 if u.scheme == "amqps" else 5672)
    socket.create_connection((u.hostname or "localhost", port), timeout=3).close()
except (OSError, ValueError):
    sys.exit(1)
PY
}

# Use the broker at PARCELFLOW_AMQP_URL when it is set and reachable; otherwise start the default node
# (with TLS) and point PARCELFLOW_AMQP_URL at it. When the broker is our default node, also export
# PARCELFLOW_AMQPS_URL (its TLS listener, unless already set) and PARCELFLOW_BROKER_NODE (its Erlang
# node name, for rabbitmqctl -n).
pf_use_broker() {
  if [ -n "${PARCELFLOW_AMQP_URL:-}" ] && pf_url_reachable "$PARCELFLOW_AMQP_URL"; then
    pf_log "using the broker at PARCELFLOW_AMQP_URL=$(pf_redact_url "$PARCELFLOW_AMQP_URL")"
  else
    if [ -n "${PARCELFLOW_AMQP_URL:-}" ]; then
      pf_log "PARCELFLOW_AMQP_URL=$(pf_redact_url "$PARCELFLOW_AMQP_URL") is not reachable; starting our own node"
    fi
    pf_broker_start "$PF_DEFAULT_NODE" "$PF_DEFAULT_PORT" "$PF_DEFAULT_DIST_PORT" "$PF_DEFAULT_TLS_PORT"
    export PARCELFLOW_AMQP_URL
    PARCELFLOW_AMQP_URL=$(pf_amqp_url "$PF_DEFAULT_PORT")
  fi
  if pf_broker_ready "$PF_DEFAULT_NODE" && [ "$PARCELFLOW_AMQP_URL" = "$(pf_amqp_url "$PF_NODE_PORT")" ]; then
    export PARCELFLOW_BROKER_NODE PARCELFLOW_AMQPS_URL
    PARCELFLOW_BROKER_NODE=$(pf_node_full "$PF_DEFAULT_NODE")
    if [ -z "${PARCELFLOW_AMQPS_URL:-}" ] && [ -n "$PF_NODE_TLS_PORT" ]; then
      PARCELFLOW_AMQPS_URL=$(pf_amqps_url "$PF_NODE_TLS_PORT")
    fi
  fi
}

# Names of this checkout's nodes that are running now (one per line), so that a script can stop at
# exit exactly the nodes that appeared while it ran (its own and any a crashed test left behind).
pf_running_nodes() {
  local d
  for d in "$(pf_root)"/.local/rabbitmq/*/; do
    [ -d "$d" ] || continue
    d=$(basename "$d")
    if pf_broker_running "$d"; then printf '%s\n' "$d"; fi
  done
}

# Stop every node running now that is not in the list $1 (newline-separated, from pf_running_nodes).
pf_stop_new_nodes() {
  local before=$1 n
  for n in $(pf_running_nodes); do
    if ! grep -qxF "$n" <<<"$before"; then pf_broker_stop "$n" || true; fi
  done
}

# pf_begin: the set-up every entry script starts with — install what is missing, put Swift on PATH —
# and a note of the broker nodes running now, so that pf_cleanup stops only the nodes this script
# started (none at all with PARCELFLOW_KEEP_BROKER=1). Scripts call pf_cleanup from their EXIT trap.
pf_begin() {
  pf_section "Set-up: packages and toolchain"
  pf_install_deps
  pf_ensure_swift_path
  swift --version 2>&1 | head -n 1
  PF_NODES_BEFORE=$(pf_running_nodes)
}

pf_cleanup() {
  if [ "${PARCELFLOW_KEEP_BROKER:-0}" != 1 ]; then pf_stop_new_nodes "${PF_NODES_BEFORE:-}"; fi
}
