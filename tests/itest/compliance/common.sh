# common.sh — sourced by tests/itest/t5x_compliance_*.t on top of tests/lib/pool.sh: a chat
# store and an mgccomp store (pool_init), a config writer, an outbox load generator that records
# what the chat store committed, compliance worker start/stop, and readers that pull event ids
# out of adapter output so a test can count every event exactly once.

set -uo pipefail      # no -e: a failing step must print "not ok", not end the script silently

T5X_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$T5X_ROOT" || exit 1
# shellcheck source=../../lib/pool.sh
source tests/lib/pool.sh
COMPLIANCE_BIN=$BUILD/bin/pchat-compliance
ADAPTER_DIR=$BUILD/lib/pchat/adapters
T5X_TMP=""                   # = $POOL_DIR once t5x_databases ran: configs, logs, outputs
declare -A T5X_PID=()        # name -> pid of a compliance worker or load loop we started
T5X_CLUSTERS=()              # "datadir port" of extra PostgreSQL servers we started

# ---- TAP (pool.sh's, so its exit trap sees failures and the plan) -------------------------------
plan() { tap_plan "$1"; }
diag() { tap_diag "$*"; }
ok() {   # ok STATUS DESCRIPTION  (STATUS 0 passes); returns STATUS
    tap_ok "$1" "$2"
    return "$1"
}
check() {   # check DESCRIPTION COMMAND...
    local what=$1
    shift
    "$@"
    ok $? "$what"
}
is() {   # is GOT WANT DESCRIPTION; returns 0 when equal
    tap_is "$1" "$2" "$3"
    [[ $1 == "$2" ]]
}
bail() {
    echo "Bail out! $*"
    exit 1
}

# ---- processes --------------------------------------------------------------------------------
t5x_cleanup() {
    local name
    for name in "${!T5X_PID[@]}"; do
        kill -TERM "${T5X_PID[$name]}" 2>/dev/null
    done
    sleep 0.3
    for name in "${!T5X_PID[@]}"; do
        kill -KILL "${T5X_PID[$name]}" 2>/dev/null
        wait "${T5X_PID[$name]}" 2>/dev/null
    done
    local c
    for c in "${T5X_CLUSTERS[@]}"; do
        # shellcheck disable=SC2086
        deploy/pg.sh stop $c >/dev/null 2>&1
    done
}

free_port() { pool_free_ports 1; }

# start_cluster DIR PORT — a private PostgreSQL, stopped at exit.
start_cluster() {
    deploy/pg.sh init "$1" "$2" >/dev/null && deploy/pg.sh start "$1" "$2" >/dev/null || return 1
    T5X_CLUSTERS+=("$1 $2")
}

# ---- databases --------------------------------------------------------------------------------
# t5x_databases NAME — fresh chat store NAME and compliance store NAME_comp, both migrated
# (pool_init); sets CHAT_DB and COMP_DB (libpq conninfo) and T5X_TMP.
t5x_databases() {
    pool_init "$1" || bail "pool_init $1 failed"
    # Our workers and servers go first, then pool.sh's own exit work (which needs $? intact).
    trap 't5x_status=$?; t5x_cleanup; (exit $t5x_status); _pool_on_exit' EXIT
    T5X_TMP=$POOL_DIR
    CHAT_DB=$POOL_DB_CONNINFO
    COMP_DB=$POOL_COMP_CONNINFO
    # What the chat store committed, written in the same transaction as each outbox row.
    chat_sql "CREATE TABLE IF NOT EXISTS test_ledger (event_id uuid PRIMARY KEY)" >/dev/null
}

sql_on() {   # sql_on CONNINFO SQL
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}
chat_sql() { sql_on "$CHAT_DB" "$1"; }
comp_sql() { sql_on "$COMP_DB" "$1"; }

# gen_events N [PER_TXN] — N outbox rows as channel workers write them: every user event type,
# internal and federated users, a few rooms; PER_TXN rows (default 10) per transaction, each
# transaction also recording its event ids in test_ledger. Prints nothing; fails if psql fails.
gen_events() {
    local n=$1 per=${2:-10}
    local txns=$(((n + per - 1) / per))
    # psql does not expand :variables inside the dollar-quoted body, so sed fills them in.
    sed "s/:txns/$txns/; s/:per/$per/" <<'EOF' |
DO $$
DECLARE
    base bigint := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
BEGIN
    FOR t IN 1..:txns LOOP
        WITH ins AS (
            INSERT INTO compliance_outbox (event_type, user_uri, user_name, room_uri, room_name,
                                           message_id, content)
            SELECT (ARRAY['JOIN','CHAT','CHAT','BACKCHAT','FILEUPLOAD','FILEDOWNLOAD','CHAT','PART'])[1 + (g % 8)],
                   CASE WHEN g % 11 = 0 THEN 'sip:guest' || (g % 3) || '@fabrikam.com'
                        ELSE 'sip:user' || (g % 40) || '@example.com' END,
                   'User ' || (g % 40),
                   'ma-chan://example.com/' || (ARRAY['7e1f0a52-3c1d-4f3e-9d2a-0123456789ab',
                                                      '0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a',
                                                      'a1b2c3d4-0000-4000-8000-000000000003'])[1 + (g % 3)],
                   'Room ' || (g % 3),
                   CASE WHEN g % 8 IN (1, 2, 6) THEN base * 100 + t * 1000 + g END,
                   CASE WHEN g % 8 IN (0, 7) THEN NULL
                        WHEN g % 8 IN (4, 5) THEN 'file-' || g || '.txt'
                        ELSE 'post ' || t || '/' || g || ' <&> "quoted"' END
              FROM generate_series(1, :per) g
            RETURNING event_id)
        INSERT INTO test_ledger SELECT event_id FROM ins;
        COMMIT;
    END LOOP;
END $$;
EOF
        PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$CHAT_DB"
}

# start_load NAME ROWS_PER_ROUND — gen_events in a loop until stop_load NAME.
start_load() {
    local name=$1 rows=$2
    rm -f "$T5X_TMP/$name.stop"
    (
        while [[ ! -f $T5X_TMP/$name.stop ]]; do
            gen_events "$rows" 10 2>>"$T5X_TMP/$name.err" || sleep 0.2
            sleep 0.02
        done
    ) &
    T5X_PID[$name]=$!
}
stop_load() {
    touch "$T5X_TMP/$1.stop"
    wait "${T5X_PID[$1]}" 2>/dev/null
    unset "T5X_PID[$1]"
}

# ---- config and workers ----------------------------------------------------------------------
# write_config FILE RUN_INTERVAL_S BATCH_SIZE ADAPTERS_YAML [EXTRA_COMPLIANCE_YAML]
write_config() {
    cat >"$1" <<EOF
pool:
  domain: "example.com"
log:
  level: "info"
database:
  pchat: "$CHAT_DB"
  mgccomp: "$COMP_DB"
  connect_timeout_s: 2
compliance:
  enabled: true
  run_interval_s: $2
  batch_size: $3
  adapter_dir: "$ADAPTER_DIR"
${5:-}
  adapters:
$4
EOF
}

# start_worker NAME CONFIG [ARGS...] — pchat-compliance in the background, log in $T5X_TMP/NAME.log
start_worker() {
    local name=$1 config=$2
    shift 2
    "$COMPLIANCE_BIN" -c "$config" --id "$name" "$@" >>"$T5X_TMP/$name.log" 2>&1 &
    T5X_PID[$name]=$!
}
stop_worker() {   # stop_worker NAME [SIGNAL]
    local pid=${T5X_PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill "-${2:-TERM}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    unset "T5X_PID[$1]"
}

# wait_until SECONDS COMMAND... — poll every 0.2 s; 0 once COMMAND succeeds, 1 at the deadline.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# status_value CONFIG KEY [ADAPTER] — one value from `pchat-compliance --status`.
status_value() {
    "$COMPLIANCE_BIN" -c "$1" --status 2>/dev/null | awk -v key="$2" -v adapter="${3:-}" '
        /^adapter / { section = substr($2, 1, length($2) - 1); next }
        {
            line = $0; sub(/^ +/, "", line)
            k = substr(line, 1, index(line, ":") - 1)
            if (k == key && section == adapter) { print substr(line, length(k) + 3); exit }
        }'
}

# ---- what the adapters wrote -----------------------------------------------------------------
jsonl_ids() {   # every line must be a JSON object; prints its event_id
    cat "$1"/*.jsonl 2>/dev/null | perl -MJSON::PP -ne '
        my $o = eval { JSON::PP->new->decode($_) } or do { print STDERR "bad JSON line: $_"; next };
        print "$o->{event_id}\n";'
}
xml_ids() {     # eventId of every Message (FirstMessage repeats one; not counted)
    cat "$1"/*.xml 2>/dev/null | grep -o '<Message [^>]*eventId="[^"]*"' | sed 's/.*eventId="//; s/"$//'
}
probe_ids() { cat "$1"/*.ids 2>/dev/null; }

# exactly_once LABEL IDS_FILE — every committed event id appears exactly once in IDS_FILE.
exactly_once() {
    local label=$1 ids=$2
    chat_sql "SELECT event_id FROM test_ledger" | sort >"$T5X_TMP/ledger.sorted"
    sort "$ids" >"$T5X_TMP/ids.sorted"
    local committed total distinct lost extra
    committed=$(wc -l <"$T5X_TMP/ledger.sorted")
    total=$(wc -l <"$T5X_TMP/ids.sorted")
    distinct=$(sort -u "$T5X_TMP/ids.sorted" | wc -l)
    lost=$(sort -u "$T5X_TMP/ids.sorted" | comm -23 "$T5X_TMP/ledger.sorted" - | wc -l)
    extra=$(sort -u "$T5X_TMP/ids.sorted" | comm -13 "$T5X_TMP/ledger.sorted" - | wc -l)
    diag "$label: $committed events committed, $total in the output ($distinct distinct)"
    is "$lost" 0 "$label: no committed event is missing"
    is "$((total - distinct))" 0 "$label: no event is there twice"
    is "$extra" 0 "$label: nothing there that the chat store did not commit"
}

# metric PORT NAME — one value from a worker's /metrics (bash's /dev/tcp: no curl needed).
metric() {
    local reply
    reply=$(exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) ||
        return 1
    awk -v name="$2" '$1 == name { printf "%d\n", $2; found = 1 } END { exit !found }' <<<"${reply//$'\r'/}"
}
