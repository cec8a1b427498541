#!/usr/bin/env bash
# t20_chat.t — room list, join, 50 posts in order, part/rejoin with history and bad input:
# three SIPE-like users against a real pool (one front end, two workers).
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PROG=${BUILD:-build}/tests/itest/t20_chat
[[ -x $PROG ]] || { echo "1..0 # SKIP $PROG is not built (make $PROG)"; exit 0; }

source tests/lib/pool.sh
pool_init t20_chat || { echo "Bail out! could not create the test databases"; exit 1; }
pool_config --frontends 1 || { echo "Bail out! could not write the pool config"; exit 1; }
pool_start --workers 2 || { echo "Bail out! the pool did not start"; exit 1; }
# The shipped policy default is "disabled" (sql/pchat/002_model.sql); the test users' domain
# gets Persistent Chat, as an administrator would grant it.
pool_psql "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower('$POOL_DOMAIN'), true)
           ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true" >/dev/null ||
    { echo "Bail out! could not enable Persistent Chat for $POOL_DOMAIN"; exit 1; }

export PCHAT_DEMO_ROOM=$POOL_DEMO_ROOM
"$PROG" 127.0.0.1 "$POOL_SIP_PORT_1" "$POOL_DOMAIN"
