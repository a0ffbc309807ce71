# shellcheck shell=bash
# Part of deploy/local/lib.sh (which sources it): the TLS material the nodes and the tests use.

pf_tls_dir() { printf '%s/.local/tls\n' "$(pf_root)"; }

# Generate, once, a CA, a server cert for localhost/127.0.0.1 and a client cert signed by it, plus an
# unrelated "rogue" CA (and a client cert it signed) for tests that expect verification to fail.
pf_tls_ensure() {
  local dir
  dir=$(pf_tls_dir)
  local f need=0
  for f in ca.pem ca.key server.pem server.key client.pem client.key rogue-ca.pem rogue-ca.key rogue-client.pem rogue-client.key; do
    [ -s "$dir/$f" ] || need=1
  done
  [ $need -eq 0 ] && return 0
  mkdir -p "$(dirname "$dir")"
  # Two nodes may start at once; only one generates, into a temp dir renamed into place.
  (
    flock -w 120 8 || pf_die "timed out waiting for the TLS generation lock"
    [ -s "$dir/rogue-client.key" ] && exit 0
    pf_log "generating TLS test certificates in $dir"
    local tmp
    tmp=$(mktemp -d "$dir.tmp.XXXXXX")
    pf_tls_generate "$tmp" || {
      rm -rf "$tmp"
      pf_die "openssl failed to generate the TLS test certificates"
    }
    rm -f "$tmp/generate.log"
    chmod 755 "$tmp" # certificates readable; the keys themselves stay 0600
    rm -rf "$dir"
    mv "$tmp" "$dir"
  ) 8>"$dir.lock"
}

pf_tls_generate() {
  local d=$1
  cat >"$d/openssl.cnf" <<'EOF'
# Our own config so that the system's openssl.cnf defaults cannot add or clash with extensions.
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  local days=3650
  (
    set -e
    cd "$d"
    umask 077
    ca() { # ca NAME SUBJECT
      openssl req -x509 -config openssl.cnf -extensions v3_ca -newkey rsa:2048 -nodes \
        -keyout "$1.key" -out "$1.pem" -days $days -subj "$2"
    }
    leaf() { # leaf NAME SUBJECT CA EXTENSIONS
      openssl req -new -config openssl.cnf -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
      openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
        -days $days -extfile openssl.cnf -extensions "$4" -out "$1.pem"
      rm -f "$1.csr"
    }
    ca ca "/O=ParcelFlow/CN=ParcelFlow local test CA"
    leaf server "/O=ParcelFlow/CN=localhost" ca v3_server
    leaf client "/O=ParcelFlow/CN=parcelflow-test-client" ca v3_client
    ca rogue-ca "/O=Rogue/CN=Rogue CA (untrusted by ParcelFlow)"
    leaf rogue-client "/O=Rogue/CN=rogue-client" rogue-ca v3_client
    openssl verify -CAfile ca.pem server.pem client.pem
    chmod 644 ./*.pem
  ) >"$d/generate.log" 2>&1 || {
    cat "$d/generate.log" >&2
    return 1
  }
}
