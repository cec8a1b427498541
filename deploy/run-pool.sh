#!/usr/bin/env bash
# run-pool.sh — `make run`: a whole single-host pool (PostgreSQL, one front end, two channel
# workers, compliance when built) in the foreground; Ctrl-C stops it, data stays in var/.
set -euo pipefail

READY_TIMEOUT=${RUN_POOL_READY_TIMEOUT:-30}     # seconds for the pool to come up
STOP_GRACE=${RUN_POOL_STOP_GRACE:-5}            # seconds between SIGTERM and SIGKILL
WORKERS=(ch1 ch2)

usage() {
    cat <<'EOF'
usage: deploy/run-pool.sh [CONFIG]        (CONFIG defaults to deploy/dev.yaml)

Starts a complete pool on this host from CONFIG and stays in the foreground following
its logs:
  - a private PostgreSQL 15 cluster in var/pg on the port of database.pchat,
    the databases of database.pchat and database.mgccomp, migrated (sql/migrate.sh),
    and the demo room chat.demo_room (deploy/seed-demo.sh);
  - pchat-frontend, pchat-channel ch1 and ch2, and pchat-compliance when it is built and
    compliance.enabled is true; each logs to var/log/<name>.log (the previous run's log
    is kept as <name>.log.1) and has a pidfile in var/run.
Ctrl-C or SIGTERM stops every process it started; the data stays in var/ for next time.
Processes a previous run left behind (var/run/*.pid) are stopped first.

Environment: BUILD (build) where the binaries are, RUN_POOL_READY_TIMEOUT (30 s),
RUN_POOL_STOP_GRACE (5 s between SIGTERM and SIGKILL).
EOF
}

die() { echo "run-pool.sh: $*" >&2; exit 1; }
say() { echo "run-pool.sh: $*"; }

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
esac
(($# <= 1)) || { usage >&2; exit 2; }

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=$(realpath -- "${1:-$ROOT/deploy/dev.yaml}") || die "config file ${1:-deploy/dev.yaml} not found"
cd "$ROOT"
# The config as a command line in this directory names it (the daemons run here too).
CONFIG_SHOWN=${CONFIG#"$ROOT"/}
BUILD=${BUILD:-build}
FRONTEND_BIN=$BUILD/bin/pchat-frontend
CHANNEL_BIN=$BUILD/bin/pchat-channel
COMPLIANCE_BIN=$BUILD/bin/pchat-compliance
PCHATCTL_BIN=$BUILD/bin/pchatctl
for bin in "$FRONTEND_BIN" "$CHANNEL_BIN"; do
    [[ -x $bin ]] || die "$bin is not built: run 'make all' (or 'make run', which builds first)"
done
[[ -r $CONFIG ]] || die "cannot read $CONFIG"

# --- configuration, as the daemons themselves read it ------------------------------------
CONFIG_DUMP=$("$FRONTEND_BIN" -c "$CONFIG" --print-config) ||
    die "$CONFIG is not valid (the error above names the line); fix it and run again"

# cfg SECTION KEY: a scalar from the --print-config YAML ("section:" / "  key: value").
cfg() {
    awk -v want_section="$1" -v want_key="$2" '
        /^[A-Za-z_][A-Za-z0-9_]*:[ \t]*$/ { section = substr($0, 1, index($0, ":") - 1); next }
        /^[^ \t#]/ { section = "" }
        section == want_section && index($0, "  " want_key ":") == 1 {
            v = substr($0, length(want_key) + 4)
            sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
            if (v ~ /^".*"$/) {
                v = substr(v, 2, length(v) - 2)
                gsub(/\\"/, "\"", v); gsub(/\\\\/, "\\", v)
            }
            print v
            exit
        }' <<<"$CONFIG_DUMP"
}

# conninfo_get KEY CONNINFO: one field of a libpq keyword/value string or postgresql:// URI.
conninfo_get() {
    local key=$1 ci=$2 word
    if [[ $ci =~ ^postgres(ql)?://(([^@/]*)@)?([^:/?]*)(:([0-9]+))?(/([^?]*))? ]]; then
        case $key in
            user) echo "${BASH_REMATCH[3]%%:*}" ;;
            host) echo "${BASH_REMATCH[4]}" ;;
            port) echo "${BASH_REMATCH[6]}" ;;
            dbname) echo "${BASH_REMATCH[8]}" ;;
        esac
        return 0
    fi
    local -a words
    read -ra words <<<"$ci"
    for word in "${words[@]}"; do
        if [[ $word == "$key="* ]]; then
            echo "${word#*=}"
            return 0
        fi
    done
}

DOMAIN=$(cfg pool domain)
FE_ID=$(cfg frontend id)
SIP_ADDRESS=$(cfg frontend sip_address)
SIP_PORT=$(cfg frontend sip_port)
SIP_UDP=$(cfg frontend sip_udp)
ROUTER=$(cfg frontend router)
EVENTS=$(cfg frontend events)
DB_PCHAT=$(cfg database pchat)
DB_MGCCOMP=$(cfg database mgccomp)
DEMO_ROOM=$(cfg chat demo_room)
COMPLIANCE_ENABLED=$(cfg compliance enabled)
for var in DOMAIN FE_ID SIP_PORT ROUTER EVENTS DB_PCHAT DB_MGCCOMP; do
    [[ -n ${!var} ]] || die "could not read $var from '$FRONTEND_BIN --print-config' (does it print every section?)"
done

PG_HOST=$(conninfo_get host "$DB_PCHAT")
PG_PORT=$(conninfo_get port "$DB_PCHAT")
PG_PORT=${PG_PORT:-5432}
PCHAT_DB=$(conninfo_get dbname "$DB_PCHAT")
MGCCOMP_DB=$(conninfo_get dbname "$DB_MGCCOMP")
case $PG_HOST in
    127.0.0.1|localhost) ;;
    *) die "database.pchat must point at 127.0.0.1 (host=127.0.0.1 port=N): run-pool.sh runs its own PostgreSQL there (got host '$PG_HOST')" ;;
esac
[[ $(conninfo_get port "$DB_MGCCOMP") == "$PG_PORT" ]] ||
    die "database.mgccomp must use the same port as database.pchat ($PG_PORT): run-pool.sh runs one PostgreSQL cluster"
[[ -n $PCHAT_DB && -n $MGCCOMP_DB ]] || die "database.pchat and database.mgccomp must both name a dbname="

SIP_TRANSPORT=TCP
[[ $SIP_UDP != true ]] || SIP_TRANSPORT=TCP+UDP

# --- leftovers of a previous run ---------------------------------------------------------
mkdir -p var/pg var/log var/run var/compliance/xml
SELF_PIDFILE=var/run/run-pool.pid

pid_is() {   # pid_is PID WORD: PID is alive and its command line contains WORD
    local cmdline
    [[ $1 =~ ^[0-9]+$ ]] && running "$1" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$2"* ]]
}

# running PID: alive and not a zombie (a previous run's orphans may wait long to be reaped).
running() {
    local state
    state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# stop_pids NAME=PID...: SIGTERM to each in the order given, then SIGKILL to any still
# running STOP_GRACE seconds later.
stop_pids() {
    local entry pid deadline
    for entry in "$@"; do
        kill -TERM "${entry#*=}" 2>/dev/null || true
    done
    deadline=$((SECONDS + STOP_GRACE))
    for entry in "$@"; do
        pid=${entry#*=}
        while running "$pid" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if running "$pid"; then
            say "${entry%%=*} (pid $pid) ignored SIGTERM for ${STOP_GRACE}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

if [[ -f $SELF_PIDFILE ]] && pid_is "$(<"$SELF_PIDFILE")" run-pool.sh; then
    die "another run-pool.sh is running this pool (pid $(<"$SELF_PIDFILE")): stop it with Ctrl-C in its terminal or 'kill $(<"$SELF_PIDFILE")'"
fi
leftovers=()
for pidfile in var/run/*.pid; do
    [[ -f $pidfile && $pidfile != "$SELF_PIDFILE" ]] || continue
    name=$(basename "$pidfile" .pid)
    pid=$(<"$pidfile")
    if pid_is "$pid" pchat-; then
        say "stopping $name (pid $pid), left running by a previous run"
        leftovers+=("$name=$pid")
    fi
    rm -f "$pidfile"
done
((${#leftovers[@]} == 0)) || stop_pids "${leftovers[@]}"
echo $$ >"$SELF_PIDFILE"

# --- ports ---------------------------------------------------------------------------------
# port_taken PROTO PORT: prints who listens on PORT (PROTO t = TCP, u = UDP), if anyone.
port_taken() {
    ss -Hln"$1"p "sport = :$2" 2>/dev/null | awk '{ print $NF }' | head -n 1
}
endpoint_port() { [[ $1 =~ ^tcp://.*:([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"; }

taken=()
check_port() {   # check_port PROTO PORT WHAT
    local who
    who=$(port_taken "$1" "$2")
    [[ -z $who ]] || taken+=("  $3: port $2/$([[ $1 == t ]] && echo tcp || echo udp) is in use by ${who:-another process}")
}
check_port t "$SIP_PORT" "frontend.sip_port"
[[ $SIP_UDP != true ]] || check_port u "$SIP_PORT" "frontend.sip_port (UDP)"
for endpoint in "$ROUTER" "$EVENTS"; do
    port=$(endpoint_port "$endpoint") || continue
    check_port t "$port" "ZeroMQ endpoint $endpoint"
done
if ((${#taken[@]} > 0)); then
    rm -f "$SELF_PIDFILE"
    echo "run-pool.sh: ports needed by $CONFIG_SHOWN are taken:" >&2
    printf '%s\n' "${taken[@]}" >&2
    die "stop those processes, or change the ports in $CONFIG_SHOWN"
fi

# --- everything below is stopped by cleanup() ------------------------------------------------
declare -A PID_OF=()
STARTED=()            # daemon names in start order
FOLLOW_PID=""
SLEEP_PID=""
PG_STARTED=false

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [[ -z $FOLLOW_PID ]] || { kill "$FOLLOW_PID" 2>/dev/null || true; wait "$FOLLOW_PID" 2>/dev/null || true; }
    [[ -z $SLEEP_PID ]] || kill "$SLEEP_PID" 2>/dev/null || true
    local i name order=()
    if ((${#STARTED[@]} > 0)); then
        say "stopping ${STARTED[*]}"
        # Workers and compliance are signalled first so the front end sees them go.
        for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
            name=${STARTED[i]}
            order+=("$name=${PID_OF[$name]}")
        done
        stop_pids "${order[@]}"
        for name in "${STARTED[@]}"; do
            rm -f "var/run/$name.pid"
        done
    fi
    if $PG_STARTED; then
        deploy/pg.sh stop var/pg "$PG_PORT" || status=1
    fi
    rm -f "$SELF_PIDFILE"
    exit "$status"
}
trap cleanup EXIT
trap 'say "stopping (signal received)"; exit 0' INT TERM

# --- PostgreSQL and the stores ----------------------------------------------------------------
deploy/pg.sh init var/pg "$PG_PORT"
PG_STARTED=true
deploy/pg.sh start var/pg "$PG_PORT"
deploy/pg.sh createdb var/pg "$PG_PORT" "$PCHAT_DB"
deploy/pg.sh createdb var/pg "$PG_PORT" "$MGCCOMP_DB"
sql/migrate.sh "$DB_PCHAT" sql/pchat
sql/migrate.sh "$DB_MGCCOMP" sql/mgccomp
if [[ -n $DEMO_ROOM ]]; then
    deploy/seed-demo.sh "$DB_PCHAT" "$DEMO_ROOM" "$DOMAIN"
fi

# --- the daemons -----------------------------------------------------------------------------
start_daemon() {   # start_daemon NAME COMMAND...
    local name=$1 log=var/log/$1.log
    shift
    [[ ! -f $log ]] || mv -f "$log" "$log.1"
    "$@" </dev/null >>"$log" 2>&1 &
    PID_OF[$name]=$!
    STARTED+=("$name")
    echo "$!" >"var/run/$name.pid"
}

log_tails() {
    local name
    for name in "${STARTED[@]}"; do
        echo "--- last lines of var/log/$name.log ---" >&2
        tail -n 15 "var/log/$name.log" >&2 || true
    done
}

start_daemon "$FE_ID" "$FRONTEND_BIN" -c "$CONFIG_SHOWN"
for worker in "${WORKERS[@]}"; do
    start_daemon "$worker" "$CHANNEL_BIN" -c "$CONFIG_SHOWN" --id "$worker"
done
compliance_note=""
if [[ ! -x $COMPLIANCE_BIN ]]; then
    compliance_note="not built yet ($COMPLIANCE_BIN)"
elif [[ $COMPLIANCE_ENABLED != true ]]; then
    compliance_note="disabled (compliance.enabled is false in $CONFIG_SHOWN)"
else
    start_daemon compliance "$COMPLIANCE_BIN" -c "$CONFIG_SHOWN"
fi

say "waiting up to ${READY_TIMEOUT}s for $FE_ID to listen and ${WORKERS[*]} to connect"
fe_log=var/log/$FE_ID.log
deadline=$((SECONDS + READY_TIMEOUT))
while :; do
    for name in "${STARTED[@]}"; do
        if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            log_tails
            die "$name exited during start-up; its log is var/log/$name.log"
        fi
    done
    ready=true
    grep -q 'ready:' "$fe_log" || ready=false
    for worker in "${WORKERS[@]}"; do
        # A worker may announce itself as NAME.PID.
        grep -qE "worker $worker(\\.[0-9]+)? connected" "$fe_log" || ready=false
    done
    $ready && break
    if ((SECONDS >= deadline)); then
        log_tails
        die "the pool did not come up within ${READY_TIMEOUT}s: $FE_ID must log 'ready:' and 'worker <id> connected' for ${WORKERS[*]}"
    fi
    sleep 0.2
done

# --- what is running, and how to use it -----------------------------------------------------
pg_pid=$(deploy/pg.sh status var/pg "$PG_PORT" | sed -n 's/^running: pid \([0-9]*\).*/\1/p')
shim=$(realpath -m -- "$BUILD/tests/interop/libxml2-sax1-shim.so")
cat <<EOF

pchat pool is running (config $CONFIG_SHOWN, domain $DOMAIN)
EOF
row() { printf '  %-20s %s\n' "$1" "$2"; }
row "front end $FE_ID" "pid ${PID_OF[$FE_ID]}  SIP $SIP_ADDRESS:$SIP_PORT ($SIP_TRANSPORT)"
row "" "ZeroMQ requests $ROUTER, room events $EVENTS"
for worker in "${WORKERS[@]}"; do
    row "channel worker $worker" "pid ${PID_OF[$worker]}"
done
if [[ -n ${PID_OF[compliance]:-} ]]; then
    row "compliance" "pid ${PID_OF[compliance]}  (adapters write under var/compliance)"
else
    row "compliance" "$compliance_note"
fi
row "PostgreSQL 15" "pid ${pg_pid:-?}  127.0.0.1:$PG_PORT, data in var/pg; databases $PCHAT_DB, $MGCCOMP_DB"
cat <<EOF

Connect with Pidgin + pidgin-sipe (Accounts > Add > Office Communicator):
  Username  alice@$DOMAIN         Password  anything (auth.mode none accepts any)
  Advanced: Server[:Port] $SIP_ADDRESS:$SIP_PORT   Connection type TCP
EOF
if [[ -n $DEMO_ROOM ]]; then
    echo "  then Tools > Room List and join \"$DEMO_ROOM\" (category Demo)."
fi
if [[ -f $shim ]]; then
    echo "  Debian 12's libxml2 breaks pidgin-sipe's XML parsing: start Pidgin as"
    echo "    LD_PRELOAD=$shim pidgin"
else
    echo "  Debian 12's libxml2 breaks pidgin-sipe's XML parsing; build the work-around with"
    echo "    make interop   and start Pidgin with LD_PRELOAD=$shim"
fi
echo
echo "Logs: var/log/{$(IFS=,; echo "${STARTED[*]}")}.log, PostgreSQL var/pg/log/postgresql.log"
if [[ -x $PCHATCTL_BIN ]]; then
    echo "Administer: $PCHATCTL_BIN -c $CONFIG_SHOWN …"
else
    echo "Administer: $PCHATCTL_BIN -c $CONFIG_SHOWN …   (pchatctl is not built yet)"
fi
echo "Ctrl-C stops the pool; the data stays in var/. Following the logs:"
echo

# --- follow the logs until told to stop -----------------------------------------------------
follow_logs=()
for name in "${STARTED[@]}"; do
    follow_logs+=("var/log/$name.log")
done
follow_logs+=(var/pg/log/postgresql.log)
# tail -F prints "==> FILE <==" when it switches files; perl turns that into a line prefix
# (not awk: Debian's mawk holds piped input back in blocks). --pid: tail ends with this
# script even when the script is killed with SIGKILL.
tail --pid=$$ -n 0 -F "${follow_logs[@]}" 2>/dev/null > >(perl -ne '
    BEGIN { $| = 1; $name = "" }
    if (m{^==> (?:.*/)?([^/]+?)(?:\.log)? <==$}) { $name = $1 eq "postgresql" ? "pg" : $1; next }
    printf "%-10s| %s", $name, $_ if /\S/') &
FOLLOW_PID=$!

declare -A REPORTED=()
while :; do
    alive=0
    for name in "${STARTED[@]}"; do
        if kill -0 "${PID_OF[$name]}" 2>/dev/null; then
            alive=$((alive + 1))
        elif [[ -z ${REPORTED[$name]:-} ]]; then
            REPORTED[$name]=1
            status=0
            wait "${PID_OF[$name]}" || status=$?
            say "$name (pid ${PID_OF[$name]}) exited with status $status; see var/log/$name.log"
        fi
    done
    ((alive > 0)) || die "every daemon has exited; stopping PostgreSQL"
    sleep 1 &
    SLEEP_PID=$!
    wait "$SLEEP_PID" || true
done
