/* purge.c — deletes from mgccomp the events every registered adapter has delivered.
 *
 * One more condition keeps exactly-once safe: an event whose row is still in the chat store's
 * outbox is kept. Such a row exists only when a drain committed its copy to mgccomp but not yet
 * its outbox delete (or crashed in between); the row will be copied again, and the copy must
 * meet the original (ON CONFLICT DO NOTHING) rather than arrive as a new event after the
 * original was purged. Once a row is gone from the outbox it can never come back (event ids
 * are created once, by the action that wrote the row), so the check cannot go stale. */
#include <inttypes.h>
#include <stdlib.h>

#include "compliance.h"
#include "log.h"
#include "pg_array.h"

#define PURGE_CHUNK 5000
#define PURGE_CHUNKS_PER_CALL 20   /* at most 100k deletions per loop turn */

static const char LOW_WATER_SQL[] = "SELECT min(delivered_seq) FROM adapters WHERE NOT retired";
static const char CANDIDATES_SQL[] =
    "SELECT seq, event_id FROM events WHERE seq <= $1 ORDER BY seq LIMIT $2";
static const char IN_OUTBOX_SQL[] =
    "SELECT event_id FROM compliance_outbox WHERE event_id = ANY($1::uuid[])";
static const char DELETE_SQL[] =
    "DELETE FROM events WHERE seq >= $1 AND seq <= $2 AND NOT (event_id = ANY($3::uuid[]))";
static const char PRUNE_LEDGER_SQL[] =
    "DELETE FROM batches WHERE delivered_at < now() - interval '7 days'";

static int64_t purge_chunk(struct compliance_worker *w, int64_t low_water)
{
    char lw[24], chunk[24];
    snprintf(lw, sizeof lw, "%" PRId64, low_water);
    snprintf(chunk, sizeof chunk, "%d", PURGE_CHUNK);
    const char *pc[] = { lw, chunk };
    PGresult *cand = db_exec(&w->mgccomp, "listing delivered events", CANDIDATES_SQL, 2, pc,
                             PGRES_TUPLES_OK);
    if (!cand)
        return -1;
    int n = PQntuples(cand);
    if (n == 0) {
        PQclear(cand);
        return 0;
    }
    struct pg_array ids;
    pg_array_init(&ids, (size_t)n * 40 + 16);
    for (int i = 0; i < n; i++)
        pg_array_add(&ids, PQgetvalue(cand, i, 1));
    char lo[24], hi[24];
    snprintf(lo, sizeof lo, "%s", PQgetvalue(cand, 0, 0));
    snprintf(hi, sizeof hi, "%s", PQgetvalue(cand, n - 1, 0));
    PQclear(cand);

    const char *pi[] = { pg_array_text(&ids) };
    PGresult *kept = db_exec(&w->pchat, "checking the outbox before a purge", IN_OUTBOX_SQL, 1, pi,
                             PGRES_TUPLES_OK);
    pg_array_free(&ids);
    if (!kept)
        return -1;
    struct pg_array keep;
    pg_array_init(&keep, (size_t)PQntuples(kept) * 40 + 16);
    for (int i = 0; i < PQntuples(kept); i++)
        pg_array_add(&keep, PQgetvalue(kept, i, 0));
    if (PQntuples(kept) > 0)
        log_debug("purge keeps %d delivered events whose outbox rows are not deleted yet",
                  PQntuples(kept));
    PQclear(kept);

    const char *pd[] = { lo, hi, pg_array_text(&keep) };
    PGresult *del = db_exec(&w->mgccomp, "purging delivered events", DELETE_SQL, 3, pd,
                            PGRES_COMMAND_OK);
    pg_array_free(&keep);
    if (!del)
        return -1;
    int64_t deleted = strtoll(PQcmdTuples(del), NULL, 10);
    PQclear(del);
    /* A chunk that deleted nothing is all kept rows: stop until the drain moved them. */
    return deleted > 0 ? deleted : 0;
}

int64_t purge_delivered(struct compliance_worker *w)
{
    PGresult *r = db_exec(&w->mgccomp, "reading the delivery low-water mark", LOW_WATER_SQL, 0,
                          NULL, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    bool none = PQgetisnull(r, 0, 0);
    int64_t low_water = none ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (none || low_water <= 0)
        return 0;   /* no adapter registered: mgccomp is the archive, keep everything */
    int64_t total = 0;
    for (int i = 0; i < PURGE_CHUNKS_PER_CALL; i++) {
        int64_t n = purge_chunk(w, low_water);
        if (n < 0)
            return -1;
        total += n;
        if (n < PURGE_CHUNK)
            break;
    }
    if (db_command(&w->mgccomp, "pruning the delivery ledger", PRUNE_LEDGER_SQL, 0, NULL) < 0)
        return -1;
    w->purged_events += (uint64_t)total;
    if (total > 0)
        log_debug("purged %" PRId64 " delivered events from mgccomp", total);
    return total;
}
