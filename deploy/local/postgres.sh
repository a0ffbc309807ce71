#!/usr/bin/env bash
# Run a PostgreSQL server of the project's own on loopback (state in .local/postgres), from Debian's
# postgresql package, for the status store's tests and for trying ParcelFlow on PostgreSQL.
#
#   deploy/local/postgres.sh start|stop|status|url
#
#   start   create the cluster (once), start the server unless it runs, wait until it accepts
#           connections, make the test role and database, and print the URL as the last line
#   stop    stop the server (a fast shutdown; no-op when it is not running)
#   status  exit 0 when the server accepts connections, 1 otherwise
#   url     print postgres://parcelflow:…@127.0.0.1:PORT/parcelflow_test (PORT: PF_PG_PORT, default 5684)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case ${1:-} in
start)
  pf_install_deps postgresql >&2
  pf_pg_start
  pf_pg_url
  ;;
stop) pf_pg_stop ;;
status) pf_pg_ready ;;
url)
  [ -f "$(pf_pg_dir)/password" ] || pf_die "no cluster yet: run $0 start"
  pf_pg_url
  ;;
*)
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
  ;;
esac
