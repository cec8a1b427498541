#!/usr/bin/env bash
# t54_compliance_adapters.t — the adapter ABI as an operator meets it: a missing, foreign,
# incompatible or refusing adapter stops start-up with a message naming the config entry and
# the fix; the example third-party adapter (compliance/examples/csv) builds with its own
# Makefile against compliance/include only, loads, and archives every event once.
source "$(dirname "$0")/compliance/common.sh"

plan 20
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t54_compliance
PROBE_SRC=tests/itest/compliance/probe_adapter.c
cc -std=gnu11 -O1 -Wall -Wextra -Werror -fPIC -shared -Icompliance/include -o "$T5X_TMP/probe.so" \
    "$PROBE_SRC" || bail "cannot build the probe adapter"
cc -std=gnu11 -O1 -Wall -Wextra -Werror -fPIC -shared -Icompliance/include -DPROBE_NO_SYMBOL \
    -o "$T5X_TMP/nosym.so" "$PROBE_SRC" || bail "cannot build the symbol-less adapter"

one_adapter() {   # one_adapter FILE TYPE
    write_config "$1" 60 100 "    - name: \"a1\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
    - name: \"second\"
      type: \"$2\"
      output_dir: \"$T5X_TMP/out\""
}
# refuses DESCRIPTION EXPECTED_TEXT [ENV=VALUE...] — --check-config exits 1 saying EXPECTED_TEXT.
refuses() {
    local what=$1 text=$2
    shift 2
    env "$@" "$COMPLIANCE_BIN" -c "$T5X_TMP/c.yaml" --check-config >"$T5X_TMP/out.txt" 2>&1
    local rc=$?
    is "$rc" 1 "$what: start-up stops (exit 1)"
    check "$what: the message says \"$text\"" grep -qF -- "$text" "$T5X_TMP/out.txt" ||
        diag "$(cat "$T5X_TMP/out.txt")"
}

one_adapter "$T5X_TMP/c.yaml" "nosuch"
refuses "unknown adapter type" 'compliance.adapters[1] (second): cannot load adapter type "nosuch"'
one_adapter "$T5X_TMP/c.yaml" "$T5X_TMP/nosym.so"
refuses "a .so that is no adapter" "exports no pchat_adapter_create(), so it is not a pchat compliance adapter"
one_adapter "$T5X_TMP/c.yaml" "$T5X_TMP/probe.so"
refuses "an adapter built for another ABI" "was built for adapter ABI version 999 but this pchat-compliance speaks version 1" PROBE_BAD_ABI=1
refuses "an adapter whose init refuses" "compliance.adapters[1] (second, type $T5X_TMP/probe.so): probe refuses to start because PROBE_REFUSE_INIT is set" PROBE_REFUSE_INIT=1

write_config "$T5X_TMP/c.yaml" 60 100 "    - name: \"a1\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
      options:
        colour: \"blue\""
refuses "an option the adapter does not know" \
    'compliance.adapters[0] (a1, type xml): options.colour is not an option of the xml adapter'
one_adapter "$T5X_TMP/c.yaml" "$T5X_TMP/probe.so"

# Not only --check-config: the service itself does not start.
PROBE_BAD_ABI=1 timeout 10 "$COMPLIANCE_BIN" -c "$T5X_TMP/c.yaml" >"$T5X_TMP/daemon.txt" 2>&1
is "$?" 1 "the service itself refuses to start with an incompatible adapter"

"$COMPLIANCE_BIN" -c "$T5X_TMP/c.yaml" --check-config >"$T5X_TMP/good.txt" 2>/dev/null
check "--check-config loads good adapters and says ok" \
    bash -c "grep -q '^adapter second: $T5X_TMP/probe.so (probe, ABI 1)$' '$T5X_TMP/good.txt' && tail -n 1 '$T5X_TMP/good.txt' | grep -qx ok"

# ---- the example third-party adapter ------------------------------------------------------------
make -s -C compliance/examples/csv OUT="$T5X_TMP/csv" >"$T5X_TMP/make.txt" 2>&1
ok $? "compliance/examples/csv builds with its own Makefile" || diag "$(cat "$T5X_TMP/make.txt")"
is "$(make -n -B -C compliance/examples/csv OUT="$T5X_TMP/csv" | grep -o -- ' -I[^ ]*' | sort -u | tr -d ' ')" \
    "-I../../include" "its compile line names no include directory but compliance/include"
is "$(nm -D --defined-only "$T5X_TMP/csv/csv.so" | awk '$2 == "T" {print $3}')" pchat_adapter_create \
    "it exports exactly one function: pchat_adapter_create"
write_config "$T5X_TMP/csv.yaml" 60 100 "    - name: \"csv-archive\"
      type: \"$T5X_TMP/csv/csv.so\"
      output_dir: \"$T5X_TMP/csv-out\"
      options:
        delimiter: \";\""
gen_events 50 10
"$COMPLIANCE_BIN" -c "$T5X_TMP/csv.yaml" --once >"$T5X_TMP/csv.log" 2>&1
ok $? "pchat-compliance runs the example adapter" || diag "$(tail -n 5 "$T5X_TMP/csv.log")"
CSV=$(ls "$T5X_TMP"/csv-out/*.csv 2>/dev/null)
is "$(head -n 1 $CSV | tr -d '\r')" \
    "batch;event_id;type;time_utc;time_ms;user_uri;user_name;user_id;internal;room_uri;room_name;message_id;content" \
    "the CSV starts with its header, with the delimiter its options asked for"
tail -n +2 $CSV | tr -d '\r' | cut -d';' -f2 >"$T5X_TMP/csv.ids"
exactly_once "csv example" "$T5X_TMP/csv.ids"
