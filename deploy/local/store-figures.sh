#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The status stores side by side: SQLite against PostgreSQL in alternating rounds of one run, on the
# broker node and the PostgreSQL server of the project's own (started here unless they run).
#
#   1. `parcelctl bench store`: each store's submits, checks and transitions, no broker.
#   2. `parcelctl loadtest`, 2,000 parcels, two workers, zero work and no faults.
#   3. The same with faults: 0-2 ms work, 5 % transient, 0.5 % permanent, 2 % held.
#   4. Four workers on PostgreSQL, zero work.
#
# Each load test's own figures say where the time goes: the workers' store transactions (count and
# wall time) against the whole run. Medians of the rounds, and the median of the per-round ratios
# PostgreSQL / SQLite (the goal: at most 1.5).
#
# Environment: PARCELFLOW_STORE_ROUNDS (5), PARCELFLOW_KEEP_BROKER=1 (leave the services running).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
ROUNDS=${PARCELFLOW_STORE_ROUNDS:-5}

pf_begin postgresql
trap pf_cleanup EXIT
pf_section "Services"
pf_use_broker
pf_use_postgres
echo "  broker: $(pf_redact_url "$PARCELFLOW_AMQP_URL")"
echo "  PostgreSQL: $(pf_redact_url "$PARCELFLOW_TEST_POSTGRES_URL")"

pf_section "Build (release)"
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker
parcelctl="$ROOT/.build/release/parcelctl"

# A database of the run's own on the test server, dropped at the end.
database="pf_figures_$$"
server_url=$PARCELFLOW_TEST_POSTGRES_URL
pg_url="${server_url%/*}/$database"
psql_server() { psql "$server_url" -X -q -w "$@"; }
psql_server -c "CREATE DATABASE $database" >/dev/null
trap 'psql_server -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true; pf_cleanup' EXIT

pf_section "Store benchmark: $ROUNDS rounds each, alternating (parcelctl bench store --rounds 1 [--store URL])"
bench_rows=()
for round in $(seq 1 "$ROUNDS"); do
  lite=$("$parcelctl" bench store --rounds 1 --json)
  pg=$("$parcelctl" bench store --rounds 1 --json --store "$pg_url")
  row=$(python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
keys = ["submit_us_per_parcel", "check_us_per_task", "apply_us_per_task", "apply_ms_per_transaction"]
print(" ".join(str(a[k]) for k in keys), " ".join(str(b[k]) for k in keys))' "$lite" "$pg")
  echo "  round $round: SQLite / PostgreSQL: $row"
  bench_rows+=("$row")
done
python3 - "${bench_rows[@]}" <<'PY'
import statistics, sys
rows = [list(map(float, r.split())) for r in sys.argv[1:]]
names = ["submit µs/parcel", "check µs/task", "apply µs/task", "apply ms/transaction"]
for i, name in enumerate(names):
    lite = statistics.median(r[i] for r in rows)
    pg = statistics.median(r[i + 4] for r in rows)
    ratio = statistics.median(r[i + 4] / r[i] for r in rows)
    print(f"  median {name:22s} SQLite {lite:8.2f}  PostgreSQL {pg:8.2f}  ratio {ratio:5.2f}")
PY

# loadtest_pair LABEL ARGS...: alternating rounds on SQLite (a file of the test's own) and PostgreSQL.
loadtest_pair() {
  local label=$1
  shift
  pf_section "$label: $ROUNDS rounds each, alternating (parcelctl loadtest --parcels 2000 $* [--store URL])"
  local rows=() lite pg row
  for round in $(seq 1 "$ROUNDS"); do
    lite=$("$parcelctl" loadtest --parcels 2000 "$@" --json) || pf_die "the SQLite load test failed: $lite"
    pg=$("$parcelctl" loadtest --parcels 2000 "$@" --json --store "$pg_url") || pf_die "the PostgreSQL load test failed: $pg"
    row=$(python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert a["ok"] and b["ok"], "a verdict failed"
print(a["seconds"], b["seconds"], a["store_write_seconds"], b["store_write_seconds"],
      a["cpu_seconds"]["workers"], b["cpu_seconds"]["workers"], a["store_transactions"], b["store_transactions"])' "$lite" "$pg")
    read -r ls ps lw pw lc pc lt pt <<<"$row"
    echo "  round $round: SQLite $ls s ($lt store transactions, $lw s; worker CPU $lc s) | PostgreSQL $ps s ($pt store transactions, $pw s; worker CPU $pc s), both verdicts ok"
    rows+=("$row")
  done
  python3 - "${rows[@]}" <<'PY'
import statistics, sys
rows = [list(map(float, r.split())) for r in sys.argv[1:]]
m = lambda i: statistics.median(r[i] for r in rows)
ratio = statistics.median(r[1] / r[0] for r in rows)
per_tx = lambda w, t: statistics.median(1000 * r[w] / r[t] for r in rows if r[t] > 0)
print(f"  median: SQLite {m(0):.2f} s, PostgreSQL {m(1):.2f} s, ratio {ratio:.2f} (goal <= 1.5)")
print(f"  the workers' store transactions: SQLite {m(6):.0f} taking {m(2):.2f} s ({per_tx(2, 6):.2f} ms each), "
      f"PostgreSQL {m(7):.0f} taking {m(3):.2f} s ({per_tx(3, 7):.2f} ms each); worker CPU {m(4):.2f} against {m(5):.2f} s")
PY
}

loadtest_pair "Zero work, no faults, two workers" --workers 2 --concurrency 200
loadtest_pair "With faults, two workers" --workers 2 --concurrency 32 --stage-time 0ms-2ms \
  --transient-rate 0.05 --permanent-rate 0.005 --hold-rate 0.02

pf_section "Four workers on PostgreSQL, zero work, $ROUNDS rounds (parcelctl loadtest --parcels 2000 --workers 4 --concurrency 100 --store URL)"
four=()
for round in $(seq 1 "$ROUNDS"); do
  out=$("$parcelctl" loadtest --parcels 2000 --workers 4 --concurrency 100 --json --store "$pg_url") || pf_die "the load test failed: $out"
  row=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1]); assert r["ok"], "a verdict failed"
print(r["seconds"], r["store_write_seconds"], r["cpu_seconds"]["workers"], r["store_transactions"])' "$out")
  echo "  round $round: $(cut -d' ' -f1 <<<"$row") s ($(cut -d' ' -f4 <<<"$row") store transactions, $(cut -d' ' -f2 <<<"$row") s; worker CPU $(cut -d' ' -f3 <<<"$row") s)"
  four+=("$row")
done
python3 - "${four[@]}" <<'PY'
import statistics, sys
rows = [list(map(float, r.split())) for r in sys.argv[1:]]
print(f"  median {statistics.median(r[0] for r in rows):.2f} s, {statistics.median(r[3] for r in rows):.0f} store transactions "
      f"taking {statistics.median(r[1] for r in rows):.2f} s, worker CPU {statistics.median(r[2] for r in rows):.2f} s")
PY
