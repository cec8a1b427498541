#!/usr/bin/env bash
# t70_failover.t — a pool of 2 front ends and 3 workers under steady load from pchat-load:
# SIGKILL a worker, SIGKILL a front end, restart PostgreSQL. Each time: no acknowledged post is
# lost, none is delivered twice or out of order to any member who stayed, no request hangs, and
# the pool serves again; clients of the killed front end can sign in again once it is back.
set -u
. "$(dirname "$0")/../lib/pool.sh"

LOAD=${BUILD:-build}/bin/pchat-load
tap_plan 22
if [[ ! -x $LOAD ]]; then
    tap_skip 22 "build/bin/pchat-load is not built"
    exit 0
fi

# a private PostgreSQL: this test restarts it
unset PCHAT_TEST_PGHOST PCHAT_TEST_PGPORT
pool_init t70_failover || exit 1
pool_config --frontends 2 --set frontend.worker_timeout_ms=2000 || exit 1
pool_start --workers 3 || exit 1

FRONTENDS="127.0.0.1:$POOL_SIP_PORT_1,127.0.0.1:$POOL_SIP_PORT_2"

# run_load NAME ARGS...: pchat-load in the background, JSON to $POOL_DIR/NAME.json
run_load() {
    local name=$1
    shift
    "$LOAD" --domain "$POOL_DOMAIN" --progress off --json "$POOL_DIR/$name.json" "$@" \
        >"$POOL_DIR/$name.out" 2>&1 &
    LOAD_PID=$!
}

# field NAME EXPR: a value from the run's JSON (Perl expression on $d)
field() {
    perl -MJSON::PP -e '
        local $/; open my $f, "<", $ARGV[0] or die; my $d = decode_json(<$f>);
        my $v = eval $ARGV[1]; print defined $v ? $v : "undef";' "$POOL_DIR/$1.json" "$2"
}

# check_run NAME WHAT [MAX_TIMEOUTS]: the invariants every run must keep. Posts a client had in
# flight when its own front end was killed never get an answer: MAX_TIMEOUTS allows those.
check_run() {
    local name=$1 what=$2 max_timeouts=${3:-0}
    if [[ ! -s $POOL_DIR/$name.json ]]; then
        tap_ok 1 "$what: pchat-load produced its report"
        tap_diag "$(tail -20 "$POOL_DIR/$name.out")"
        return
    fi
    local accepted lost elost dup reord timeouts r503 withra
    accepted=$(field "$name" '$d->{posts}{accepted}')
    lost=$(field "$name" '$d->{posts}{lost}')
    elost=$(field "$name" '$d->{posts}{echo_lost}')
    dup=$(field "$name" '$d->{posts}{duplicates}')
    reord=$(field "$name" '$d->{posts}{reordered}')
    timeouts=$(field "$name" '$d->{requests}{post}{timeouts}')
    r503=$(field "$name" '$d->{retry_after}{responses_503}')
    withra=$(field "$name" '$d->{retry_after}{with_retry_after}')
    tap_diag "$what: $accepted posts accepted, $lost lost, $elost echoes lost, $dup duplicates," \
             "$reord reordered, $timeouts timeouts, $r503 answered 503 ($withra with Retry-After)"
    [[ $accepted -gt 100 ]]; tap_ok $? "$what: posts keep being accepted ($accepted)"
    [[ $lost -eq 0 && $elost -eq 0 ]]; tap_ok $? "$what: no acknowledged post is lost"
    [[ $dup -eq 0 && $reord -eq 0 ]]; tap_ok $? "$what: none is delivered twice or out of order"
    [[ $timeouts -le $max_timeouts ]]
    tap_ok $? "$what: no post of a surviving client waited past its timeout (503 or 200, never a hang)"
    [[ $r503 -eq $withra ]]; tap_ok $? "$what: every 503 carries Retry-After"
}

common=(--users 60 --rooms 10x6 --post-rate 40 --duration 12 --drain 8 --max-retries 5
        --timeout 15000 --retry-after-default 2)

# --- 1. a worker dies ------------------------------------------------------------------------
run_load worker --frontend "$FRONTENDS" --setup-rooms "$POOL_DB_CONNINFO" "${common[@]}"
pool_wait_log fe1 'worker w3' 1 >/dev/null 2>&1
sleep 6
pool_kill_worker w1 KILL
tap_diag "killed worker w1 (SIGKILL)"
wait "$LOAD_PID"
check_run worker "worker SIGKILL"
pool_wait_log fe1 'worker w1[.0-9]* (silent|is unreachable).*declared dead' 5 >/dev/null
tap_ok $? "the front end noticed the dead worker and re-dispatched its requests"

# --- 2. a front end dies ---------------------------------------------------------------------
run_load frontend --frontend "$FRONTENDS" "${common[@]}" --first-user 101
sleep 6
pool_kill_frontend 2 KILL
tap_diag "killed front end fe2 (SIGKILL)"
wait "$LOAD_PID"
lost_users=$(field frontend '$d->{run}{users_lost}')
check_run frontend "front end SIGKILL" "$lost_users"
[[ $lost_users -gt 0 ]]; tap_ok $? "the killed front end's users lost their sessions ($lost_users)"

pool_start_frontend 2 || exit 1
# its restart clears what its earlier run left in the store (FRONTEND_RESET)
left=1
for _ in $(seq 1 50); do
    left=$(pool_psql "SELECT count(*) FROM participants WHERE frontend_id = 'fe2'")
    [[ $left -eq 0 ]] && break
    sleep 0.2
done
tap_is "$left" 0 "the restarted front end's old memberships are gone from the store"
run_load again --frontend "127.0.0.1:$POOL_SIP_PORT_2" --users 20 --rooms 10x2 --post-rate 10 \
    --duration 4 --first-user 101
wait "$LOAD_PID"
signed=$(field again '$d->{setup}{signed_in}')
tap_is "$signed" 20 "clients of the killed front end sign in again once it is back"
again_lost=$(field again '$d->{posts}{lost} + $d->{posts}{duplicates}')
again_ok=$(field again '$d->{posts}{accepted}')
[[ $again_ok -gt 0 && $again_lost -eq 0 ]]
tap_ok $? "and chat again ($again_ok posts, none lost or doubled)"

# --- 3. PostgreSQL restarts ------------------------------------------------------------------
run_load database --frontend "$FRONTENDS" "${common[@]}" --duration 16 --first-user 201
sleep 4
"$POOL_ROOT/deploy/pg.sh" stop "$POOL_DIR/pg" "$POOL_PG_PORT" >/dev/null 2>&1
tap_diag "stopped PostgreSQL"
sleep 3
"$POOL_ROOT/deploy/pg.sh" start "$POOL_DIR/pg" "$POOL_PG_PORT" >/dev/null 2>&1
tap_diag "started PostgreSQL again"
wait "$LOAD_PID"
check_run database "PostgreSQL restart"
# the last seconds of the schedule (PostgreSQL back for ~8 s) must have accepted posts again
tail_ok=$(field database 'my $end = $d->{run}{schedule_s}; my $n = 0;
                            $n += $_->{accepted} for grep { $_->{t} >= $end - 4 && $_->{t} < $end }
                                                     @{$d->{per_second}}; $n')
[[ $tail_ok -gt 0 ]]; tap_ok $? "the pool serves again within seconds of PostgreSQL's return ($tail_ok posts in the last 4 s)"
during=$(field database '$d->{retry_after}{responses_503} + $d->{requests}{post}{failed}')
tap_diag "while PostgreSQL was away: $during refusals"
pool_stop
tap_ok $? "every daemon survived and stopped cleanly"
