#!/usr/bin/env bash
# t53_compliance_adapter_failure.t — an adapter whose sink is down: its events stay in mgccomp
# (while the healthy adapter gets them), retries back off, and the failure shows in the log,
# /metrics and --status; once the sink is back everything arrives exactly once and is purged.
source "$(dirname "$0")/compliance/common.sh"

plan 20
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t53_compliance
cc -std=gnu11 -O1 -Wall -Wextra -Werror -fPIC -shared -Icompliance/include \
    -o "$T5X_TMP/probe.so" tests/itest/compliance/probe_adapter.c || bail "cannot build the probe adapter"

CONFIG=$T5X_TMP/t53.yaml
MPORT=$(free_port)
write_config "$CONFIG" 8 100 "    - name: \"x\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
    - name: \"p\"
      type: \"$T5X_TMP/probe.so\"
      output_dir: \"$T5X_TMP/probe\"" "  metrics_port: $MPORT"
export PROBE_FAIL_WHILE=$T5X_TMP/sink-down
touch "$PROBE_FAIL_WHILE"

gen_events 300 10
start_worker worker "$CONFIG"
x_done() { [[ $(status_value "$CONFIG" pending_events x) == 0 ]]; }
check "the healthy xml adapter gets its events while the other one fails" wait_until 20 x_done
sleep 7.5     # failures at about 0, 1, 3, 7 s: back-off doubles from 1 s up to run_interval (8 s)
failures=$(status_value "$CONFIG" consecutive_failures p)
diag "consecutive failures after ~7.5 s: $failures"
check "the failing adapter is retried with back-off (2 to 5 attempts in 7.5 s, not one per loop)" \
    test "${failures:-0}" -ge 2 -a "${failures:-0}" -le 5
is "$(status_value "$CONFIG" store_events)" 300 "the events stay in mgccomp while an adapter lacks them"
is "$(status_value "$CONFIG" pending_events p)" 300 "--status: the failing adapter has 300 events pending"
is "$(status_value "$CONFIG" state p)" failing "--status: its state is failing"
check "--status: its last error says why" \
    bash -c "[[ '$(status_value "$CONFIG" last_error p)' == *'probe sink unavailable'* ]]"
is "$(status_value "$CONFIG" last_success p)" never "--status: it never succeeded yet"
check "--status: its last failure has a time" bash -c "[[ '$(status_value "$CONFIG" last_failure p)' == 20* ]]"
check "--status: the open batch and its attempts are shown" \
    bash -c "[[ '$(status_value "$CONFIG" open_batch p)' == 'p-000000000001 (300 events, '*' attempts so far)' ]]"
check "--status: the oldest pending event has an age" bash -c "[[ '$(status_value "$CONFIG" oldest_pending_age_s p)' =~ ^[0-9]+\.[0-9]$ ]]"
m=$(metric "$MPORT" 'pchat_compliance_adapter_failures_total{adapter="p"}')
check "/metrics counts the failures ($m)" test "${m:-0}" -ge 2
m=$(metric "$MPORT" 'pchat_compliance_adapter_pending_events{adapter="p"}')
is "$m" 300 "/metrics shows the adapter's backlog"
check "the log names the adapter, the batch and the reason" \
    grep -q 'adapter p: batch p-000000000001 (300 events) failed on attempt .*probe sink unavailable.*retrying in' "$T5X_TMP/worker.log"

rm -f "$PROBE_FAIL_WHILE"
recovered() { [[ $(comp_sql 'SELECT count(*) FROM events') == 0 ]]; }
check "once the sink is back the backlog is delivered and purged (within 20 s)" wait_until 20 recovered
is "$(status_value "$CONFIG" consecutive_failures p)" 0 "--status: failures reset after a success"
is "$(status_value "$CONFIG" state p)" ok "--status: the adapter is ok again"
check "--status: the last failure stays on record" bash -c "[[ '$(status_value "$CONFIG" last_failure p)' == 20* ]]"
stop_worker worker
probe_ids "$T5X_TMP/probe" >"$T5X_TMP/p.ids"
exactly_once "probe after recovering" "$T5X_TMP/p.ids"
