#!/usr/bin/env bash
# users.sh — writes the SIPp injection file for the pchat poster scenarios: N users of DOMAIN,
# all posting to one room, one line per SIPp call (USER;DOMAIN;ROOM_DOMAIN;ROOM_PATH).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tests/sipp/users.sh N ROOM_URI [DOMAIN] [PREFIX] > users.csv

  N         how many users (lines); SIPp takes the next line for every new call
  ROOM_URI  the room to post in, ma-chan://DOMAIN/PATH (pchatctl room get NAME shows it)
  DOMAIN    the users' SIP domain (default example.com, the pool's pool.domain)
  PREFIX    user names are PREFIX00001, PREFIX00002, ... (default sipp)
EOF
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
(($# >= 2 && $# <= 4)) || { usage >&2; exit 2; }
n=$1 room=$2 domain=${3:-example.com} prefix=${4:-sipp}
[[ $n =~ ^[1-9][0-9]{0,5}$ ]] || { echo "users.sh: N must be 1-999999 (got '$n')" >&2; exit 2; }
[[ $room =~ ^ma-chan://([^/]+)/(.+)$ ]] ||
    { echo "users.sh: ROOM_URI must look like ma-chan://example.com/<path> (got '$room')" >&2; exit 2; }
room_domain=${BASH_REMATCH[1]} room_path=${BASH_REMATCH[2]}
[[ $domain =~ ^[A-Za-z0-9.-]+$ ]] || { echo "users.sh: DOMAIN '$domain' is not a domain name" >&2; exit 2; }
[[ $prefix =~ ^[A-Za-z0-9._-]+$ ]] || { echo "users.sh: PREFIX may hold letters, digits, '.', '_', '-'" >&2; exit 2; }
[[ $room_path != *";"* && $room_domain != *";"* ]] || { echo "users.sh: the room URI must not contain ';'" >&2; exit 2; }

echo "SEQUENTIAL"
for ((i = 1; i <= n; i++)); do
    printf '%s%05d;%s;%s;%s\n' "$prefix" "$i" "$domain" "$room_domain" "$room_path"
done
