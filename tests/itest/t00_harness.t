#!/usr/bin/env bash
# t00_harness.t — the integration harness itself: fresh migrated databases with the demo room,
# and (once the daemons are built) a pool that starts, is reachable, and stops cleanly.
set -euo pipefail
# shellcheck source=tests/lib/pool.sh
. "$(dirname -- "$0")/../lib/pool.sh"

tap_plan 16

pool_init t00_harness

# --- databases ---------------------------------------------------------------------------------
tap_is "$(pool_psql "SELECT current_database() || ' as ' || current_user")" \
    "t00_harness as pchat" "the chat store is reachable as the pchat role"
tap_is "$(pool_psql_comp "SELECT current_database()")" "t00_harness_comp" \
    "the compliance store is reachable"

# Every migration file in sql/ must show up in schema_migrations, no more, no less.
expected_versions() {
    local f
    for f in "$POOL_ROOT/sql/$1"/[0-9]*_*.sql; do
        f=${f##*/}
        echo $((10#${f%%_*}))
    done | sort -n | paste -sd,
}
tap_is "$(pool_psql "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" \
    "$(expected_versions pchat)" "every sql/pchat migration is applied"
tap_is "$(pool_psql_comp "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations")" \
    "$(expected_versions mgccomp)" "every sql/mgccomp migration is applied"
tap_is "$(pool_psql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'pchat'")" \
    0 "the daemons' role owns every table"

tap_is "$(pool_psql "SELECT r.privacy || '|' || r.type || '|' || c.name || '|' || r.disabled
                       FROM rooms r JOIN categories c ON c.id = r.category_id
                      WHERE r.name = '$POOL_DEMO_ROOM'")" \
    "0|0|Demo|false" "the demo room is open, normal, enabled and in category Demo"

# Seeding and migrating again change nothing.
"$POOL_ROOT/deploy/seed-demo.sh" "$POOL_DB_CONNINFO" "$POOL_DEMO_ROOM" >/dev/null
"$POOL_ROOT/sql/migrate.sh" "$POOL_DB_CONNINFO" "$POOL_ROOT/sql/pchat" >/dev/null
tap_is "$(pool_psql "SELECT (SELECT count(*) FROM rooms) || '/' || (SELECT count(*) FROM categories)")" \
    "1/1" "seeding and migrating again duplicate nothing"

# A second pool_init on the same name starts from scratch.
pool_psql "INSERT INTO users (uri) VALUES ('sip:leftover@example.com')"
pool_init t00_harness
tap_is "$(pool_psql "SELECT count(*) FROM users")" 0 "pool_init drops what an earlier run left"

# --- the pool ----------------------------------------------------------------------------------
if [[ ! -x $BUILD/bin/pchat-frontend || ! -x $BUILD/bin/pchat-channel ]]; then
    tap_skip 8 "pchat-frontend and pchat-channel are not built"
    exit 0
fi

pool_config --frontends 2
tap_ok "$([[ $POOL_SIP_PORT_1 != "$POOL_SIP_PORT_2" && -s $POOL_CONFIG ]]; echo $?)" \
    "pool_config gives each front end its own ports"

start_status=0
pool_start --workers 2 || start_status=$?
tap_ok "$start_status" "two front ends and two workers come up"

listening() { [[ -n $(ss -Hltn "sport = :$1") ]]; }
tap_ok "$(listening "$POOL_SIP_PORT_1" && listening "$POOL_SIP_PORT_2"; echo $?)" \
    "both front ends listen for SIP on their own port"

connected=$(grep -cE 'worker w[12](\.[0-9]+)? connected' "$POOL_DIR/fe2.log" || true)
tap_is "$connected" 2 "both workers connected to the second front end too"

w1=$(pool_pid w1)
pool_kill_worker w1 KILL
tap_ok "$(! kill -0 "$w1" 2>/dev/null; echo $?)" "pool_kill_worker ends a worker"

restart_status=0
pool_start_worker w1 || restart_status=$?
tap_ok "$restart_status" "a killed worker can be started again and reconnects"

pids="$(pool_pid fe1) $(pool_pid fe2) $(pool_pid w1) $(pool_pid w2)"
stop_status=0
pool_stop || stop_status=$?
tap_ok "$stop_status" "every daemon exits cleanly on SIGTERM"

left=0
for pid in $pids; do
    ! kill -0 "$pid" 2>/dev/null || left=$((left + 1))
done
tap_is "$left" 0 "pool_stop leaves nothing running"
