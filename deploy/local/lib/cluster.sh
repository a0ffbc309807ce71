# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): a three-node RabbitMQ cluster on loopback, made of
# nodes like the single one (lib/broker.sh starts and stops each), joined with `join_cluster`.
#
# Nodes parcelflow-c1..c3 (state in .local/rabbitmq/parcelflow-cN), AMQP on PF_CLUSTER_PORT + 0..2,
# Erlang distribution on PF_CLUSTER_DIST_PORT + 0..2, all with deploy/rabbitmq/advanced.config (which
# places quorum queue leaders with `queue_leader_locator = balanced`).
#
# lib/netns.sh runs the same cluster with each node on a host of its own: it sets PF_CLUSTER_HOSTS
# (the nodes' addresses, one word each; loopback when unset) and PF_CLUSTER_PORT_STEP=0 (every node
# on the same ports, each on its own address).

: "${PF_CLUSTER_PREFIX:=parcelflow-c}" "${PF_CLUSTER_PORT:=5686}" "${PF_CLUSTER_DIST_PORT:=25686}"
: "${PF_CLUSTER_PORT_STEP:=1}" "${PF_CLUSTER_HOSTS:=}"
PF_CLUSTER_SIZE=3

# Node I's (0-based) AMQP port, distribution port and address.
pf_cluster_port() { printf '%s\n' $((PF_CLUSTER_PORT + $1 * PF_CLUSTER_PORT_STEP)); }
pf_cluster_dist_port() { printf '%s\n' $((PF_CLUSTER_DIST_PORT + $1 * PF_CLUSTER_PORT_STEP)); }
pf_cluster_host() {
  local hosts=()
  read -ra hosts <<<"$PF_CLUSTER_HOSTS"
  printf '%s\n' "${hosts[$1]:-127.0.0.1}"
}
pf_cluster_url() { pf_amqp_url "$(pf_cluster_port "$1")" "$(pf_cluster_host "$1")"; }

pf_cluster_names() {
  local i
  for ((i = 1; i <= PF_CLUSTER_SIZE; i++)); do printf '%s%s\n' "$PF_CLUSTER_PREFIX" "$i"; done
}

# The comma-separated URL list of the cluster's nodes: what PARCELFLOW_AMQP_URL takes.
pf_cluster_urls() {
  local i urls=()
  for ((i = 0; i < PF_CLUSTER_SIZE; i++)); do urls+=("$(pf_cluster_url "$i")"); done
  (
    IFS=,
    printf '%s\n' "${urls[*]}"
  )
}

# "node<TAB>URL" for each node of the cluster (running or not): which AMQP URL is which Erlang node.
pf_cluster_nodes() {
  local i
  for ((i = 0; i < PF_CLUSTER_SIZE; i++)); do
    printf '%s\t%s\n' "$(pf_node_full "$PF_CLUSTER_PREFIX$((i + 1))")" "$(pf_cluster_url "$i")"
  done
}

# The nodes (full names, one per line) node NAME counts as running members of its cluster.
pf_cluster_members() {
  pf_ctl "$1" cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin).get("running_nodes", [])))'
}

# Start the three nodes (those already running are left alone) and join the new ones to the first.
# Nodes that were clustered before start together: each waits at boot for the others it knew.
pf_cluster_start() {
  local names=() name i pids=() failed=0
  mapfile -t names < <(pf_cluster_names)
  for i in "${!names[@]}"; do
    (pf_broker_start "${names[$i]}" "$(pf_cluster_port "$i")" "$(pf_cluster_dist_port "$i")" '') &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || {
      pf_log "node ${names[$i]} did not start"
      failed=1
    }
  done
  [ $failed -eq 0 ] || return 1
  local first members
  first=$(pf_node_full "${names[0]}")
  members=$(pf_cluster_members "${names[0]}")
  for name in "${names[@]:1}"; do
    grep -qxF "$(pf_node_full "$name")" <<<"$members" && continue
    pf_log "joining $(pf_node_full "$name") to $first"
    # A node joins with an empty database: it takes the cluster's users, queues and policies.
    # (rabbitmqctl's chatter, harmless warnings included, is shown only when a step fails.)
    local out
    if ! out=$({ pf_ctl "$name" stop_app && pf_ctl "$name" reset && pf_ctl "$name" join_cluster "$first" &&
      pf_ctl "$name" start_app; } 2>&1); then
      printf '%s\n' "$out" >&2
      pf_die "could not join $(pf_node_full "$name") to $first"
    fi
  done
  members=$(pf_cluster_members "${names[0]}")
  [ "$(grep -c . <<<"$members")" -eq "$PF_CLUSTER_SIZE" ] ||
    pf_die "the cluster has $(grep -c . <<<"$members") running nodes, expected $PF_CLUSTER_SIZE: $(tr '\n' ' ' <<<"$members")"
  pf_log "cluster of $PF_CLUSTER_SIZE nodes is up: $(tr '\n' ' ' <<<"$members")"
}

# Stop the cluster and remove its nodes' data, so that the next start makes a new one. test.sh does
# this first: its tests stop nodes under load, and queues a run interrupted midway left behind (a
# few hundred quorum queues, each recovering at boot) slowed the next run's nodes to INTERNAL_ERRORs.
pf_cluster_wipe() {
  pf_cluster_stop
  local name
  for name in $(pf_cluster_names); do rm -rf "$(pf_node_dir "$name")"; done
}

# Stop every node of the cluster, together (none waits for the others to hand over).
pf_cluster_stop() {
  local name pids=()
  for name in $(pf_cluster_names); do
    (pf_broker_stop "$name") &
    pids+=($!)
  done
  local pid rc=0
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  return $rc
}

# Each node's state; true when all are running and each sees all as cluster members.
pf_cluster_status() {
  local name members ok=0
  for name in $(pf_cluster_names); do
    if pf_broker_ready "$name"; then
      # (One rabbitmqctl call per node: each costs a second of CPU.)
      members=$(pf_cluster_members "$name")
      pf_log "node $(pf_node_full "$name") is running on $PF_NODE_IP:$PF_NODE_PORT; running members: $(tr '\n' ' ' <<<"$members")"
      [ "$(grep -c . <<<"$members")" -eq "$PF_CLUSTER_SIZE" ] || ok=1
    else
      pf_log "node $(pf_node_full "$name") is not running"
      ok=1
    fi
  done
  return $ok
}

# "queue<TAB>leader node" for each quorum queue of the vhost, asked of the first running node.
pf_cluster_leaders() {
  local name
  for name in $(pf_cluster_names); do
    pf_broker_ready "$name" || continue
    pf_ctl "$name" list_queues -q --no-table-headers name type leader 2>/dev/null |
      awk -F'\t' '$2 == "quorum" { print $1 "\t" $3 }'
    return 0
  done
  pf_die "no node of the cluster is running"
}
