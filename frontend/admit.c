/* admit.c — decides 200 or 503 for an INFO before any parse or send (DESIGN.md §3,
 * docs/configuration.md, "Overload and admission").
 *
 * Overload is read from queueing, not CPU: the age of the oldest request waiting for worker
 * credit, the delay of server INFOs from queueing to the client's 200 (fan-out is the front
 * end's own bottleneck), how many wait, and how late the loop's own timer runs. Shedding starts above frontend.admit_delay_high_ms and stops only after the
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

/* How long a request accepted now would wait before a worker takes it: the age of the
 * oldest one waiting for credit, or — when requests also wait behind earlier ones of their
 * own session — the whole backlog at the rate workers take requests, whichever is longer. */
static int64_t oldest_wait_us(const struct fe *fe, int64_t now)
{
    int64_t oldest = fe->ready_head ? now - fe->ready_head->queued : 0;
    double rate = fe->dispatch_rate > 50.0 ? fe->dispatch_rate : 50.0;
    int64_t backlog = (int64_t)((fe->ready_len + fe->session_queued) / rate * 1e6);
    return oldest > backlog ? oldest : backlog;
}

void admit_delivered(struct fe *fe, int64_t lag_us)
{
    fe->tick_delivered++;
    fe->tick_late_high += lag_us > (int64_t)fe->cfg->frontend.admit_delivery_high_ms * 1000;
    fe->tick_late_post += lag_us > (int64_t)fe->cfg->frontend.admit_post_delay_ms * 1000;
}

void admit_tick(struct fe *fe)
{
    int64_t now = mono_us();
    /* the janitor runs every 100 ms: running much later means the loop itself is saturated */
    fe->loop_lag = fe->last_admit_tick ? now - fe->last_admit_tick - 100000 : 0;
    fe->last_admit_tick = now;
    /* the 90th percentile of this tick's delivery delays, above or below each mark (with
       enough deliveries to mean something) */
    bool enough = fe->tick_delivered >= 20;
    fe->delivery_late_high = enough && fe->tick_late_high * 10 > fe->tick_delivered;
    fe->delivery_late_post = enough && fe->tick_late_post * 10 > fe->tick_delivered;
    /* and what the INFOs queued now will wait at the rate clients are being served: this
       sees a backlog before its INFOs come back late */
    fe->delivery_rate = 0.7 * fe->delivery_rate + 0.3 * (double)fe->tick_delivered * 10.0;
    fe->dispatch_rate = 0.7 * fe->dispatch_rate + 0.3 * (double)fe->tick_dispatched * 10.0;
    fe->tick_dispatched = 0;
    double wait_us = fe->out_total / (fe->delivery_rate > 100.0 ? fe->delivery_rate : 100.0) * 1e6;
    fe->delivery_late_high |= wait_us > fe->cfg->frontend.admit_delivery_high_ms * 1000.0;
    fe->delivery_late_post |= wait_us > fe->cfg->frontend.admit_post_delay_ms * 1000.0;
    fe->tick_delivered = fe->tick_late_high = fe->tick_late_post = 0;
}

/* Re-evaluate the overload state: called on every decision and from the janitor. */
static void update_state(struct fe *fe, int64_t now)
{
    const struct pchat_config *cfg = fe->cfg;
    int64_t delay = oldest_wait_us(fe, now);
    int64_t high = (int64_t)cfg->frontend.admit_delay_high_ms * 1000;
    bool outbound_high = fe->out_total > cfg->frontend.outbound_high;
    if (!fe->overloaded) {
        if (delay > high || outbound_high || fe->delivery_late_high || fe->loop_lag > high) {
            fe->overloaded = true;
            fe->overload_since = now;
            fe->calm_since = 0;
            fe->overload_episodes++;
            log_warn("overload: requests wait %lld ms for a worker, %d server INFOs queued%s, "
                     "loop %lld ms late; shedding searches, history and joins first",
                     (long long)(delay / 1000), fe->out_total,
                     fe->delivery_late_high ? " and slow to deliver" : "",
                     (long long)(fe->loop_lag / 1000));
        }
        return;
    }
    bool calm = delay < (int64_t)cfg->frontend.admit_delay_low_ms * 1000 &&
                fe->out_total < cfg->frontend.outbound_high / 2 && !fe->delivery_late_high &&
                fe->loop_lag < (int64_t)cfg->frontend.admit_delay_low_ms * 1000;
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
    if (cmd == XCMD_GETINV || cmd == XCMD_GETSERVERINFO)
        return ADMIT_ACCEPT;        /* part of signing in, cheap, and never retried by SIPE */
    if (cmd != XCMD_GRPCHAT)
        return ADMIT_REJECT;        /* searches, history, joins: cheapest to retry */
    if (s->non_retrying)
        return ADMIT_ACCEPT;        /* a late answer rather than a lost post */
    /* posts are shed once requests wait that long, or deliveries take that long: a refused
       post costs one answer, an accepted one costs a delivery to every member */
    return oldest_wait_us(fe, now) > (int64_t)cfg->frontend.admit_post_delay_ms * 1000 ||
                   fe->delivery_late_post
               ? ADMIT_REJECT : ADMIT_ACCEPT;
}

int admit_retry_after(struct fe *fe)
{
    /* randomised so that rejected clients do not come back in one synchronised wave */
    return random_between(fe->cfg->frontend.retry_after_min_s, fe->cfg->frontend.retry_after_max_s);
}
