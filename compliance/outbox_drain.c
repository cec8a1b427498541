/* outbox_drain.c — moves events from the chat store's compliance_outbox into mgccomp.
 *
 * Order of commits: mgccomp first, chat store second. A crash in between leaves the rows in the
 * outbox and in mgccomp; the next claim copies them again and ON CONFLICT (event_id) DO NOTHING
 * drops the copy. purge.c never deletes an event from mgccomp while its row is still in the
 * outbox, so such a copy can never arrive after the original was delivered and purged. */
#include <stdlib.h>
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "pg_array.h"
#include "util.h"

/* One drain round trip carries at most this much (the claim halves until it fits). */
#define DRAIN_ARRAY_BYTES ((size_t)128 << 20)

/* DELETE in the claim: the rows stay locked and invisible to other workers' SKIP LOCKED until
 * this transaction ends, and come back by themselves if it rolls back (a crash, mgccomp down).
 * "= ANY (ARRAY(...))" rather than "IN (...)": no join to plan, so the plan stays an index scan
 * (and planning stays cheap) however many dead rows the queue's churn leaves in the index.
 * The joins capture what the chat store knows about the user and the room right now. */
static const char CLAIM_SQL[] =
    "WITH claimed AS ("
    "  DELETE FROM compliance_outbox"
    "   WHERE id = ANY (ARRAY(SELECT id FROM compliance_outbox ORDER BY id LIMIT $1"
    "                         FOR UPDATE SKIP LOCKED))"
    "  RETURNING id, event_id, event_type, occurred_at, user_uri, user_name, room_uri,"
    "            room_name, message_id, content)"
    " SELECT c.event_id, c.event_type,"
    "        (extract(epoch FROM c.occurred_at) * 1000000)::int8,"
    "        c.user_uri, coalesce(c.user_name, u.display_name), u.id,"
    "        c.room_uri, coalesce(c.room_name, r.name), cat.name, r.description,"
    "        r.privacy, r.type, c.message_id, c.content"
    "   FROM claimed c"
    "   LEFT JOIN users u ON u.uri = c.user_uri"
    /* the room's guid is the URI's last 36 characters when they are a UUID; LIKE and
       translate() test that at a fraction of a regular expression's cost */
    "   LEFT JOIN rooms r ON r.guid = (CASE"
    "        WHEN c.room_uri LIKE 'ma-chan://%/________-____-____-____-____________'"
    "         AND translate(right(c.room_uri, 36), '0123456789abcdefABCDEF', '') = '----'"
    "        THEN right(c.room_uri, 36) END)::uuid"
    "   LEFT JOIN categories cat ON cat.id = r.category_id"
    "  ORDER BY c.id";

#define N_COLUMNS 14

static const char INSERT_SQL[] =
    "INSERT INTO events (event_id, event_type, occurred_at, user_uri, user_name, user_id,"
    "                    room_uri, room_name, room_category, room_description, room_privacy,"
    "                    room_type, message_id, content)"
    " SELECT e, t, timestamptz 'epoch' + us * interval '1 microsecond', uu, un, ui,"
    "        ru, rn, rc, rd, rp, rt, mi, co"
    "   FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[],"
    "               $7::text[], $8::text[], $9::text[], $10::text[], $11::int2[], $12::int2[],"
    "               $13::int8[], $14::text[])"
    "        WITH ORDINALITY AS x(e, t, us, uu, un, ui, ru, rn, rc, rd, rp, rt, mi, co, ord)"
    "  ORDER BY ord"
    " ON CONFLICT (event_id) DO NOTHING";

/* Taken for the whole insert transaction: seq values then commit in increasing order, which
 * delivery.c relies on ("all events with seq <= N" cannot grow once N is visible). */
static const char INSERT_LOCK_SQL[] = "SELECT pg_advisory_xact_lock($1::int4, 0)";

static int copy_to_mgccomp(struct compliance_worker *w, PGresult *rows, bool *too_big)
{
    int n = PQntuples(rows);
    struct pg_array cols[N_COLUMNS];
    const char *params[N_COLUMNS];
    for (int c = 0; c < N_COLUMNS; c++)
        pg_array_init(&cols[c], DRAIN_ARRAY_BYTES / N_COLUMNS + 1024);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < N_COLUMNS; c++)
            pg_array_add(&cols[c], PQgetisnull(rows, i, c) ? NULL : PQgetvalue(rows, i, c));
    *too_big = false;
    for (int c = 0; c < N_COLUMNS; c++)
        if (!(params[c] = pg_array_text(&cols[c])))
            *too_big = true;

    int rc = -1;
    if (!*too_big) {
        char lock_key[16];
        snprintf(lock_key, sizeof lock_key, "%d", COMPLIANCE_LOCK_INSERT);
        const char *lock_params[] = { lock_key };
        PGresult *r;
        if (db_command(&w->mgccomp, "BEGIN (copy)", "BEGIN", 0, NULL) == 0 &&
            (r = db_exec(&w->mgccomp, "taking the insert lock", INSERT_LOCK_SQL, 1, lock_params,
                         PGRES_TUPLES_OK)) != NULL) {
            PQclear(r);
            if (db_command(&w->mgccomp, "inserting events", INSERT_SQL, N_COLUMNS, params) == 0 &&
                db_command(&w->mgccomp, "committing the copy", "COMMIT", 0, NULL) == 0)
                rc = 0;
        }
    }
    for (int c = 0; c < N_COLUMNS; c++)
        pg_array_free(&cols[c]);
    return rc;
}

int outbox_drain_once(struct compliance_worker *w)
{
    int64_t t0 = mono_us();
    char limit[16];
    snprintf(limit, sizeof limit, "%d", w->drain_limit);
    const char *params[] = { limit };
    if (db_command(&w->pchat, "BEGIN (claim)", "BEGIN", 0, NULL) < 0)
        goto fail;
    PGresult *rows = db_exec(&w->pchat, "claiming outbox rows", CLAIM_SQL, 1, params,
                             PGRES_TUPLES_OK);
    if (!rows)
        goto fail;
    int n = PQntuples(rows);
    if (n == 0) {
        PQclear(rows);
        db_rollback(&w->pchat);
        return 0;
    }
    bool too_big = false;
    int64_t t1 = mono_us();
    if (copy_to_mgccomp(w, rows, &too_big) < 0) {
        PQclear(rows);
        db_rollback(&w->pchat);
        if (too_big) {
            /* Long posts: take fewer rows per round trip; a single row always fits. */
            w->drain_limit = w->drain_limit > 1 ? w->drain_limit / 2 : 1;
            log_warn("outbox rows too large for one copy; claiming %d rows at a time now",
                     w->drain_limit);
            if (n > 1)
                return outbox_drain_once(w);
            log_error("one outbox row is larger than %zu bytes: it cannot be copied",
                      DRAIN_ARRAY_BYTES / N_COLUMNS);
            w->drain_errors++;
            return -1;
        }
        goto fail;
    }
    PQclear(rows);
    int64_t t2 = mono_us();
    if (db_command(&w->pchat, "deleting copied outbox rows", "COMMIT", 0, NULL) < 0)
        goto fail;   /* they are in mgccomp; the next claim copies them again, harmlessly */
    if (w->drain_limit < w->cfg->compliance.batch_size)
        w->drain_limit = w->drain_limit * 2 < w->cfg->compliance.batch_size
                             ? w->drain_limit * 2 : w->cfg->compliance.batch_size;
    w->drained_events += (uint64_t)n;
    w->drain_us += mono_us() - t0;
    log_debug("copied %d outbox events to mgccomp (claim %.1f ms, copy %.1f ms, delete %.1f ms)", n,
              (double)(t1 - t0) / 1000, (double)(t2 - t1) / 1000, (double)(mono_us() - t2) / 1000);
    return n;
fail:
    w->drain_errors++;
    db_rollback(&w->pchat);
    db_rollback(&w->mgccomp);
    return -1;
}
