# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): small utilities — ports, URLs, HOME, the Erlang cookie.

# True when something accepts TCP connections on 127.0.0.1:PORT.
pf_port_open() {
  # shellcheck disable=SC2016 # $1 expands in the inner bash, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# pf_amqp_url PORT [ADDRESS]: the AMQP URL of a node of ours (on 127.0.0.1 unless ADDRESS is given).
pf_amqp_url() { printf 'amqp://guest:guest@%s:%s/%%2f\n' "${2:-127.0.0.1}" "$1"; }
# The TLS URL names localhost (not 127.0.0.1) so that host-name verification is exercised too.
pf_amqps_url() { printf 'amqps://guest:guest@localhost:%s/%%2f\n' "$1"; }

pf_home() {
  if [ -n "${HOME:-}" ]; then
    printf '%s\n' "$HOME"
  else
    getent passwd "$(id -u)" | cut -d: -f6
  fi
}

# Erlang creates ~/.erlang.cookie on first use, but two nodes (or a node and rabbitmqctl) starting at
# once can race on it; create it up front. Server and CLI both run as this user with this HOME, so
# rabbitmqctl finds the same cookie. (The system service uses /var/lib/rabbitmq's cookie, not this.)
pf_ensure_cookie() {
  local cookie
  cookie="$(pf_home)/.erlang.cookie"
  [ -s "$cookie" ] && return 0
  local tmp
  tmp=$(mktemp "$cookie.XXXXXX")
  openssl rand -hex 16 | tr 'a-f' 'A-F' | tr -d '\n' >"$tmp"
  chmod 400 "$tmp"
  mv -n "$tmp" "$cookie"
  rm -f "$tmp"
}
