# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): choosing the broker for test.sh and demo.sh, and
# stopping at exit the nodes a script started.

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
