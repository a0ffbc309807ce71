#!/usr/bin/env bash
# Create (or update) ParcelFlow's three broker users with the least permissions each needs, as
# deploy/rabbitmq/permissions lists them: NS-submitter, NS-worker and NS-ops for namespace NS.
#
#   deploy/rabbitmq/users.sh [--node NODE] [--vhost VHOST] [--namespace NS] [--password-dir DIR]
#                            [--remove | --print]
#
#   --node NODE        a node of the project's own (deploy/local/broker.sh --name NODE), or a full
#                      Erlang node name (rabbit@host) for rabbitmqctl -n. Default: the project's
#                      node, parcelflow (PF_DEFAULT_NODE).
#   --vhost VHOST      the vhost the permissions are for (default /; it must exist).
#   --namespace NS     the exchanges and queues the users may touch: NS.tasks, NS.<stage>, …
#                      Default: PARCELFLOW_NAMESPACE, else parcelflow (as parcelctl and parcel-worker).
#   --password-dir DIR where generated passwords are kept (default .local/broker-users, git-ignored).
#   --remove           delete the three users (and their generated password files) instead.
#   --print            print the users and their permissions; change nothing.
#
# Each user's password comes from PARCELFLOW_<ROLE>_PASSWORD, else from the first line of the file
# PARCELFLOW_<ROLE>_PASSWORD_FILE (ROLE: SUBMITTER, WORKER, OPS), else from DIR/<user>.password,
# which is generated (mode 0600) the first time. Passwords reach rabbitmqctl on its standard input,
# never on a command line, and are never printed. Running it again sets the same permissions and
# passwords again: safe to repeat. The users get no tags and no rights in any other vhost.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
# shellcheck source=../local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

usage() {
  sed -n '2,22s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

node=$PF_DEFAULT_NODE vhost=/ namespace=${PARCELFLOW_NAMESPACE:-parcelflow}
password_dir="$(pf_root)/.local/broker-users" action=apply
while [ $# -gt 0 ]; do
  case $1 in
  --node) node=${2:?--node needs a value} && shift 2 ;;
  --vhost) vhost=${2:?--vhost needs a value} && shift 2 ;;
  --namespace) namespace=${2:?--namespace needs a value} && shift 2 ;;
  --password-dir) password_dir=${2:?--password-dir needs a value} && shift 2 ;;
  --remove) action=remove && shift ;;
  --print) action=print && shift ;;
  -h | --help) usage ;;
  *) pf_log "unknown argument: $1" && usage ;;
  esac
done
# The names parcelctl accepts (ASCII only here: they end up in regular expressions).
[[ $namespace =~ ^[A-Za-z0-9._-]+$ ]] || pf_die "--namespace may hold letters, digits, '.', '_' and '-': $namespace"
[[ $node =~ ^[A-Za-z0-9_.@-]+$ ]] || pf_die "not a node name: $node"

PERMISSIONS="$(dirname "${BASH_SOURCE[0]}")/permissions"
[ -r "$PERMISSIONS" ] || pf_die "cannot read $PERMISSIONS"

# rabbitmqctl for the chosen node: ours (with our node's environment) or any other by full name.
ctl() {
  if [[ $node == *@* ]]; then
    local bin=${RABBITMQCTL:-}
    if [ -z "$bin" ]; then
      bin=$PF_RMQ_BIN/rabbitmqctl
      [ -x "$bin" ] || bin=rabbitmqctl
    fi
    "$bin" -n "$node" "$@"
  else
    pf_ctl "$node" "$@"
  fi
}

# The users, from the permissions file: ROLES, and CONFIGURE/WRITE/READ by role, with {ns} replaced
# by the namespace, its dots escaped.
escaped=${namespace//./\\.}
ROLES=()
declare -A CONFIGURE WRITE READ
while read -r role configure write read extra; do
  case $role in '' | '#'*) continue ;; esac
  if [ -z "$read" ] || [ -n "$extra" ]; then
    pf_die "$PERMISSIONS: expected ROLE CONFIGURE WRITE READ, got: $role $configure $write $read $extra"
  fi
  ROLES+=("$role")
  CONFIGURE[$role]=${configure//"{ns}"/"$escaped"}
  WRITE[$role]=${write//"{ns}"/"$escaped"}
  READ[$role]=${read//"{ns}"/"$escaped"}
done <"$PERMISSIONS"
[ ${#ROLES[@]} -gt 0 ] || pf_die "$PERMISSIONS lists no users"

user_of() { printf '%s-%s\n' "$namespace" "$1"; }

# The password for ROLE (see the header), on stdout; generated into DIR/<user>.password if need be.
password_of() {
  local role=$1 upper var file
  upper=$(printf '%s' "$role" | tr '[:lower:]' '[:upper:]')
  var="PARCELFLOW_${upper}_PASSWORD"
  if [ -n "${!var:-}" ]; then
    printf '%s\n' "${!var}"
    return 0
  fi
  var="PARCELFLOW_${upper}_PASSWORD_FILE"
  if [ -n "${!var:-}" ]; then
    file=${!var}
    [ -r "$file" ] || pf_die "$var: cannot read $file"
  else
    file="$password_dir/$(user_of "$role").password"
    if [ ! -s "$file" ]; then
      mkdir -p "$password_dir"
      (
        umask 077
        local tmp
        tmp=$(mktemp "$file.XXXXXX")
        openssl rand -hex 24 >"$tmp"
        mv -f "$tmp" "$file"
      )
      pf_log "generated a password for $(user_of "$role") in $file"
    fi
  fi
  local password
  IFS= read -r password <"$file" || true
  [ -n "$password" ] || pf_die "the password file $file is empty"
  printf '%s\n' "$password"
}

users_on_node() {
  local out
  if ! out=$(ctl -q list_users -s 2>&1); then
    [[ $node == *@* ]] || out+=$'\n'"(a node of the project's own: deploy/local/broker.sh start --name $node)"
    pf_die "rabbitmqctl cannot reach node $node: $out"
  fi
  printf '%s\n' "$out" | cut -f1
}

case $action in
print)
  printf '%-28s %-24s %-24s %s\n' USER CONFIGURE WRITE READ
  for role in "${ROLES[@]}"; do
    printf '%-28s %-24s %-24s %s\n' "$(user_of "$role")" "${CONFIGURE[$role]}" "${WRITE[$role]}" "${READ[$role]}"
  done
  ;;
apply)
  # Everything that can fail is checked before the node is changed: the node, the passwords, the vhost.
  existing=$(users_on_node)
  declare -A PASSWORDS
  for role in "${ROLES[@]}"; do PASSWORDS[$role]=$(password_of "$role"); done
  ctl -q list_vhosts -s | grep -qxF -- "$vhost" || pf_die "node $node has no vhost '$vhost' (rabbitmqctl add_vhost)"
  for role in "${ROLES[@]}"; do
    user=$(user_of "$role")
    # The password goes in on stdin (printf is a builtin: it never shows in a process list).
    if grep -qxF -- "$user" <<<"$existing"; then
      printf '%s\n' "${PASSWORDS[$role]}" | ctl -q change_password "$user" >/dev/null
      verb=updated
    else
      printf '%s\n' "${PASSWORDS[$role]}" | ctl -q add_user "$user" >/dev/null
      verb=created
    fi
    ctl -q set_user_tags "$user" >/dev/null
    ctl -q set_permissions -p "$vhost" "$user" "${CONFIGURE[$role]}" "${WRITE[$role]}" "${READ[$role]}" >/dev/null
    pf_log "$verb $user on $node, vhost $vhost: configure '${CONFIGURE[$role]}' write '${WRITE[$role]}' read '${READ[$role]}'"
  done
  unset PASSWORDS
  ;;
remove)
  existing=$(users_on_node)
  for role in "${ROLES[@]}"; do
    user=$(user_of "$role")
    if grep -qxF -- "$user" <<<"$existing"; then
      ctl -q delete_user "$user" >/dev/null
      pf_log "deleted $user from $node"
    fi
    rm -f "$password_dir/$user.password"
  done
  ;;
esac
