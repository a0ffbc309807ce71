#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The simulated handler against the HTTP handler: 2,000 parcels through `parcelctl loadtest`, two
# workers, 200 tasks in flight each, zero simulated work, in alternating rounds of three kinds:
#   simulated  every stage simulated (the demo's and the figures' usual run)
#   http       delivery done by the HTTP handler, against the load test's own local service
#   http-5%    the same, the service failing 5 % of the requests on purpose (503 + Retry-After: 1, or 500)
# and a Markdown table of the medians: time, throughput, against the simulated run, what the service
# saw, and the workers' CPU per task. Starts the node like demo.sh when none answers.
#
# Environment: PARCELFLOW_HANDLER_PARCELS (2000), PARCELFLOW_HANDLER_ROUNDS (3), PARCELFLOW_KEEP_BROKER=1.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
PARCELS=${PARCELFLOW_HANDLER_PARCELS:-2000}
ROUNDS=${PARCELFLOW_HANDLER_ROUNDS:-3}

# shellcheck disable=SC2119 # no packages beyond the usual ones
pf_begin
trap pf_cleanup EXIT
pf_use_broker

pf_section "Build (release)"
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl >/dev/null
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker >/dev/null
parcelctl="$ROOT/.build/release/parcelctl"

declare -A flags=(
  [simulated]=""
  [http]="--http-stages delivery"
  [http-5%]="--http-stages delivery --http-fault-rate 0.05 --max-attempts 10"
)
kinds=(simulated http http-5%)

pf_section "$ROUNDS round(s), alternating: $PARCELS parcels, 2 workers x 200 in flight, ${kinds[*]}"
rows=$(mktemp)
trap 'rm -f "$rows" "$rows.one"; pf_cleanup' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for kind in "${kinds[@]}"; do
    # shellcheck disable=SC2086 # the flags are words
    "$parcelctl" loadtest --parcels "$PARCELS" --workers 2 --concurrency 200 ${flags[$kind]} --json >"$rows.one" ||
      pf_die "loadtest ($kind) failed: $(cat "$rows.one")"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["kind"]=sys.argv[2]; print(json.dumps(r))' \
      "$rows.one" "$kind" >>"$rows"
    pf_log "round $round, $kind: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$rows.one") s"
  done
done

pf_section "Medians of $ROUNDS round(s)"
python3 - "$rows" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_kind = defaultdict(list)
for r in rows:
    by_kind[r["kind"]].append(r)
rounds = defaultdict(dict)
for kind, runs in by_kind.items():
    for i, r in enumerate(runs):
        rounds[i][kind] = r

def med(values):
    return statistics.median(values)

print("| handler at delivery | seconds | parcels/s | against simulated (per-round ratio) | requests / failed on purpose / repeats (409) | worker CPU ms per task | verdict |")
print("| --- | ---: | ---: | ---: | --- | ---: | --- |")
for kind in ["simulated", "http", "http-5%"]:
    runs = by_kind.get(kind, [])
    if not runs:
        continue
    ratio = med([r[kind]["seconds"] / r["simulated"]["seconds"] for r in rounds.values() if kind in r and "simulated" in r])
    http = [r.get("http_handler") for r in runs]
    if all(h for h in http):
        service = (f"{med([h['requests'] for h in http]):,.0f} / {med([h['faults'] for h in http]):,.0f} / "
                   f"{med([h['repeats'] for h in http]):,.0f}")
    else:
        service = "no service"
    cpu = med([1000 * r["cpu_seconds"]["workers"] / max(1, r["tasks"]) for r in runs])
    failed = [r for r in runs if r["ok"] is not True]
    verdict = "FAILED: " + "; ".join(failed[0]["violations"]) if failed else f"passed {len(runs)} of {len(runs)}"
    print(f"| {kind} | {med([r['seconds'] for r in runs]):.2f} | {med([r['parcels_per_s'] for r in runs]):,.0f} | "
          f"{ratio:.2f}x | {service} | {cpu:.2f} | {verdict} |")
PY
