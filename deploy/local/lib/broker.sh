# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): starting, awaiting and stopping a broker node
# (its files and configuration: lib/node.sh).

# Start node NAME (idempotent) and wait until it has booted.
# Usage: pf_broker_start NAME PORT DIST_PORT [TLS_PORT]
pf_broker_start() {
  local name=$1 port=$2 dist_port=$3 tls_port=${4:-}
  local dir full
  dir=$(pf_node_dir "$name")
  full=$(pf_node_full "$name")
  [ -x "$PF_RMQ_BIN/rabbitmq-server" ] || pf_die "$PF_RMQ_BIN/rabbitmq-server not found (run pf_install_deps)"
  pf_node_place "$name"
  if [ -n "$PF_NODE_NETNS" ] && ! [ -e "/run/netns/$PF_NODE_NETNS" ]; then
    pf_die "node $name's host (network namespace $PF_NODE_NETNS) does not exist; make it first (deploy/local/netns.sh up)"
  fi
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
    if ! pf_node_port_open "$name" "$port" && ! pf_broker_await "$name"; then
      exec 9>&-
      return 1
    fi
    exec 9>&-
    pf_log "node $full already running on $PF_NODE_IP:$port"
    return 0
  fi

  local p
  for p in "$port" "$dist_port" ${tls_port:+"$tls_port"}; do
    if pf_node_port_open "$name" "$p"; then
      pf_die "port $p on $PF_NODE_IP is already in use by another process; choose other ports for node $name"
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
  pf_node_place "$name"
  envs+=(
    "RABBITMQ_NODE_IP_ADDRESS=$PF_NODE_IP"
    "RABBITMQ_NODE_PORT=$port"
    "RABBITMQ_DIST_PORT=$dist_port"
    "RABBITMQ_MNESIA_BASE=$dir/mnesia"
    "RABBITMQ_LOG_BASE=$dir/log"
    "RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins"
    "RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf"
    # Not /etc/rabbitmq/advanced.config: that belongs to the system node.
    "RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config"
    "RABBITMQ_PID_FILE=$dir/rabbitmq.pid"
    # Erlang distribution listens on the node's address only (it would bind every interface otherwise).
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {${PF_NODE_IP//./,}}"
    "ERL_CRASH_DUMP=$dir/log/erl_crash.dump"
  )
  pf_log "starting node $full (AMQP $PF_NODE_IP:$port${tls_port:+, AMQPS $PF_NODE_IP:$tls_port}, dist $dist_port${PF_NODE_NETNS:+, in network namespace $PF_NODE_NETNS})"
  # setsid: the node outlives this script and is not hit by the caller's Ctrl-C or job control.
  # It keeps no descriptor of ours: not our lock (fd 9), and not whatever the caller passed in.
  # Swift's Foundation.Process, for one, waits until every holder of a socket it gives the child
  # has closed it, so a node holding it would hang a test's waitUntilExit() until the node stops.
  (
    # shellcheck disable=SC2164 # callers use `set -e`: a failed cd ends this subshell
    cd "$dir"
    pf_close_fds
    exec setsid "${PF_NODE_RUN[@]}" env "${envs[@]}" "$PF_RMQ_BIN/rabbitmq-server" >"$dir/log/console.log" 2>&1 </dev/null
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
  until pf_node_port_open "$name" "$PF_NODE_PORT"; do
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
