#!/usr/bin/env bash
# install-deps.sh — installs the Debian 12 packages pchat needs to build, run and test.
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail

# The one list. Each group says why it is here.
BUILD_PACKAGES=(gcc make pkg-config)
LIBRARY_PACKAGES=(libsofia-sip-ua-dev libzmq3-dev libpq-dev libyaml-dev libprotobuf-c-dev
                  protobuf-c-compiler libexpat1-dev)
# postgresql-client-15, not the postgresql-client meta-package: deploy/pg.sh runs PostgreSQL 15
# from /usr/lib/postgresql/15, and the meta-package would pull a network install for nothing.
STORE_PACKAGES=(postgresql postgresql-client-15)
TEST_PACKAGES=(libcmocka-dev perl sip-tester valgrind libxml2-utils) # perl: prove; xmllint
INTEROP_PACKAGES=(pidgin-sipe libpurple-dev libglib2.0-dev libxml2-dev)
SCRIPT_PACKAGES=(procps iproute2 psmisc util-linux)           # ps/pgrep, ss, fuser, runuser
BENCH_PACKAGES=(python3)              # make bench: tests/bench/bench-report.py reads the reports

ALL_PACKAGES=("${BUILD_PACKAGES[@]}" "${LIBRARY_PACKAGES[@]}" "${STORE_PACKAGES[@]}"
              "${TEST_PACKAGES[@]}" "${INTEROP_PACKAGES[@]}" "${SCRIPT_PACKAGES[@]}"
              "${BENCH_PACKAGES[@]}")

usage() {
    cat <<EOF
usage: deploy/install-deps.sh [--check] [--list] [--help]

Installs the Debian 12 packages pchat needs, only those that are missing:
  build     ${BUILD_PACKAGES[*]}
  libraries ${LIBRARY_PACKAGES[*]}
  stores    ${STORE_PACKAGES[*]}
  tests     ${TEST_PACKAGES[*]}
  interop   ${INTEROP_PACKAGES[*]}
  scripts   ${SCRIPT_PACKAGES[*]}
  bench     ${BENCH_PACKAGES[*]}

As root it runs apt-get itself; otherwise it uses sudo when available, else prints the
command to run and exits 1. apt-get update runs once, and only when something is missing.

  --check   only report what is missing (exit 0 when nothing is, 1 otherwise)
  --list    print the package list, one per line
EOF
}

is_installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
    [[ $status == ii* ]]
}

check_only=false
case "${1:-}" in
    "") ;;
    --check) check_only=true ;;
    --list) printf '%s\n' "${ALL_PACKAGES[@]}"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps.sh: dpkg-query not found: pchat supports Debian 12 only" >&2
    exit 1
fi

missing=()
for pkg in "${ALL_PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps.sh: all ${#ALL_PACKAGES[@]} packages are installed"
    exit 0
fi

echo "install-deps.sh: missing ${#missing[@]} of ${#ALL_PACKAGES[@]} packages: ${missing[*]}"
if $check_only; then
    exit 1
fi

apt_install=(apt-get install -y --no-install-recommends "${missing[@]}")
if ((EUID == 0)); then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps.sh: not root and sudo is not installed; run as root:" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${apt_install[*]}" >&2
    exit 1
fi

echo "install-deps.sh: installing ${missing[*]}"
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive "${apt_install[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
    echo "install-deps.sh: apt-get finished but these are still not installed: ${still_missing[*]}" >&2
    exit 1
fi
echo "install-deps.sh: installed ${missing[*]}"
