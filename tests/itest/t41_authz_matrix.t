#!/usr/bin/env bash
# t41_authz_matrix.t — the room model over real SIP: every role x privacy x room type x
# command, the policy switch, a category without history and live evictions. Starts a pool
# (one front end, two workers), enables Persistent Chat for its domain with pchatctl, then runs
# build/tests/itest/t41_authz_matrix, which makes its rooms and grants with the same pchatctl.
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
PROG=${BUILD:-build}/tests/itest/t41_authz_matrix
PCHATCTL=${BUILD:-build}/bin/pchatctl
[[ $PCHATCTL == /* ]] || PCHATCTL=$ROOT/$PCHATCTL
[[ -x $PROG ]] || { echo "1..0 # SKIP $PROG is not built (make $PROG)"; exit 0; }
[[ -x $PCHATCTL ]] || { echo "1..0 # SKIP $PCHATCTL is not built (make $PCHATCTL)"; exit 0; }

# shellcheck source=tests/lib/pool.sh
source tests/lib/pool.sh
pool_init t41_authz_matrix || { echo "Bail out! could not create the test databases"; exit 1; }
pool_config --frontends 1 || { echo "Bail out! could not write the pool config"; exit 1; }
pool_start --workers 2 || { echo "Bail out! the pool did not start"; exit 1; }
# The shipped policy is "disabled" (as in the original product): an administrator enables the
# test users' domain; the program disables one user on top of it.
"$PCHATCTL" -c "$POOL_CONFIG" policy set --domain "$POOL_DOMAIN" --enable >>"$POOL_DIR/t41-pchatctl.log" 2>&1 ||
    { echo "Bail out! pchatctl could not enable Persistent Chat for $POOL_DOMAIN: $(tail -n 3 "$POOL_DIR/t41-pchatctl.log")"; exit 1; }

export PCHATCTL POOL_CONFIG POOL_DB_CONNINFO POOL_DIR
"$PROG" 127.0.0.1 "$POOL_SIP_PORT_1" "$POOL_DOMAIN"
