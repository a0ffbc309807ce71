#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# ParcelFlow's figures in one command: the plain C baseline (bench/c/amqp_baseline.c) and ParcelFlow
# doing the same work, in alternating rounds on one broker, then one table of medians, the median of the
# per-round ratios, and each goal met or missed (deploy/local/bench_table.py makes it).
#
# Each round: the C pipeline and `parcelctl loadtest` (2,000 parcels, two workers, zero work, closed
# loop); the C publish/consume loop and `parcelctl bench amqp` (8,000 persistent messages; also with
# `--window 100`, waiting for confirms every 100 like the C loop); in the first PF_BENCH_OPEN_ROUNDS
# rounds, the open-loop load test at 1,000 parcels/s. Then once: a closed-loop run of 20,000 parcels (the
# throughput a ramp step's size sustains: a 2,000-parcel burst drains faster than a long run) and a ramp
# (`--ramp PF_BENCH_RAMP --p99-bound 250ms`) whose highest held rate is compared with it; last the soak:
# 200,000 parcels through a store of its own (throughput per interval, RSS, `parcelctl`'s CPU), then
# `parcelctl report` and the dashboard's /api/report timed on that store.
# Every run's raw output lands in .local/bench/TIMESTAMP/ (NAME.json, and NAME.err when it failed); a
# failed run is reported in the table, not the end of it. About 7 minutes on a 2-core machine (the
# ramp 8 steps, each further step about 13 s; the soak about a minute).
#
# Environment: PF_BENCH_ROUNDS (5), PF_BENCH_OPEN_ROUNDS (3), PF_BENCH_OPEN_SECONDS (60),
# PF_BENCH_RAMP (1000/s:250/s:10s), PF_BENCH_SUSTAINED_PARCELS (20000), PF_BENCH_SOAK_PARCELS (200000;
# 0 leaves the soak out), PF_BENCH_QUICK=1 (small runs, to check the script in about a minute: 2 rounds,
# 200 parcels, 1,000 messages, the open loop for 2 s, a ramp of 2-second steps from 500/s, a soak of
# 3,000), PARCELFLOW_AMQP_URL (a reachable broker is used instead of starting ours), PARCELFLOW_KEEP_BROKER=1.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"
ROUNDS=${PF_BENCH_ROUNDS:-5}
OPEN_ROUNDS=${PF_BENCH_OPEN_ROUNDS:-3}
OPEN_SECONDS=${PF_BENCH_OPEN_SECONDS:-60}
RAMP=${PF_BENCH_RAMP:-1000/s:250/s:10s}
SUSTAINED=${PF_BENCH_SUSTAINED_PARCELS:-20000}
SOAK=${PF_BENCH_SOAK_PARCELS:-200000}
PARCELS=2000
MESSAGES=8000
if [ "${PF_BENCH_QUICK:-0}" = 1 ]; then
  PARCELS=200 MESSAGES=1000 ROUNDS=${PF_BENCH_ROUNDS:-2} OPEN_SECONDS=${PF_BENCH_OPEN_SECONDS:-2}
  SUSTAINED=${PF_BENCH_SUSTAINED_PARCELS:-1000} RAMP=${PF_BENCH_RAMP:-500/s:500/s:2s} SOAK=${PF_BENCH_SOAK_PARCELS:-3000}
fi
BATCH=100    # the C loop waits for its confirms every 100 publishes; basic.qos 100 when it consumes
PREFETCH=100 # the C pipeline's basic.qos per stage channel

# shellcheck disable=SC2119 # no packages beyond the usual ones
pf_begin
trap pf_cleanup EXIT
pf_section "Broker"
pf_use_broker
echo "  broker: $(pf_redact_url "$PARCELFLOW_AMQP_URL")"

pf_section "Build (release) and the C baseline"
swift build "${PF_RELEASE_BUILD[@]}" --product parcelctl >/dev/null
swift build "${PF_RELEASE_BUILD[@]}" --product parcel-worker >/dev/null
parcelctl="$ROOT/.build/release/parcelctl"
mkdir -p .local/bin
baseline=.local/bin/amqp_baseline
# shellcheck disable=SC2046 # pkg-config prints several words on purpose
cc -O2 -Wall -Wextra -o "$baseline" bench/c/amqp_baseline.c $(pkg-config --cflags --libs librabbitmq sqlite3)
out=".local/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
echo "  raw results: $out"

# run NAME COMMAND…: the command's output to $out/NAME.json; on failure its errors and exit status to
# $out/NAME.err, a line in the log, and the script carries on (the table reports the failed round).
run() {
  local name=$1 status=0
  shift
  "$@" >"$out/$name.json" 2>"$out/$name.log" || status=$?
  if [ "$status" -ne 0 ]; then
    { cat "$out/$name.log"; echo "exit status $status"; } >"$out/$name.err"
    pf_log "$name failed (exit status $status): $(tail -n 2 "$out/$name.log" | tr '\n' ' ')"
  fi
  rm -f "$out/$name.log"
}

cat >"$out/settings.json" <<EOF
{"rounds": $ROUNDS, "open_rounds": $OPEN_ROUNDS, "open_seconds": $OPEN_SECONDS, "ramp": "$RAMP",
 "parcels": $PARCELS, "messages": $MESSAGES, "sustained_parcels": $SUSTAINED, "cores": $(nproc)}
EOF

pf_section "$ROUNDS rounds, alternating: C, then ParcelFlow"
for round in $(seq 1 "$ROUNDS"); do
  pf_log "round $round of $ROUNDS"
  run "r$round-c-pipeline" "$baseline" pipeline "$PARCELS" 2 "$PREFETCH" "$out/c-pipeline.db"
  "$baseline" cleanup >/dev/null 2>&1 || true
  run "r$round-pf-pipeline" "$parcelctl" loadtest --parcels "$PARCELS" --workers 2 --concurrency 200 --json
  run "r$round-c-publish" "$baseline" publish "$MESSAGES" "$BATCH"
  run "r$round-c-consume" "$baseline" consume "$MESSAGES" "$BATCH"
  "$baseline" cleanup >/dev/null 2>&1 || true
  run "r$round-pf-amqp" "$parcelctl" bench amqp --messages "$MESSAGES" --runs 1 --json
  run "r$round-pf-amqp-window" "$parcelctl" bench amqp --messages "$MESSAGES" --runs 1 --window "$BATCH" --json
  if [ "$round" -le "$OPEN_ROUNDS" ]; then
    pf_log "round $round: open loop at 1,000 parcels/s for ${OPEN_SECONDS} s"
    run "r$round-pf-open" "$parcelctl" loadtest --rate 1000/s --duration "${OPEN_SECONDS}s" --workers 2 --json
  fi
done
rm -f "$out"/c-pipeline.db*

pf_section "Closed loop at a sustained size ($SUSTAINED parcels), then the ramp ($RAMP, p99 bound 250 ms)"
run pf-sustained "$parcelctl" loadtest --parcels "$SUSTAINED" --workers 2 --concurrency 200 --json
run pf-ramp "$parcelctl" loadtest --ramp "$RAMP" --p99-bound 250ms --workers 2 --json

if [ "$SOAK" -gt 0 ]; then
  # The soak: $SOAK parcels through a store of its own, then `parcelctl report` and the dashboard's
  # /api/report timed on that store, three times each (the median is the figure), and the store removed.
  pf_section "Soak: $SOAK parcels, then the report on their store"
  soak_store="$out/soak.db"
  run pf-soak "$parcelctl" loadtest --parcels "$SOAK" --workers 2 --concurrency 200 --store "sqlite:$soak_store" --json
  if [ -s "$soak_store" ]; then
    report_times=()
    for _ in 1 2 3; do
      start=$(date +%s.%N)
      if "$parcelctl" report --store "sqlite:$soak_store" --json >/dev/null 2>>"$out/pf-soak-report.log"; then
        report_times+=("$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$start" "$(date +%s.%N)")")
      else
        report_times+=(null)
      fi
    done
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$parcelctl" dashboard --store "sqlite:$soak_store" --port "$port" >"$out/pf-soak-dashboard.log" 2>&1 &
    dashboard=$!
    api_times=()
    for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break; sleep 0.1; done
    for _ in 1 2 3; do
      if t=$(curl -fs -o /dev/null -w '%{time_total}' "http://127.0.0.1:$port/api/report"); then api_times+=("$t"); else api_times+=(null); fi
    done
    kill "$dashboard" 2>/dev/null || true
    wait "$dashboard" 2>/dev/null || true
    printf '{"report_seconds": [%s], "api_report_seconds": [%s], "store_bytes": %s}\n' \
      "$(IFS=,; echo "${report_times[*]}")" "$(IFS=,; echo "${api_times[*]}")" \
      "$(stat -c %s "$soak_store")" >"$out/pf-soak-report-time.json"
  fi
  rm -f "$soak_store" "$soak_store"-wal "$soak_store"-shm
fi

pf_section "Result"
python3 deploy/local/bench_table.py "$out" | tee "$out/table.md"
