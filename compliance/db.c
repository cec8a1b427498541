/* db.c — the worker's two PostgreSQL links: connect with a timeout, check the schema version,
 * and after any failure drop the connection and retry with back-off (1 s doubling to 30 s), so
 * an unreachable store delays compliance but never stops the process. */
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "util.h"

#define DB_BACKOFF_MIN_MS 1000
#define DB_BACKOFF_MAX_MS 30000

void db_link_init(struct db_link *l, const char *name, const char *config_key, const char *conninfo,
                  const char *migrations, int schema_needed, const struct pchat_config *cfg)
{
    memset(l, 0, sizeof *l);
    l->name = name;
    l->config_key = config_key;
    l->conninfo = conninfo;
    l->migrations = migrations;
    l->schema_needed = schema_needed;
    l->connect_timeout_s = cfg->database.connect_timeout_s;
    l->statement_timeout_ms = cfg->database.statement_timeout_ms;
    l->backoff_ms = DB_BACKOFF_MIN_MS;
}

/* libpq messages end in a newline; log lines must not. */
static const char *one_line(const char *msg, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s", msg ? msg : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return buf;
}

void db_close(struct db_link *l)
{
    if (l->conn)
        PQfinish(l->conn);
    l->conn = NULL;
    l->n_prepared = 0;
}

/* After any error the session state is unknown (aborted transaction, held locks): start over. */
static void drop_and_retry_later(struct db_link *l)
{
    db_close(l);
    l->retry_at_us = mono_us() + (int64_t)l->backoff_ms * 1000;
    l->lost = true;
}

void db_fail(struct db_link *l, const char *what)
{
    char msg[512];
    log_error("%s store: %s failed: %s; reconnecting in %d ms", l->name, what,
              one_line(l->conn ? PQerrorMessage(l->conn) : "not connected", msg, sizeof msg),
              l->backoff_ms);
    drop_and_retry_later(l);
}

static int schema_version(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0"
                               " ELSE (SELECT coalesce(max(version), 0) FROM schema_migrations) END");
    int v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

static bool connect_now(struct db_link *l)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", l->connect_timeout_s);
    const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *values[] = { l->conninfo, timeout, "pchat-compliance", NULL };
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    char msg[512];
    if (PQstatus(conn) != CONNECTION_OK) {
        if (!l->down_logged)
            log_error("%s store unreachable (%s = \"%s\"): %s; retrying every %d s at most, the "
                      "outbox keeps the events meanwhile",
                      l->name, l->config_key, l->conninfo,
                      one_line(PQerrorMessage(conn), msg, sizeof msg), DB_BACKOFF_MAX_MS / 1000);
        l->down_logged = true;
        l->lost = true;
        PQfinish(conn);
        return false;
    }
    int version = schema_version(conn);
    if (version >= 0 && version < l->schema_needed) {
        log_error("the %s store (%s) is at schema version %d but pchat-compliance needs %d: run "
                  "sql/migrate.sh \"%s\" %s",
                  l->name, l->conninfo, version, l->schema_needed, l->conninfo, l->migrations);
        PQfinish(conn);
        exit(1);
    }
    char ms[16];
    snprintf(ms, sizeof ms, "%d", l->statement_timeout_ms);
    const char *params[] = { ms };
    PGresult *r = PQexecParams(conn, "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
                               params, NULL, NULL, 0);
    bool ok = version >= 0 && PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
        log_error("%s store: cannot prepare the session: %s", l->name,
                  one_line(PQerrorMessage(conn), msg, sizeof msg));
        PQfinish(conn);
        return false;
    }
    l->conn = conn;
    l->generation++;
    if (l->lost)
        log_info("%s store reachable again", l->name);
    else
        log_info("connected to the %s store", l->name);
    l->down_logged = false;
    l->lost = false;
    l->backoff_ms = DB_BACKOFF_MIN_MS;
    return true;
}

bool db_ready(struct db_link *l)
{
    if (l->conn && PQstatus(l->conn) == CONNECTION_OK)
        return true;
    if (l->conn)
        db_close(l);
    if (mono_us() < l->retry_at_us)
        return false;
    if (connect_now(l))
        return true;
    l->retry_at_us = mono_us() + (int64_t)l->backoff_ms * 1000;
    l->backoff_ms = l->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : l->backoff_ms * 2;
    return false;
}

/* The name `sql` is prepared under on this connection, preparing it first; NULL (with the
 * failed result in *failed) when the server refuses it, "" when the cache is full. */
static const char *statement_name(struct db_link *l, const char *sql, char name[16], PGresult **failed)
{
    for (int i = 0; i < l->n_prepared; i++)
        if (l->prepared[i] == sql) {
            snprintf(name, 16, "s%d", i);
            return name;
        }
    if (l->n_prepared == DB_MAX_PREPARED)
        return "";
    snprintf(name, 16, "s%d", l->n_prepared);
    PGresult *r = PQprepare(l->conn, name, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        *failed = r;
        return NULL;
    }
    PQclear(r);
    l->prepared[l->n_prepared++] = sql;
    return name;
}

PGresult *db_exec(struct db_link *l, const char *what, const char *sql, int n_params,
                  const char *const *params, ExecStatusType expect)
{
    if (!l->conn)
        return NULL;
    char buf[16];
    PGresult *r = NULL;
    const char *name = statement_name(l, sql, buf, &r);
    if (name && name[0])
        r = PQexecPrepared(l->conn, name, n_params, params, NULL, NULL, 0);
    else if (name)
        r = PQexecParams(l->conn, sql, n_params, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == expect)
        return r;
    char msg[512];
    log_error("%s store: %s failed: %s; reconnecting in %d ms", l->name, what,
              one_line(PQresultErrorMessage(r), msg, sizeof msg), l->backoff_ms);
    PQclear(r);
    drop_and_retry_later(l);
    return NULL;
}

int db_command(struct db_link *l, const char *what, const char *sql, int n_params,
               const char *const *params)
{
    PGresult *r = db_exec(l, what, sql, n_params, params, PGRES_COMMAND_OK);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

void db_rollback(struct db_link *l)
{
    if (l->conn && PQtransactionStatus(l->conn) != PQTRANS_IDLE)
        PQclear(PQexec(l->conn, "ROLLBACK"));
}
