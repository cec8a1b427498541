/* admit.c — decides 200 or 503 for an INFO before any parse or send (DESIGN.md §3,
 * docs/overload.md).
 *
 * Overload is read from queueing, not CPU: the age of the oldest request waiting for worker
 * credit, and the server INFOs waiting to go out to clients (fan-out is the front end's own
 * bottleneck). Shedding starts above frontend.admit_delay_high_ms and stops only after the
 * delay stayed below admit_delay_low_ms for admit_hold_ms (hysteresis, so the answer does not
 * flap). While shedding, the cheapest-to-retry work goes first: searches, history, joins and
 * everything else; posts are shed only once the delay passes admit_post_delay_ms; a part is
 * never shed. Past the hard cap (frontend.queue_max requests waiting) everything but a part is
 * shed. Clients that do not retry on 503 (pidgin-sipe shows "not delivered") are never shed
 * early for posts: their request waits, bounded by its deadline, and gets a late answer
 * instead; their hard cap is twice the others'. */
#include "fe.h"

#include "log.h"
#include "util.h"

static int64_t oldest_wait_us(const struct fe *fe, int64_t now)
{
    return fe->ready_head ? now - fe->ready_head->queued : 0;
}

/* Re-evaluate the overload state: called on every decision and from the janitor. */
static void update_state(struct fe *fe, int64_t now)
{
    const struct pchat_config *cfg = fe->cfg;
    int64_t delay = oldest_wait_us(fe, now);
    bool outbound_high = fe->out_total > cfg->frontend.outbound_high;
    if (!fe->overloaded) {
        if (delay > (int64_t)cfg->frontend.admit_delay_high_ms * 1000 || outbound_high) {
            fe->overloaded = true;
            fe->overload_since = now;
            fe->calm_since = 0;
            fe->overload_episodes++;
            log_warn("overload: requests wait %lld ms for a worker, %d server INFOs queued; "
                     "shedding searches, history and joins first",
                     (long long)(delay / 1000), fe->out_total);
        }
        return;
    }
    bool calm = delay < (int64_t)cfg->frontend.admit_delay_low_ms * 1000 &&
                fe->out_total < cfg->frontend.outbound_high / 2;
    if (!calm) {
        fe->calm_since = 0;
        return;
    }
    if (!fe->calm_since)
        fe->calm_since = now;
    if (now - fe->calm_since >= (int64_t)cfg->frontend.admit_hold_ms * 1000) {
        fe->overloaded = false;
        log_info("overload over after %lld ms", (long long)((now - fe->overload_since) / 1000));
    }
}

bool admit_overloaded(struct fe *fe)
{
    update_state(fe, mono_us());
    return fe->overloaded;
}

enum admit_verdict admit_decide(struct fe *fe, struct fe_session *s, enum xccos_cmd_id cmd)
{
    if (cmd == XCMD_PART)
        return ADMIT_ACCEPT;        /* teardown is never shed */
    const struct pchat_config *cfg = fe->cfg;
    int64_t now = mono_us();
    update_state(fe, now);
    int backlog = fe->ready_len + fe->session_queued;
    int cap = s->non_retrying ? 2 * cfg->frontend.queue_max : cfg->frontend.queue_max;
    if (backlog >= cap)
        return ADMIT_REJECT;
    if (!fe->overloaded)
        return ADMIT_ACCEPT;
    if (cmd != XCMD_GRPCHAT)
        return ADMIT_REJECT;        /* searches, history, joins: cheapest to retry */
    if (s->non_retrying)
        return ADMIT_ACCEPT;        /* a late answer rather than a lost post */
    return oldest_wait_us(fe, now) > (int64_t)cfg->frontend.admit_post_delay_ms * 1000
               ? ADMIT_REJECT : ADMIT_ACCEPT;
}

int admit_retry_after(struct fe *fe)
{
    /* randomised so that rejected clients do not come back in one synchronised wave */
    return random_between(fe->cfg->frontend.retry_after_min_s, fe->cfg->frontend.retry_after_max_s);
}
