/* pq.h — libpq helpers shared by the workers and tools: connect with timeouts, prepare a
 * table of statements, run them with parameters only, check the schema version. */
#ifndef PCHAT_PQ_H
#define PCHAT_PQ_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

struct pq_stmt {
    const char *name;
    const char *sql;
};

/* Connect (blocking, bounded by connect_timeout_s) and set statement_timeout. Returns NULL
 * with a sentence in err. */
PGconn *pq_connect(const char *conninfo, int connect_timeout_s, int statement_timeout_ms,
                   char *err, size_t errlen);
/* Prepare every statement; returns 0 or -1 with err naming the statement. */
int pq_prepare(PGconn *c, const struct pq_stmt *stmts, size_t n, char *err, size_t errlen);
/* Execute a prepared statement with text parameters (NULL = SQL NULL). The result is never
 * NULL; check it with pq_ok(). */
PGresult *pq_run(PGconn *c, const char *name, int nparams, const char *const *params);
bool pq_ok(const PGresult *r);
/* The result is a successful query that returned rows (possibly zero). */
bool pq_ok_tuples(const PGresult *r);
/* SQLSTATE of a failed result ("23505"), "" if none. */
const char *pq_sqlstate(const PGresult *r);
/* BEGIN / COMMIT / ROLLBACK; return 0 or -1. */
int pq_begin(PGconn *c);
int pq_commit(PGconn *c);
void pq_rollback(PGconn *c);
/* The connection is broken (server gone): reconnect before the next use. */
bool pq_broken(PGconn *c);
/* Refuse to run against a store older than `need`: returns 0, or -1 with err saying which
 * migration to run. */
int pq_check_schema(PGconn *c, int need, const char *sql_dir, char *err, size_t errlen);

#endif
