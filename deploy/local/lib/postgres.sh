# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): a PostgreSQL server of the project's own, from
# Debian's postgresql package, on loopback (state in .local/postgres: the cluster in data/, its socket
# in run/, the test user's password in password, 0600). deploy/local/postgres.sh is its command line;
# test.sh starts it for the stores' tests.
#
# PostgreSQL refuses to run as root: run by root, the server runs as the `postgres` system user (the
# package creates it), which then owns .local/postgres.

PF_PG_BIN=${PF_PG_BIN:-/usr/lib/postgresql/15/bin}
: "${PF_PG_PORT:=5684}"
# The role and database the tests use; the role may create databases (a test may want its own).
PF_PG_USER=parcelflow
PF_PG_DATABASE=parcelflow_test

pf_pg_dir() { printf '%s/.local/postgres\n' "$(pf_root)"; }

# Where the cluster (data/) and its socket (run/) live: in .local/postgres, unless the server's user
# (postgres, when run by root) cannot reach it there — a checkout under a private home folder — and
# then in a folder of this checkout's own under /var/tmp.
pf_pg_cluster() {
  local dir
  dir=$(pf_pg_dir)
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$(dirname "$dir")" 2>/dev/null; then
    printf '%s\n' "$dir"
  else
    printf '/var/tmp/parcelflow-postgres-%s\n' "$(printf '%s' "$dir" | sha1sum | cut -c1-12)"
  fi
}

# Run a command as the user the server runs as.
pf_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # From /, which it can enter (every path given is absolute).
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# The server is running and accepts connections on its socket.
pf_pg_ready() {
  local dir
  dir=$(pf_pg_cluster)
  [ -f "$dir/data/postmaster.pid" ] &&
    pf_pg_as_owner "$PF_PG_BIN/pg_isready" -q -h "$dir/run" -p "$(pf_pg_port)" >/dev/null 2>&1
}

# The port: the one the cluster was made with, else PF_PG_PORT.
pf_pg_port() {
  local file
  file="$(pf_pg_dir)/port"
  if [ -f "$file" ]; then cat "$file"; else printf '%s\n' "$PF_PG_PORT"; fi
}

# postgres://parcelflow:PASSWORD@127.0.0.1:PORT/parcelflow_test (the password percent-encoded).
pf_pg_url() {
  local dir password
  dir=$(pf_pg_dir)
  password=$(cat "$dir/password")
  python3 - "$password" "$(pf_pg_port)" "$PF_PG_USER" "$PF_PG_DATABASE" <<'PY'
import sys
from urllib.parse import quote
password, port, user, database = sys.argv[1:]
print(f"postgres://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}")
PY
}

# psql as the cluster's superuser, over the socket (peer authentication).
pf_pg_psql() {
  local dir
  dir=$(pf_pg_cluster)
  pf_pg_as_owner "$PF_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$(pf_pg_port)" -U postgres -d postgres "$@"
}

# Create the cluster once: loopback only, the superuser by peer authentication on our own socket,
# the test role by password (SCRAM) over TCP.
pf_pg_init() {
  local dir owner cluster
  dir=$(pf_pg_dir)
  cluster=$(pf_pg_cluster)
  [ -f "$cluster/data/PG_VERSION" ] && [ -f "$dir/password" ] && return 0
  [ -x "$PF_PG_BIN/initdb" ] || pf_die "$PF_PG_BIN/initdb not found (install Debian's postgresql: pf_install_deps postgresql)"
  owner=$(id -un)
  [ "$(id -u)" -eq 0 ] && owner=postgres
  mkdir -p "$dir" "$cluster"
  rm -rf "$cluster/data" "$cluster/run"
  install -d -m 700 -o "$owner" "$cluster/data" "$cluster/run"
  chown "$owner" "$cluster"
  if ! pf_pg_as_owner test -w "$cluster/data"; then
    pf_die "$owner cannot write $cluster/data: every folder above it must be open to $owner (chmod o+x)"
  fi
  [ "$cluster" = "$dir" ] || pf_log "the cluster lives in $cluster ($owner cannot reach $dir)"
  printf '%s\n' "$PF_PG_PORT" >"$dir/port"
  (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$dir/password")
  local log="$dir/initdb.log"
  if ! pf_pg_as_owner "$PF_PG_BIN/initdb" -D "$cluster/data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$log" 2>&1; then
    cat "$log" >&2
    pf_die "initdb failed"
  fi
  pf_pg_as_owner tee -a "$cluster/data/postgresql.conf" >/dev/null <<EOF
# deploy/local: loopback only, our own socket folder, no shared system paths.
listen_addresses = '127.0.0.1'
port = $PF_PG_PORT
unix_socket_directories = '$cluster/run'
max_connections = 200
fsync = on
log_destination = 'stderr'
logging_collector = off
EOF
}

# Start the server unless it runs, wait until it accepts connections, and make the test role and
# database (idempotent).
pf_pg_start() {
  local dir cluster
  dir=$(pf_pg_dir)
  pf_pg_init
  cluster=$(pf_pg_cluster)
  if ! pf_pg_ready; then
    pf_log "starting PostgreSQL on 127.0.0.1:$(pf_pg_port) (data in $cluster/data)"
    if ! pf_pg_as_owner "$PF_PG_BIN/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t "$PF_START_TIMEOUT" \
      ${PF_PG_OPTIONS:+-o "$PF_PG_OPTIONS"} start >/dev/null; then
      tail -n 20 "$cluster/server.log" >&2 || true
      pf_die "PostgreSQL did not start (log: $cluster/server.log)"
    fi
  fi
  local password
  password=$(cat "$dir/password")
  # The password reaches psql on stdin, never on a command line (it is URL-safe: no quotes).
  pf_pg_psql >/dev/null <<SQL
\\set password '$password'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$PF_PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PF_PG_USER') \gexec
ALTER ROLE $PF_PG_USER PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', '$PF_PG_DATABASE', '$PF_PG_USER')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PF_PG_DATABASE') \gexec
SQL
}

pf_pg_stop() {
  local cluster
  cluster=$(pf_pg_cluster)
  [ -f "$cluster/data/postmaster.pid" ] || return 0
  pf_log "stopping PostgreSQL"
  pf_pg_as_owner "$PF_PG_BIN/pg_ctl" -D "$cluster/data" -m fast -w -t "$PF_STOP_TIMEOUT" stop >/dev/null 2>&1 || true
}

# Use the server PARCELFLOW_TEST_POSTGRES_URL names when it answers; otherwise start ours and point
# PARCELFLOW_TEST_POSTGRES_URL at it. pf_cleanup stops ours if this call started it.
pf_use_postgres() {
  if [ -n "${PARCELFLOW_TEST_POSTGRES_URL:-}" ] &&
    PGCONNECT_TIMEOUT=3 psql "$PARCELFLOW_TEST_POSTGRES_URL" -X -w -q -c 'SELECT 1' >/dev/null 2>&1 </dev/null; then
    pf_log "using the PostgreSQL server at PARCELFLOW_TEST_POSTGRES_URL=$(pf_redact_url "$PARCELFLOW_TEST_POSTGRES_URL")"
  else
    pf_pg_ready || PF_PG_STARTED=1
    pf_pg_start
    export PARCELFLOW_TEST_POSTGRES_URL
    PARCELFLOW_TEST_POSTGRES_URL=$(pf_pg_url)
  fi
}
