# shellcheck shell=bash
# Test hosts of our own: network namespaces joined by a bridge, and the three-node cluster of
# lib/cluster.sh with each node on a host of its own (deploy/local/netns.sh drives it). Sourced by
# netns.sh after lib.sh; only defines functions and settings.
#
# Namespace PREFIX-hub holds a bridge (br0); each host PREFIX-HOST has `lo` and `eth0`, one end of a
# veth pair whose other end (v-HOST) sits in the hub on the bridge. Addresses exist only inside the
# host namespaces (NET.11-13 for the broker nodes n1-n3, NET.21-22 for the worker hosts w1-w2, NET.31
# for the client c), and no namespace has a route beyond NET.0/24: traffic goes only between our
# hosts, and to each host's own loopback. Nothing is made in the root namespace, so deleting the
# namespaces deletes every link and address with them.
#
# The nodes are parcelflow-n1..n3, Erlang long names by address (parcelflow-n1@NET.11): no hosts file
# to write into /etc/netns and clean up, no resolver involved, and a node's name says where it runs.
# State in .local/netns/PREFIX/NODE; AMQP on 5672 and distribution on 25672 in every namespace.

: "${PF_NETNS_PREFIX:=pfnet}" "${PF_NETNS_NET:=10.213.0}"
PF_NETNS_HOSTS=(n1 n2 n3 w1 w2 c)
PF_NETNS_NODE_PREFIX=parcelflow-n

# Refuse settings that would make bad names (interface names stop at 15 characters) or addresses.
pf_netns_check_settings() {
  [[ $PF_NETNS_PREFIX =~ ^[a-z][a-z0-9]{0,9}$ ]] ||
    pf_die "PF_NETNS_PREFIX must be a lowercase letter then up to 9 lowercase letters or digits: '$PF_NETNS_PREFIX'"
  [[ $PF_NETNS_NET =~ ^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){2}$ ]] ||
    pf_die "PF_NETNS_NET must be the first three numbers of an IPv4 address, e.g. 10.213.0: '$PF_NETNS_NET'"
}

# The cluster settings of lib/cluster.sh for nodes on our hosts.
pf_netns_configure() {
  pf_netns_check_settings
  # shellcheck disable=SC2034 # read by lib/node.sh and lib/cluster.sh
  PF_NODE_BASE="$(pf_root)/.local/netns/$PF_NETNS_PREFIX"
  PF_CLUSTER_PREFIX=$PF_NETNS_NODE_PREFIX PF_CLUSTER_PORT=5672 PF_CLUSTER_DIST_PORT=25672 PF_CLUSTER_PORT_STEP=0
  # shellcheck disable=SC2034 # read by lib/cluster.sh
  PF_CLUSTER_HOSTS="$(pf_netns_ip n1) $(pf_netns_ip n2) $(pf_netns_ip n3)"
}

pf_netns_hub() { printf '%s-hub\n' "$PF_NETNS_PREFIX"; }
pf_netns_ns() { printf '%s-%s\n' "$PF_NETNS_PREFIX" "$1"; }
pf_netns_ip() {
  local octet
  case $1 in
  n1) octet=11 ;; n2) octet=12 ;; n3) octet=13 ;;
  w1) octet=21 ;; w2) octet=22 ;;
  c) octet=31 ;;
  *) pf_die "unknown host '$1' (hosts: ${PF_NETNS_HOSTS[*]})" ;;
  esac
  printf '%s.%s\n' "$PF_NETNS_NET" "$octet"
}
pf_netns_exists() { [ -e "/run/netns/$1" ]; }

# The host an argument names: a host (n2), or a broker node by short or full name (parcelflow-n2,
# parcelflow-n2@10.213.0.12). Dies on anything else.
pf_netns_host_of() {
  local arg=${1%%@*} h
  arg=${arg#"$PF_NETNS_NODE_PREFIX"}
  [ "$arg" = "${1%%@*}" ] || arg=n$arg
  for h in "${PF_NETNS_HOSTS[@]}"; do
    if [ "$h" = "$arg" ]; then
      printf '%s\n' "$h"
      return 0
    fi
  done
  pf_die "unknown host '$1' (hosts: ${PF_NETNS_HOSTS[*]}; nodes: ${PF_NETNS_NODE_PREFIX}1-3)"
}

# "host<TAB>namespace<TAB>address" for each host.
pf_netns_hosts() {
  local h
  for h in "${PF_NETNS_HOSTS[@]}"; do printf '%s\t%s\t%s\n' "$h" "$(pf_netns_ns "$h")" "$(pf_netns_ip "$h")"; done
}

# Every namespace of ours that exists now (hosts first, the hub last).
pf_netns_existing() {
  local ns
  for ns in $(for h in "${PF_NETNS_HOSTS[@]}"; do pf_netns_ns "$h"; done) "$(pf_netns_hub)"; do
    if pf_netns_exists "$ns"; then printf '%s\n' "$ns"; fi
  done
}

# Make the hub and the hosts (none may exist). PF_NETNS_FAIL_AT=HOST fails on purpose once HOST is
# made (the tests check that a failed `up` leaves nothing).
pf_netns_make_hosts() {
  local hub h ns
  hub=$(pf_netns_hub)
  ip netns add "$hub" || pf_die "could not create network namespace $hub"
  ip -n "$hub" link set lo up
  ip -n "$hub" link add br0 type bridge || pf_die "could not create the bridge in $hub"
  ip -n "$hub" link set br0 up
  for h in "${PF_NETNS_HOSTS[@]}"; do
    ns=$(pf_netns_ns "$h")
    ip netns add "$ns" || pf_die "could not create network namespace $ns"
    ip -n "$ns" link set lo up
    # Both ends made where they live: nothing ever appears in the root namespace.
    ip -n "$hub" link add "v-$h" type veth peer name eth0 netns "$ns" ||
      pf_die "could not create the veth pair between $hub and $ns"
    ip -n "$hub" link set "v-$h" master br0 up
    ip -n "$ns" addr add "$(pf_netns_ip "$h")/24" dev eth0 || pf_die "could not give $ns the address $(pf_netns_ip "$h")"
    ip -n "$ns" link set eth0 up
    if [ "${PF_NETNS_FAIL_AT:-}" = "$h" ]; then pf_die "failing on purpose after making host $h (PF_NETNS_FAIL_AT=$h)"; fi
  done
  pf_log "hosts up: $(pf_netns_hosts | awk -F'\t' '{printf "%s=%s ", $1, $3}')"
}

# Write where each node runs (host.env, read by lib/node.sh) and its extra settings.
pf_netns_place_nodes() {
  local i dir
  for i in 1 2 3; do
    dir=$(pf_node_dir "$PF_NETNS_NODE_PREFIX$i")
    mkdir -p "$dir"
    printf 'PF_NODE_IP=%s\nPF_NODE_NETNS=%s\n' "$(pf_netns_ip "n$i")" "$(pf_netns_ns "n$i")" >"$dir/host.env"
    # See the README's cluster section: with three nodes, the side of one pauses; the two go on. A
    # peer silent for net_ticktime (10 s here, RabbitMQ's default 60) counts as gone: the minority
    # pauses, and closes its clients' connections, 10-15 s into a cut instead of 60-75 s.
    printf '%s
' "cluster_partition_handling = pause_minority" "net_ticktime = 10" >"$dir/extra.conf"
  done
}

# Stop the nodes, kill whatever still runs in our namespaces, delete them (and with them every link
# and address). Idempotent; works on whatever a half-done `up` left.
pf_netns_down() {
  local name ns pids deadline left
  for name in $(pf_cluster_names); do
    if [ -d "$(pf_node_dir "$name")" ] && pf_broker_running "$name"; then
      pf_cluster_stop || pf_log "some node did not stop cleanly; killing what is left"
      break
    fi
  done
  for ns in $(pf_netns_existing); do
    pids=$(ip netns pids "$ns")
    if [ -n "$pids" ]; then
      pf_log "killing what still runs in $ns: $(tr '\n' ' ' <<<"$pids")"
      # shellcheck disable=SC2086 # one word per pid
      kill -KILL $pids 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + 10))
  for ns in $(pf_netns_existing); do
    while left=$(ip netns pids "$ns") && [ -n "$left" ]; do
      [ $SECONDS -lt "$deadline" ] || pf_die "processes in $ns did not exit after SIGKILL: $(tr '\n' ' ' <<<"$left")"
      sleep 0.1
    done
    ip netns del "$ns" || pf_die "could not delete network namespace $ns"
  done
  left=$(pf_netns_existing)
  [ -z "$left" ] || pf_die "network namespaces left after down: $(tr '\n' ' ' <<<"$left")"
  pf_log "no namespace of prefix $PF_NETNS_PREFIX left"
}

# Make the hosts (after cleaning what an earlier run left) and, unless HOSTS_ONLY is 1, start the
# cluster on them with fresh state. Whatever fails on the way is undone by the caller's trap.
pf_netns_up() {
  local hosts_only=$1 name
  if [ -n "$(pf_netns_existing)" ]; then
    pf_log "cleaning what an earlier run left"
    pf_netns_down
  fi
  pf_netns_make_hosts
  [ "$hosts_only" = 1 ] && return 0
  for name in $(pf_cluster_names); do rm -rf "$(pf_node_dir "$name")"; done
  pf_netns_place_nodes
  pf_cluster_start
}

pf_netns_link() { # HOST up|down: the host's link, on the hub side
  local h=$1 hub
  hub=$(pf_netns_hub)
  pf_netns_exists "$(pf_netns_ns "$h")" || pf_die "host $h (network namespace $(pf_netns_ns "$h")) does not exist; run up first"
  ip -n "$hub" link set "v-$h" "$2" || pf_die "could not set host $h's link $2"
}

# Blackhole routes between node host H and the other node hosts, both ways: the nodes cannot reach
# each other, while clients and workers still reach every node.
pf_netns_split() {
  local h=$1 other
  case $h in n1 | n2 | n3) ;; *) pf_die "split takes a broker node (n1-n3 or its node name), not host $h" ;; esac
  for other in n1 n2 n3; do
    [ "$other" = "$h" ] && continue
    ip -n "$(pf_netns_ns "$h")" route replace blackhole "$(pf_netns_ip "$other")/32" ||
      pf_die "could not cut $h from $other"
    ip -n "$(pf_netns_ns "$other")" route replace blackhole "$(pf_netns_ip "$h")/32" ||
      pf_die "could not cut $other from $h"
  done
}

# Undo isolate and split for host H: its link up, no blackhole route in it or towards it.
pf_netns_heal() {
  local h=$1 other ns route
  pf_netns_link "$h" up
  for other in "${PF_NETNS_HOSTS[@]}"; do
    ns=$(pf_netns_ns "$other")
    pf_netns_exists "$ns" || continue
    while read -r route; do
      [ -n "$route" ] || continue
      if [ "$other" = "$h" ] || [ "$route" = "$(pf_netns_ip "$h")" ]; then
        ip -n "$ns" route del blackhole "$route" || pf_die "could not remove the blackhole route to $route in $ns"
      fi
    done < <(ip -n "$ns" route show type blackhole | awk '{print $2}')
  done
}
