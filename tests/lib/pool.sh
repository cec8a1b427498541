# shellcheck shell=bash
# pool.sh — sourced by integration tests (bash .t scripts): a real pchat pool on free ports
# against a real PostgreSQL, torn down on exit, and TAP helpers.
#
#   . "$(dirname "$0")/../lib/pool.sh"
#
# Pool:
#   pool_init NAME            fresh databases NAME (chat store) and NAME_comp (compliance
#                             store): dropped if they exist, created, migrated, demo room
#                             seeded; makes the temp dir $POOL_DIR (configs, logs). Uses the
#                             run's shared PostgreSQL (PCHAT_TEST_PGHOST/PCHAT_TEST_PGPORT, set
#                             by tests/run-tests.pl) or, when unset, starts its own in $POOL_DIR.
#   pool_config [--frontends N] [--set KEY=VALUE]... [--yaml TEXT]
#                             writes $POOL_CONFIG ($POOL_DIR/pool.yaml) for N front ends (1)
#                             on free ports; --set goes to every daemon's command line (after
#                             the per-front-end ones, so it wins); --yaml appends raw YAML (a
#                             section the file lacks, e.g. compliance). Exports POOL_CONFIG,
#                             POOL_FRONTENDS, POOL_SIP_PORT_1..N, POOL_ROUTER_1..N,
#                             POOL_EVENTS_1..N, POOL_DOMAIN, POOL_DB_CONNINFO,
#                             POOL_COMP_CONNINFO, POOL_DEMO_ROOM.
#   pool_start_frontend K     starts front end feK; waits for its "ready:" line
#   pool_start_worker NAME    starts channel worker NAME; waits for its "ready:" line and for
#                             "worker NAME[.PID] connected" in every running front end's log
#   pool_start [--workers M]  pool_config if not done, then every front end and M workers
#                             (w1..wM, default 2), waiting for all of them as above
#   pool_kill_worker NAME [SIGNAL]   sends SIGNAL (TERM) and waits until it is gone (SIGKILL
#   pool_kill_frontend K [SIGNAL]    after POOL_STOP_GRACE seconds); STOP/CONT do not wait
#   pool_stop                 stops every daemon still running (SIGTERM, then SIGKILL); fails
#                             if one had died or exited non-zero. Runs again on exit, which
#                             also stops a PostgreSQL pool_init started: nothing stays running.
#   pool_pid NAME             the pid of a running daemon (fe1, w1, ...)
#   pool_wait_log NAME REGEX [SECONDS]  waits until a line of NAME's log matches REGEX (grep -E)
#   pool_psql SQL [PSQL-OPTION...]      runs SQL on the chat store; prints rows as a|b
#   pool_psql_comp SQL [PSQL-OPTION...] the same on the compliance store
#   pool_log_tail [NAME] [LINES]        the last LINES (20) of one log, or of every log, as
#                                       TAP diagnostics
# TAP:
#   tap_plan N                prints the plan
#   tap_ok STATUS MSG         passes when STATUS is 0 (an exit status: `[[ … ]]; tap_ok $? msg`)
#   tap_is GOT WANT MSG       passes when the strings are equal; shows both otherwise
#   tap_skip N REASON         records N skipped tests
#   tap_diag TEXT...          prints "# TEXT" on stderr
# tap_ok and tap_is return 0 even when the test fails, so `set -e` scripts carry on; the
# script's exit status is non-zero when a test failed or the plan was not run in full.
#
# Environment: BUILD (the repository's build/), POOL_READY_TIMEOUT (20 s),
# POOL_STOP_GRACE (5 s), POOL_LOG_LEVEL (info), POOL_KEEP=1 keeps $POOL_DIR and the databases.
# Logs are $POOL_DIR/<name>.log; on failure they are shown and $POOL_DIR is kept.
# Call pool functions directly, not inside $( ): they keep the daemons' pids in this shell.
# Do not replace the EXIT trap pool_init sets; it is what stops everything.

POOL_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$POOL_ROOT/$BUILD
POOL_READY_TIMEOUT=${POOL_READY_TIMEOUT:-20}
POOL_STOP_GRACE=${POOL_STOP_GRACE:-5}

POOL_NAME=""
POOL_DIR=""
POOL_CONFIG=""
POOL_FRONTENDS=0
POOL_SETS=()
POOL_PG_HOST=""
POOL_PG_PORT=""
POOL_OWN_PG=false
declare -A _POOL_PIDS=()       # daemon name -> pid, while running
_POOL_DAEMONS=()               # names in start order (may repeat after a restart)
_POOL_LOGS_SHOWN=false

TAP_PLANNED=""
TAP_RUN=0
TAP_FAILED=0

# --- TAP ---------------------------------------------------------------------------------------
tap_plan() {
    TAP_PLANNED=$1
    echo "1..$1"
}

tap_diag() {
    local line
    while IFS= read -r line; do
        echo "# $line" >&2
    done <<<"$*"
}

tap_ok() {
    local status=$1 msg=$2
    TAP_RUN=$((TAP_RUN + 1))
    if [[ $status == 0 ]]; then
        echo "ok $TAP_RUN - $msg"
        return 0
    fi
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_RUN - $msg"
    tap_diag "  Failed test '$msg' (status '$status') at ${BASH_SOURCE[1]:-?} line ${BASH_LINENO[0]}"
}

tap_is() {
    local got=$1 want=$2 msg=$3
    TAP_RUN=$((TAP_RUN + 1))
    if [[ $got == "$want" ]]; then
        echo "ok $TAP_RUN - $msg"
        return 0
    fi
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_RUN - $msg"
    tap_diag "  Failed test '$msg' at ${BASH_SOURCE[1]:-?} line ${BASH_LINENO[0]}
       got: '$got'
  expected: '$want'"
}

tap_skip() {
    local n=$1 reason=$2 i
    for ((i = 0; i < n; i++)); do
        TAP_RUN=$((TAP_RUN + 1))
        echo "ok $TAP_RUN # SKIP $reason"
    done
}

# --- helpers -----------------------------------------------------------------------------------
_pool_fail() {   # _pool_fail MESSAGE [LOG-NAME...]: diagnostics, the named logs' tails, status 1
    local name
    tap_diag "pool.sh: $1"
    shift
    for name in "$@"; do
        pool_log_tail "$name" 30
    done
    return 1
}

# N distinct ports free on 127.0.0.1 for both TCP and UDP (SIP listens on both).
pool_free_ports() {
    perl -MIO::Socket::INET -e '
        my ($n, @keep, @ports) = ($ARGV[0]);
        while (@ports < $n) {
            my $tcp = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
                                            Proto => "tcp", Listen => 1)
                or die "pool.sh: no free TCP port on 127.0.0.1: $!\n";
            push @keep, $tcp;
            my $udp = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
                                            LocalPort => $tcp->sockport, Proto => "udp")
                or next;
            push @keep, $udp;
            push @ports, $tcp->sockport;
        }
        print "@ports\n";' "$1"
}

_pool_admin_psql() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 -h "$POOL_PG_HOST" -p "$POOL_PG_PORT" -U postgres \
         -d postgres "$@"
}

_pool_log() { echo "$POOL_DIR/$1.log"; }

_pool_log_size() { stat -c %s "$(_pool_log "$1")" 2>/dev/null || echo 0; }

# _pool_log_has NAME OFFSET REGEX: NAME's log, from byte OFFSET on, matches REGEX (grep -E).
_pool_log_has() {
    local log
    log=$(_pool_log "$1")
    # Not "tail | grep -q": with pipefail, grep quitting early fails the pipeline.
    [[ -f $log ]] && grep -qE -- "$3" < <(tail -c "+$(($2 + 1))" "$log")
}

# _pool_wait NAME OFFSET REGEX [PROCESS]: waits until NAME's log matches REGEX after OFFSET,
# failing early when PROCESS (default NAME) has exited.
_pool_wait() {
    local name=$1 offset=$2 text=$3 process=${4:-$1}
    local deadline=$((SECONDS + POOL_READY_TIMEOUT)) pid=${_POOL_PIDS[${4:-$1}]:-}
    until _pool_log_has "$name" "$offset" "$text"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            local status=0
            wait "$pid" 2>/dev/null || status=$?
            unset "_POOL_PIDS[$process]"
            _pool_fail "$process exited (status $status) before $name logged '$text'" \
                "$process" "$name"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            _pool_fail "$name did not log '$text' within ${POOL_READY_TIMEOUT}s" "$name" "$process"
            return 1
        fi
        sleep 0.1
    done
}

_pool_on_exit() {
    local status=$?
    set +e
    trap - EXIT
    pool_stop || { ((status != 0)) || status=1; }
    if [[ -n $TAP_PLANNED && $TAP_RUN != "$TAP_PLANNED" ]]; then
        tap_diag "planned $TAP_PLANNED tests but ran $TAP_RUN"
        ((status != 0)) || status=1
    fi
    if ((TAP_FAILED > 0)); then
        tap_diag "failed $TAP_FAILED of $TAP_RUN tests"
        ((status != 0)) || status=1
    fi
    if ((status != 0)) && [[ -n $POOL_DIR ]] && ! $_POOL_LOGS_SHOWN; then
        pool_log_tail "" 20
    fi
    if [[ -n $POOL_DIR ]]; then
        if ((status == 0)) && [[ -z ${POOL_KEEP:-} ]]; then
            if [[ -n $POOL_NAME ]] && ! $POOL_OWN_PG; then
                _pool_admin_psql -c "DROP DATABASE IF EXISTS \"$POOL_NAME\" WITH (FORCE)" \
                                 -c "DROP DATABASE IF EXISTS \"${POOL_NAME}_comp\" WITH (FORCE)" \
                    >/dev/null 2>&1
            fi
            $POOL_OWN_PG && "$POOL_ROOT/deploy/pg.sh" stop "$POOL_DIR/pg" "$POOL_PG_PORT" >/dev/null 2>&1
            rm -rf "$POOL_DIR"
        else
            $POOL_OWN_PG && "$POOL_ROOT/deploy/pg.sh" stop "$POOL_DIR/pg" "$POOL_PG_PORT" >/dev/null 2>&1
            tap_diag "pool.sh: kept $POOL_DIR (configs and logs)"
        fi
    fi
    exit "$status"
}

# --- pool --------------------------------------------------------------------------------------
pool_init() {
    local name=${1:-}
    [[ $name =~ ^[a-z][a-z0-9_]{0,40}$ ]] ||
        { _pool_fail "pool_init needs a NAME of lower-case letters, digits and _ (got '$name')"; return 1; }
    POOL_NAME=$name
    if [[ -n $POOL_DIR ]]; then
        :    # called again: same directory and PostgreSQL, fresh databases
    else
        POOL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pchat-$name.XXXXXX")
        chmod 755 "$POOL_DIR"    # its own PostgreSQL runs as postgres when we are root
        trap _pool_on_exit EXIT
        trap 'exit 129' HUP
        trap 'exit 130' INT
        trap 'exit 143' TERM
    fi

    local setup=$POOL_DIR/setup.log
    if [[ -n $POOL_PG_PORT ]]; then
        :
    elif [[ -n ${PCHAT_TEST_PGPORT:-} ]]; then
        POOL_PG_HOST=${PCHAT_TEST_PGHOST:-127.0.0.1}
        POOL_PG_PORT=$PCHAT_TEST_PGPORT
    else
        POOL_PG_HOST=127.0.0.1
        POOL_PG_PORT=$(pool_free_ports 1)
        POOL_OWN_PG=true
        { "$POOL_ROOT/deploy/pg.sh" init "$POOL_DIR/pg" "$POOL_PG_PORT" &&
          "$POOL_ROOT/deploy/pg.sh" start "$POOL_DIR/pg" "$POOL_PG_PORT"; } >>"$setup" 2>&1 ||
            { tap_diag "$(cat "$setup")"; _pool_fail "could not start a PostgreSQL in $POOL_DIR/pg"; return 1; }
    fi

    {
        _pool_admin_psql -v name="$name" <<'EOF'
SELECT 'CREATE ROLE pchat LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pchat') \gexec
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'name') \gexec
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'name' || '_comp') \gexec
SELECT format('CREATE DATABASE %I OWNER pchat', :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER pchat', :'name' || '_comp') \gexec
EOF
    } >>"$setup" 2>&1 ||
        { tap_diag "$(cat "$setup")"; _pool_fail "could not create databases $name and ${name}_comp on $POOL_PG_HOST:$POOL_PG_PORT"; return 1; }

    POOL_DB_CONNINFO="host=$POOL_PG_HOST port=$POOL_PG_PORT dbname=$name user=pchat"
    POOL_COMP_CONNINFO="host=$POOL_PG_HOST port=$POOL_PG_PORT dbname=${name}_comp user=pchat"
    POOL_DEMO_ROOM=${POOL_DEMO_ROOM:-Lobby}
    export POOL_DB_CONNINFO POOL_COMP_CONNINFO POOL_DEMO_ROOM POOL_DIR
    { "$POOL_ROOT/sql/migrate.sh" "$POOL_DB_CONNINFO" "$POOL_ROOT/sql/pchat" &&
      "$POOL_ROOT/sql/migrate.sh" "$POOL_COMP_CONNINFO" "$POOL_ROOT/sql/mgccomp" &&
      "$POOL_ROOT/deploy/seed-demo.sh" "$POOL_DB_CONNINFO" "$POOL_DEMO_ROOM" "${POOL_DOMAIN:-example.com}"; } >>"$setup" 2>&1 ||
        { tap_diag "$(cat "$setup")"; _pool_fail "could not migrate or seed $name / ${name}_comp"; return 1; }
}

# shellcheck disable=SC2120  # pool_start calls it without options, tests with them
pool_config() {
    local n=1 extra_yaml="" k
    POOL_SETS=()
    while (($# > 0)); do
        case $1 in
            --frontends) n=$2; shift 2 ;;
            --set) POOL_SETS+=(--set "$2"); shift 2 ;;
            --yaml) extra_yaml+=$2$'\n'; shift 2 ;;
            *) _pool_fail "pool_config: unknown option '$1'"; return 1 ;;
        esac
    done
    [[ -n $POOL_DIR ]] || { _pool_fail "pool_config: call pool_init first"; return 1; }
    [[ $n =~ ^[1-9][0-9]?$ ]] || { _pool_fail "pool_config: --frontends must be 1-32 (got '$n')"; return 1; }

    local -a ports
    read -ra ports <<<"$(pool_free_ports $((3 * n)))"
    ((${#ports[@]} == 3 * n)) || { _pool_fail "pool_config: could not find $((3 * n)) free ports"; return 1; }
    POOL_FRONTENDS=$n
    POOL_DOMAIN=${POOL_DOMAIN:-example.com}
    POOL_CONFIG=$POOL_DIR/pool.yaml
    export POOL_FRONTENDS POOL_DOMAIN POOL_CONFIG
    for ((k = 1; k <= n; k++)); do
        printf -v "POOL_SIP_PORT_$k" '%s' "${ports[3 * (k - 1)]}"
        printf -v "POOL_ROUTER_$k" 'tcp://127.0.0.1:%s' "${ports[3 * (k - 1) + 1]}"
        printf -v "POOL_EVENTS_$k" 'tcp://127.0.0.1:%s' "${ports[3 * (k - 1) + 2]}"
        export "POOL_SIP_PORT_$k" "POOL_ROUTER_$k" "POOL_EVENTS_$k"
    done

    {
        echo "# Written by tests/lib/pool.sh for test database $POOL_NAME."
        echo "pool:"
        echo "  domain: \"$POOL_DOMAIN\""
        echo "log:"
        echo "  level: \"${POOL_LOG_LEVEL:-info}\""
        echo "database:"
        echo "  pchat: \"$POOL_DB_CONNINFO\""
        echo "  mgccomp: \"$POOL_COMP_CONNINFO\""
        echo "auth:"
        echo "  mode: \"none\""
        echo "# front ends 2..N take these keys from --set on their command line"
        echo "frontend:"
        echo "  id: \"fe1\""
        echo "  sip_address: \"127.0.0.1\""
        echo "  sip_port: $POOL_SIP_PORT_1"
        echo "  router: \"$POOL_ROUTER_1\""
        echo "  events: \"$POOL_EVENTS_1\""
        echo "channel:"
        echo "  frontends:"
        for ((k = 1; k <= n; k++)); do
            local router_var=POOL_ROUTER_$k events_var=POOL_EVENTS_$k
            echo "    - id: \"fe$k\""
            echo "      router: \"${!router_var}\""
            echo "      events: \"${!events_var}\""
        done
        echo "chat:"
        echo "  demo_room: \"$POOL_DEMO_ROOM\""
        printf '%s' "$extra_yaml"
    } >"$POOL_CONFIG"
}

pool_start_frontend() {
    local k=${1:-} name offset
    [[ -n $POOL_CONFIG ]] || { _pool_fail "pool_start_frontend: call pool_config first"; return 1; }
    if ! [[ $k =~ ^[0-9]+$ ]] || ((k < 1 || k > POOL_FRONTENDS)); then
        _pool_fail "pool_start_frontend: K must be 1..$POOL_FRONTENDS (got '$k')"
        return 1
    fi
    name=fe$k
    [[ -z ${_POOL_PIDS[$name]:-} ]] || { _pool_fail "pool_start_frontend: $name is already running"; return 1; }
    local sip_var=POOL_SIP_PORT_$k router_var=POOL_ROUTER_$k events_var=POOL_EVENTS_$k
    offset=$(_pool_log_size "$name")
    "$BUILD/bin/pchat-frontend" -c "$POOL_CONFIG" --set "frontend.id=$name" \
        --set "frontend.sip_port=${!sip_var}" --set "frontend.router=${!router_var}" \
        --set "frontend.events=${!events_var}" "${POOL_SETS[@]}" \
        </dev/null >>"$(_pool_log "$name")" 2>&1 &
    _POOL_PIDS[$name]=$!
    _POOL_DAEMONS+=("$name")
    _pool_wait "$name" "$offset" 'ready:'
}

pool_start_worker() {
    local name=${1:-} k offset
    [[ -n $POOL_CONFIG ]] || { _pool_fail "pool_start_worker: call pool_config first"; return 1; }
    [[ $name =~ ^[A-Za-z0-9_-]{1,32}$ ]] || { _pool_fail "pool_start_worker: bad worker name '$name'"; return 1; }
    [[ -z ${_POOL_PIDS[$name]:-} ]] || { _pool_fail "pool_start_worker: $name is already running"; return 1; }
    declare -A fe_offset=()
    for ((k = 1; k <= POOL_FRONTENDS; k++)); do
        [[ -z ${_POOL_PIDS[fe$k]:-} ]] || fe_offset[fe$k]=$(_pool_log_size "fe$k")
    done
    offset=$(_pool_log_size "$name")
    "$BUILD/bin/pchat-channel" -c "$POOL_CONFIG" --id "$name" "${POOL_SETS[@]}" \
        </dev/null >>"$(_pool_log "$name")" 2>&1 &
    _POOL_PIDS[$name]=$!
    _POOL_DAEMONS+=("$name")
    _pool_wait "$name" "$offset" 'ready:' || return 1
    for fe in "${!fe_offset[@]}"; do
        # A worker may announce itself as NAME.PID.
        _pool_wait "$fe" "${fe_offset[$fe]}" "worker $name(\\.[0-9]+)? connected" "$name" || return 1
    done
}

pool_start() {
    local workers=2 k
    while (($# > 0)); do
        case $1 in
            --workers) workers=$2; shift 2 ;;
            *) _pool_fail "pool_start: unknown option '$1'"; return 1 ;;
        esac
    done
    [[ $workers =~ ^[0-9]+$ ]] || { _pool_fail "pool_start: --workers must be a number (got '$workers')"; return 1; }
    [[ -n $POOL_CONFIG ]] || pool_config || return 1
    for ((k = 1; k <= POOL_FRONTENDS; k++)); do
        pool_start_frontend "$k" || return 1
    done
    for ((k = 1; k <= workers; k++)); do
        pool_start_worker "w$k" || return 1
    done
}

pool_pid() { echo "${_POOL_PIDS[$1]:-}"; }

# _pool_kill NAME SIGNAL: signal a daemon; unless it is STOP/CONT, wait until it is gone.
_pool_kill() {
    local name=$1 signal=${2:-TERM} pid deadline outlived=false
    pid=${_POOL_PIDS[$name]:-}
    [[ -n $pid ]] || { _pool_fail "$name is not running"; return 1; }
    case $signal in
        STOP|SIGSTOP|CONT|SIGCONT|19|18) kill -s "$signal" "$pid"; return 0 ;;
    esac
    # stderr off: bash would report the job's death ("Killed") that the test asked for.
    {
        kill -s "$signal" "$pid" || true
        deadline=$((SECONDS + POOL_STOP_GRACE))
        while kill -0 "$pid" && ((SECONDS < deadline)); do
            sleep 0.05
        done
        if kill -0 "$pid"; then
            outlived=true
            kill -KILL "$pid" || true
        fi
        wait "$pid" || true
    } 2>/dev/null
    ! $outlived || tap_diag "pool.sh: $name (pid $pid) outlived SIG$signal by ${POOL_STOP_GRACE}s; sent SIGKILL"
    unset "_POOL_PIDS[$name]"
}

pool_kill_worker() { _pool_kill "${1:?pool_kill_worker NAME [SIGNAL]}" "${2:-TERM}"; }
pool_kill_frontend() { _pool_kill "fe${1:?pool_kill_frontend K [SIGNAL]}" "${2:-TERM}"; }

pool_stop() {
    local name pid status failed=0 deadline i
    local -a names=()
    local -A listed=()
    # Workers before front ends, latest first; a restarted daemon appears once.
    for ((i = ${#_POOL_DAEMONS[@]} - 1; i >= 0; i--)); do
        name=${_POOL_DAEMONS[i]}
        [[ -n ${_POOL_PIDS[$name]:-} && $name != fe* && -z ${listed[$name]:-} ]] || continue
        names+=("$name")
        listed[$name]=1
    done
    for ((i = ${#_POOL_DAEMONS[@]} - 1; i >= 0; i--)); do
        name=${_POOL_DAEMONS[i]}
        [[ -n ${_POOL_PIDS[$name]:-} && $name == fe* && -z ${listed[$name]:-} ]] || continue
        names+=("$name")
        listed[$name]=1
    done
    for name in "${names[@]}"; do
        pid=${_POOL_PIDS[$name]}
        if ! kill -0 "$pid" 2>/dev/null; then
            status=0
            wait "$pid" 2>/dev/null || status=$?
            tap_diag "pool.sh: $name (pid $pid) had already exited (status $status)"
            unset "_POOL_PIDS[$name]"
            failed=1
            continue
        fi
        kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + POOL_STOP_GRACE))
    for name in "${names[@]}"; do
        pid=${_POOL_PIDS[$name]:-}
        [[ -n $pid ]] || continue
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
            tap_diag "pool.sh: $name (pid $pid) outlived SIGTERM by ${POOL_STOP_GRACE}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            failed=1
        fi
        status=0
        wait "$pid" 2>/dev/null || status=$?
        if ((status != 0 && status != 127)); then
            tap_diag "pool.sh: $name (pid $pid) exited with status $status on SIGTERM"
            failed=1
        fi
        unset "_POOL_PIDS[$name]"
    done
    if ((failed)); then
        pool_log_tail "" 20
        return 1
    fi
}

pool_wait_log() {
    local name=${1:?pool_wait_log NAME REGEX [SECONDS]} regex=${2:?pool_wait_log NAME REGEX [SECONDS]}
    local POOL_READY_TIMEOUT=${3:-$POOL_READY_TIMEOUT}
    _pool_wait "$name" 0 "$regex"
}

pool_psql() {
    local sql=${1:?pool_psql SQL}
    shift
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$POOL_DB_CONNINFO" -c "$sql" "$@"
}

pool_psql_comp() {
    local sql=${1:?pool_psql_comp SQL}
    shift
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$POOL_COMP_CONNINFO" -c "$sql" "$@"
}

pool_log_tail() {
    local name=${1:-} lines=${2:-20} log
    [[ -n $POOL_DIR ]] || return 0
    if [[ -z $name ]]; then
        _POOL_LOGS_SHOWN=true
        for log in "$POOL_DIR"/*.log; do
            [[ -f $log ]] || continue
            name=${log##*/}
            pool_log_tail "${name%.log}" "$lines"
        done
        return 0
    fi
    log=$(_pool_log "$name")
    [[ -s $log ]] || return 0
    tap_diag "--- last $lines lines of $log ---
$(tail -n "$lines" "$log")"
}
