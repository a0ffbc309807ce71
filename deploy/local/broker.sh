#!/usr/bin/env bash
# Run a RabbitMQ node of the project's own on loopback (state in .local/rabbitmq/NAME).
#
#   deploy/local/broker.sh start|stop|status|url [--name NAME] [--port P] [--dist-port D]
#                          [--tls-port T | --no-tls] [--tls]
#   deploy/local/broker.sh cluster start|stop|status|urls|nodes|leaders
#
#   start   start the node unless it is running, wait until it has booted, and print its AMQP URL as
#           the last line of stdout (everything else goes to stderr)
#   stop    stop the node and wait for it to exit (no-op when it is not running)
#   status  exit 0 when the node is running and accepting AMQP connections, 1 otherwise
#   url     print the node's AMQP URL (with --tls: its AMQPS URL)
#
# Ports not given are those the node last ran with, else the defaults: --name parcelflow
# --port 5682 --dist-port 25682, and --tls-port 5683 for the default node only (others get TLS
# only with --tls-port). Tests start throwaway nodes, e.g.
#   deploy/local/broker.sh start --name parcelflow-t1 --port 5692 --dist-port 25692
#
# cluster: three nodes parcelflow-c1..c3 (AMQP 127.0.0.1:5686-5688, dist 25686-25688) joined with
# join_cluster. `start` prints the comma-separated URL list (PARCELFLOW_AMQP_URL) as the last line;
# `status` exits 0 when all three run as one cluster; `nodes` prints "node<TAB>URL" for each node;
# `leaders` prints "queue<TAB>leader node" for each quorum queue. One node of it stops and starts
# like any other: `broker.sh stop --name parcelflow-c2`, then `start --name parcelflow-c2` (it rejoins).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
if [ "$cmd" = cluster ]; then
  [ $# -eq 1 ] || usage
  case $1 in
  start)
    pf_install_deps >&2
    pf_cluster_start >&2
    pf_cluster_urls
    ;;
  stop) pf_cluster_stop >&2 ;;
  status) pf_cluster_status ;;
  urls) pf_cluster_urls ;;
  nodes) pf_cluster_nodes ;;
  leaders) pf_cluster_leaders ;;
  *) usage ;;
  esac
  exit 0
fi
name=$PF_DEFAULT_NODE port='' dist_port='' tls_port='' no_tls=0 want_tls=0
while [ $# -gt 0 ]; do
  case $1 in
  --name) name=${2:?--name needs a value} && shift 2 ;;
  --port) port=${2:?--port needs a value} && shift 2 ;;
  --dist-port) dist_port=${2:?--dist-port needs a value} && shift 2 ;;
  --tls-port) tls_port=${2:?--tls-port needs a value} && shift 2 ;;
  --no-tls) no_tls=1 && shift ;;
  --tls) want_tls=1 && shift ;;
  -h | --help) usage ;;
  *) pf_log "unknown argument: $1" && usage ;;
  esac
done
[[ $name =~ ^[A-Za-z0-9_-]+$ ]] || pf_die "node name must be letters, digits, '-' or '_': $name"
for v in "$port" "$dist_port" "$tls_port"; do
  [[ -z $v || $v =~ ^[0-9]+$ ]] || pf_die "ports must be numbers: $v"
done

# Ports not given: those the node last ran with, else the defaults (TLS only for the default node).
if pf_node_ports "$name" 2>/dev/null; then
  known=1
else
  known=0
fi
if [ "$name" = "$PF_DEFAULT_NODE" ]; then
  def_port=$PF_DEFAULT_PORT def_dist=$PF_DEFAULT_DIST_PORT def_tls=$PF_DEFAULT_TLS_PORT
else
  def_port=$PF_DEFAULT_PORT def_dist=$PF_DEFAULT_DIST_PORT def_tls=''
fi
if [ $known -eq 1 ]; then
  def_port=$PF_NODE_PORT def_dist=$PF_NODE_DIST_PORT def_tls=$PF_NODE_TLS_PORT
fi
port=${port:-$def_port}
dist_port=${dist_port:-$def_dist}
tls_port=${tls_port:-$def_tls}
[ $no_tls -eq 1 ] && tls_port=''

case $cmd in
start)
  pf_install_deps >&2
  pf_broker_start "$name" "$port" "$dist_port" "$tls_port" >&2
  pf_amqp_url "$port"
  ;;
stop)
  pf_broker_stop "$name" >&2
  ;;
status)
  if pf_broker_ready "$name"; then
    pf_log "node $(pf_node_full "$name") is running on 127.0.0.1:$PF_NODE_PORT${PF_NODE_TLS_PORT:+ (TLS $PF_NODE_TLS_PORT)}"
  else
    pf_log "node $(pf_node_full "$name") is not running"
    exit 1
  fi
  ;;
url)
  if [ $want_tls -eq 1 ]; then
    [ -n "$tls_port" ] || pf_die "node $name has no TLS port"
    pf_amqps_url "$tls_port"
  else
    pf_amqp_url "$port"
  fi
  ;;
*) usage ;;
esac
