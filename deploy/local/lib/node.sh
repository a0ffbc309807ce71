# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): a broker node's files, environment, processes and
# configuration (lib/broker.sh starts and stops it).

# A node's state: .local/rabbitmq/NAME, or under PF_NODE_BASE (lib/netns.sh: .local/netns/PREFIX).
pf_node_dir() { printf '%s/%s\n' "${PF_NODE_BASE:-$(pf_root)/.local/rabbitmq}" "$1"; }

# Where node NAME runs; sets PF_NODE_IP, PF_NODE_NETNS and PF_NODE_RUN (the command prefix that runs a
# program there). On loopback (127.0.0.1, no namespace, no prefix) unless lib/netns.sh put it on a
# host of its own: then its host.env names the network namespace and the address it has there.
pf_node_place() {
  local f
  f="$(pf_node_dir "$1")/host.env"
  PF_NODE_IP=127.0.0.1 PF_NODE_NETNS=''
  if [ -f "$f" ]; then
    # shellcheck source=/dev/null
    . "$f"
  fi
  if [ -n "$PF_NODE_NETNS" ]; then PF_NODE_RUN=(ip netns exec "$PF_NODE_NETNS"); else PF_NODE_RUN=(); fi
}

# The Erlang node name: NAME@localhost, or on a host of its own a long name by address (NAME@IP).
pf_node_full() {
  pf_node_place "$1"
  if [ -n "$PF_NODE_NETNS" ]; then printf '%s@%s\n' "$1" "$PF_NODE_IP"; else printf '%s@localhost\n' "$1"; fi
}

# Environment shared by the server and rabbitmqctl for node NAME. RABBITMQ_CONF_ENV_FILE points at an
# empty file of ours so /etc/rabbitmq/rabbitmq-env.conf (the system node's settings) is never read.
pf_node_env() {
  local name=$1 dir
  dir=$(pf_node_dir "$name")
  printf '%s\n' \
    "HOME=$(pf_home)" \
    "RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf" \
    "RABBITMQ_NODENAME=$(pf_node_full "$name")"
  pf_node_place "$name"
  if [ -n "$PF_NODE_NETNS" ]; then printf '%s\n' RABBITMQ_USE_LONGNAME=true; fi
}

pf_ctl() { # pf_ctl NAME ARGS...  — rabbitmqctl as the current user (not the /usr/sbin su wrapper)
  local name=$1
  shift
  local envs=()
  mapfile -t envs < <(pf_node_env "$name")
  pf_node_place "$name"
  "${PF_NODE_RUN[@]}" env "${envs[@]}" "$PF_RMQ_BIN/rabbitmqctl" -n "$(pf_node_full "$name")" "$@"
}

# True when something accepts TCP connections on PORT at node NAME's address, seen from its host.
pf_node_port_open() {
  pf_node_place "$1"
  if [ -z "$PF_NODE_NETNS" ]; then
    pf_port_open "$2"
  else
    # SIGKILL at the timeout: a caller may ignore SIGTERM, and its children inherit that (the Swift
    # test runner does), which left a connect to an isolated host hanging.
    # shellcheck disable=SC2016 # $1 and $2 expand in the inner bash, on purpose
    "${PF_NODE_RUN[@]}" timeout -s KILL 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$PF_NODE_IP" "$2" 2>/dev/null
  fi
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
  pf_broker_running "$1" && pf_node_ports "$1" && pf_node_port_open "$1" "$PF_NODE_PORT"
}

pf_write_node_config() { # NAME PORT DIST_PORT TLS_PORT
  local name=$1 port=$2 dist_port=$3 tls_port=$4 dir tls
  dir=$(pf_node_dir "$name")
  tls=$(pf_tls_dir)
  pf_node_place "$name"
  {
    echo "# Written by deploy/local/lib.sh on every start; edits are lost."
    echo "listeners.tcp.default = $PF_NODE_IP:$port"
    if [ -z "$PF_NODE_NETNS" ]; then
      echo "loopback_users.guest = true"
    else
      # On a host of its own, every client comes from another host (and only our namespaces reach it).
      echo "loopback_users = none"
    fi
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
    # Settings the caller keeps with the node (lib/netns.sh: cluster_partition_handling).
    if [ -f "$dir/extra.conf" ]; then cat "$dir/extra.conf"; fi
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
