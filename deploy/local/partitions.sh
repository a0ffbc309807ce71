#!/usr/bin/env bash
# Partitions under load, as Jepsen tests them: the three-node cluster on hosts of its own
# (deploy/local/netns.sh: a network namespace per node, per worker and for the client), and for each
# scenario `parcelctl loadtest` submitting 2,000 parcels at 100/s with 5 % transient faults while a
# host is cut off and healed. Needs root (ip netns).
#
#   deploy/local/partitions.sh [SCENARIO...]      (default: all three, in this order)
#
#   leader-isolated      the node leading most stage queues loses its link for 20 s (still running)
#   worker-isolated      the first worker's host loses its link to the brokers for 10 s
#   split-during-submit  the node leading most stage queues is cut off from the other two for 20 s
#                        while the submit is in progress (clients still reach it: it is the
#                        minority, and pause_minority pauses it once it counts the others gone)
#
# One JSON object per scenario on stdout: scenario, ok, lost, applied_twice, redelivered (deliveries
# of work already done: harmless, counted), recovery_seconds (the longest any parcel waited from its
# due time to final: what the fault cost), probe_recovery_seconds (for a node: the longest the probe
# went without a publish confirm across the cut), parcels, seconds, violations. Exits 1 when any
# scenario lost a parcel, applied a stage twice or broke another invariant of the load test's
# verdict. The namespaces, links and nodes are removed at the end, also on a failure or an interrupt.
#
# PF_PARCELCTL: the parcelctl to run (parcel-worker beside it); default: a release build made here.
# PF_NETNS_PREFIX / PF_NETNS_NET: as netns.sh's. PF_PARTITION_LOGS: a folder to keep each scenario's
# JSON and stderr in (default: a temporary one, removed).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
NETNS="$ROOT/deploy/local/netns.sh"
ALL=(leader-isolated worker-isolated split-during-submit)

# The load test's fault flags for a scenario.
fault_flags() {
  case $1 in
  leader-isolated) echo "--isolate-node-at 5 --heal-at 25" ;;
  worker-isolated) echo "--isolate-worker-at 5 --heal-at 15" ;;
  split-during-submit) echo "--split-node-at 5 --heal-at 25" ;;
  *) return 1 ;;
  esac
}

scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=("${ALL[@]}")
for scenario in "${scenarios[@]}"; do
  fault_flags "$scenario" >/dev/null ||
    pf_die "no scenario named '$(printf '%q' "$scenario")': give one or more of ${ALL[*]}"
done
[ "$(id -u)" -eq 0 ] || pf_die "partitions.sh needs root (netns.sh runs ip netns)"

parcelctl=${PF_PARCELCTL:-}
if [ -z "$parcelctl" ]; then
  pf_ensure_swift_path
  pf_section "Build: swift build ${PF_RELEASE_BUILD[*]}" >&2
  swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl >&2
  swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker >&2
  parcelctl="$ROOT/.build/release/parcelctl"
fi
[ -x "$parcelctl" ] || pf_die "no parcelctl at $parcelctl"

logs=${PF_PARTITION_LOGS:-}
own_logs=0
if [ -z "$logs" ]; then
  logs=$(mktemp -d "${TMPDIR:-/tmp}/parcelflow-partitions.XXXXXX")
  own_logs=1
fi
mkdir -p "$logs"

finish() {
  local rc=$?
  trap - EXIT INT TERM
  "$NETNS" down >&2 || {
    pf_log "netns.sh down failed: namespaces may be left (ip netns list)"
    rc=1
  }
  [ $own_logs -eq 0 ] || rm -rf "$logs"
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pf_section "The cluster on hosts of its own: netns.sh up" >&2
urls=$("$NETNS" up | tail -n 1)

failed=0
for scenario in "${scenarios[@]}"; do
  pf_section "Scenario: $scenario" >&2
  read -r -a flags <<<"$(fault_flags "$scenario")"
  rc=0
  # The client runs on host c, the workers on w1 and w2; the store is an SQLite file, which every
  # namespace sees (they share the file system, not the network).
  "$NETNS" exec c -- "$parcelctl" loadtest --url "$urls" --broker-script "$NETNS" \
    --workers 2 --worker-hosts w1,w2 --parcels 2000 --rate 100/s --transient-rate 0.05 \
    "${flags[@]}" --json >"$logs/$scenario.json" 2>"$logs/$scenario.err" || rc=$?
  if ! python3 "$ROOT/deploy/local/partition_verdict.py" "$scenario" "$rc" "$logs/$scenario.json"; then
    pf_log "$scenario: no report (exit status $rc); its stderr:"
    tail -n 20 "$logs/$scenario.err" >&2
    failed=1
    continue
  fi
  [ $rc -eq 0 ] || failed=1
done
exit $failed
