#!/usr/bin/env bash
# t52_compliance_two_workers.t — two compliance workers on one pool at once, under load: both
# claim outbox rows (FOR UPDATE SKIP LOCKED) and take turns delivering, and still no event is
# lost and none doubled in either adapter's output.
source "$(dirname "$0")/compliance/common.sh"

plan 10
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t52_compliance
CONFIG=$T5X_TMP/t52.yaml
write_config "$CONFIG" 1 50 "    - name: \"x\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
    - name: \"j\"
      type: \"jsonl\"
      output_dir: \"$T5X_TMP/jsonl\""
PORT1=$(free_port)
PORT2=$(free_port)
while [[ $PORT2 == "$PORT1" ]]; do PORT2=$(free_port); done

start_worker w1 "$CONFIG" --set "compliance.metrics_port=$PORT1"
start_worker w2 "$CONFIG" --set "compliance.metrics_port=$PORT2"
start_load load 200
sleep "${T52_SECONDS:-12}"
stop_load load
drained() {
    [[ $(chat_sql 'SELECT count(*) FROM compliance_outbox') == 0 &&
       $(comp_sql 'SELECT count(*) FROM events') == 0 ]]
}
check "both workers together drain the outbox and deliver everything within 60 s" wait_until 60 drained
d1=$(metric "$PORT1" pchat_compliance_drained_events_total)
d2=$(metric "$PORT2" pchat_compliance_drained_events_total)
diag "drained by w1: $d1, by w2: $d2; batches delivered by: $(comp_sql "SELECT string_agg(delivered_by || '=' || n, ' ') FROM (SELECT delivered_by, count(*) n FROM batches GROUP BY 1 ORDER BY 1) s")"
check "both workers drained outbox rows (they really ran at once)" test "${d1:-0}" -gt 0 -a "${d2:-0}" -gt 0
is "$((d1 + d2))" "$(chat_sql 'SELECT count(*) FROM test_ledger')" "together they copied each committed event once"
stop_worker w1
stop_worker w2

xml_ids "$T5X_TMP/xml" >"$T5X_TMP/x.ids"
exactly_once "xml, two workers" "$T5X_TMP/x.ids"
jsonl_ids "$T5X_TMP/jsonl" >"$T5X_TMP/j.ids"
exactly_once "jsonl, two workers" "$T5X_TMP/j.ids"
check "neither worker logged a database error" bash -c "! grep -h 'store: .* failed' '$T5X_TMP/w1.log' '$T5X_TMP/w2.log'"
