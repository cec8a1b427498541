/* compliance_status.c — reads the compliance pipeline's state from the chat store's outbox and
 * the mgccomp store (adapters, batches, events), and prints it for operators. */
#include "compliance_status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char OUTBOX_SQL[] =
    "SELECT (SELECT count(*) FROM compliance_outbox),"
    "       (SELECT extract(epoch FROM now() - occurred_at)::float8"
    "          FROM compliance_outbox ORDER BY id LIMIT 1)";

static const char STORE_SQL[] =
    "SELECT count(*), coalesce(max(seq), 0),"
    "       (SELECT extract(epoch FROM now() - occurred_at)::float8"
    "          FROM events ORDER BY seq LIMIT 1),"
    "       extract(epoch FROM now())::float8"
    "  FROM events";

/* The oldest pending event is the one with the lowest seq: seq follows copy order, which is
 * close to time order and cheap to find through the seq index. */
static const char ADAPTERS_SQL[] =
    "SELECT a.name, a.type, a.retired, a.delivered_seq, p.n,"
    "       extract(epoch FROM now() - o.occurred_at)::float8,"
    "       a.delivered_events, a.consecutive_failures,"
    "       extract(epoch FROM a.last_success_at)::float8, a.last_success_batch,"
    "       extract(epoch FROM a.last_failure_at)::float8, a.last_error,"
    "       extract(epoch FROM a.next_run_at)::float8,"
    "       b.number, b.attempts, b.event_count,"
    "       a.last_seen_by, extract(epoch FROM a.last_seen_at)::float8"
    "  FROM adapters a"
    "  CROSS JOIN LATERAL (SELECT count(*) AS n FROM events e WHERE e.seq > a.delivered_seq) p"
    "  LEFT JOIN LATERAL (SELECT occurred_at FROM events e WHERE e.seq > a.delivered_seq"
    "                      ORDER BY e.seq LIMIT 1) o ON true"
    "  LEFT JOIN batches b ON b.adapter = a.name AND b.delivered_at IS NULL"
    " ORDER BY a.name LIMIT $1";

static int64_t get_i64(PGresult *r, int row, int col, int64_t fallback)
{
    return PQgetisnull(r, row, col) ? fallback : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static double get_f64(PGresult *r, int row, int col, double fallback)
{
    return PQgetisnull(r, row, col) ? fallback : strtod(PQgetvalue(r, row, col), NULL);
}

static void get_str(PGresult *r, int row, int col, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params,
                       const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        return r;
    snprintf(err, errlen, "cannot read %s: %s", what, PQresultErrorMessage(r));
    size_t len = strlen(err);
    while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' '))
        err[--len] = '\0';
    PQclear(r);
    return NULL;
}

int compliance_status_query(PGconn *pchat, PGconn *mgccomp, struct compliance_status *st,
                            char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->outbox_oldest_age_s = -1;
    st->store_oldest_age_s = -1;
    if (pchat) {
        PGresult *r = query(pchat, OUTBOX_SQL, 0, NULL, "the chat store's compliance_outbox", err,
                            errlen);
        if (!r)
            return -1;
        st->outbox_known = true;
        st->outbox_events = get_i64(r, 0, 0, 0);
        st->outbox_oldest_age_s = get_f64(r, 0, 1, -1);
        PQclear(r);
    }
    PGresult *r = query(mgccomp, STORE_SQL, 0, NULL, "the mgccomp events", err, errlen);
    if (!r)
        return -1;
    st->store_events = get_i64(r, 0, 0, 0);
    st->store_max_seq = get_i64(r, 0, 1, 0);
    st->store_oldest_age_s = get_f64(r, 0, 2, -1);
    st->read_at_unix = get_f64(r, 0, 3, (double)time(NULL));
    PQclear(r);

    char limit[16];
    snprintf(limit, sizeof limit, "%d", COMPLIANCE_STATUS_MAX_ADAPTERS);
    const char *params[] = { limit };
    r = query(mgccomp, ADAPTERS_SQL, 1, params, "the mgccomp adapters", err, errlen);
    if (!r)
        return -1;
    st->n_adapters = PQntuples(r);
    for (int i = 0; i < st->n_adapters; i++) {
        struct compliance_adapter_status *a = &st->adapters[i];
        get_str(r, i, 0, a->name, sizeof a->name);
        get_str(r, i, 1, a->type, sizeof a->type);
        a->retired = PQgetvalue(r, i, 2)[0] == 't';
        a->delivered_seq = get_i64(r, i, 3, 0);
        a->pending_events = get_i64(r, i, 4, 0);
        a->oldest_pending_age_s = get_f64(r, i, 5, -1);
        a->delivered_events = get_i64(r, i, 6, 0);
        a->consecutive_failures = (int)get_i64(r, i, 7, 0);
        a->last_success_unix = get_f64(r, i, 8, 0);
        a->last_success_batch = get_i64(r, i, 9, 0);
        a->last_failure_unix = get_f64(r, i, 10, 0);
        get_str(r, i, 11, a->last_error, sizeof a->last_error);
        a->next_run_unix = get_f64(r, i, 12, 0);
        a->open_batch = get_i64(r, i, 13, 0);
        a->open_batch_attempts = (int)get_i64(r, i, 14, 0);
        a->open_batch_events = get_i64(r, i, 15, 0);
        get_str(r, i, 16, a->last_seen_by, sizeof a->last_seen_by);
        a->last_seen_unix = get_f64(r, i, 17, 0);
    }
    PQclear(r);
    return 0;
}

/* "2024-05-01T10:15:02Z", or "never" for 0. */
static const char *when(double unix_s, char buf[32])
{
    if (unix_s <= 0)
        return "never";
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "%.0f", unix_s);
    return buf;
}

static void print_age(FILE *out, const char *key, double age_s)
{
    if (age_s < 0)
        fprintf(out, "%s: none\n", key);
    else
        fprintf(out, "%s: %.1f\n", key, age_s);
}

void compliance_status_print(const struct compliance_status *st, FILE *out)
{
    char b1[32];
    fprintf(out, "read_at: %s\n", when(st->read_at_unix, b1));
    if (st->outbox_known) {
        fprintf(out, "outbox_events: %lld\n", (long long)st->outbox_events);
        print_age(out, "outbox_oldest_age_s", st->outbox_oldest_age_s);
    } else {
        fprintf(out, "outbox_events: unknown (chat store not reachable)\n");
    }
    fprintf(out, "store_events: %lld\n", (long long)st->store_events);
    print_age(out, "store_oldest_age_s", st->store_oldest_age_s);
    fprintf(out, "adapters: %d\n", st->n_adapters);
    for (int i = 0; i < st->n_adapters; i++) {
        const struct compliance_adapter_status *a = &st->adapters[i];
        fprintf(out, "adapter %s:\n", a->name);
        fprintf(out, "  type: %s\n", a->type);
        fprintf(out, "  state: %s\n", a->retired ? "retired"
                                      : a->consecutive_failures > 0 ? "failing"
                                      : "ok");
        fprintf(out, "  pending_events: %lld\n", (long long)a->pending_events);
        print_age(out, "  oldest_pending_age_s", a->oldest_pending_age_s);
        fprintf(out, "  delivered_events: %lld\n", (long long)a->delivered_events);
        fprintf(out, "  last_success: %s", when(a->last_success_unix, b1));
        if (a->last_success_batch > 0)
            fprintf(out, " (batch %s-%012lld)", a->name, (long long)a->last_success_batch);
        fputc('\n', out);
        fprintf(out, "  last_failure: %s\n", when(a->last_failure_unix, b1));
        fprintf(out, "  last_error: %s\n", a->last_error[0] ? a->last_error : "none");
        fprintf(out, "  consecutive_failures: %d\n", a->consecutive_failures);
        if (a->open_batch > 0)
            fprintf(out, "  open_batch: %s-%012lld (%lld events, %d attempts so far)\n", a->name,
                    (long long)a->open_batch, (long long)a->open_batch_events,
                    a->open_batch_attempts);
        else
            fprintf(out, "  open_batch: none\n");
        double wait = a->next_run_unix - st->read_at_unix;
        fprintf(out, "  next_run_in_s: %.1f\n", wait > 0 ? wait : 0.0);
        fprintf(out, "  last_seen: %s by %s\n", when(a->last_seen_unix, b1),
                a->last_seen_by[0] ? a->last_seen_by : "?");
    }
}
