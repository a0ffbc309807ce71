#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Set up this machine, start the broker, build, and compare ParcelFlow's AMQP layer with a plain C loop
# over the same library: rounds alternate the C baseline (bench/c/amqp_baseline.c) and
# `parcelctl bench amqp`, and the table gives medians and the median per-round ratio Swift/C
# (figures on a shared 2-core machine swing by tens of percent from hour to hour; ratios between
# alternating rounds swing far less).
#
# Environment: PARCELFLOW_AMQP_URL (a reachable broker is used instead of starting ours),
# PARCELFLOW_BENCH_ROUNDS (5), PARCELFLOW_BENCH_MESSAGES (8000),
# PARCELFLOW_PARCELCTL (use this parcelctl binary instead of building one),
# PARCELFLOW_KEEP_BROKER=1 (leave the node this script started running).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
ROUNDS=${PARCELFLOW_BENCH_ROUNDS:-5}
MESSAGES=${PARCELFLOW_BENCH_MESSAGES:-8000}
BATCH=100    # C: wait for all outstanding confirms every 100 publishes
PREFETCH=100 # C: basic.qos prefetch, one ack per message

pf_section "Set-up: packages and toolchain"
pf_install_deps
[ -n "${PARCELFLOW_PARCELCTL:-}" ] || pf_ensure_swift_path

pf_section "Broker"
nodes_before=$(pf_running_nodes)
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  if [ "${PARCELFLOW_KEEP_BROKER:-0}" != 1 ]; then pf_stop_new_nodes "$nodes_before"; fi
}
trap cleanup EXIT
pf_use_broker
echo "  broker: $(pf_redact_url "$PARCELFLOW_AMQP_URL")"

pf_section "Build"
if [ -n "${PARCELFLOW_PARCELCTL:-}" ]; then
  parcelctl=$PARCELFLOW_PARCELCTL
  echo "  using PARCELFLOW_PARCELCTL=$parcelctl (not building)"
else
  swift build -c release --product parcelctl
  parcelctl="$ROOT/.build/release/parcelctl"
fi
[ -x "$parcelctl" ] || pf_die "parcelctl not found at $parcelctl"
mkdir -p .local/bin
baseline=.local/bin/amqp_baseline
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -Wall -Wextra -o "$baseline" bench/c/amqp_baseline.c $(pkg-config --cflags --libs librabbitmq)
echo "  built $baseline"

pf_section "Benchmark: $ROUNDS rounds x $MESSAGES persistent messages (C baseline, then parcelctl)"
results=$(mktemp)
trap 'rm -f "$results"; cleanup' EXIT
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
work=$(mktemp -d)
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
m = re.search(r"Took ([0-9.]+) s \(reading and checking the file: ([0-9.]+) s\)", out)
if not m or "Queued 2,000 parcels" not in out:
    sys.exit("parcelctl submit did not queue 2,000 parcels:\n" + out)
row = {"c": float(c["seconds"]), "submit": float(m.group(1)), "check": float(m.group(2))}
open(path, "a").write(json.dumps(row) + "\n")
print(f"  round {r}: C publish 2,000 {row['c']:.3f} s   |   parcelctl submit {row['submit']:.3f} s "
      f"(of which reading and checking the file {row['check']:.3f} s)")
PY
done
"$baseline" cleanup >/dev/null
rm -rf "$work"
python3 - "$results.submit" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
c, s, k = med([r["c"] for r in rows]), med([r["submit"] for r in rows]), med([r["check"] for r in rows])
ratio = med([r["submit"] / (r["c"] + r["check"]) for r in rows])
print(f"  median: C publish {c:.3f} s + file check {k:.3f} s = {c + k:.3f} s;  parcelctl submit {s:.3f} s "
      f"(ratio {ratio:.2f}; goal <= 1.00)")
PY
rm -f "$results.submit"

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
