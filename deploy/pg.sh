#!/usr/bin/env bash
# pg.sh — a private PostgreSQL 15 cluster in one directory, for `make run` and the tests.
# DATADIR holds data/ (the cluster), run/ (its Unix socket) and log/ (postgresql.log).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}
PG_STOP_TIMEOUT=${PG_STOP_TIMEOUT:-60}
PG_OWNER=pchat                       # the role the daemons and the migrations connect as

usage() {
    cat <<'EOF'
usage: deploy/pg.sh COMMAND DATADIR PORT [ARG]

A private PostgreSQL 15 cluster listening on 127.0.0.1:PORT (trust authentication).
DATADIR holds data/ (the cluster), run/ (its Unix socket) and log/postgresql.log.

  init     DATADIR PORT          create the cluster (does nothing if it exists)
  start    DATADIR PORT          start it and wait until it accepts connections
                                 (already running on PORT is fine); env PG_START_TIMEOUT (60 s)
  stop     DATADIR PORT          stop it (pg_ctl stop -m fast); not running is fine
  status   DATADIR PORT          print its state; exit 0 running, 3 stopped, 4 no cluster
  url      DATADIR PORT [DB]     print postgresql://postgres@127.0.0.1:PORT/DB (DB: postgres)
  createdb DATADIR PORT NAME     create role pchat (LOGIN) if missing and database NAME owned
                                 by it, if missing
  dropdb   DATADIR PORT NAME     drop database NAME if it exists (disconnecting its sessions)

When run as root, DATADIR is given to the `postgres` user and initdb/pg_ctl run through
`runuser -u postgres --` (PostgreSQL refuses to run as root); every parent directory of
DATADIR must then be traversable by `postgres`.
EOF
}

die() { echo "pg.sh: $*" >&2; exit 1; }

# Run a PostgreSQL server binary as the user allowed to own the cluster.
as_pg_user() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

log_tail() {
    local log=$DATADIR/log/postgresql.log
    if [[ -r $log ]]; then
        echo "pg.sh: last lines of $log:" >&2
        tail -n 20 "$log" | sed 's/^/    /' >&2
    fi
}

admin_psql() {
    PGOPTIONS="-c client_min_messages=warning" \
        psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"
}

is_running() {
    [[ -f $DATA/PG_VERSION ]] && as_pg_user "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Port the running postmaster listens on: line 4 of postmaster.pid.
running_port() {
    sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true
}

port_owner() {
    ss -Hltnp "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n 1
}

cmd_init() {
    if [[ -f $DATA/PG_VERSION ]]; then
        echo "pg.sh: cluster already initialised in $DATA"
        return 0
    fi
    mkdir -p "$DATA" "$DATADIR/run" "$DATADIR/log"
    if ((EUID == 0)); then
        chown -R postgres:postgres "$DATADIR"
        runuser -u postgres -- test -x "$DATADIR" ||
            die "the postgres user cannot enter $DATADIR: make every parent directory traversable (chmod o+x), or use a DATADIR elsewhere"
    fi
    chmod 700 "$DATA"
    echo "pg.sh: initialising a PostgreSQL 15 cluster in $DATA"
    as_pg_user "$PG_BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=trust >"$DATADIR/log/initdb.log" 2>&1 || {
        tail -n 20 "$DATADIR/log/initdb.log" >&2
        die "initdb failed; its full output is in $DATADIR/log/initdb.log"
    }
    cat >"$DATA/pg_hba.conf" <<'EOF'
# pg_hba.conf written by deploy/pg.sh: a private test/dev cluster, trust on loopback only.
local   all          all                  trust
host    all          all    127.0.0.1/32  trust
local   replication  all                  trust
host    replication  all    127.0.0.1/32  trust
EOF
    cat >>"$DATA/postgresql.conf" <<EOF

# --- deploy/pg.sh: a private cluster for pchat (later settings win) ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATADIR/run'
max_connections = 300
shared_buffers = 128MB
# pchat acknowledges a post only after its commit is durable.
synchronous_commit = on
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_min_error_statement = error
EOF
    if ((EUID == 0)); then
        chown postgres:postgres "$DATA/pg_hba.conf" "$DATA/postgresql.conf"
    fi
    echo "pg.sh: cluster ready in $DATA (start it with: deploy/pg.sh start $DATADIR $PORT)"
}

wait_ready() {
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until pg_isready -q -h 127.0.0.1 -p "$PORT" -t 1; do
        if ! is_running; then
            log_tail
            die "PostgreSQL in $DATA exited during start-up; see $DATADIR/log/postgresql.log"
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            die "PostgreSQL in $DATA did not accept connections on 127.0.0.1:$PORT within ${PG_START_TIMEOUT}s; see $DATADIR/log/postgresql.log"
        fi
        sleep 0.2
    done
}

cmd_start() {
    [[ -f $DATA/PG_VERSION ]] || die "no cluster in $DATA: run deploy/pg.sh init $DATADIR $PORT first"
    if is_running; then
        local port
        port=$(running_port)
        if [[ $port != "$PORT" ]]; then
            die "the cluster in $DATA is already running on port $port, not $PORT: stop it first (deploy/pg.sh stop $DATADIR $port)"
        fi
        wait_ready
        echo "pg.sh: already running on 127.0.0.1:$PORT"
        return 0
    fi
    local owner
    owner=$(port_owner "$PORT")
    [[ -z $owner ]] || die "port $PORT on 127.0.0.1 is already in use ($owner): choose another port or stop that process"
    # Unix socket paths are limited to 107 bytes.
    local socket=$DATADIR/run/.s.PGSQL.$PORT
    ((${#socket} <= 100)) || die "socket path $socket is too long for a Unix socket: use a shorter DATADIR"
    mkdir -p "$DATADIR/run" "$DATADIR/log"
    if ((EUID == 0)); then
        chown postgres:postgres "$DATADIR/run" "$DATADIR/log"
    fi
    as_pg_user "$PG_BIN/pg_ctl" start -D "$DATA" -W -l "$DATADIR/log/postgresql.log" \
        -o "-p $PORT" >/dev/null ||
        { log_tail; die "pg_ctl could not start the cluster in $DATA"; }
    wait_ready
    echo "pg.sh: PostgreSQL running on 127.0.0.1:$PORT (data $DATA, log $DATADIR/log/postgresql.log)"
}

cmd_stop() {
    if ! is_running; then
        echo "pg.sh: not running ($DATA)"
        return 0
    fi
    as_pg_user "$PG_BIN/pg_ctl" stop -D "$DATA" -m fast -w -t "$PG_STOP_TIMEOUT" >/dev/null ||
        { log_tail; die "pg_ctl could not stop the cluster in $DATA within ${PG_STOP_TIMEOUT}s"; }
    echo "pg.sh: stopped ($DATA)"
}

cmd_status() {
    if [[ ! -f $DATA/PG_VERSION ]]; then
        echo "no cluster in $DATA"
        exit 4
    fi
    if is_running; then
        echo "running: pid $(sed -n 1p "$DATA/postmaster.pid"), 127.0.0.1:$(running_port), data $DATA"
        exit 0
    fi
    echo "stopped: data $DATA"
    exit 3
}

check_dbname() {
    [[ $1 =~ ^[a-z_][a-z0-9_]{0,62}$ ]] ||
        die "database name '$1' must be 1-63 lower-case letters, digits or _ and not start with a digit"
}

cmd_createdb() {
    local name=$1
    check_dbname "$name"
    admin_psql -v owner="$PG_OWNER" <<'EOF'
SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
EOF
    local exists
    exists=$(admin_psql -v name="$name" <<'EOF'
SELECT count(*) FROM pg_database WHERE datname = :'name';
EOF
)
    if [[ $exists == 1 ]]; then
        echo "pg.sh: database $name exists"
        return 0
    fi
    admin_psql -v name="$name" -v owner="$PG_OWNER" <<'EOF'
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'owner') \gexec
EOF
    echo "pg.sh: created database $name (owner $PG_OWNER)"
}

cmd_dropdb() {
    local name=$1
    check_dbname "$name"
    admin_psql -v name="$name" <<'EOF'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'name') \gexec
EOF
}

case "${1:-}" in
    -h|--help|help) usage; exit 0 ;;
    init|start|stop|status|url|createdb|dropdb) ;;
    "") usage >&2; exit 2 ;;
    *) echo "pg.sh: unknown command '$1' (try --help)" >&2; exit 2 ;;
esac
COMMAND=$1
(($# >= 3)) || die "$COMMAND needs DATADIR and PORT (try --help)"
DATADIR=$(realpath -m -- "$2")
PORT=$3
if ! [[ $PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
    die "PORT must be 1-65535 (got '$PORT')"
fi
[[ $DATADIR =~ ^[A-Za-z0-9_./+-]+$ ]] ||
    die "DATADIR $DATADIR may hold only letters, digits and _ . / + - (it goes into postgresql.conf)"
DATA=$DATADIR/data
[[ -x $PG_BIN/pg_ctl ]] || die "$PG_BIN/pg_ctl not found: install postgresql-15 (deploy/install-deps.sh)"

case $COMMAND in
    init) cmd_init ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "postgresql://postgres@127.0.0.1:$PORT/${4:-postgres}" ;;
    createdb|dropdb)
        (($# >= 4)) || die "$COMMAND needs a database NAME (try --help)"
        "cmd_$COMMAND" "$4" ;;
esac
