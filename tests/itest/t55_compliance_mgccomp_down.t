#!/usr/bin/env bash
# t55_compliance_mgccomp_down.t — the mgccomp store on its own PostgreSQL server, stopped while
# the pool works: chat transactions (with their outbox rows) keep committing as fast as before,
# the worker waits without crashing or spinning, --status says what is wrong, and after the
# restart the backlog drains with every event delivered exactly once.
source "$(dirname "$0")/compliance/common.sh"

plan 13
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t55_compliance
MGC_PORT=$(free_port) || bail "no free port"
MGC_DIR=$T5X_TMP/mgc
start_cluster "$MGC_DIR" "$MGC_PORT" || bail "cannot start the separate mgccomp server"
deploy/pg.sh createdb "$MGC_DIR" "$MGC_PORT" mgccomp >/dev/null || bail "cannot create mgccomp"
COMP_DB="host=127.0.0.1 port=$MGC_PORT dbname=mgccomp user=pchat"
sql/migrate.sh "$COMP_DB" sql/mgccomp >/dev/null || bail "cannot migrate mgccomp"

CONFIG=$T5X_TMP/t55.yaml
write_config "$CONFIG" 1 100 "    - name: \"j\"
      type: \"jsonl\"
      output_dir: \"$T5X_TMP/jsonl\""
start_worker worker "$CONFIG"
delivered() {
    [[ $(chat_sql 'SELECT count(*) FROM compliance_outbox') == 0 &&
       $(comp_sql 'SELECT count(*) FROM events' 2>/dev/null) == 0 ]]
}
t0=$(date +%s%N)
gen_events 500 10
base_ms=$((($(date +%s%N) - t0) / 1000000))
check "with mgccomp up, events flow through" wait_until 20 delivered

deploy/pg.sh stop "$MGC_DIR" "$MGC_PORT" >/dev/null
t0=$(date +%s%N)
gen_events 500 10
ok $? "with mgccomp stopped, chat transactions still commit (50 transactions of 10 outbox rows)"
down_ms=$((($(date +%s%N) - t0) / 1000000))
diag "50 chat transactions took $base_ms ms with mgccomp up, $down_ms ms with it down"
check "and they are not slower than 3x + 1 s of the time with mgccomp up" test "$down_ms" -le $((3 * base_ms + 1000))
sleep 3
is "$(chat_sql 'SELECT count(*) FROM compliance_outbox')" 500 "the outbox keeps the events meanwhile"
check "the worker is still running" kill -0 "${T5X_PID[worker]}"
check "the log says mgccomp is unreachable" grep -q 'mgccomp store unreachable' "$T5X_TMP/worker.log"
"$COMPLIANCE_BIN" -c "$CONFIG" --status >"$T5X_TMP/status.txt" 2>&1
is "$?" 1 "--status fails while mgccomp is down"
check "--status names the unreachable store" grep -q 'the mgccomp store (.*) is not reachable' "$T5X_TMP/status.txt"

deploy/pg.sh start "$MGC_DIR" "$MGC_PORT" >/dev/null || bail "cannot restart mgccomp"
check "after the restart the backlog drains (within 45 s)" wait_until 45 delivered
check "the log says mgccomp is reachable again" grep -q 'mgccomp store reachable again' "$T5X_TMP/worker.log"
stop_worker worker
jsonl_ids "$T5X_TMP/jsonl" >"$T5X_TMP/j.ids"
exactly_once "jsonl across the mgccomp outage" "$T5X_TMP/j.ids"
