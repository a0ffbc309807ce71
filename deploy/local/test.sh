#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Set up this machine and run the whole test suite: install what is missing, use the broker at
# PARCELFLOW_AMQP_URL or start the project's own node (with TLS) and the three-node cluster, build,
# run `swift test` (the cluster's tests, OnTheCluster, after the rest, alone), then the fuzzers
# (deploy/local/fuzz.sh: PARCELFLOW_FUZZ_SECONDS per target, default 30; 0 skips them).
# Extra arguments go to one `swift test` (e.g. --filter AMQPTests). Exits non-zero when swift test or the
# fuzzing failed (with swift test's status if it failed).
#
# Exported for the tests:
#   PARCELFLOW_AMQP_URL       the broker (amqp://guest:guest@127.0.0.1:5682/%2f for our node)
#   PARCELFLOW_AMQPS_URL      amqps://guest:guest@localhost:5683/%2f, only when our node with TLS is used
#   PARCELFLOW_BROKER_NODE    parcelflow@localhost (for rabbitmqctl -n), only when our node is used
#   PARCELFLOW_TLS_DIR        .local/tls: ca.pem, server.pem/.key, client.pem/.key, rogue-ca.pem,
#                             rogue-client.pem/.key
#   PARCELFLOW_BROKER_SCRIPT  deploy/local/broker.sh, to start/stop throwaway nodes
#   PARCELFLOW_CLUSTER_URLS   the URL list of a three-node cluster of our own (broker.sh cluster start),
#                             for the failover tests alone (they stop and start its nodes);
#                             PARCELFLOW_CLUSTER_NODES its node names (parcelflow-c1,… by default)
#   PARCELFLOW_TEST_POSTGRES_URL  the PostgreSQL server for the stores' tests: the one it already names
#                             when that answers, else our own (deploy/local/postgres.sh, 127.0.0.1:5684)
#   PARCELFLOW_PYTHON_TOOLS   .local/venv/bin: kubernetes-validate and jsonschema from PyPI, for
#                             deploy/k8s/validate.py (pf_python_tools)
# Nodes this run started (ours, or any a test left running) and our PostgreSQL, if this run started
# it, are stopped at the end; PARCELFLOW_KEEP_BROKER=1 keeps them running for the next run.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(pf_root)
cd "$ROOT"

pf_begin postgresql
pf_python_tools

pf_section "Broker"
trap pf_cleanup EXIT
pf_tls_ensure
export PARCELFLOW_TLS_DIR PARCELFLOW_BROKER_SCRIPT
PARCELFLOW_TLS_DIR=$(pf_tls_dir)
PARCELFLOW_BROKER_SCRIPT="$ROOT/deploy/local/broker.sh"
pf_use_broker
# Always our own nodes, never a cluster found running elsewhere: the tests stop and start them. A new
# cluster each run (pf_cluster_wipe says why).
pf_cluster_wipe
pf_cluster_start
export PARCELFLOW_CLUSTER_URLS PARCELFLOW_CLUSTER_NODES
PARCELFLOW_CLUSTER_URLS=$(pf_cluster_urls)
PARCELFLOW_CLUSTER_NODES=$(pf_cluster_names | paste -sd, -)
for v in PARCELFLOW_AMQP_URL PARCELFLOW_AMQPS_URL PARCELFLOW_BROKER_NODE PARCELFLOW_TLS_DIR PARCELFLOW_BROKER_SCRIPT \
  PARCELFLOW_CLUSTER_URLS PARCELFLOW_CLUSTER_NODES; do
  printf '  %-25s %s\n' "$v" "$(pf_redact_url "${!v:-(not set)}")"
done

pf_section "PostgreSQL"
# A server for tests only: nothing it holds must outlive a crash, so it does not sync to disk. Dozens of
# tests make databases of their own at once, and their syncs would slow the broker's (its quorum queues
# sync every confirm) and the timing tests with it. (store-figures.sh runs a durable one.)
PF_PG_OPTIONS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" pf_use_postgres
printf '  %-28s %s\n' PARCELFLOW_TEST_POSTGRES_URL "$(pf_redact_url "$PARCELFLOW_TEST_POSTGRES_URL")"

pf_section "Build: swift build --build-tests"
if ! swift build --build-tests; then
  pf_section "Result: BUILD FAILED"
  exit 1
fi

rc=0
if [ $# -eq 0 ]; then
  # The cluster's tests stop its nodes and keep both cores busy for minutes: they run after the rest,
  # on their own, so that neither pushes the other's tests past their time limits.
  pf_section "Tests: swift test --skip OnTheCluster"
  swift test --skip OnTheCluster || rc=$?
  pf_section "Tests on the three-node cluster: swift test --filter OnTheCluster"
  swift test --skip-build --filter OnTheCluster || rc=$?
else
  pf_section "Tests: swift test $*"
  swift test "$@" || rc=$?
fi
if [ $rc -eq 0 ]; then
  pf_section "Result: tests passed"
else
  pf_section "Result: swift test FAILED (exit status $rc)"
fi

# Bounded fuzzing of the decoders of untrusted bytes, in a build of its own (.build-fuzz).
fuzz_rc=0
"$ROOT/deploy/local/fuzz.sh" || fuzz_rc=$?
if [ $rc -ne 0 ] || [ $fuzz_rc -ne 0 ]; then
  pf_section "Result: FAILED (swift test: exit status $rc; fuzzing: exit status $fuzz_rc)"
  [ $rc -ne 0 ] && exit $rc
  exit $fuzz_rc
fi
pf_section "Result: tests and fuzzing passed"
