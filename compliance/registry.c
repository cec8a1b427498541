/* registry.c — the adapters table in mgccomp: every worker registers the adapters it runs, so
 * that purge.c keeps each event until every registered adapter has it, whichever node runs
 * which adapter; an operator retires an adapter that no node runs any more. */
#include <string.h>

#include "compliance.h"
#include "log.h"
#include "pg_array.h"

static const char REGISTER_SQL[] =
    "INSERT INTO adapters (name, type, last_seen_by) VALUES ($1, $2, $3)"
    " ON CONFLICT (name) DO UPDATE SET retired = false, last_seen_at = now(),"
    "     last_seen_by = EXCLUDED.last_seen_by"
    " RETURNING type, (xmax = 0)";

static const char HEARTBEAT_SQL[] =
    "UPDATE adapters SET last_seen_at = now(), last_seen_by = $2 WHERE name = ANY($1::text[])";

int registry_register(struct compliance_worker *w)
{
    for (int i = 0; i < w->n_adapters; i++) {
        const struct config_adapter *ac = w->adapters[i].cfg;
        const char *params[] = { ac->name, ac->type, w->id };
        PGresult *r = db_exec(&w->mgccomp, "registering an adapter", REGISTER_SQL, 3, params,
                              PGRES_TUPLES_OK);
        if (!r)
            return -1;
        const char *known_type = PQgetvalue(r, 0, 0);
        bool created = PQgetvalue(r, 0, 1)[0] == 't';
        if (created)
            log_info("adapter %s: registered in mgccomp; it receives every event still held "
                     "there", ac->name);
        else if (strcmp(known_type, ac->type) != 0)
            log_warn("adapter %s: mgccomp knows it as type \"%s\" but this worker runs type \"%s\"; "
                     "an adapter name must mean the same adapter and output on every node, or "
                     "events are split between two outputs", ac->name, known_type, ac->type);
        PQclear(r);
    }
    w->registered_generation = w->mgccomp.generation;
    return 0;
}

int registry_heartbeat(struct compliance_worker *w)
{
    if (w->n_adapters == 0)
        return 0;
    struct pg_array names;
    pg_array_init(&names, 64 * 1024);
    for (int i = 0; i < w->n_adapters; i++)
        pg_array_add(&names, w->adapters[i].cfg->name);
    const char *params[] = { pg_array_text(&names), w->id };
    int rc = params[0] ? db_command(&w->mgccomp, "refreshing adapter last_seen", HEARTBEAT_SQL, 2,
                                    params)
                       : -1;
    pg_array_free(&names);
    return rc;
}

int registry_retire(struct db_link *mgccomp, const char *name)
{
    const char *params[] = { name };
    PGresult *r = db_exec(mgccomp, "retiring an adapter",
                          "UPDATE adapters SET retired = true WHERE name = $1 RETURNING name", 1,
                          params, PGRES_TUPLES_OK);
    if (!r)
        return -1;
    int found = PQntuples(r);
    PQclear(r);
    return found ? 0 : 1;
}
