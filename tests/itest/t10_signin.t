#!/usr/bin/env bash
# t10_signin.t — the SIPE sign-in ladder against a real pool (one front end, one worker):
# starts the pool, runs build/tests/itest/t10_signin against it; pool.sh stops it on exit.
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PROG=${BUILD:-build}/tests/itest/t10_signin
[[ -x $PROG ]] || { echo "1..0 # SKIP $PROG is not built (make $PROG)"; exit 0; }

source tests/lib/pool.sh
pool_init t10_signin || { echo "Bail out! could not create the test databases"; exit 1; }
pool_config --frontends 1 || { echo "Bail out! could not write the pool config"; exit 1; }
pool_start --workers 1 || { echo "Bail out! the pool did not start"; exit 1; }
# The shipped policy default is "disabled" (sql/pchat/002_model.sql); the test users' domain
# gets Persistent Chat, as an administrator would grant it.
pool_psql "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower('$POOL_DOMAIN'), true)
           ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true" >/dev/null ||
    { echo "Bail out! could not enable Persistent Chat for $POOL_DOMAIN"; exit 1; }

export PCHAT_DEMO_ROOM=$POOL_DEMO_ROOM
"$PROG" 127.0.0.1 "$POOL_SIP_PORT_1" "$POOL_DOMAIN"
