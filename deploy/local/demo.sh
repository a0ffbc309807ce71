#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# ParcelFlow's main job, end to end: set up this machine, start the broker, build, declare the
# topology, start two workers, submit a generated file of 2,000 parcels (with a few injected faults),
# wait until every parcel is delivered, held or dead-lettered, print the counts and the time, and stop
# the workers cleanly, and print `parcelctl report`. Then the same 2,000 with zero simulated work and
# no faults through `parcelctl loadtest`, next to the plain C pipeline over rabbitmq-c
# (`bench/c/amqp_baseline.c pipeline`); metrics on against off; the AMQP and submit benchmarks against a plain
# C loop (rounds alternate; the tables give medians and per-round ratios, since figures on a shared
# 2-core machine swing by tens of percent from hour to hour). It ends with the 2,000-parcel load test
# with injected faults and three workers killed while parcels move (--kills 3: at a quarter, half and
# three quarters of the parcels final), printing the verdict and the report (kills mid-batch included).
#
# Environment: PARCELFLOW_AMQP_URL (a reachable broker is used instead of starting ours),
# PARCELFLOW_DEMO_PARCELS (2000), PARCELFLOW_BENCH_ROUNDS (5; 0 skips the comparisons and benchmarks),
# PARCELFLOW_BENCH_MESSAGES (8000), PARCELFLOW_KEEP_BROKER=1 (leave the node this script started).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
ROUNDS=${PARCELFLOW_BENCH_ROUNDS:-5}
MESSAGES=${PARCELFLOW_BENCH_MESSAGES:-8000}
BATCH=100    # C: wait for all outstanding confirms every 100 publishes
PREFETCH=100 # C: basic.qos prefetch, one ack per message

pf_begin

pf_section "Broker"
trap pf_cleanup EXIT
pf_use_broker
echo "  broker: $(pf_redact_url "$PARCELFLOW_AMQP_URL")"

pf_section "Build"
# Release, with the Swift runtime and Foundation linked in: a worker then maps only what it uses
# (about 2 MB less resident memory than with the shared libraries).
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker
parcelctl="$ROOT/.build/release/parcelctl"
worker="$ROOT/.build/release/parcel-worker"
mkdir -p .local/bin
baseline=.local/bin/amqp_baseline
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -Wall -Wextra -o "$baseline" bench/c/amqp_baseline.c $(pkg-config --cflags --libs librabbitmq sqlite3)
echo "  built $baseline"

PARCELS=${PARCELFLOW_DEMO_PARCELS:-2000}
demo=$(mktemp -d)
workers=()
# shellcheck disable=SC2317 # called from the EXIT trap
# SIGTERM to the workers; returns the last non-zero exit status among them (0: all stopped cleanly).
stop_workers() {
  local status=0
  for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${workers[@]}"; do wait "$pid" 2>/dev/null || status=$?; done
  workers=()
  return "$status"
}
trap 'stop_workers || true; rm -rf "$demo"; pf_cleanup' EXIT

# run_pipeline NAME WORKER-ARGS...: two workers, $PARCELS parcels, until all are final; prints the
# summary and sets $seconds (first submit publish to the last parcel final, workers already running).
run_pipeline() {
  local name=$1 ns="demo.$1.$$"
  shift
  export PARCELFLOW_NAMESPACE=$ns PARCELFLOW_STORE="sqlite:$demo/$name.db" PARCELFLOW_RETRY_DELAYS=100ms,500ms,2s
  "$parcelctl" setup >/dev/null
  "$parcelctl" generate --parcels "$PARCELS" --output "$demo/$name.csv" >/dev/null
  for n in 1 2; do
    "$worker" --concurrency 32 --status-file "$demo/$name-worker-$n.status.json" "$@" >"$demo/$name-worker-$n.log" 2>&1 &
    workers+=($!)
  done
  for n in 1 2; do
    for _ in $(seq 1 100); do grep -q "\"phase\":\"working\"" "$demo/$name-worker-$n.status.json" 2>/dev/null && break; sleep 0.1; done
  done
  local t0 t1
  t0=$(date +%s.%N)
  "$parcelctl" submit --file "$demo/$name.csv"
  "$parcelctl" summary --until-final "$PARCELS" --timeout 600
  t1=$(date +%s.%N)
  seconds=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
  if [ -n "${REPORT_TARGET:-}" ]; then
    echo
    "$parcelctl" report --target "$REPORT_TARGET" | sed 's/^/  /'
  fi
  local status=0
  stop_workers || status=$?
  [ "$status" -eq 0 ] || pf_die "a worker did not stop cleanly (exit $status); see $demo/$name-worker-*.log"
  echo "  both workers stopped cleanly (exit 0)"
  "$parcelctl" teardown --yes >/dev/null
  unset PARCELFLOW_NAMESPACE PARCELFLOW_STORE PARCELFLOW_RETRY_DELAYS
}

pf_section "ParcelFlow: $PARCELS parcels, two workers, 5% transient faults, 0.5% permanent, 2% held"
REPORT_TARGET=2000 run_pipeline faults --stage-time 0ms-2ms --transient-rate 0.05 --permanent-rate 0.005 --hold-rate 0.02 \
  --metrics-port 0
echo "  all $PARCELS parcels final in $seconds s (submit included)"

# The load test at the end: the whole main job with faults and chaos, verdict and report.
final_loadtest() {
  # Kills follow the run's progress, not the clock: an interval can outlast a run of a few seconds.
  pf_section "Load test: $PARCELS parcels, two workers, 5% transient, 0.5% permanent, 2% held, three workers killed under load"
  "$parcelctl" loadtest --parcels "$PARCELS" --workers 2 --concurrency 32 --stage-time 0ms-2ms \
    --transient-rate 0.05 --permanent-rate 0.005 --hold-rate 0.02 --kills 3
}

if [ "$ROUNDS" -eq 0 ]; then
  final_loadtest
  exit 0
fi

# Issue 6's yardstick: zero work, no faults, two workers, against the C pipeline, alternating.
pf_section "Zero work, no faults, two workers: parcelctl loadtest vs the plain C pipeline, $ROUNDS rounds alternating"
goal_rows=()
for round in $(seq 1 "$ROUNDS"); do
  # A round whose C run fails is reported and skipped, not the end of the demo.
  # The plain C pipeline over rabbitmq-c + SQLite (docs/BASELINES.md).
  if ! c_out=$("$baseline" pipeline "$PARCELS" 2 100 "$demo/c-pipeline.db" 2>"$demo/c-pipeline.err"); then
    echo "  round $round: the C pipeline failed (exit status $?): $(tail -n 3 "$demo/c-pipeline.err" | tr '\n' ' ')"
    "$baseline" cleanup >/dev/null 2>&1 || true
    continue
  fi
  c_secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$c_out")
  "$baseline" cleanup >/dev/null 2>&1 || true
  lt=$("$parcelctl" loadtest --parcels "$PARCELS" --workers 2 --concurrency 200 --json) || pf_die "loadtest failed: $lt"
  row=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["seconds"], r["worker_peak_rss_mb"], r["ok"])' "$lt")
  echo "  round $round: C pipeline ${c_secs} s | ParcelFlow $(echo "$row" | cut -d' ' -f1) s (worker peak RSS $(echo "$row" | cut -d' ' -f2) MB, verdict ok: $(echo "$row" | cut -d' ' -f3))"
  goal_rows+=("$c_secs $row")
done
python3 - "${goal_rows[@]}" <<'PY'
import statistics, sys
rows = [r.split() for r in sys.argv[1:]]
c = statistics.median(float(r[0]) for r in rows)
s = statistics.median(float(r[1]) for r in rows)
ratio = statistics.median(float(r[1]) / float(r[0]) for r in rows)
rss = max(float(r[2]) for r in rows)
print(f"  median: C pipeline {c:.2f} s, ParcelFlow {s:.2f} s: ratio {ratio:.2f} (goal <= 1.5); "
      f"Celery 5.7 9.8 s (docs/BASELINES.md): {9.8 / s:.1f}x faster (goal >= 10); "
      f"worker peak RSS {rss:.1f} MB (goal <= 30)")
PY

# What metrics cost: the same zero-work run with and without each worker's Prometheus endpoint
# (and its queue and target readings), alternating.
pf_section "Metrics on vs off: $PARCELS parcels, two workers, zero work, $ROUNDS rounds alternating"
metric_rows=()
for round in $(seq 1 "$ROUNDS"); do
  run_pipeline "off$round" --stage-time 0ms >/dev/null
  off=$seconds
  run_pipeline "on$round" --stage-time 0ms --metrics-port 0 --target 2000 >/dev/null
  on=$seconds
  echo "  round $round: metrics off $off s, on $on s"
  metric_rows+=("$off $on")
done
python3 - "${metric_rows[@]}" <<'PY'
import statistics, sys
rows = [tuple(map(float, r.split())) for r in sys.argv[1:]]
off, on = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
ratio = statistics.median(r[1] / r[0] for r in rows)
print(f"  median: off {off:.2f} s, on {on:.2f} s; on/off {ratio:.3f} (goal: throughput within 5 %, ratio <= 1.05)")
PY

pf_section "Benchmark: $ROUNDS rounds x $MESSAGES persistent messages (C baseline, then parcelctl)"
results="$demo/results"
for round in $(seq 1 "$ROUNDS"); do
  c_pub=$("$baseline" publish "$MESSAGES" "$BATCH")
  c_con=$("$baseline" consume "$MESSAGES" "$PREFETCH")
  swift_out=$("$parcelctl" bench amqp --messages "$MESSAGES" --runs 1 --json) ||
    pf_die "parcelctl bench amqp failed in round $round"
  # Like for like: one batch of 100 in flight, waiting for its confirms, as the C loop does.
  swift_w100=$("$parcelctl" bench amqp --messages "$MESSAGES" --runs 1 --window "$BATCH" --json) ||
    pf_die "parcelctl bench amqp --window $BATCH failed in round $round"
  # One JSON line per round in $results; a clear error if parcelctl printed no usable JSON.
  python3 - "$results" "$round" "$c_pub" "$c_con" "$swift_out" "$swift_w100" <<'PY'
import json, sys
results, r, out, out_w100 = sys.argv[1], int(sys.argv[2]), sys.argv[5], sys.argv[6]
c_pub, c_con = json.loads(sys.argv[3]), json.loads(sys.argv[4])
def parse(text):
    try:
        return json.loads(text)
    except ValueError:  # tolerate stray lines around the object
        for line in reversed(text.splitlines()):
            if line.strip().startswith("{"):
                return json.loads(line)
        raise
try:
    s, w = parse(out), parse(out_w100)
    row = {"round": r, "c_publish": float(c_pub["msgs_per_s"]), "c_consume": float(c_con["msgs_per_s"]),
           "swift_publish": float(s["publish_msgs_per_s"]), "swift_consume": float(s["consume_msgs_per_s"]),
           "swift_publish_w100": float(w["publish_msgs_per_s"])}
except (ValueError, KeyError, TypeError) as e:
    sys.exit(f"parcelctl bench amqp printed no JSON object with publish_msgs_per_s and "
             f"consume_msgs_per_s ({e!r}); its output was:\n{out}")
with open(results, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"  round {r}: C publish {row['c_publish']:>8,.0f}  consume {row['c_consume']:>8,.0f}   |   "
      f"Swift publish {row['swift_publish']:>8,.0f} ({row['swift_publish_w100']:>6,.0f} batch-and-wait)  "
      f"consume {row['swift_consume']:>8,.0f}  msg/s")
PY
done
"$baseline" cleanup >/dev/null

# Warehouse staff's side: 2,000 parcels from a file, each round into a fresh store and namespace,
# against the C loop publishing 2,000 messages with confirms (the floor for the broker part).
pf_section "Submit: 2,000 parcels from a CSV file, $ROUNDS rounds (C publish 2,000, then parcelctl submit)"
work="$demo/submit"
mkdir -p "$work"
"$parcelctl" generate --parcels 2000 --output "$work/december.csv" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  ns="demo.submit.$round.$$"
  c_out=$("$baseline" publish 2000 "$BATCH")
  PARCELFLOW_NAMESPACE=$ns "$parcelctl" setup >/dev/null
  s_out=$(PARCELFLOW_NAMESPACE=$ns "$parcelctl" submit --file "$work/december.csv" --store "sqlite:$work/status-$round.db")
  PARCELFLOW_NAMESPACE=$ns "$parcelctl" teardown --yes >/dev/null
  python3 - "$results.submit" "$round" "$c_out" "$s_out" <<'PY'
import json, re, sys
path, r, c, out = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
m = re.search(r"Took ([0-9.]+) s: reading and checking the file ([0-9.]+) s, publishing and recording ([0-9.]+) s", out)
if not m or "Queued 2,000 parcels" not in out:
    sys.exit("parcelctl submit did not queue 2,000 parcels:\n" + out)
row = {"c": float(c["seconds"]), "submit": float(m.group(1)), "check": float(m.group(2)), "phase": float(m.group(3))}
open(path, "a").write(json.dumps(row) + "\n")
print(f"  round {r}: C publish 2,000 {row['c']:.3f} s   |   parcelctl submit {row['submit']:.3f} s "
      f"(reading and checking the file {row['check']:.3f} s, publishing and recording {row['phase']:.3f} s)")
PY
done
"$baseline" cleanup >/dev/null
python3 - "$results.submit" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
c, s, k, p = (med([r[key] for r in rows]) for key in ("c", "submit", "check", "phase"))
# Like for like: the C loop's time starts after it has connected and declared; so does "publishing
# and recording". The whole command (connecting, opening the store) is shown beside it.
ratio = med([(r["check"] + r["phase"]) / (r["c"] + r["check"]) for r in rows])
whole = med([r["submit"] / (r["c"] + r["check"]) for r in rows])
print(f"  median: C publish {c:.3f} s + file check {k:.3f} s = {c + k:.3f} s;  parcelctl file check + "
      f"publishing and recording {k + p:.3f} s (ratio {ratio:.2f}; goal <= 1.00); whole command {s:.3f} s "
      f"(ratio {whole:.2f})")
PY

pf_section "Result: AMQP throughput, Swift (parcelctl) vs C (rabbitmq-c), medians of $ROUNDS rounds"
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
med = statistics.median
def col(k): return [row[k] for row in rows]
ratio_pub = med([row["swift_publish"] / row["c_publish"] for row in rows])
ratio_con = med([row["swift_consume"] / row["c_consume"] for row in rows])
print(f"  {'':34} {'publish msg/s':>14} {'consume msg/s':>14}")
print(f"  {'C baseline (rabbitmq-c)':34} {med(col('c_publish')):>14,.0f} {med(col('c_consume')):>14,.0f}")
print(f"  {'Swift (parcelctl bench amqp)':34} {med(col('swift_publish')):>14,.0f} {med(col('swift_consume')):>14,.0f}")
print(f"  {'Swift / C (median of round ratios)':34} {ratio_pub:>14.2f} {ratio_con:>14.2f}")
ratio_w100 = med([row["swift_publish_w100"] / row["c_publish"] for row in rows])
print(f"  {'Swift batch-and-wait (--window 100)':34} {med(col('swift_publish_w100')):>14,.0f}")
print(f"  {'  / C, like for like':34} {ratio_w100:>14.2f}")
print("  Publish: Swift pipelines confirms (up to 2,000 in flight), C waits for them every 100 messages;")
print("  the batch-and-wait rows do what C does. Consume: both ack every message; Swift coalesces")
print("  contiguous acks into one basic.ack(multiple) per wake-up of its connection thread.")
PY

final_loadtest
