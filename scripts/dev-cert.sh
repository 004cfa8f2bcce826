#!/bin/sh
# The TLS certificate nginx serves (deploy/nginx.conf reads tls.crt and tls.key from one directory).
#
#   scripts/dev-cert.sh [DIR]          makes a self-signed certificate for local use in DIR (default deploy/tls)
#                                      if there is none; keeps a valid one; replaces one this script made that
#                                      expired, is broken or lacks a name TLS_DEV_NAMES asks for. It never
#                                      touches a certificate it did not make.
#   scripts/dev-cert.sh --force [DIR]  makes a new one whatever is there
#   scripts/dev-cert.sh --check DIR    writes nothing: fails unless DIR holds a certificate and its key that match
#                                      and have not expired (docker-compose.yml checks real certificates this way)
#
# The certificate names localhost, 127.0.0.1 and ::1; set TLS_DEV_NAMES (space-separated host names and IP
# addresses) to name others, e.g. the host name a test kit running in another container uses to reach nginx.
# It is its own trust anchor (CA:FALSE, so trusting it vouches for nothing else): give tls.crt to the client
# (curl --cacert, NODE_EXTRA_CA_CERTS, the test kit's trust store). Production mounts real certificates instead.
#
# POSIX sh and the openssl CLI only: it runs the same on a laptop and in docker-compose.yml's alpine `certs` service.
set -eu

MARK='sacroplasty-cds local development'
DAYS=365

usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

force=no
check=no
dir=
for arg in "$@"; do
  case "$arg" in
    --force) force=yes ;;
    --check) check=yes ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "dev-cert: unknown option $arg" >&2; usage >&2; exit 2 ;;
    '') ;; # docker-compose.yml passes an empty argument in place of --check when TLS_CERT_DIR is unset
    *)
      if [ -n "$dir" ]; then echo "dev-cert: one directory only ($dir, $arg)" >&2; exit 2; fi
      dir=$arg
      ;;
  esac
done
if [ -z "$dir" ]; then
  if [ "$check" = yes ]; then echo "dev-cert: --check needs the directory to check" >&2; exit 2; fi
  dir="$(cd "$(dirname "$0")/.." && pwd)/deploy/tls"
fi
crt="$dir/tls.crt"
key="$dir/tls.key"

if ! command -v openssl >/dev/null 2>&1; then
  echo "dev-cert: the openssl command is needed (Debian/Ubuntu: apt-get install openssl)" >&2
  exit 1
fi

# What is wrong with the pair in $dir, or nothing.
problem() {
  if [ ! -e "$crt" ] && [ ! -e "$key" ]; then echo "there is no tls.crt and no tls.key"; return; fi
  if [ ! -e "$crt" ]; then echo "tls.key is there but tls.crt is missing"; return; fi
  if [ ! -e "$key" ]; then echo "tls.crt is there but tls.key is missing"; return; fi
  if ! openssl x509 -in "$crt" -noout 2>/dev/null; then echo "tls.crt is not a PEM certificate"; return; fi
  if ! key_pub=$(openssl pkey -in "$key" -pubout 2>/dev/null); then echo "tls.key is not a readable, unencrypted PEM private key"; return; fi
  if [ "$(openssl x509 -in "$crt" -noout -pubkey)" != "$key_pub" ]; then echo "tls.key is not the key of tls.crt"; return; fi
  if ! openssl x509 -in "$crt" -noout -checkend 0 >/dev/null; then
    echo "tls.crt expired ($(openssl x509 -in "$crt" -noout -enddate | sed 's/^notAfter=//'))"
    return
  fi
}

made_here() {
  [ -e "$crt" ] && openssl x509 -in "$crt" -noout -subject 2>/dev/null | grep -q "$MARK"
}

# IPv4 addresses (digits and dots) and IPv6 addresses (a colon) are IP names, anything else a DNS name.
is_ip() {
  case "$1" in
    *:*) return 0 ;;
    *[!0-9.]*) return 1 ;;
    *) return 0 ;;
  esac
}

# The first name that tls.crt does not cover, or nothing.
uncovered() {
  for name in $1; do
    if is_ip "$name"; then how=-checkip; else how=-checkhost; fi
    if ! openssl x509 -in "$crt" -noout "$how" "$name" 2>/dev/null | grep -q ' does match'; then
      echo "$name"
      return
    fi
  done
}

describe() {
  subject=$(openssl x509 -in "$crt" -noout -subject | sed 's/^subject= *//')
  until=$(openssl x509 -in "$crt" -noout -enddate | sed 's/^notAfter=//')
  echo "dev-cert: $crt ($subject) is valid until $until"
  if ! openssl x509 -in "$crt" -noout -checkend 2592000 >/dev/null; then
    echo "dev-cert: WARNING: it expires within 30 days" >&2
  fi
}

wrong=$(problem)
if [ "$check" = yes ]; then
  if [ -n "$wrong" ]; then
    echo "dev-cert: $dir: $wrong." >&2
    echo "dev-cert: nginx needs the certificate (with its intermediates) in tls.crt and its private key in tls.key;" >&2
    echo "dev-cert: leave TLS_CERT_DIR unset to use a self-signed certificate for local use instead." >&2
    exit 1
  fi
  describe
  exit 0
fi
names=${TLS_DEV_NAMES:-localhost 127.0.0.1 ::1}
if [ "$force" = no ]; then
  # A certificate made here for other names than TLS_DEV_NAMES now asks for is made again.
  if [ -z "$wrong" ] && [ -n "${TLS_DEV_NAMES:-}" ] && made_here; then
    missing=$(uncovered "$TLS_DEV_NAMES")
    if [ -n "$missing" ]; then wrong="tls.crt does not name $missing (TLS_DEV_NAMES)"; fi
  fi
  if [ -z "$wrong" ]; then
    describe
    echo "dev-cert: kept (--force makes a new one)"
    exit 0
  fi
  if { [ -e "$crt" ] || [ -e "$key" ]; } && ! made_here; then
    echo "dev-cert: $dir: $wrong; this script did not make it, so it is left alone (--force replaces it)." >&2
    exit 1
  fi
fi

if [ -n "$wrong" ] && [ "$force" = no ]; then echo "dev-cert: $dir: $wrong: making a new one"; fi
san=
first=
for name in $names; do
  if is_ip "$name"; then entry="IP:$name"; else entry="DNS:$name"; fi
  san="${san:+$san,}$entry"
  first=${first:-$name}
done
if [ -z "$san" ]; then echo "dev-cert: TLS_DEV_NAMES names nothing" >&2; exit 2; fi

mkdir -p "$dir"
work=$(mktemp -d "$dir/.dev-cert.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/openssl.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
x509_extensions = leaf
[dn]
O = $MARK
CN = $first
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
EOF
# An ECDSA P-256 key: instant to make, and every TLS 1.2/1.3 client has its suites. Two steps rather than
# `req -newkey ec`, which LibreSSL (macOS's openssl) does not take without a parameter file.
(
  umask 077
  openssl ecparam -name prime256v1 -genkey -noout -out "$work/tls.key" &&
    openssl req -x509 -new -key "$work/tls.key" -sha256 -days "$DAYS" -config "$work/openssl.cnf" -out "$work/tls.crt"
) 2>"$work/openssl.log" || { cat "$work/openssl.log" >&2; echo "dev-cert: openssl could not make the certificate" >&2; exit 1; }
chmod 644 "$work/tls.crt"
# Replace, never write through: a file left by another user (the compose service runs as root) may be read-only.
rm -f "$crt" "$key"
mv "$work/tls.key" "$key"
mv "$work/tls.crt" "$crt"
describe
echo "dev-cert: names $san; clients trust it with this file as their CA (curl --cacert $crt)"
