/* reaper.c — memberships left behind by a front end that died and did not come back.
 *
 * A restarted front end clears its own old sessions (FRONTEND_RESET); one that stays down
 * would leave its users "in" their rooms for ever. Front ends report every 5 s
 * (pool_nodes.last_seen); any worker that finds one silent for 30 s removes its sessions from
 * their rooms and tells the others (ntc:part). The DELETE … RETURNING makes concurrent
 * workers harmless: each membership is removed, and announced, once. */
#include "ch.h"

#include <string.h>

#include "log.h"
#include "util.h"

#define REAP_EVERY_US (10 * 1000000LL)
#define SILENT_S "30"

void reaper_tick(struct ch *ch)
{
    int64_t now = mono_us();
    if (now < ch->next_reap)
        return;
    /* spread the workers out so they do not all look at the same moment */
    ch->next_reap = now + REAP_EVERY_US + random_between(0, 2000) * 1000LL;
    if (!ch->db || store_unavailable(ch))
        return;
    const char *p[] = { SILENT_S };
    PGresult *res = db_run(ch, "frontends_stale", 1, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        Pchat__Request rq = PCHAT__REQUEST__INIT;
        rq.frontend_id = PQgetvalue(res, i, 0);
        rq.kind = PCHAT__REQUEST__KIND__SESSION_END;
        struct ch_result out;
        result_init(&out, &rq);
        struct ch_req r = { .ch = ch, .rq = &rq, .res = &out };
        job_frontend_gone(&r);
        if (out.n_events)
            log_warn("front end %s has not reported for " SILENT_S " s: %zu of its memberships "
                     "removed", rq.frontend_id, out.n_events);
        for (size_t k = 0; k < out.n_events; k++)
            publish_event(ch, out.events[k]);
        result_free(&out);
    }
    PQclear(res);
}
