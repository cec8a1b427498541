/* db.c — pchatctl's one connection to the Persistent Chat Store: parameter-only statements,
 * one transaction per change, user rows on demand, and the compliance outbox record. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"

static void set_error(struct ctl *c, PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c->db);
    snprintf(c->db_error, sizeof c->db_error, "%s", msg && *msg ? msg : "unknown database error");
    /* the first line is the sentence; libpq's LINE/HINT lines point into our own SQL */
    char *nl = strchr(c->db_error, '\n');
    if (nl)
        *nl = '\0';
    size_t n = strlen(c->db_error);
    while (n > 0 && (c->db_error[n - 1] == '\n' || c->db_error[n - 1] == ' '))
        c->db_error[--n] = '\0';
    /* "ERROR:  ..." is libpq's prefix; the sentence reads better without it */
    if (strncmp(c->db_error, "ERROR:  ", 8) == 0)
        memmove(c->db_error, c->db_error + 8, strlen(c->db_error + 8) + 1);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof c->sqlstate, "%s", state ? state : "");
}

int db_open(struct ctl *c)
{
    char err[1024];
    c->db = pq_connect(c->cfg.database.pchat, c->cfg.database.connect_timeout_s,
                       c->cfg.database.statement_timeout_ms, err, sizeof err);
    if (!c->db)
        return ctl_fail(c, EXIT_RUNTIME, "%s (database.pchat in %s)", err, c->config_path);
    if (pq_check_schema(c->db, CTL_SCHEMA_VERSION, "sql/pchat", err, sizeof err) < 0)
        return ctl_fail(c, EXIT_RUNTIME, "%s", err);
    /* dates without an offset are UTC, and every time printed is UTC */
    PGresult *r = PQexec(c->db, "SET TimeZone = 'UTC'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetClientEncoding(c->db, "UTF8") != 0)
        return ctl_fail(c, EXIT_RUNTIME, "cannot set up the database session: %s",
                        PQerrorMessage(c->db));
    return 0;
}

void db_close(struct ctl *c)
{
    if (c->db)
        PQfinish(c->db);
    c->db = NULL;
}

PGresult *db_exec(struct ctl *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c->db, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    set_error(c, r);
    PQclear(r);
    return NULL;
}

long db_do(struct ctl *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = db_exec(c, sql, n, params);
    if (!r)
        return -1;
    long rows = atol(PQcmdTuples(r));
    PQclear(r);
    return rows;
}

bool db_unique_violation(const struct ctl *c)
{
    return strcmp(c->sqlstate, "23505") == 0;
}

int db_begin(struct ctl *c)
{
    if (db_do(c, "BEGIN", 0, NULL) < 0)
        return -1;
    c->in_tx = true;
    return 0;
}

int db_commit(struct ctl *c)
{
    c->in_tx = false;
    if (db_do(c, "COMMIT", 0, NULL) < 0)
        return ctl_db_fail(c, "commit the change (nothing was changed)");
    live_notify(c);
    return 0;
}

void db_rollback(struct ctl *c)
{
    c->in_tx = false;
    PGresult *r = PQexec(c->db, "ROLLBACK");
    PQclear(r);
    /* a change that did not commit tells nobody anything */
    while (c->notices) {
        struct notice *next = c->notices->next;
        free(c->notices->evict);
        free(c->notices->room_name);
        free(c->notices);
        c->notices = next;
    }
}

int64_t db_user_find(struct ctl *c, const char *uri)
{
    const char *p[] = { uri };
    /* exact first (indexed); then any spelling of the same URI a client signed in with */
    PGresult *r = db_exec(c, "SELECT id FROM users WHERE uri = $1", 1, p);
    if (!r)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = db_exec(c, "SELECT id FROM users WHERE lower(uri) = lower($1) ORDER BY id LIMIT 1", 1, p);
        if (!r)
            return -1;
    }
    int64_t id = PQntuples(r) ? cell_i64(r, 0, 0) : 0;
    PQclear(r);
    return id;
}

int64_t db_user_id(struct ctl *c, const char *uri)
{
    int64_t id = db_user_find(c, uri);
    if (id != 0)
        return id;
    const char *p[] = { uri };
    PGresult *r = db_exec(c, "INSERT INTO users (uri) VALUES ($1) ON CONFLICT (uri) DO UPDATE"
                             " SET uri = EXCLUDED.uri RETURNING id", 1, p);
    if (!r)
        return -1;
    id = cell_i64(r, 0, 0);
    PQclear(r);
    return id;
}

int db_audit(struct ctl *c, const char *what, const char *room_uri, const char *room_name,
             struct jv *content)
{
    if (!c->cfg.compliance.enabled)
        return 0;
    char type[96];
    snprintf(type, sizeof type, "ADMIN_%s", what);
    struct sbuf text;
    sbuf_init(&text, 1u << 20);
    jv_write(content, &text);
    if (text.overflow) {
        sbuf_reset(&text);
        sbuf_puts(&text, "{\"truncated\":true}");
    }
    const char *p[] = { type, c->operator_uri, c->operator_name[0] ? c->operator_name : NULL,
                        room_uri, room_name, text.data };
    long n = db_do(c, "INSERT INTO compliance_outbox (event_type, user_uri, user_name, room_uri,"
                      " room_name, content) VALUES ($1, $2, $3, $4, $5, $6)", 6, p);
    sbuf_free(&text);
    return n == 1 ? 0 : -1;
}

int db_commit_result(struct ctl *c, int rc, struct jv *record)
{
    if (!rc)
        rc = db_commit(c);
    if (rc) {
        jv_free(record);
        return rc;
    }
    jv_set(c->out, "result", record);
    return 0;
}

int db_finish_change(struct ctl *c, const char *what, bool audit, struct jv *record)
{
    int rc = 0;
    if (audit && db_audit(c, what, NULL, NULL, record) < 0)
        rc = ctl_db_fail(c, "record the change in the compliance outbox");
    return db_commit_result(c, rc, record);
}

const char *cell(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int64_t cell_i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool cell_bool(PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
