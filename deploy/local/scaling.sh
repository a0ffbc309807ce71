#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of 2,000 parcels (zero simulated work, no faults) with 1, 2 and 4 worker processes and
# 1, 8 and 32 tasks in flight per worker, through `parcelctl loadtest`, against one broker node and
# against the three-node cluster (broker.sh cluster start; each worker starts at the next node of the
# URL list), in alternating rounds: for each point, a run on the node, then one on the cluster. A
# Markdown table of the medians, with the CPU each task cost the workers and the broker (the nodes
# of the run alone: a node is told apart by its RABBITMQ_NODE_PORT) and what limits each point.
# Starts the node like demo.sh when none answers, and the cluster unless it runs.
#
# Environment: PARCELFLOW_SCALING_PARCELS (2000), PARCELFLOW_SCALING_WORKERS ("1 2 4"),
# PARCELFLOW_SCALING_CONCURRENCY ("1 8 32"), PARCELFLOW_SCALING_ROUNDS (3),
# PARCELFLOW_SCALING_BROKERS ("node cluster"; either alone), PARCELFLOW_KEEP_BROKER=1; the cluster's
# PF_CLUSTER_PREFIX, PF_CLUSTER_PORT and PF_CLUSTER_DIST_PORT (lib/cluster.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
PARCELS=${PARCELFLOW_SCALING_PARCELS:-2000}
WORKERS=${PARCELFLOW_SCALING_WORKERS:-1 2 4}
CONCURRENCY=${PARCELFLOW_SCALING_CONCURRENCY:-1 8 32}
ROUNDS=${PARCELFLOW_SCALING_ROUNDS:-3}
BROKERS=${PARCELFLOW_SCALING_BROKERS:-node cluster}

# shellcheck disable=SC2119 # no packages beyond the usual ones
pf_begin
trap pf_cleanup EXIT
pf_section "Brokers"
declare -A url=()
for b in $BROKERS; do
  case $b in
  node)
    pf_use_broker
    url[node]=$PARCELFLOW_AMQP_URL
    ;;
  cluster)
    pf_cluster_start
    url[cluster]=$(pf_cluster_urls)
    ;;
  *) pf_die "PARCELFLOW_SCALING_BROKERS: unknown broker '$b' (node or cluster)" ;;
  esac
  echo "  $b: $(pf_redact_url "${url[$b]}")"
done

pf_section "Build (release)"
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl >/dev/null
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker >/dev/null
parcelctl="$ROOT/.build/release/parcelctl"

pf_section "$ROUNDS round(s), alternating brokers: $PARCELS parcels, workers $WORKERS x in flight $CONCURRENCY"
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.one"; pf_cleanup' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for w in $WORKERS; do
    for c in $CONCURRENCY; do
      for b in $BROKERS; do
        PARCELFLOW_AMQP_URL=${url[$b]} "$parcelctl" loadtest --parcels "$PARCELS" --workers "$w" --concurrency "$c" \
          --json >"$rows.one" || pf_die "loadtest on the $b with $w worker(s) x $c failed: $(cat "$rows.one")"
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["broker"]=sys.argv[2]; print(json.dumps(r))' \
          "$rows.one" "$b" >>"$rows"
        pf_log "round $round, $b, $w worker(s) x $c in flight: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$rows.one") s"
      done
    done
  done
done

pf_section "Medians of $ROUNDS round(s)"
python3 - "$rows" "$(nproc)" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cores = int(sys.argv[2])
points = defaultdict(list)
for r in rows:
    points[(r["workers"], r["concurrency"], r["broker"])].append(r)

def med(runs, f):
    return statistics.median(f(r) for r in runs)

def stats(runs):
    cpu = lambda r, k: r["cpu_seconds"][k]
    return {
        "seconds": med(runs, lambda r: r["seconds"]),
        "parcels_per_s": med(runs, lambda r: r["parcels_per_s"]),
        "tasks_per_s": med(runs, lambda r: r["tasks_per_s"]),
        "workers_ms": med(runs, lambda r: 1000 * cpu(r, "workers") / max(1, r["tasks"])),
        "broker_ms": med(runs, lambda r: 1000 * cpu(r, "broker") / max(1, r["tasks"])),
        "busy": med(runs, lambda r: (cpu(r, "workers") + cpu(r, "broker") + cpu(r, "parcelctl")) / (cores * r["seconds"])),
        "broker_share": med(runs, lambda r: cpu(r, "broker") / max(1e-9, cpu(r, "workers") + cpu(r, "broker"))),
        "failed": [r for r in runs if r["ok"] is not True],
    }

table = {key: stats(runs) for key, runs in points.items()}
print("| broker | workers | in flight each | seconds | parcels/s | tasks/s | CPU ms per task: workers / broker | what limits it |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for (w, c, b), s in sorted(table.items(), key=lambda p: (p[0][0], p[0][1], p[0][2] != "node")):
    name = "one node" if b == "node" else "3-node cluster"
    if s["failed"]:
        limit = "FAILED: " + "; ".join(s["failed"][0]["violations"])
    elif c == 1:
        limit = (f"one task at a time per worker: each waits for its store commit and its publish confirm "
                 f"(machine {s['busy']:.0%} busy)")
    elif s["busy"] >= 0.75:
        who = "the broker" if s["broker_share"] >= 0.5 else "the workers"
        limit = f"CPU: the cores {s['busy']:.0%} busy, {who} the most ({s['broker_share']:.0%} the broker)"
    else:
        limit = f"round trips: confirms and group commits; the cores only {s['busy']:.0%} busy"
    single = table.get((w, c, "node"))
    if b == "cluster" and single and single["broker_ms"] > 0 and not s["failed"]:
        # Every quorum queue message is written by three nodes (a leader and two followers) and
        # crosses the nodes' links: what the cluster costs per task against one node.
        limit += f"; broker CPU per task {s['broker_ms'] / single['broker_ms']:.1f} x one node's (three replicas)"
    print(f"| {name} | {w} | {c} | {s['seconds']:.2f} | {s['parcels_per_s']:,.0f} | {s['tasks_per_s']:,.0f} | "
          f"{s['workers_ms']:.2f} / {s['broker_ms']:.2f} | {limit} |")
PY
