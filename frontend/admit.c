/* admit.c — decides 200 or 503 for an INFO before any parse or send (DESIGN.md §3).
 *
 * First version: the bounded queue of requests waiting for worker credit. Teardown (part)
 * is never shed. Clients that do not retry on 503 (pidgin-sipe shows "not delivered") may
 * go past the cap up to twice it: they get a late answer at the deadline instead of an early
 * 503. Queue-delay hysteresis and shedding by command class come with the admission issue. */
#include "fe.h"

#include "util.h"

enum admit_verdict admit_decide(struct fe *fe, struct fe_session *s, enum xccos_cmd_id cmd)
{
    if (cmd == XCMD_PART)
        return ADMIT_ACCEPT;
    int cap = fe->cfg->frontend.queue_max;
    if (s->non_retrying)
        cap *= 2;
    return fe->ready_len >= cap ? ADMIT_REJECT : ADMIT_ACCEPT;
}

int admit_retry_after(struct fe *fe)
{
    /* randomised so that rejected clients do not come back in one synchronised wave */
    return random_between(fe->cfg->frontend.retry_after_min_s, fe->cfg->frontend.retry_after_max_s);
}
