#!/usr/bin/env bash
# t51_compliance_kill.t — SIGKILL the compliance worker over and over at random moments (mid
# drain, mid batch, mid adapter write) while channel-worker-style transactions keep filling the
# outbox; afterwards every event the chat store committed is in each adapter's output exactly
# once: xml, jsonl, and a slow probe adapter that makes kills land inside translate.
source "$(dirname "$0")/compliance/common.sh"

KILLS=${T51_KILLS:-30}
plan 13
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t51_compliance
cc -std=gnu11 -O1 -Wall -Wextra -Werror -fPIC -shared -Icompliance/include \
    -o "$T5X_TMP/probe.so" tests/itest/compliance/probe_adapter.c || bail "cannot build the probe adapter"

CONFIG=$T5X_TMP/t51.yaml
write_config "$CONFIG" 1 40 "    - name: \"x\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
    - name: \"j\"
      type: \"jsonl\"
      output_dir: \"$T5X_TMP/jsonl\"
    - name: \"p\"
      type: \"$T5X_TMP/probe.so\"
      output_dir: \"$T5X_TMP/probe\""
export PROBE_DELAY_MS=150

start_load load 200
sleep 1
for ((round = 1; round <= KILLS; round++)); do
    start_worker worker "$CONFIG"
    sleep "0.$((RANDOM % 9 + 3))$((RANDOM % 10))"     # 0.30 .. 1.19 s
    stop_worker worker KILL
done
stop_load load
diag "$KILLS SIGKILLs; $(chat_sql 'SELECT count(*) FROM test_ledger') events committed under load"

# What one more, uninterrupted worker finishes is what the killed ones left behind.
unset PROBE_DELAY_MS
"$COMPLIANCE_BIN" -c "$CONFIG" --once >"$T5X_TMP/once.log" 2>&1
ok $? "a final --once run finishes the backlog" || diag "$(tail -n 20 "$T5X_TMP/once.log")"
is "$(chat_sql 'SELECT count(*) FROM compliance_outbox')" 0 "the outbox is empty"
is "$(comp_sql 'SELECT count(*) FROM events')" 0 "mgccomp is empty: every adapter has every event"

xml_ids "$T5X_TMP/xml" >"$T5X_TMP/x.ids"
exactly_once "xml after $KILLS kills" "$T5X_TMP/x.ids"
jsonl_ids "$T5X_TMP/jsonl" >"$T5X_TMP/j.ids"
exactly_once "jsonl after $KILLS kills" "$T5X_TMP/j.ids"
probe_ids "$T5X_TMP/probe" >"$T5X_TMP/p.ids"
exactly_once "probe after $KILLS kills" "$T5X_TMP/p.ids"

# The kills must really have cut batches between "formed" and "delivered", or this test
# proved nothing about that window.
retried=$(comp_sql "SELECT count(*) FROM batches WHERE attempts > 1")
diag "batches delivered on a second or later attempt: $retried; per adapter: $(comp_sql "SELECT string_agg(adapter || '=' || n, ' ') FROM (SELECT adapter, count(*) n FROM batches WHERE attempts > 1 GROUP BY 1) s")"
check "some kills landed inside a batch (it was delivered again under the same id)" test "$retried" -gt 0
temp_files=$(find "$T5X_TMP/xml" "$T5X_TMP/jsonl" "$T5X_TMP/probe" -name '.*.tmp' | wc -l)
diag "temp files left by killed writers: $temp_files (never renamed, so never counted)"
