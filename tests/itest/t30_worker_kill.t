#!/usr/bin/env bash
# t30_worker_kill.t — SIGKILL one of two channel workers while a user posts continuously; no
# acknowledged post may be lost, duplicated or reordered (pool: one front end, two workers).
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PROG=${BUILD:-build}/tests/itest/t30_worker_kill
[[ -x $PROG ]] || { echo "1..0 # SKIP $PROG is not built (make $PROG)"; exit 0; }

source tests/lib/pool.sh
pool_init t30_worker_kill || { echo "Bail out! could not create the test databases"; exit 1; }
pool_config --frontends 1 || { echo "Bail out! could not write the pool config"; exit 1; }
pool_start --workers 2 || { echo "Bail out! the pool did not start"; exit 1; }
# The shipped policy default is "disabled" (sql/pchat/002_model.sql); the test users' domain
# gets Persistent Chat, as an administrator would grant it.
pool_psql "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower('$POOL_DOMAIN'), true)
           ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true" >/dev/null ||
    { echo "Bail out! could not enable Persistent Chat for $POOL_DOMAIN"; exit 1; }

# The C program decides when (mid-stream) and asks this shell with SIGUSR1, so that pool.sh,
# which owns the workers, does the kill and knows w1 is gone.
kill_one_worker() {
    tap_diag "SIGKILL to worker w1 (pid $(pool_pid w1))"
    pool_kill_worker w1 KILL
}
trap kill_one_worker USR1
export PCHAT_KILL_CMD="kill -USR1 $$"
export PCHAT_PG_CONNINFO=$POOL_DB_CONNINFO
export PCHAT_DEMO_ROOM=$POOL_DEMO_ROOM

"$PROG" 127.0.0.1 "$POOL_SIP_PORT_1" "$POOL_DOMAIN" &
prog=$!
while :; do
    wait "$prog"
    rc=$?
    # a status above 128 with the program alive means the USR1 trap interrupted wait
    ((rc > 128)) && kill -0 "$prog" 2>/dev/null && continue
    break
done
exit "$rc"
