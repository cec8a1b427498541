#!/usr/bin/env bash
# seed-demo.sh — creates the demo category and open room (deploy/seed-demo.sql) in a chat store.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: deploy/seed-demo.sh CONNINFO ROOM [DOMAIN]

Creates category "Demo" and the open room ROOM in it, in the migrated chat store CONNINFO
(libpq conninfo or postgresql:// URI), lets users of DOMAIN (default example.com) into the
category and enables Persistent Chat for DOMAIN. Safe to run again: nothing is duplicated.
USAGE
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
(($# == 2 || $# == 3)) || { usage >&2; exit 2; }
conninfo=$1
room=$2
domain=${3:-example.com}
if ((${#room} < 1 || ${#room} > 256)); then
    echo "seed-demo.sh: the room name must be 1-256 characters (got ${#room})" >&2
    exit 1
fi

sql=$(dirname -- "${BASH_SOURCE[0]}")/seed-demo.sql
result=$(psql -X -q -At -v ON_ERROR_STOP=1 --single-transaction -d "$conninfo" \
              -v room="$room" -v domain="$domain" -f "$sql") || {
    echo "seed-demo.sh: seeding the demo room failed (see the psql error above); is the chat store migrated (sql/migrate.sh)?" >&2
    exit 1
}
echo "seed-demo.sh: $result"
