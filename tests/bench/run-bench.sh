#!/usr/bin/env bash
# run-bench.sh — `make bench`: pchat's capacity, overload, scale and compliance figures on this
# machine, each beside the baseline measured in the same run (a bare sofia-sip UAS, pgbench),
# written to $BUILD/bench/results.json and into the figures section of docs/PERFORMANCE.md.
#
#   BUILD=build tests/bench/run-bench.sh          (make bench builds everything first)
#
# Environment (docs/PERFORMANCE.md explains each figure):
#   BENCH_QUICK=1         a shorter run (~8 min instead of ~25): shorter loads, coarser searches,
#                         smaller rooms and session counts; does not touch docs/PERFORMANCE.md
#   BENCH_ONLY="a b …"    only these phases: pgbench compliance uas capacity overload lync scale
#   BENCH_CAPACITY=N      skip the capacity search and take N posts/s (overload, ratios)
#   BENCH_DURATION=S      seconds of each load run (15; quick 6)
#   BENCH_PAUSE=S         pause between load runs, so the last run's sessions are torn down (8)
#   BENCH_SESSIONS=N      sessions of the scale run (19500: near the open-files limit, see the doc)
#   BENCH_LARGE_ROOM=N    members of the Lync model's large room (4300; quick 1000)
#   BENCH_DOC=0|1         rewrite docs/PERFORMANCE.md (default: 1, 0 with BENCH_QUICK)
#   BENCH_SEED=N          pchat-load's seed for every run (0: a new one each run)
# The machine should be otherwise idle: the load tool runs on the same two cores.
set -uo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
export BUILD

QUICK=${BENCH_QUICK:-0}
[[ $QUICK == 1 ]] || QUICK=0
ONLY=${BENCH_ONLY:-pgbench compliance uas capacity overload lync scale}
DUR=${BENCH_DURATION:-$((QUICK ? 6 : 15))}
PAUSE=${BENCH_PAUSE:-$((QUICK ? 5 : 8))}
SESSIONS=${BENCH_SESSIONS:-$((QUICK ? 2000 : 19500))}
LARGE=${BENCH_LARGE_ROOM:-$((QUICK ? 1000 : 4300))}
WRITE_DOC=${BENCH_DOC:-$((QUICK ? 0 : 1))}
SEED=${BENCH_SEED:-0}
DOC=$ROOT/docs/PERFORMANCE.md
TUNED_KNOBS=(frontend.admit_post_delay_ms=50 frontend.admit_delay_high_ms=30
             frontend.admit_delay_low_ms=10 frontend.admit_delivery_high_ms=30)

OUT=$BUILD/bench
RUNS=$OUT/runs
LOAD=$BUILD/bin/pchat-load
UAS=$BUILD/tests/bench/bare_uas
REPORT=$ROOT/tests/bench/bench-report.py
PGDIR=$BUILD/bench-pg
PYTHON=$(command -v python3 || true)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() { echo "run-bench: $*" >&2; exit 1; }
say() { printf '%s\n' "$*"; }
phase_on() { [[ " $ONLY " == *" $1 "* ]]; }

for f in "$LOAD" "$UAS" "$BUILD/bin/pchat-frontend" "$BUILD/bin/pchat-channel" "$BUILD/bin/pchat-compliance"; do
    [[ -x $f ]] || die "$f is not built: run 'make bench' (or 'make all $UAS')"
done
[[ -n $PYTHON ]] || die "python3 is needed to read pchat-load's JSON reports (apt-get install python3)"
[[ -x $PG_BIN/pgbench ]] || die "$PG_BIN/pgbench not found: install postgresql-15 (deploy/install-deps.sh)"
for n in "$DUR" "$PAUSE" "$SESSIONS" "$LARGE"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION, BENCH_PAUSE, BENCH_SESSIONS and BENCH_LARGE_ROOM must be positive integers"
done
((LARGE >= 100)) || die "BENCH_LARGE_ROOM must be at least 100 (the large room of the Lync model)"
((DUR >= 3)) || die "BENCH_DURATION must be at least 3 s (the CPU window leaves out the first and the last second)"

rm -rf "$OUT"
mkdir -p "$RUNS" "$OUT/logs" || die "cannot create $OUT"
BENCH_START=$SECONDS

# ---- our own processes, stopped on any exit --------------------------------------------------
PG_PORT=""
PG_PM=""
UAS_PID=""
declare -a LOADER_PIDS=()

stop_ours() {
    local pid
    for pid in "${LOADER_PIDS[@]}" $UAS_PID; do
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${LOADER_PIDS[@]}" $UAS_PID; do
        wait "$pid" 2>/dev/null
    done
    LOADER_PIDS=()
    UAS_PID=""
}

bench_exit() {
    local status=$?
    set +e
    trap - EXIT
    stop_ours
    if [[ -n ${POOL_DIR:-} ]]; then
        pool_stop >/dev/null 2>&1
        cp "$POOL_DIR"/*.log "$OUT/logs/" 2>/dev/null
    fi
    [[ -n $PG_PORT ]] && "$ROOT/deploy/pg.sh" stop "$PGDIR" "$PG_PORT" >/dev/null 2>&1
    if [[ -n ${POOL_DIR:-} ]]; then
        (exit "$status")
        _pool_on_exit 2>/dev/null    # removes POOL_DIR; exits with our status
    fi
    exit "$status"
}
trap bench_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- measuring helpers ------------------------------------------------------------------------
# utime + stime of one process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
proc_ticks() {
    local s
    read -r s 2>/dev/null </proc/"$1"/stat || { echo 0; return; }
    s=${s##*) }
    local -a f
    read -ra f <<<"$s"
    echo $((f[11] + f[12]))
}

# PostgreSQL: the postmaster with its reaped children, plus every live backend.
pg_ticks() {
    local s total=0 child
    [[ -n $PG_PM ]] || { echo 0; return; }
    read -r s 2>/dev/null </proc/"$PG_PM"/stat || { echo 0; return; }
    s=${s##*) }
    local -a f
    read -ra f <<<"$s"
    total=$((f[11] + f[12] + f[13] + f[14]))
    for child in $(pgrep -P "$PG_PM"); do
        total=$((total + $(proc_ticks "$child")))
    done
    echo "$total"
}

# The whole machine's busy time (/proc/stat: user nice system irq softirq steal), in ticks.
machine_ticks() {
    local user nice system irq softirq steal
    # fields: cpu user nice system idle iowait irq softirq steal …
    read -r _ user nice system _ _ irq softirq steal _ </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# snap FILE ROLE=PID...: a CPU snapshot for bench-report.py (roles fe*, w*, load; pg and the
# machine always).
snap() {
    local file=$1 rp
    shift
    {
        echo "t=$EPOCHREALTIME"
        for rp in "$@"; do
            echo "${rp%%=*} $(proc_ticks "${rp#*=}")"
        done
        echo "pg $(pg_ticks)"
        echo "machine $(machine_ticks)"
    } >"$file"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0; }

# wait_line FILE REGEX PID [SECONDS]: until FILE has a line matching REGEX; fails when PID exits.
wait_line() {
    local file=$1 regex=$2 pid=$3 limit=${4:-900} deadline
    deadline=$((SECONDS + limit))
    until grep -qE -- "$regex" "$file" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || return 1
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# The roles to sample in a window: the pool's processes, or the bare UAS as "fe1".
pool_roles() {
    local -a roles=()
    local k
    if [[ -n $UAS_PID ]]; then
        roles+=("fe1=$UAS_PID")
    else
        for ((k = 1; k <= ${POOL_FRONTENDS:-0}; k++)); do
            [[ -n $(pool_pid "fe$k") ]] && roles+=("fe$k=$(pool_pid "fe$k")")
        done
        for k in w1 w2; do
            [[ -n $(pool_pid "$k") ]] && roles+=("$k=$(pool_pid "$k")")
        done
    fi
    echo "${roles[@]}"
}

pool_pid_list() {
    local -a pids=()
    local rp
    for rp in $(pool_roles); do
        pids+=("${rp#*=}")
    done
    local IFS=,
    echo "${pids[*]}"
}

# run_load NAME PHASE [KEY=VALUE...] -- PCHAT-LOAD-OPTIONS...
# One pchat-load run: CPU sampled from its first to its last scheduled second, report recorded,
# figures left in P99, GOODPUT, PASS, VERDICT … (bench-report.py shell_line).
run_load() {
    local name=$1 phase=$2
    shift 2
    local -a kv=()
    while (($# > 0)) && [[ $1 != -- ]]; do
        kv+=("$1")
        shift
    done
    shift
    local json=$RUNS/$name.json txt=$RUNS/$name.txt prog=$RUNS/$name.progress
    local -a roles
    read -ra roles <<<"$(pool_roles)"
    PASS=0 P99="?" ANSWER_P99="?" GOODPUT="?" DELIVERIES="?" R503="?" TIMEOUTS="?" LOST="?" READY=0
    "$LOAD" "$@" --seed "$SEED" --pids "$(pool_pid_list)" --progress on --json "$json" \
        >"$txt" 2>"$prog" &
    local lpid=$!
    LOADER_PIDS+=("$lpid")
    if wait_line "$prog" '^pchat-load: +1 s ' "$lpid"; then
        snap "$RUNS/$name.cpu0" "${roles[@]}" "load=$lpid"
        wait_line "$prog" "^pchat-load: +$((DUR - 1)) s " "$lpid" $((DUR + 30)) &&
            snap "$RUNS/$name.cpu1" "${roles[@]}" "load=$lpid"
    fi
    wait "$lpid"
    local status=$?
    LOADER_PIDS=()
    if [[ ! -s $json ]]; then
        say "  $name: pchat-load failed (status $status) and wrote no report:"
        tail -n 5 "$prog" "$txt" | sed 's/^/    /'
        PASS=0
        return 1
    fi
    local figures
    figures=$("$PYTHON" "$REPORT" run "$OUT" "$name" "$phase" "${kv[@]}" \
              cpu_before="$RUNS/$name.cpu0" cpu_after="$RUNS/$name.cpu1" -- "$json") ||
        { say "  $name: the report could not be read"; PASS=0; return 1; }
    eval "$figures"
}

cpu_of() {   # the CPU columns of the last record, for the progress lines
    "$PYTHON" - "$OUT/records.jsonl" <<'EOF'
import json, sys
rec = json.loads(open(sys.argv[1]).read().splitlines()[-1])
c = (rec.get("cpu") or {}).get("cores") or {}
fe = sum(v for k, v in c.items() if k.startswith("fe"))
w = sum(v for k, v in c.items() if k.startswith("w"))
print("CPU fe %.2f w %.2f pg %.2f load %.2f, machine %.2f" % (fe, w, c.get("pg", 0), c.get("load", 0),
                                                            c.get("machine", 0)))
EOF
}

# pause: at least BENCH_PAUSE seconds, then until the pool is quiet (the last run's sessions
# torn down: under 0.05 cores in its daemons and PostgreSQL over a second), at most 60 s more.
pause() {
    sleep "$PAUSE"
    local -a roles
    read -ra roles <<<"$(pool_roles)"
    local deadline=$((SECONDS + 60)) before after
    while ((SECONDS < deadline)); do
        before=$(pool_busy_ticks "${roles[@]}")
        sleep 1
        after=$(pool_busy_ticks "${roles[@]}")
        (((after - before) * 100 < 5 * $(getconf CLK_TCK))) && return 0
    done
    say "  (the pool did not become quiet within 60 s of the pause; going on)"
}

pool_busy_ticks() {   # pool_busy_ticks ROLE=PID...: their ticks plus PostgreSQL's
    local total rp
    total=$(pg_ticks)
    for rp in "$@"; do
        total=$((total + $(proc_ticks "${rp#*=}")))
    done
    echo "$total"
}

# ---- machine and PostgreSQL -------------------------------------------------------------------
machine_info() {
    local cpu mem os
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
    os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")
    "$PYTHON" - "$OUT/meta.json" <<EOF
import json, sys
json.dump({"date": "$(date -u +%Y-%m-%dT%H:%MZ)", "quick": $QUICK == 1, "nproc": $(nproc),
           "cpu": """${cpu:-?}""", "mem_gib": "$mem", "kernel": "$(uname -r)", "os": "$os",
           "nofile": "$(ulimit -Hn)", "pg": "$("$PG_BIN/postgres" --version | awk '{ print $3 }')",
           "sofia": "$(pkg-config --modversion sofia-sip-ua 2>/dev/null || echo '?')",
           "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes')",
           "duration_s": $DUR, "pause_s": $PAUSE, "out": "${OUT#"$ROOT"/}",
           "tuned_knobs": "${TUNED_KNOBS[*]}",
           "capacity_shape": "600 users, each in 2 of 40 rooms of 30; open-loop Poisson posts of 100 bytes, ${DUR} s per rate"},
          open(sys.argv[1], "w"), indent=1)
EOF
    say "pchat benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) × ${cpu:-?}, ${mem} GiB, kernel $(uname -r)"
    say "  mode: $( ((QUICK)) && echo quick || echo full); phases: $ONLY; ${DUR} s per load run, ${PAUSE} s pauses"
}

start_pg() {
    rm -rf "$PGDIR"
    PG_PORT=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Proto => "tcp", Listen => 1)->sockport')
    { "$ROOT/deploy/pg.sh" init "$PGDIR" "$PG_PORT" && "$ROOT/deploy/pg.sh" start "$PGDIR" "$PG_PORT"; } \
        >"$OUT/logs/pg-setup.log" 2>&1 || { cat "$OUT/logs/pg-setup.log" >&2; die "could not start PostgreSQL in $PGDIR"; }
    PG_PM=$(head -n 1 "$PGDIR/data/postmaster.pid")
    export PCHAT_TEST_PGHOST=127.0.0.1 PCHAT_TEST_PGPORT=$PG_PORT PCHAT_TEST_PGDATA=$PGDIR
    say "  PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') on 127.0.0.1:$PG_PORT ($PGDIR)"
}

# shellcheck source=tests/lib/pool.sh
source "$ROOT/tests/lib/pool.sh"
trap bench_exit EXIT     # pool.sh sets no trap until pool_init; ours chains to its own

CURRENT_KNOBS=()

# A fresh pool with the default knobs: new databases, one front end, two workers.
fresh_pool() {
    CURRENT_KNOBS=()
    [[ -n ${POOL_DIR:-} ]] && pool_stop >/dev/null 2>&1
    if [[ -z ${POOL_DIR:-} ]]; then
        pool_init bench >>"$OUT/logs/pool-setup.log" 2>&1 || die "could not create the bench databases (see $OUT/logs/pool-setup.log)"
        trap bench_exit EXIT     # pool_init set its own; ours calls it last
    else
        pool_init bench >>"$OUT/logs/pool-setup.log" 2>&1 || die "could not re-create the bench databases"
    fi
    pool_config --frontends 1 >>"$OUT/logs/pool-setup.log" 2>&1 || die "could not write the pool config"
    pool_start --workers 2 >>"$OUT/logs/pool-setup.log" 2>&1 || die "the pool did not start (see $OUT/logs/pool-setup.log)"
}

# The same databases, the daemons restarted with other knobs.
restart_pool() {
    local -a sets=()
    local kv
    CURRENT_KNOBS=("$@")
    for kv in "$@"; do
        sets+=(--set "$kv")
    done
    pool_stop >>"$OUT/logs/pool-setup.log" 2>&1
    pool_config --frontends 1 "${sets[@]}" >>"$OUT/logs/pool-setup.log" 2>&1 || die "could not write the pool config"
    pool_start --workers 2 >>"$OUT/logs/pool-setup.log" 2>&1 || die "the pool did not start (see $OUT/logs/pool-setup.log)"
}

# check_pool RUN: after a run, every pool process must still be there. One that died is an
# incident of the run (recorded with the last telling line of its log), and the pool is
# restarted with the same knobs and databases so that the bench can go on.
check_pool() {
    local run=$1 rp role dead=() what
    [[ -z $UAS_PID ]] || return 0
    for rp in $(pool_roles); do
        kill -0 "${rp#*=}" 2>/dev/null || dead+=("${rp%%=*}")
    done
    ((${#dead[@]} > 0)) || return 0
    for role in "${dead[@]}"; do
        local status=0
        wait "$(pool_pid "$role")" 2>/dev/null || status=$?
        what=$(grep -aE 'Assertion|Segmentation|AddressSanitizer|error:' "$POOL_DIR/$role.log" | tail -n 1)
        ((status > 128)) && what="killed by signal $((status - 128))${what:+: $what}"
        ((status > 0 && status <= 128)) && what="exit status $status${what:+: $what}"
        [[ -n $what ]] || what="no reason in its log"
        cp "$POOL_DIR/$role.log" "$OUT/logs/$role-died-in-$run.log" 2>/dev/null
        say "  !! $role died during or right after $run: $what"
        "$PYTHON" "$REPORT" record "$OUT" "incident-$run-$role" incident run="$run" process="$role" what="$what"
    done
    say "  !! restarting the pool (same knobs and databases); its logs: $OUT/logs/"
    restart_pool "${CURRENT_KNOBS[@]}"
}

# The capacity shape: the peer's room-30 load (research/peer-ejabberd.md).
SHAPE=(--users 600 --rooms 30x40 --signin-rate 200 --signin-concurrency 50)

# ---- baselines: PostgreSQL and the compliance pipeline -----------------------------------------
bench_pgbench() {
    local secs=$((QUICK ? 5 : 15)) conn="host=127.0.0.1 port=$PG_PORT user=pchat dbname=bench_pgbench"
    say ""
    say "== PostgreSQL single-row INSERT rate (pgbench, 2 clients, ${secs} s)"
    "$ROOT/deploy/pg.sh" createdb "$PGDIR" "$PG_PORT" bench_pgbench >/dev/null || die "could not create bench_pgbench"
    psql -X -q -v ON_ERROR_STOP=1 -d "$conn" -c "
        CREATE TABLE bench_insert (id bigserial PRIMARY KEY, room_id integer NOT NULL,
                                   author_id integer NOT NULL,
                                   created_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)" ||
        die "could not create the scratch table"
    # one message-sized row per transaction (pgbench reads ':name' as a variable: no colons)
    cat >"$OUT/pgbench-insert.sql" <<'EOF'
\set room random(1, 40)
\set author random(1, 600)
INSERT INTO bench_insert (room_id, author_id, body) VALUES (:room, :author, 'a post of one hundred bytes, the size pchat-load sends by default, written once per transaction');
EOF
    "$PG_BIN/pgbench" -n -h 127.0.0.1 -p "$PG_PORT" -U pchat -c 2 -j 2 -T "$secs" -M prepared \
        -f "$OUT/pgbench-insert.sql" bench_pgbench >"$OUT/logs/pgbench.log" 2>&1
    local tps lat
    tps=$(awk '/^tps = / { printf "%.0f", $3 }' "$OUT/logs/pgbench.log")
    lat=$(awk '/^latency average = / { print $4 }' "$OUT/logs/pgbench.log")
    [[ -n $tps ]] || { cat "$OUT/logs/pgbench.log"; die "pgbench did not report a rate"; }
    say "  $tps single-row inserts/s (latency average $lat ms), synchronous_commit on"
    "$PYTHON" "$REPORT" record "$OUT" pgbench pgbench tps="$tps" latency_ms="$lat" seconds="$secs" clients=2
    "$ROOT/deploy/pg.sh" dropdb "$PGDIR" "$PG_PORT" bench_pgbench >/dev/null 2>&1
}

compliance_rate() {   # events/s on the first line of compliance-bench's output matching $1
    grep -E "$1" "$OUT/logs/compliance-bench.log" | grep -oE '[0-9]+ events/s' | head -n 1 | cut -d' ' -f1
}

bench_compliance() {
    local events=$((QUICK ? 20000 : 100000))
    say ""
    say "== Compliance pipeline (tests/bench/compliance-bench.sh $events)"
    "$ROOT/tests/bench/compliance-bench.sh" "$events" >"$OUT/logs/compliance-bench.log" 2>&1 ||
        { sed 's/^/    /' "$OUT/logs/compliance-bench.log"; say "  compliance-bench failed"; return 0; }
    sed 's/^/  /' "$OUT/logs/compliance-bench.log"
    "$PYTHON" "$REPORT" record "$OUT" compliance compliance events="$events" \
        drain_per_s="$(compliance_rate 'drain +outbox')" xml_per_s="$(compliance_rate 'deliver mgccomp')" \
        end_to_end_per_s="$(compliance_rate 'end to end')"
}

# ---- searching for the highest sustained rate ---------------------------------------------------
# Runs near the knee differ a lot from one to the next on this machine (p99 of the same rate
# has ranged from 11 to 110 ms), so a rate counts as sustained when two of (up to) three runs
# of it were; in quick mode one run decides.
majority() {   # majority TRY RATE: SUSTAINED=1 or 0
    local try=$1 rate=$2 pass=0 fail=0
    while ((pass < 2 && fail < 2)); do
        "$try" "$rate"
        if ((PASS)); then pass=$((pass + 1)); else fail=$((fail + 1)); fi
        ((QUICK)) && break
    done
    SUSTAINED=$((pass > fail))
}

# search TRY ROUND RES STEPS...: steps up until a rate is not sustained, then bisects (rates
# rounded to ROUND) until the gap is at most RES. FOUND: the highest sustained rate (0: not
# even the lowest one tried); FIRST_FAILURE: the lowest one that was not (0: none).
search() {
    local try=$1 round=$2 res=$3
    shift 3
    local lo=0 hi=0 rate
    for rate in "$@"; do
        majority "$try" "$rate"
        if ((SUSTAINED)); then lo=$rate; else hi=$rate; break; fi
    done
    if ((lo == 0)); then
        rate=$(($1 / 2 / round * round))
        while ((rate >= round)); do
            majority "$try" "$rate"
            ((SUSTAINED)) && { lo=$rate; break; }
            hi=$rate
            rate=$((rate / 2 / round * round))
        done
    fi
    if ((lo > 0 && hi > 0)); then
        while ((hi - lo > res)); do
            rate=$(((lo + hi) / 2 / round * round))
            ((rate > lo && rate < hi)) || break
            majority "$try" "$rate"
            if ((SUSTAINED)); then lo=$rate; else hi=$rate; fi
        done
    fi
    FOUND=$lo FIRST_FAILURE=$hi
}

# ---- the SIP stack's own ceiling -----------------------------------------------------------------
start_uas() {
    local port
    port=$(pool_free_ports 1)
    # bounded: a sofia stack far past its ceiling grows by gigabytes (seen at 16,000 INFO/s)
    (ulimit -v 3000000; exec "$UAS" --port "$port" --domain example.com) >>"$OUT/logs/bare_uas.log" 2>&1 &
    UAS_PID=$!
    UAS_PORT=$port
    local deadline=$((SECONDS + 10))
    until grep -q "ready: bare UAS on sip:127.0.0.1:$port" "$OUT/logs/bare_uas.log" 2>/dev/null; do
        if ! kill -0 "$UAS_PID" 2>/dev/null || ((SECONDS >= deadline)); then
            die "bare_uas did not start (see $OUT/logs/bare_uas.log)"
        fi
        sleep 0.05
    done
}

stop_uas() {
    [[ -n $UAS_PID ]] || return 0
    kill -TERM "$UAS_PID" 2>/dev/null
    wait "$UAS_PID" 2>/dev/null
    UAS_PID=""
}

UAS_RUNS=0
uas_try() {   # uas_try RATE: a fresh bare_uas, one run; PASS set
    local rate=$1
    UAS_RUNS=$((UAS_RUNS + 1))
    start_uas
    if run_load "uas-$UAS_RUNS-$rate" uas -- --frontend "127.0.0.1:$UAS_PORT" --setup-rooms "$UAS_CONNINFO" \
        "${SHAPE[@]}" --duration "$DUR" --post-rate "$rate" --drain 2 --timeout 5000; then
        say "  $(printf '%6d' "$rate") posts/s offered: ${GOODPUT}/s answered, p99 request->200 ${ANSWER_P99} ms, ${TIMEOUTS} timeouts — $( ((PASS)) && echo sustained || echo 'not sustained') ($(cpu_of))"
    else
        say "  $(printf '%6d' "$rate") posts/s offered: the run failed — counted as not sustained"
    fi
    stop_uas
    sleep 3
}

bench_uas() {
    say ""
    say "== SIP stack ceiling: bare sofia-sip UAS (tests/bench/bare_uas.c), INFO -> 200, same loader and shape"
    "$ROOT/deploy/pg.sh" createdb "$PGDIR" "$PG_PORT" bench_uas >/dev/null || die "could not create bench_uas"
    sql/migrate.sh "host=127.0.0.1 port=$PG_PORT dbname=bench_uas user=pchat" sql/pchat >/dev/null ||
        die "could not migrate bench_uas (the room URIs pchat-load gives the UAS come from it)"
    UAS_CONNINFO="host=127.0.0.1 port=$PG_PORT dbname=bench_uas user=pchat"
    local -a steps
    if ((QUICK)); then steps=(4000 8000 16000); else steps=(2000 4000 8000 12000 16000 24000); fi
    search uas_try 500 $((QUICK ? 2000 : 1000)) "${steps[@]}"
    local lo=$FOUND hi=$FIRST_FAILURE confirmed=$((!QUICK && FOUND > 0))
    say "  SIP stack ceiling: $lo posts/s (p99 request->200 < 100 ms)$( ((confirmed)) && echo ', in two of its runs')$( ((hi == 0)) && echo ' — the highest step tried; the ceiling may be higher')"
    "$PYTHON" "$REPORT" record "$OUT" uas_result uas_result ceiling="$lo" confirmed="$confirmed" \
        first_failure="$hi"
}

# ---- pchat capacity --------------------------------------------------------------------------------
CAP_RUNS=0
cap_try() {   # cap_try RATE: one run of the capacity shape against the pool; PASS set
    local rate=$1
    CAP_RUNS=$((CAP_RUNS + 1))
    if run_load "cap-$CAP_RUNS-$rate" capacity -- --frontend "127.0.0.1:$POOL_SIP_PORT_1" \
        --setup-rooms "$POOL_DB_CONNINFO" "${SHAPE[@]}" --duration "$DUR" --post-rate "$rate"; then
        say "  $(printf '%5d' "$rate") posts/s offered: ${GOODPUT}/s accepted, ${DELIVERIES} deliveries/s, p99 post->delivery ${P99} ms, 503 ${R503}, lost ${LOST} — $( ((PASS)) && echo sustained || echo 'not sustained') ($(cpu_of))"
    else
        say "  $(printf '%5d' "$rate") posts/s offered: the run failed — counted as not sustained"
    fi
    check_pool "cap-$CAP_RUNS-$rate"
    pause
}

CAPACITY=${BENCH_CAPACITY:-0}
bench_capacity() {
    say ""
    say "== pchat capacity: highest post rate with p99 post->delivery < 100 ms (1 front end, 2 workers)"
    local -a steps
    if ((QUICK)); then steps=(300 600 900 1200); else steps=(300 450 600 750 900 1050 1200 1500); fi
    search cap_try 25 $((QUICK ? 100 : 50)) "${steps[@]}"
    CAPACITY=$FOUND
    local hi=$FIRST_FAILURE confirmed=$((!QUICK && FOUND > 0))
    # the figures of the last sustained run at this rate
    local figures
    figures=$("$PYTHON" - "$OUT/records.jsonl" "$CAPACITY" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
runs = [r for r in recs if r["phase"] == "capacity" and r["post_rate"] == int(sys.argv[2]) and r["pass"]]
r = runs[-1] if runs else None
print("%s %s" % (r["deliveries_per_s"] if r else 0, r["delivery_ms"]["p99"] if r else 0))
EOF
)
    say "  capacity: $CAPACITY posts/s ($(cut -d' ' -f1 <<<"$figures") deliveries/s, p99 post->delivery $(cut -d' ' -f2 <<<"$figures") ms)$( ((confirmed)) && echo ', in two of its runs') — the peer (ejabberd) does 240-320"
    "$PYTHON" "$REPORT" record "$OUT" capacity_result capacity_result capacity="$CAPACITY" \
        confirmed="$confirmed" deliveries_per_s="$(cut -d' ' -f1 <<<"$figures")" \
        p99_ms="$(cut -d' ' -f2 <<<"$figures")" first_failure="$hi"
}

# ---- overload ----------------------------------------------------------------------------------------
bench_overload() {
    local knobs=$1 mult rate
    say ""
    say "== Overload, $knobs knobs: 2x, 5x and 10x capacity ($CAPACITY posts/s), retrying clients"
    for mult in 2 5 10; do
        rate=$((CAPACITY * mult))
        if run_load "overload-$knobs-${mult}x" overload knobs="$knobs" multiple="$mult" -- \
            --frontend "127.0.0.1:$POOL_SIP_PORT_1" --setup-rooms "$POOL_DB_CONNINFO" "${SHAPE[@]}" \
            --duration "$DUR" --post-rate "$rate" --drain 10; then
            local ra
            ra=$("$PYTHON" -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(r["retry_after_percent"], r["r503_per_s"], r["answer_ms"]["p99"])' "$OUT/records.jsonl")
            say "  $(printf '%3s' "${mult}x") ($rate/s offered): goodput ${GOODPUT} posts/s, 503/s $(cut -d' ' -f2 <<<"$ra") ($(cut -d' ' -f1 <<<"$ra") % with Retry-After), p99 post->200 of accepted $(cut -d' ' -f3 <<<"$ra") ms, p99 post->delivery ${P99} ms ($(cpu_of))"
        else
            say "  $(printf '%3s' "${mult}x") ($rate/s offered): the run failed, no figures"
        fi
        check_pool "overload-$knobs-${mult}x"
        pause
    done
}

# ---- the Lync pool model, and sessions on one front end -----------------------------------------------
# Three loaders with disjoint users, as Lync's room-access sample mixes its room sizes; the rates
# follow the user model: 74 posts/s, 10 joins/s, ~3,300 deliveries/s (research/anchors.md §2).
bench_lync() {
    local small_users=$((QUICK ? 600 : 1200)) mid_users=$((QUICK ? 300 : 600))
    local small_rooms=$((small_users * 2 / 30)) mid_rooms=$((mid_users * 2 / 150))
    local large_rate small_rate=71.8 mid_rate=1.7 lync_dur=$((QUICK ? 15 : 30))
    # the large room carries what the small and medium ones leave of ~3,300 deliveries/s
    large_rate=$(awk -v n="$LARGE" 'BEGIN { printf "%.3f", (3300 - 71.8 * 29 - 1.7 * 149) / (n - 1) }')
    say ""
    say "== Lync pool model: rooms of 30 (${small_users} users), of 150 (${mid_users} users) and one of $LARGE; 74 posts/s, 10 joins/s"
    fresh_pool
    local fe idle
    fe=$(pool_pid fe1)
    idle=$(rss_kb "$fe")
    local base=(--frontend "127.0.0.1:$POOL_SIP_PORT_1" --setup-rooms "$POOL_DB_CONNINFO" --seed "$SEED"
                --pids "$(pool_pid_list)" --progress on --signin-rate 200 --signin-concurrency 50 --drain 10)
    local -a roles
    read -ra roles <<<"$(pool_roles)"
    # the large room first: its set-up is the longest; it posts until the others are done
    "$LOAD" "${base[@]}" --users "$LARGE" --first-user $((small_users + mid_users + 1)) \
        --rooms "${LARGE}x1" --room-prefix lync-large --duration 900 --post-rate "$large_rate" \
        --join-rate 1 --json "$RUNS/lync-large.json" >"$RUNS/lync-large.txt" 2>"$RUNS/lync-large.progress" &
    local large_pid=$!
    LOADER_PIDS+=("$large_pid")
    wait_line "$RUNS/lync-large.progress" '^pchat-load: +1 s ' "$large_pid" 600 ||
        { say "  the large room's loader did not finish its set-up:"; tail -n 5 "$RUNS/lync-large.progress"; return 0; }
    "$LOAD" "${base[@]}" --users "$small_users" --first-user 1 --rooms "30x$small_rooms" \
        --room-prefix lync-small --duration "$lync_dur" --post-rate "$small_rate" --join-rate 7 \
        --json "$RUNS/lync-small.json" >"$RUNS/lync-small.txt" 2>"$RUNS/lync-small.progress" &
    local small_pid=$!
    "$LOAD" "${base[@]}" --users "$mid_users" --first-user $((small_users + 1)) --rooms "150x$mid_rooms" \
        --room-prefix lync-medium --duration "$lync_dur" --post-rate "$mid_rate" --join-rate 2 \
        --json "$RUNS/lync-medium.json" >"$RUNS/lync-medium.txt" 2>"$RUNS/lync-medium.progress" &
    local mid_pid=$!
    LOADER_PIDS+=("$small_pid" "$mid_pid")
    local windowed=0 sessions_rss=0
    if wait_line "$RUNS/lync-small.progress" '^pchat-load: +1 s ' "$small_pid" 600 &&
       wait_line "$RUNS/lync-medium.progress" '^pchat-load: +1 s ' "$mid_pid" 600; then
        sessions_rss=$(rss_kb "$fe")
        snap "$RUNS/lync.cpu0" "${roles[@]}" "load=$large_pid" "load=$small_pid" "load=$mid_pid"
        wait_line "$RUNS/lync-small.progress" "^pchat-load: +$((lync_dur - 1)) s " "$small_pid" $((lync_dur + 30)) &&
            snap "$RUNS/lync.cpu1" "${roles[@]}" "load=$large_pid" "load=$small_pid" "load=$mid_pid" && windowed=1
    fi
    wait "$small_pid" "$mid_pid"
    kill -INT "$large_pid" 2>/dev/null    # ends its schedule; it still drains and reports
    wait "$large_pid"
    LOADER_PIDS=()
    check_pool lync
    local f
    for f in small medium large; do
        [[ -s $RUNS/lync-$f.json ]] || { say "  the $f-room loader wrote no report:"; tail -n 5 "$RUNS/lync-$f.progress"; return 0; }
    done
    local figures
    figures=$("$PYTHON" "$REPORT" run "$OUT" lync lync large_room="$LARGE" \
              cpu_before="$RUNS/lync.cpu0" cpu_after="$RUNS/lync.cpu1" -- \
              "$RUNS/lync-small.json" "$RUNS/lync-medium.json" "$RUNS/lync-large.json") || return 0
    eval "$figures"
    say "  $READY sessions; ${GOODPUT} posts/s accepted, ${DELIVERIES} deliveries/s, p99 post->delivery <= ${P99} ms (the largest of the three room classes), ${LOST} lost, ${R503} posts answered 503 ($(cpu_of))"
    ((windowed)) || say "  (the CPU window could not be taken)"
    say "  front end RSS: $((idle / 1024)) MB idle, $((sessions_rss / 1024)) MB with the $READY sessions (the large room's joins included)"
    pause
}

bench_scale() {
    say ""
    say "== Sessions on one front end: $SESSIONS users in rooms of 30 (a descriptor each in the front end and in pchat-load; hard limit $(ulimit -Hn))"
    fresh_pool
    local fe idle
    fe=$(pool_pid fe1)
    idle=$(rss_kb "$fe")
    run_load scale scale_run -- --frontend "127.0.0.1:$POOL_SIP_PORT_1" --setup-rooms "$POOL_DB_CONNINFO" \
        --users "$SESSIONS" --rooms "30x$((SESSIONS / 30))" --signin-rate 200 --signin-concurrency 50 \
        --duration "$DUR" --post-rate 20 --setup-timeout 600
    check_pool scale
    local sessions rss
    sessions=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["setup"]["ready"])' "$RUNS/scale.json" 2>/dev/null || echo 0)
    rss=$("$PYTHON" -c 'import json,sys; m=[p for p in json.load(open(sys.argv[1]))["memory"]["pool"] if p["name"]=="pchat-frontend"][0]; print(m["after_setup"]["rss_kb"] or 0)' "$RUNS/scale.json" 2>/dev/null || echo 0)
    if ((sessions > 0 && rss > idle)); then
        local per extrapolated
        per=$(awk -v a="$rss" -v b="$idle" -v n="$sessions" 'BEGIN { printf "%.1f", (a - b) / n }')
        extrapolated=$(awk -v b="$idle" -v p="$per" 'BEGIN { printf "%.0f", b + 20000 * p }')
        say "  $sessions sessions: front end RSS $((idle / 1024)) MB idle, $((rss / 1024)) MB with them = $per KB per session; 20,000 sessions extrapolated: $((extrapolated / 1024)) MB"
        say "  the same sessions, live: p99 post->delivery ${P99:-?} ms at 20 posts/s, ${LOST:-?} lost"
        "$PYTHON" "$REPORT" record "$OUT" scale scale sessions="$sessions" fe_rss_idle_kb="$idle" \
            fe_rss_kb="$rss" per_session_kb="$per" extrapolated_20k_kb="$extrapolated"
    else
        say "  no sessions were measured"
    fi
    pause
}

# ---- the run ---------------------------------------------------------------------------------------
machine_info
start_pg
phase_on pgbench && bench_pgbench
phase_on compliance && bench_compliance
phase_on uas && bench_uas

if phase_on capacity || phase_on overload; then
    fresh_pool
    if ((CAPACITY == 0)) && phase_on capacity; then
        bench_capacity
    elif ((CAPACITY == 0)); then
        CAPACITY=500
        say ""
        say "== capacity not measured in this run: taking $CAPACITY posts/s (BENCH_CAPACITY sets it)"
    else
        say ""
        say "== capacity given: $CAPACITY posts/s (BENCH_CAPACITY)"
        "$PYTHON" "$REPORT" record "$OUT" capacity_result capacity_result capacity="$CAPACITY" confirmed=0 given=1
    fi
    if phase_on overload && ((CAPACITY > 0)); then
        bench_overload default
        restart_pool "${TUNED_KNOBS[@]}"
        bench_overload tuned
    fi
fi
phase_on scale && bench_scale
phase_on lync && bench_lync

"$PYTHON" - "$OUT/meta.json" "$(((SECONDS - BENCH_START + 30) / 60))" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["minutes"] = int(sys.argv[2])
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF
say ""
say "== Summary"
say ""
if ((WRITE_DOC)); then
    "$PYTHON" "$REPORT" final "$OUT" "$DOC" || die "could not write the summary"
else
    "$PYTHON" "$REPORT" final "$OUT" || die "could not write the summary"
    say ""
    say "run-bench: docs/PERFORMANCE.md left as it was (BENCH_DOC=1 writes it)"
fi
say "run-bench: $OUT/results.json"
