/* pq.c — thin, parameter-only wrappers over libpq. */
#include "pq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void trim_newline(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

PGconn *pq_connect(const char *conninfo, int connect_timeout_s, int statement_timeout_ms,
                   char *err, size_t errlen)
{
    char timeout[16], options[64];
    snprintf(timeout, sizeof timeout, "%d", connect_timeout_s);
    snprintf(options, sizeof options, "-c statement_timeout=%d", statement_timeout_ms);
    const char *keys[] = { "dbname", "connect_timeout", "options", "application_name", NULL };
    const char *vals[] = { conninfo, timeout, options, "pchat", NULL };
    /* expand_dbname = 1: the first "dbname" value is itself a conninfo string; the later
       keys override it only where it is silent */
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL (%s): %s", conninfo,
                 c ? PQerrorMessage(c) : "out of memory");
        trim_newline(err);
        PQfinish(c);
        return NULL;
    }
    return c;
}

int pq_prepare(PGconn *c, const struct pq_stmt *stmts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        PGresult *r = PQprepare(c, stmts[i].name, stmts[i].sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "cannot prepare statement %s: %s", stmts[i].name,
                     PQresultErrorMessage(r));
            trim_newline(err);
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

PGresult *pq_run(PGconn *c, const char *name, int nparams, const char *const *params)
{
    PGresult *r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
    if (!r)
        r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
    if (!pq_ok(r)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        trim_newline(msg);
        log_debug("statement %s failed: %s", name, msg);
    }
    return r;
}

bool pq_ok(const PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

bool pq_ok_tuples(const PGresult *r)
{
    return PQresultStatus(r) == PGRES_TUPLES_OK;
}

const char *pq_sqlstate(const PGresult *r)
{
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s ? s : "";
}

static int simple(PGconn *c, const char *sql)
{
    /* fixed SQL text, no parameters */
    PGresult *r = PQexec(c, sql);
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

int pq_begin(PGconn *c) { return simple(c, "BEGIN"); }
int pq_commit(PGconn *c) { return simple(c, "COMMIT"); }
void pq_rollback(PGconn *c) { simple(c, "ROLLBACK"); }

bool pq_broken(PGconn *c)
{
    return !c || PQstatus(c) != CONNECTION_OK;
}

int pq_check_schema(PGconn *c, int need, const char *sql_dir, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    int have = -1;
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        have = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (have < 0) {
        snprintf(err, errlen, "the database has no schema_migrations table: run "
                              "sql/migrate.sh '<conninfo>' %s first", sql_dir);
        return -1;
    }
    if (have < need) {
        snprintf(err, errlen, "the database is at schema version %d but this program needs %d: "
                              "run sql/migrate.sh '<conninfo>' %s", have, need, sql_dir);
        return -1;
    }
    return 0;
}
