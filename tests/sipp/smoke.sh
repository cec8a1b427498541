#!/usr/bin/env bash
# smoke.sh — runs both SIPp poster scenarios against a throw-away pool (tests/lib/pool.sh: one
# front end, two workers, free ports): 20 users, 5 at a time, 5 posts each; fails when a call
# fails or no post was stored. Usage: tests/sipp/smoke.sh [SIPP-OPTION...]
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
SIPP=${SIPP:-sipp}
command -v "$SIPP" >/dev/null || { echo "smoke.sh: $SIPP is not installed (Debian package sip-tester)" >&2; exit 1; }
[[ -x ${BUILD:-build}/bin/pchat-frontend ]] || { echo "smoke.sh: build the pool first (make)" >&2; exit 1; }

# shellcheck source=tests/lib/pool.sh
source tests/lib/pool.sh
pool_init sipp_smoke || exit 1
pool_config --frontends 1 || exit 1
pool_start --workers 2 || exit 1

# Persistent Chat on for the domain, and the demo room's category open to it (PROTOCOL.md §2.4).
pool_psql "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower('$POOL_DOMAIN'), true)
           ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true" >/dev/null || exit 1
pool_psql "INSERT INTO category_principals (category_id, list, kind, value)
           SELECT category_id, 0, 1, lower('$POOL_DOMAIN') FROM rooms WHERE name = '$POOL_DEMO_ROOM'
           ON CONFLICT DO NOTHING" >/dev/null || exit 1
guid=$(pool_psql "SELECT guid FROM rooms WHERE name = '$POOL_DEMO_ROOM'") || exit 1
room="ma-chan://$POOL_DOMAIN/$guid"

failed=0
for variant in retry noretry; do
    dir=$POOL_DIR/sipp-$variant
    mkdir -p "$dir"
    tests/sipp/users.sh 20 "$room" "$POOL_DOMAIN" "sipp$variant" >"$dir/users.csv" || exit 1
    extra=()
    [[ $variant == retry ]] && extra=(-set retries 3)
    before=$(pool_psql "SELECT count(*) FROM messages")
    # -bg is not used: SIPp must stay a child of this shell so pool.sh can clean up after it.
    (cd "$dir" && timeout 120 "$SIPP" "127.0.0.1:$POOL_SIP_PORT_1" -sf "$ROOT/tests/sipp/pchat_poster_$variant.xml" \
        -inf users.csv -t tn -aa -m 20 -l 5 -r 10 -d 200 -set posts 5 "${extra[@]}" -max_socket 1000 \
        -nostdin -timeout 100s -trace_err -trace_screen "$@" </dev/null >"$dir/sipp.out" 2>&1)
    status=$?
    stored=$(( $(pool_psql "SELECT count(*) FROM messages") - before ))
    summary=$(grep -E "Successful call|Failed call" "$dir"/*_screen.log 2>/dev/null | tail -n 2 | tr -s ' ')
    echo "smoke.sh: $variant: sipp exit $status, $stored posts stored; $summary" | tr '\n' ' '
    echo
    if ((status != 0 || stored == 0)); then
        failed=1
        tail -n 30 "$dir/sipp.out" >&2
        cat "$dir"/*_errors.log 2>/dev/null | head -n 40 >&2
    fi
done
((failed == 0)) && echo "smoke.sh: both scenarios passed"
exit "$failed"
