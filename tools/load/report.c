/* report.c — the human summary on stdout: what was asked, set-up, each kind of request,
 * deliveries and losses, 503 behaviour, the per-second series, memory and CPU. */
#include "load.h"

#include <stdio.h>
#include <string.h>

static const char *ms(char *buf, size_t len, uint64_t us)
{
    double v = (double)us / 1000.0;
    if (v < 10)
        snprintf(buf, len, "%.2f", v);
    else if (v < 100)
        snprintf(buf, len, "%.1f", v);
    else
        snprintf(buf, len, "%.0f", v);
    return buf;
}

static void latency_line(FILE *f, const char *label, const struct hist *h)
{
    char a[16], b[16], c[16], d[16], e[16];
    if (h->count == 0) {
        fprintf(f, "  %-28s none\n", label);
        return;
    }
    fprintf(f, "  %-28s p50 %s  p90 %s  p99 %s  p999 %s  max %s ms  (%llu samples)\n", label,
            ms(a, sizeof a, hist_quantile(h, 0.50)), ms(b, sizeof b, hist_quantile(h, 0.90)),
            ms(c, sizeof c, hist_quantile(h, 0.99)), ms(d, sizeof d, hist_quantile(h, 0.999)),
            ms(e, sizeof e, h->max), (unsigned long long)h->count);
}

static void mb(char *buf, size_t len, long kb)
{
    if (kb < 0)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%.1f MB", (double)kb / 1024.0);
}

static void statuses(FILE *f, const char *label, const struct status_count *s)
{
    if (s[0].n == 0)
        return;
    fprintf(f, "    %s:", label);
    for (int i = 0; i < LOAD_MAX_STATUS_KINDS && s[i].n; i++)
        fprintf(f, " %d×%llu", s[i].status, (unsigned long long)s[i].n);
    fputc('\n', f);
}

void report_human(const struct load *L, FILE *f)
{
    const struct load_opts *o = &L->o;
    double run_s = (double)(L->run_end_us - L->run_start_us) / 1e6;

    fprintf(f, "pchat-load: %d users on", L->n_users);
    for (int i = 0; i < o->n_fe; i++)
        fprintf(f, "%s%s:%d", i ? "," : " ", o->fe[i].host, o->fe[i].port);
    fprintf(f, ", %d rooms (", L->n_rooms);
    for (int i = 0; i < o->n_rooms; i++)
        fprintf(f, "%s%dx%d", i ? "," : "", o->rooms[i].size, o->rooms[i].count);
    fprintf(f, "), %.0f s schedule (%s arrivals), %s, seed %llu\n", o->duration_s,
            o->arrivals == ARRIVALS_POISSON ? "Poisson" : "evenly spaced",
            o->no_retry ? "non-retrying client (503 = failed)" : "retrying client (Retry-After honoured)",
            (unsigned long long)o->seed);

    /* set-up */
    double setup_s = (double)(L->setup_end_us - L->setup_start_us) / 1e6;
    double signin_s = L->signin_all_us > L->setup_start_us ? (double)(L->signin_all_us - L->setup_start_us) / 1e6 : 0;
    int signed_in = (int)L->signin_us.count;
    fprintf(f, "\nSet-up: %d of %d users signed in within %.1f s (%.0f sign-ins/s), %d failed; "
               "%d ready (rooms joined) after %.1f s; %llu room joins failed\n",
            signed_in, L->n_users, signin_s, signin_s > 0 ? signed_in / signin_s : 0.0, L->signin_failed,
            L->ready, setup_s, (unsigned long long)L->setup_join_failed);
    latency_line(f, "sign-in (whole ladder)", &L->signin_us);
    for (int i = 0; i < L->n_reasons; i++)
        fprintf(f, "    %llu× %s\n", (unsigned long long)L->reason_count[i], L->reason_text[i]);
    if (L->src_used_max >= 0) {
        char a[64], b[64];
        source_address(L, 0, a, sizeof a);
        source_address(L, L->src_used_max, b, sizeof b);
        fprintf(f, "  source addresses used: %s%s%s%s\n", o->src_given ? "" : "the kernel's choice, then ",
                a, L->src_used_max > 0 ? " to " : "", L->src_used_max > 0 ? b : "");
    }

    /* requests */
    fprintf(f, "\nRequests     offered  deferred   sent accepted    503 (with Retry-After)  retried gave-up  failed timeouts  skipped dropped\n");
    for (int k = 0; k < RK__COUNT; k++) {
        const struct kind_stats *ks = &L->ks[k];
        if (ks->sent == 0 && ks->offered == 0)
            continue;
        fprintf(f, "  %-10s %8llu %9llu %6llu %8llu %6llu (%llu) %21llu %7llu %7llu %8llu %8llu %7llu\n", req_kind_name(k),
                (unsigned long long)ks->offered, (unsigned long long)ks->deferred, (unsigned long long)ks->sent,
                (unsigned long long)ks->accepted, (unsigned long long)ks->rejected_503,
                (unsigned long long)ks->with_retry_after, (unsigned long long)ks->retried,
                (unsigned long long)ks->gave_up, (unsigned long long)ks->failed,
                (unsigned long long)(ks->timeouts + ks->reply_timeouts), (unsigned long long)ks->skipped,
                (unsigned long long)ks->dropped);
    }
    for (int k = 0; k < RK__COUNT; k++) {
        const struct kind_stats *ks = &L->ks[k];
        if (ks->sent == 0)
            continue;
        char label[64];
        snprintf(label, sizeof label, "%s request->answer", req_kind_name(k));
        latency_line(f, label, &ks->answer_us);
        if (k != RK_POST) {
            snprintf(label, sizeof label, "%s request->reply", req_kind_name(k));
            latency_line(f, label, &ks->reply_us);
            if (ks->replies_error || ks->reply_timeouts)
                fprintf(f, "    replies: %llu ok, %llu with an error code, %llu never came\n",
                        (unsigned long long)ks->replies_ok, (unsigned long long)ks->replies_error,
                        (unsigned long long)ks->reply_timeouts);
            for (int i = 0; i < L->n_missing_replies; i++)
                if (L->missing_kind[i] == k)
                    fprintf(f, "    e.g. %s\n", L->missing_replies[i]);
            statuses(f, "rpl codes", ks->reply_codes);
        }
        statuses(f, "SIP statuses", ks->statuses);
    }

    /* 503 behaviour */
    uint64_t r503 = 0, ra = 0;
    for (int k = 0; k < RK__COUNT; k++) {
        r503 += L->ks[k].rejected_503;
        ra += L->ks[k].with_retry_after;
    }
    if (r503)
        fprintf(f, "\n503s: %llu, %.1f %% with Retry-After\n", (unsigned long long)r503, 100.0 * (double)ra / (double)r503);
    else
        fprintf(f, "\n503s: none\n");

    /* posts */
    const struct delivery_stats *ds = &L->ds;
    const struct kind_stats *pk = &L->ks[RK_POST];
    fprintf(f, "\nPosts: %llu accepted (%.1f /s over %.1f s)\n", (unsigned long long)pk->accepted,
            run_s > 0 ? (double)pk->accepted / run_s : 0.0, run_s);
    fprintf(f, "  owed to other members %llu: %llu lost; owed back to authors (echoes) %llu: %llu lost\n",
            (unsigned long long)ds->expected, (unsigned long long)ds->lost,
            (unsigned long long)ds->expected_echoes, (unsigned long long)ds->echo_lost);
    fprintf(f, "  arrived: %llu deliveries + %llu echoes (%llu of them not owed: membership changed meanwhile "
               "or post not answered 200)\n",
            (unsigned long long)ds->deliveries, (unsigned long long)ds->echoes, (unsigned long long)ds->not_owed);
    fprintf(f, "  duplicates %llu, reordered %llu, after a part %llu, to non-members %llu, after a 503 %llu, "
               "mismatched %llu, not ours %llu\n",
            (unsigned long long)ds->duplicates, (unsigned long long)ds->reordered,
            (unsigned long long)ds->after_part, (unsigned long long)ds->to_non_members,
            (unsigned long long)ds->after_503, (unsigned long long)ds->mismatched,
            (unsigned long long)ds->foreign);
    if (L->drain_cut && (ds->lost || ds->echo_lost))
        fprintf(f, "  deliveries were still arriving when the drain ended: some of the lost ones may only be "
                   "late (a longer --drain tells)\n");
    uint64_t peak = 0, sum = 0;
    int active = 0;
    for (int i = 0; i < L->n_seconds; i++) {
        uint64_t n = L->series[i].deliveries + L->series[i].echoes;
        peak = n > peak ? n : peak;
        sum += n;
        active += n > 0;
    }
    if (active)
        fprintf(f, "  delivery rate (echoes included): %.0f /s on average over %d seconds with deliveries, "
                   "%llu /s at the peak\n", (double)sum / active, active, (unsigned long long)peak);
    latency_line(f, "post->delivery", &ds->delivery_us);
    latency_line(f, "post->echo", &ds->echo_us);
    latency_line(f, "schedule lag", &L->lag_us);

    /* per second */
    int last = 0;
    for (int i = 0; i < L->n_seconds; i++) {
        const struct second *s = &L->series[i];
        if (s->offered || s->sent || s->accepted || s->deliveries || s->echoes || s->timeouts || s->failed)
            last = i + 1;
    }
    if (last > 0 && last <= 300) {
        fprintf(f, "\nPer second   offered    sent accepted     503 timeouts  failed retried deliveries  echoes\n");
        for (int i = 0; i < last; i++) {
            const struct second *s = &L->series[i];
            fprintf(f, "  %4d %12llu %7llu %8llu %7llu %8llu %7llu %7llu %10llu %7llu\n", i,
                    (unsigned long long)s->offered, (unsigned long long)s->sent,
                    (unsigned long long)s->accepted, (unsigned long long)s->rejected_503,
                    (unsigned long long)s->timeouts, (unsigned long long)s->failed,
                    (unsigned long long)s->retried, (unsigned long long)s->deliveries,
                    (unsigned long long)s->echoes);
        }
    } else if (last > 300) {
        fprintf(f, "\nPer second: %d rows, in --json only\n", last);
    }

    /* memory and CPU */
    fprintf(f, "\nMemory:\n");
    for (int i = 0; i < L->n_procs; i++) {
        const struct pool_proc *p = &L->procs[i];
        char a[32], b[32], c[32], d[32];
        mb(a, sizeof a, p->start.rss_kb);
        mb(b, sizeof b, p->after_setup.rss_kb);
        mb(c, sizeof c, p->end.rss_kb);
        mb(d, sizeof d, p->end.hwm_kb >= 0 ? p->end.hwm_kb : p->after_setup.hwm_kb);
        fprintf(f, "  %-16s pid %-7d RSS %s at start, %s after set-up, %s at the end (peak %s)\n",
                p->name, p->pid, a, b, c, d);
    }
    if (L->n_procs == 0)
        fprintf(f, "  pool: not measured (give --pids or --pool-pidfile-dir)\n");
    char a[32], b[32];
    mb(a, sizeof a, L->tool_end.rss_kb);
    mb(b, sizeof b, L->tool_end.hwm_kb);
    fprintf(f, "  pchat-load       RSS %s (peak %s); CPU %.2f s user + %.2f s system (set-up %.2f s, run %.2f s)\n",
            a, b, L->tool_user_s, L->tool_sys_s, L->setup_cpu_s, L->run_cpu_s);

    if (L->violations || L->reconnects || L->users_lost) {
        fprintf(f, "\nProtocol: %llu violations SIPE would trip over (%llu users), %llu reconnects after 481, "
                   "%llu users lost during the run\n",
                (unsigned long long)L->violations, (unsigned long long)L->users_with_violations,
                (unsigned long long)L->reconnects, (unsigned long long)L->users_lost);
        for (int i = 0; i < L->n_violation_samples; i++)
            fprintf(f, "  e.g. %s\n", L->violation_samples[i]);
    }
}
