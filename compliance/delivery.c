/* delivery.c — hands mgccomp's events to one adapter, batch by batch, exactly once.
 *
 * A run starts when the adapter is due (every run_interval) and fixes a horizon: the highest
 * seq committed at that moment. Batches are then formed one after another up to the horizon:
 *   1. form (one transaction): the next (after_seq, last_seq] range, its number and formed_at
 *      are written to the batches ledger and committed BEFORE the adapter sees anything;
 *   2. translate: the adapter gets exactly that range, under the batch's fixed id;
 *   3. record: delivered_at on the batch and delivered_seq on the adapter, in one statement.
 * A crash or failure between 2 and 3 leaves the batch open; the next attempt (here or on
 * another worker) re-reads the same range under the same id, and the adapter's output is
 * idempotent per batch id, so the events land once. docs/compliance.md has the full argument.
 * A session advisory lock per adapter keeps two workers from running one adapter at once. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "conversation.h"
#include "log.h"
#include "util.h"

static const char LOCK_SQL[] = "SELECT pg_try_advisory_lock($1::int4, hashtext($2))";
static const char UNLOCK_SQL[] = "SELECT pg_advisory_unlock($1::int4, hashtext($2))";

static const char STATE_SQL[] =
    "SELECT delivered_seq, next_batch, run_until_seq, next_run_at <= now()"
    "  FROM adapters WHERE name = $1 FOR UPDATE";

static const char OPEN_BATCH_SQL[] =
    "SELECT number, after_seq, last_seq, event_count,"
    "       (extract(epoch FROM formed_at) * 1000000)::int8, attempts"
    "  FROM batches WHERE adapter = $1 AND delivered_at IS NULL";

static const char HORIZON_SQL[] = "SELECT coalesce(max(seq), 0) FROM events";

static const char START_RUN_SQL[] =
    "UPDATE adapters SET run_until_seq = $2, run_started_at = now() WHERE name = $1";

static const char NOTHING_NEW_SQL[] =
    "UPDATE adapters SET run_until_seq = NULL,"
    "       next_run_at = now() + $2::int4 * interval '1 second' WHERE name = $1";

/* The batch: up to $3 events after $1 and up to the horizon $2, cut earlier once the running
 * size passes $4 bytes (but never empty). */
static const char PLAN_SQL[] =
    "SELECT max(seq), count(*) FROM ("
    "  SELECT seq, row_number() OVER w AS rn,"
    "         sum(coalesce(octet_length(content), 0) + coalesce(octet_length(room_description), 0)"
    "             + 512) OVER w AS bytes"
    "    FROM (SELECT seq, content, room_description FROM events"
    "           WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3) e"
    "  WINDOW w AS (ORDER BY seq)) s"
    " WHERE rn = 1 OR bytes <= $4";

static const char FORM_BATCH_SQL[] =
    "INSERT INTO batches (adapter, number, after_seq, last_seq, event_count)"
    " VALUES ($1, $2, $3, $4, $5)"
    " RETURNING (extract(epoch FROM formed_at) * 1000000)::int8";

static const char NEXT_NUMBER_SQL[] = "UPDATE adapters SET next_batch = $2 + 1 WHERE name = $1";

/* No event exists in (delivered_seq, horizon]: the run is complete without a batch. */
static const char EMPTY_RUN_SQL[] =
    "UPDATE adapters SET delivered_seq = GREATEST(delivered_seq, $2), run_until_seq = NULL,"
    "       next_run_at = GREATEST(now(), coalesce(run_started_at, now())"
    "                                      + $3::int4 * interval '1 second')"
    " WHERE name = $1";

static const char ATTEMPT_SQL[] =
    "UPDATE batches SET attempts = attempts + 1 WHERE adapter = $1 AND number = $2";

static const char LOAD_SQL[] =
    "SELECT seq, event_id, event_type, (extract(epoch FROM occurred_at) * 1000000)::int8,"
    "       user_uri, user_name, user_id, room_uri, room_name, room_category, room_description,"
    "       room_privacy, room_type, message_id, content"
    "  FROM events WHERE seq > $1 AND seq <= $2";

/* One statement, so "batch delivered" and "adapter advanced" commit together. Mid-run the
 * adapter stays due (next batch right away); at the horizon it rests until run_interval
 * after the run started. */
static const char SUCCESS_SQL[] =
    "WITH done AS (UPDATE batches SET delivered_at = now(), delivered_by = $4"
    "               WHERE adapter = $1 AND number = $2 AND delivered_at IS NULL"
    "               RETURNING 1)"
    " UPDATE adapters SET"
    "   delivered_seq = GREATEST(delivered_seq, $3::int8),"
    "   delivered_events = delivered_events + CASE WHEN EXISTS (SELECT 1 FROM done)"
    "                                              THEN $6::int8 ELSE 0 END,"
    "   last_success_at = now(), last_success_batch = $2, consecutive_failures = 0,"
    "   run_until_seq = CASE WHEN run_until_seq IS NULL OR $3::int8 >= run_until_seq THEN NULL"
    "                        ELSE run_until_seq END,"
    "   next_run_at = CASE WHEN run_until_seq IS NULL OR $3::int8 >= run_until_seq"
    "                      THEN GREATEST(now(), coalesce(run_started_at, now())"
    "                                           + $5::int4 * interval '1 second')"
    "                      ELSE now() END"
    " WHERE name = $1";

/* Back-off: 1, 2, 4 ... s after consecutive failures, capped by run_interval and $4. */
static const char FAILURE_SQL[] =
    "UPDATE adapters SET consecutive_failures = consecutive_failures + 1,"
    "       last_failure_at = now(), last_error = $2,"
    "       next_run_at = now() + LEAST($3::int4, $4::int4,"
    "                                   power(2, LEAST(consecutive_failures, 20))::int4)"
    "                             * interval '1 second'"
    " WHERE name = $1"
    " RETURNING LEAST($3::int4, $4::int4, power(2, LEAST(consecutive_failures - 1, 20))::int4)";

struct batch_plan {
    int64_t number;
    int64_t after_seq;
    int64_t last_seq;
    int64_t event_count;
    int64_t formed_us;
    unsigned attempt;
};

static int64_t i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static const char *str_or_null(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void fmt_i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
}

/* Form a new batch or take up the open one, inside one transaction. Returns PROGRESS with
 * `plan` filled, IDLE when there is nothing to do now, or DB_ERROR. */
static enum delivery_result form_or_reuse_batch(struct compliance_worker *w, struct loaded_adapter *a,
                                                bool force, struct batch_plan *plan)
{
    struct db_link *db = &w->mgccomp;
    const char *name = a->cfg->name;
    const int interval = w->cfg->compliance.run_interval_s;
    char interval_s[24], buf1[24], buf2[24], buf3[24], buf4[24];
    fmt_i64(interval_s, interval);
    const char *p_name[] = { name };

    if (db_command(db, "BEGIN (form batch)", "BEGIN", 0, NULL) < 0)
        return DELIVERY_DB_ERROR;
    PGresult *st = db_exec(db, "reading adapter state", STATE_SQL, 1, p_name, PGRES_TUPLES_OK);
    if (!st)
        return DELIVERY_DB_ERROR;
    if (PQntuples(st) == 0) {
        PQclear(st);
        db_rollback(db);
        return DELIVERY_IDLE;   /* registration is redone after a reconnect */
    }
    int64_t delivered = i64(st, 0, 0), next_number = i64(st, 0, 1);
    bool in_run = !PQgetisnull(st, 0, 2);
    int64_t horizon = i64(st, 0, 2);
    bool due = PQgetvalue(st, 0, 3)[0] == 't';
    PQclear(st);
    if (!due && !force) {
        db_rollback(db);
        return DELIVERY_IDLE;
    }

    PGresult *open = db_exec(db, "reading the open batch", OPEN_BATCH_SQL, 1, p_name,
                             PGRES_TUPLES_OK);
    if (!open)
        return DELIVERY_DB_ERROR;
    if (PQntuples(open) == 1) {
        plan->number = i64(open, 0, 0);
        plan->after_seq = i64(open, 0, 1);
        plan->last_seq = i64(open, 0, 2);
        plan->event_count = i64(open, 0, 3);
        plan->formed_us = i64(open, 0, 4);
        plan->attempt = (unsigned)i64(open, 0, 5);
        PQclear(open);
    } else {
        PQclear(open);
        if (!in_run) {
            PGresult *h = db_exec(db, "reading the newest seq", HORIZON_SQL, 0, NULL, PGRES_TUPLES_OK);
            if (!h)
                return DELIVERY_DB_ERROR;
            horizon = i64(h, 0, 0);
            PQclear(h);
            if (horizon <= delivered) {
                const char *p[] = { name, interval_s };
                if (db_command(db, "scheduling the next run", NOTHING_NEW_SQL, 2, p) < 0 ||
                    db_command(db, "COMMIT (nothing new)", "COMMIT", 0, NULL) < 0)
                    return DELIVERY_DB_ERROR;
                return DELIVERY_IDLE;
            }
            fmt_i64(buf1, horizon);
            const char *p[] = { name, buf1 };
            if (db_command(db, "starting a run", START_RUN_SQL, 2, p) < 0)
                return DELIVERY_DB_ERROR;
        }
        int64_t limit = (int64_t)w->cfg->compliance.batch_size * COMPLIANCE_BATCH_FACTOR;
        if (limit > COMPLIANCE_BATCH_EVENTS_MAX)
            limit = COMPLIANCE_BATCH_EVENTS_MAX;
        fmt_i64(buf1, delivered);
        fmt_i64(buf2, horizon);
        fmt_i64(buf3, limit);
        fmt_i64(buf4, COMPLIANCE_BATCH_BYTES);
        const char *pp[] = { buf1, buf2, buf3, buf4 };
        PGresult *pr = db_exec(db, "sizing the next batch", PLAN_SQL, 4, pp, PGRES_TUPLES_OK);
        if (!pr)
            return DELIVERY_DB_ERROR;
        int64_t last = i64(pr, 0, 0), count = i64(pr, 0, 1);
        PQclear(pr);
        if (count == 0) {
            const char *p[] = { name, buf2, interval_s };
            if (db_command(db, "closing an empty run", EMPTY_RUN_SQL, 3, p) < 0 ||
                db_command(db, "COMMIT (empty run)", "COMMIT", 0, NULL) < 0)
                return DELIVERY_DB_ERROR;
            return DELIVERY_IDLE;
        }
        char number[24], last_s[24], count_s[24];
        fmt_i64(number, next_number);
        fmt_i64(last_s, last);
        fmt_i64(count_s, count);
        const char *pf[] = { name, number, buf1, last_s, count_s };
        PGresult *f = db_exec(db, "forming a batch", FORM_BATCH_SQL, 5, pf, PGRES_TUPLES_OK);
        if (!f)
            return DELIVERY_DB_ERROR;
        plan->formed_us = i64(f, 0, 0);
        PQclear(f);
        const char *pn[] = { name, number };
        if (db_command(db, "numbering the next batch", NEXT_NUMBER_SQL, 2, pn) < 0)
            return DELIVERY_DB_ERROR;
        plan->number = next_number;
        plan->after_seq = delivered;
        plan->last_seq = last;
        plan->event_count = count;
        plan->attempt = 0;
    }
    char number[24];
    fmt_i64(number, plan->number);
    const char *pa[] = { name, number };
    if (db_command(db, "counting the attempt", ATTEMPT_SQL, 2, pa) < 0 ||
        db_command(db, "COMMIT (batch formed)", "COMMIT", 0, NULL) < 0)
        return DELIVERY_DB_ERROR;
    plan->attempt++;
    return DELIVERY_PROGRESS;
}

static void fill_rows(PGresult *r, struct event_row *rows, int n, const char *pool_domain)
{
    for (int i = 0; i < n; i++) {
        struct pchat_adapter_event *e = &rows[i].event;
        struct pchat_adapter_room *room = &rows[i].room;
        e->seq = i64(r, i, 0);
        e->event_id = PQgetvalue(r, i, 1);
        e->type = PQgetvalue(r, i, 2);
        e->time_us = i64(r, i, 3);
        e->user.uri = PQgetvalue(r, i, 4);
        e->user.display_name = str_or_null(r, i, 5);
        e->user.id = i64(r, i, 6);
        e->user.internal = user_is_internal(e->user.uri, pool_domain);
        room->uri = PQgetvalue(r, i, 7);          /* "" for NULL: PQgetvalue's rule */
        room->name = PQgetvalue(r, i, 8);
        room->category = str_or_null(r, i, 9);
        room->description = str_or_null(r, i, 10);
        room->privacy = PQgetisnull(r, i, 11) ? -1 : (int)i64(r, i, 11);
        room->type = PQgetisnull(r, i, 12) ? -1 : (int)i64(r, i, 12);
        e->message_id = i64(r, i, 13);
        e->content = str_or_null(r, i, 14);
    }
}

static enum delivery_result record_success(struct compliance_worker *w, struct loaded_adapter *a,
                                           const struct batch_plan *plan, int64_t n_events)
{
    char number[24], last[24], interval[24], count[24];
    fmt_i64(number, plan->number);
    fmt_i64(last, plan->last_seq);
    fmt_i64(interval, w->cfg->compliance.run_interval_s);
    fmt_i64(count, n_events);
    const char *p[] = { a->cfg->name, number, last, w->id, interval, count };
    if (db_command(&w->mgccomp, "recording a delivered batch", SUCCESS_SQL, 6, p) < 0)
        return DELIVERY_DB_ERROR;   /* the batch stays open: the retry rewrites the same output */
    return DELIVERY_PROGRESS;
}

static enum delivery_result record_failure(struct compliance_worker *w, struct loaded_adapter *a,
                                           const char *batch_id, const struct batch_plan *plan,
                                           int64_t n_events, const char *why)
{
    char interval[24], cap[24], error[600];
    fmt_i64(interval, w->cfg->compliance.run_interval_s);
    fmt_i64(cap, COMPLIANCE_BACKOFF_MAX_S);
    snprintf(error, sizeof error, "batch %s: %s", batch_id, why);
    const char *p[] = { a->cfg->name, error, interval, cap };
    PGresult *r = db_exec(&w->mgccomp, "recording a failed batch", FAILURE_SQL, 4, p,
                          PGRES_TUPLES_OK);
    int64_t wait_s = r && PQntuples(r) == 1 ? i64(r, 0, 0) : -1;
    if (r)
        PQclear(r);
    log_error("adapter %s: batch %s (%" PRId64 " events) failed on attempt %u: %s; the events "
              "stay in mgccomp, retrying in %" PRId64 " s",
              a->cfg->name, batch_id, n_events, plan->attempt, why, wait_s < 0 ? 1 : wait_s);
    return r ? DELIVERY_FAILED : DELIVERY_DB_ERROR;
}

static enum delivery_result deliver_batch(struct compliance_worker *w, struct loaded_adapter *a,
                                          const struct batch_plan *plan)
{
    char after[24], last[24];
    fmt_i64(after, plan->after_seq);
    fmt_i64(last, plan->last_seq);
    const char *p[] = { after, last };
    PGresult *r = db_exec(&w->mgccomp, "loading a batch", LOAD_SQL, 2, p, PGRES_TUPLES_OK);
    if (!r)
        return DELIVERY_DB_ERROR;
    int n = PQntuples(r);
    char batch_id[128];
    snprintf(batch_id, sizeof batch_id, "%s-%012" PRId64, a->cfg->name, plan->number);
    if (n != plan->event_count)
        log_warn("adapter %s: batch %s was formed with %" PRId64 " events but %d remain in "
                 "mgccomp (was the adapter retired while they were purged?); delivering those",
                 a->cfg->name, batch_id, plan->event_count, n);

    struct event_row *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    struct conversation_set set;
    if (!rows) {
        PQclear(r);
        return record_failure(w, a, batch_id, plan, n, "out of memory loading the batch");
    }
    fill_rows(r, rows, n, w->cfg->pool.domain);
    if (conversations_build(rows, (size_t)n, &set) < 0) {
        free(rows);
        PQclear(r);
        return record_failure(w, a, batch_id, plan, n, "out of memory grouping the batch");
    }
    struct pchat_adapter_batch batch = {
        .id = batch_id,
        .number = (uint64_t)plan->number,
        .formed_us = plan->formed_us,
        .attempt = plan->attempt,
        .conversations = set.conversations,
        .n_conversations = set.n_conversations,
        .n_events = set.n_events,
    };
    char why[1024] = "";
    int64_t t0 = mono_us();
    int rc = n > 0 ? a->api->translate(a->state, &batch, why, sizeof why) : 0;
    int64_t took_us = mono_us() - t0;
    size_t rooms = set.n_conversations;
    conversation_set_free(&set);
    free(rows);
    PQclear(r);

    if (rc != 0) {
        a->failures++;
        w->delivery_errors++;
        return record_failure(w, a, batch_id, plan, n, why[0] ? why : "the adapter gave no reason");
    }
    enum delivery_result res = record_success(w, a, plan, n);
    if (res != DELIVERY_PROGRESS)
        return res;
    a->delivered_events += (uint64_t)n;
    a->delivered_batches++;
    a->once_events += (uint64_t)n;
    log_info("adapter %s: delivered batch %s (%d events, %zu rooms%s) in %.1f ms", a->cfg->name,
             batch_id, n, rooms, plan->attempt > 1 ? ", a retry" : "", (double)took_us / 1000.0);
    return DELIVERY_PROGRESS;
}

enum delivery_result delivery_step(struct compliance_worker *w, struct loaded_adapter *a, bool force)
{
    struct db_link *db = &w->mgccomp;
    char ns[24];
    fmt_i64(ns, COMPLIANCE_LOCK_ADAPTER);
    const char *p[] = { ns, a->cfg->name };
    PGresult *l = db_exec(db, "taking the adapter lock", LOCK_SQL, 2, p, PGRES_TUPLES_OK);
    if (!l)
        return DELIVERY_DB_ERROR;
    bool mine = PQgetvalue(l, 0, 0)[0] == 't';
    PQclear(l);
    if (!mine)
        return DELIVERY_BUSY;

    int64_t t0 = mono_us();
    struct batch_plan plan;
    enum delivery_result res = form_or_reuse_batch(w, a, force, &plan);
    if (res == DELIVERY_PROGRESS)
        res = deliver_batch(w, a, &plan);
    if (res == DELIVERY_PROGRESS)
        a->once_us += mono_us() - t0;
    if (db->conn) {
        db_rollback(db);
        PGresult *u = db_exec(db, "releasing the adapter lock", UNLOCK_SQL, 2, p, PGRES_TUPLES_OK);
        if (u)
            PQclear(u);
    }
    return res;
}
