#!/usr/bin/env bash
# A three-node RabbitMQ cluster with each node on a test host of its own (a network namespace), plus
# hosts for workers and the client, for partition tests. Needs root (ip netns). Details: lib/netns.sh.
#
#   deploy/local/netns.sh up [--hosts-only] | down | hosts
#   deploy/local/netns.sh cluster status|urls|nodes|leaders
#   deploy/local/netns.sh stop|start --name NODE
#   deploy/local/netns.sh exec HOST -- CMD [ARG...]
#   deploy/local/netns.sh isolate HOST | heal HOST|all | split NODE
#
#   up       clean what an earlier run left, make the hosts, start the nodes and join them; the
#            last line of stdout is the comma-separated AMQP URL list (with --hosts-only: no nodes,
#            and stdout is the `hosts` table). When it fails, it leaves nothing behind.
#   down     stop the nodes, kill whatever still runs in the namespaces, delete them (idempotent)
#   hosts    "host<TAB>namespace<TAB>address" per host: n1-n3 (nodes), w1-w2 (workers), c (client)
#   cluster  as `broker.sh cluster`: status (exit 0 when all three run as one cluster), urls, nodes
#            ("erlang-node<TAB>URL" per node), leaders ("queue<TAB>leader node" per quorum queue)
#   stop|start --name NODE   one node (parcelflow-n1..n3) stopped, or started again (it rejoins)
#   exec     run CMD in HOST's namespace; the process becomes CMD (same pid)
#   isolate  HOST's link down on the hub side: it keeps running but reaches nobody
#   heal     undo isolate and split for HOST (a host or a node name), or for every host
#   split    NODE cannot reach the other two nodes; clients and workers still reach all three
#
# Settings: PF_NETNS_PREFIX (namespace names, default pfnet), PF_NETNS_NET (first three numbers of
# the addresses, default 10.213.0). Nodes are parcelflow-n1@NET.11 .. parcelflow-n3@NET.13, AMQP on
# 5672; state in .local/netns/PREFIX.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/netns.sh"

usage() {
  sed -n '2,27s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

need_root() {
  [ "$(id -u)" -eq 0 ] || pf_die "netns.sh $1 needs root (it runs ip netns)"
  command -v ip >/dev/null 2>&1 || pf_die "netns.sh $1 needs the ip command (iproute2)"
}

# Stop here with whatever a failed `up` made removed (on errors, Ctrl-C or a kill).
up_failed() {
  local rc=$?
  trap - EXIT INT TERM
  [ $rc -eq 0 ] && return 0
  pf_log "up failed (status $rc); removing what it made"
  (pf_netns_down) || pf_log "down after the failed up failed too; see above"
  exit $rc
}

[ $# -ge 1 ] || usage
cmd=$1
shift
pf_netns_configure

case $cmd in
up)
  hosts_only=0
  case ${1:-} in
  '') ;;
  --hosts-only) hosts_only=1 ;;
  *) usage ;;
  esac
  need_root up
  [ $hosts_only -eq 1 ] || pf_install_deps >&2
  trap up_failed EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  pf_netns_up "$hosts_only" >&2
  trap - EXIT INT TERM
  if [ $hosts_only -eq 1 ]; then pf_netns_hosts; else pf_cluster_urls; fi
  ;;
down)
  [ $# -eq 0 ] || usage
  need_root down
  pf_netns_down >&2
  ;;
hosts)
  [ $# -eq 0 ] || usage
  pf_netns_hosts
  ;;
cluster)
  [ $# -eq 1 ] || usage
  case $1 in
  status) pf_cluster_status ;;
  urls) pf_cluster_urls ;;
  nodes) pf_cluster_nodes ;;
  leaders) pf_cluster_leaders ;;
  *) usage ;;
  esac
  ;;
stop | start)
  if [ $# -ne 2 ] || [ "$1" != --name ]; then usage; fi
  need_root "$cmd"
  host=$(pf_netns_host_of "$2")
  case $host in n1 | n2 | n3) ;; *) pf_die "$cmd takes a broker node (${PF_NETNS_NODE_PREFIX}1-3), not host $host" ;; esac
  name=$PF_NETNS_NODE_PREFIX${host#n}
  if [ "$cmd" = stop ]; then
    pf_broker_stop "$name" >&2
  else
    [ -f "$(pf_node_dir "$name")/host.env" ] || pf_die "node $name was never placed on its host; run up first"
    pf_broker_start "$name" "$PF_CLUSTER_PORT" "$PF_CLUSTER_DIST_PORT" '' >&2
    pf_amqp_url "$PF_CLUSTER_PORT" "$(pf_netns_ip "$host")"
  fi
  ;;
exec)
  if [ $# -lt 3 ] || [ "$2" != -- ]; then usage; fi
  need_root exec
  host=$(pf_netns_host_of "$1")
  ns=$(pf_netns_ns "$host")
  pf_netns_exists "$ns" || pf_die "host $host (network namespace $ns) does not exist; run up first"
  shift 2
  exec ip netns exec "$ns" "$@"
  ;;
isolate)
  [ $# -eq 1 ] || usage
  need_root isolate
  host=$(pf_netns_host_of "$1")
  pf_netns_link "$host" down
  pf_log "host $host isolated"
  ;;
heal)
  [ $# -eq 1 ] || usage
  need_root heal
  if [ "$1" = all ]; then
    for host in "${PF_NETNS_HOSTS[@]}"; do pf_netns_heal "$host"; done
  else
    pf_netns_heal "$(pf_netns_host_of "$1")"
  fi
  pf_log "healed $1"
  ;;
split)
  [ $# -eq 1 ] || usage
  need_root split
  host=$(pf_netns_host_of "$1")
  pf_netns_split "$host"
  pf_log "node host $host cut from the other nodes"
  ;;
-h | --help) usage ;;
*) usage ;;
esac
