#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Throughput of 2,000 parcels (zero simulated work, no faults) with 1, 2 and 4 worker processes and
# 1, 8 and 32 tasks in flight per worker, through `parcelctl loadtest`, as a Markdown table with what
# limits each point. Starts the broker like demo.sh when none answers.
#
# Environment: PARCELFLOW_SCALING_PARCELS (2000), PARCELFLOW_SCALING_WORKERS ("1 2 4"),
# PARCELFLOW_SCALING_CONCURRENCY ("1 8 32"), PARCELFLOW_KEEP_BROKER=1.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
PARCELS=${PARCELFLOW_SCALING_PARCELS:-2000}
WORKERS=${PARCELFLOW_SCALING_WORKERS:-1 2 4}
CONCURRENCY=${PARCELFLOW_SCALING_CONCURRENCY:-1 8 32}

pf_begin
trap pf_cleanup EXIT
pf_use_broker
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl >/dev/null
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker >/dev/null
parcelctl="$ROOT/.build/release/parcelctl"

rows=$(mktemp)
trap 'rm -f "$rows"; pf_cleanup' EXIT
for w in $WORKERS; do
  for c in $CONCURRENCY; do
    "$parcelctl" loadtest --parcels "$PARCELS" --workers "$w" --concurrency "$c" --json >"$rows.one" ||
      pf_die "loadtest with $w worker(s) x $c failed: $(cat "$rows.one")"
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$rows.one" >>"$rows"
    pf_log "$w worker(s) x $c in flight: done"
  done
done
rm -f "$rows.one"

python3 - "$rows" "$(nproc)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cores = int(sys.argv[2])
print(f"| workers | in flight each | seconds | parcels/s | tasks/s | CPU s: workers / broker | what limits it |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    cpu = r["cpu_seconds"]
    busy = (cpu["workers"] + cpu["broker"] + cpu["parcelctl"]) / (cores * r["seconds"])
    if r["ok"] is not True:
        limit = "FAILED: " + "; ".join(r["violations"])
    elif r["concurrency"] == 1:
        limit = ("one task at a time per worker: each waits for its store commits and its publish confirm "
                 f"(machine {busy:.0%} busy)")
    elif busy >= 0.75:
        share = cpu["broker"] / max(1e-9, cpu["workers"] + cpu["broker"])
        limit = f"CPU: both cores busy ({busy:.0%}); the broker takes {share:.0%} of it"
    else:
        limit = f"round trips: confirms and group commits; the cores are only {busy:.0%} busy"
    print(f"| {r['workers']} | {r['concurrency']} | {r['seconds']:.2f} | {r['parcels_per_s']:,.0f} | "
          f"{r['tasks_per_s']:,.0f} | {cpu['workers']:.1f} / {cpu['broker']:.1f} | {limit} |")
PY
