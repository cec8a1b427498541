/* report_json.c — --json: every figure of the run in one document (schema in
 * docs/load-testing.md, "schema": 1); stable keys, latencies in microseconds. */
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"

static void hist_json(struct jw *w, const char *key, const struct hist *h)
{
    jw_obj_compact(w, key);
    jw_uint(w, "count", h->count);
    jw_uint(w, "min", h->count ? h->min : 0);
    jw_num(w, "mean", hist_mean(h));
    jw_uint(w, "p50", hist_quantile(h, 0.50));
    jw_uint(w, "p90", hist_quantile(h, 0.90));
    jw_uint(w, "p99", hist_quantile(h, 0.99));
    jw_uint(w, "p999", hist_quantile(h, 0.999));
    jw_uint(w, "max", h->max);
    jw_end(w);
}

static void statuses_json(struct jw *w, const char *key, const struct status_count *s)
{
    jw_obj_compact(w, key);
    for (int i = 0; i < LOAD_MAX_STATUS_KINDS && s[i].n; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", s[i].status);
        jw_uint(w, k, s[i].n);
    }
    jw_end(w);
}

static void mem_json(struct jw *w, const char *key, const struct proc_mem *m)
{
    jw_obj_compact(w, key);
    if (m->rss_kb >= 0)
        jw_int(w, "rss_kb", m->rss_kb);
    else
        jw_null(w, "rss_kb");
    if (m->hwm_kb >= 0)
        jw_int(w, "hwm_kb", m->hwm_kb);
    else
        jw_null(w, "hwm_kb");
    jw_end(w);
}

static void config_json(struct jw *w, const struct load *L)
{
    const struct load_opts *o = &L->o;
    jw_obj(w, "config");
    jw_str(w, "command_line", o->argv_line);
    jw_arr(w, "frontends");
    for (int i = 0; i < o->n_fe; i++) {
        char hp[300];
        snprintf(hp, sizeof hp, "%s:%d", o->fe[i].host, o->fe[i].port);
        jw_str(w, NULL, hp);
    }
    jw_end(w);
    jw_str(w, "domain", o->domain);
    jw_int(w, "users", o->users);
    jw_int(w, "first_user", o->first_user);
    jw_arr(w, "rooms");
    for (int i = 0; i < o->n_rooms; i++) {
        jw_obj_compact(w, NULL);
        jw_int(w, "size", o->rooms[i].size);
        jw_int(w, "count", o->rooms[i].count);
        jw_end(w);
    }
    jw_end(w);
    jw_bool(w, "setup_rooms", o->setup_conninfo[0] != '\0');
    jw_num(w, "signin_rate", o->signin_rate);
    jw_int(w, "signin_concurrency", o->signin_concurrency);
    jw_num(w, "duration_s", o->duration_s);
    jw_obj_compact(w, "rates");
    for (int k = 0; k < RK_SCHEDULED; k++)
        jw_num(w, req_kind_name(k), o->rate[k]);
    jw_end(w);
    jw_str(w, "arrivals", o->arrivals == ARRIVALS_POISSON ? "poisson" : "uniform");
    jw_uint(w, "seed", o->seed);
    jw_int(w, "post_size", o->post_size);
    jw_bool(w, "retry", !o->no_retry);
    jw_int(w, "max_retries", o->max_retries);
    jw_int(w, "timeout_ms", o->timeout_ms);
    jw_num(w, "drain_s", o->drain_s);
    jw_str(w, "user_agent", o->user_agent);
    jw_bool(w, "join_history", !o->no_join_history);
    jw_end(w);
}

static void requests_json(struct jw *w, const struct load *L)
{
    jw_obj(w, "requests");
    for (int k = 0; k < RK__COUNT; k++) {
        const struct kind_stats *ks = &L->ks[k];
        jw_obj(w, req_kind_name(k));
        jw_uint(w, "offered", ks->offered);
        jw_uint(w, "skipped", ks->skipped);
        jw_uint(w, "deferred", ks->deferred);
        jw_uint(w, "dropped", ks->dropped);
        jw_uint(w, "sent", ks->sent);
        jw_uint(w, "not_sent", ks->not_sent);
        jw_uint(w, "accepted", ks->accepted);
        jw_uint(w, "rejected_503", ks->rejected_503);
        jw_uint(w, "with_retry_after", ks->with_retry_after);
        jw_uint(w, "retried", ks->retried);
        jw_uint(w, "gave_up", ks->gave_up);
        jw_uint(w, "failed", ks->failed);
        jw_uint(w, "timeouts", ks->timeouts);
        statuses_json(w, "statuses", ks->statuses);
        hist_json(w, "answer_us", &ks->answer_us);
        if (k != RK_POST) {
            jw_uint(w, "replies_ok", ks->replies_ok);
            jw_uint(w, "replies_error", ks->replies_error);
            jw_uint(w, "reply_timeouts", ks->reply_timeouts);
            statuses_json(w, "reply_codes", ks->reply_codes);
            hist_json(w, "reply_us", &ks->reply_us);
        }
        jw_end(w);
    }
    jw_end(w);
}

static void write_doc(struct jw *w, const struct load *L)
{
    const struct delivery_stats *ds = &L->ds;
    jw_obj(w, NULL);
    jw_str(w, "tool", "pchat-load");
    jw_int(w, "schema", 1);
    jw_str(w, "started_at", L->started_at);
    jw_bool(w, "completed", L->completed);
    config_json(w, L);

    jw_obj(w, "setup");
    jw_int(w, "users", L->n_users);
    jw_uint(w, "signed_in", L->signin_us.count);
    jw_int(w, "signin_failed", L->signin_failed);
    jw_int(w, "ready", L->ready);
    jw_num(w, "signin_s", L->signin_all_us > L->setup_start_us ? (double)(L->signin_all_us - L->setup_start_us) / 1e6 : 0.0);
    jw_num(w, "setup_s", (double)(L->setup_end_us - L->setup_start_us) / 1e6);
    hist_json(w, "signin_us", &L->signin_us);
    jw_int(w, "rooms", L->n_rooms);
    jw_uint(w, "memberships", L->memberships);
    jw_uint(w, "join_failed", L->setup_join_failed);
    jw_int(w, "source_addresses_used", L->src_used_max + 1);
    jw_arr(w, "failures");
    for (int i = 0; i < L->n_reasons; i++) {
        jw_obj_compact(w, NULL);
        jw_uint(w, "count", L->reason_count[i]);
        jw_str(w, "reason", L->reason_text[i]);
        jw_end(w);
    }
    jw_end(w);
    jw_end(w);

    jw_obj(w, "run");
    jw_num(w, "schedule_s", (double)(L->run_end_us - L->run_start_us) / 1e6);
    jw_num(w, "drain_s", (double)(L->drain_end_us - L->run_end_us) / 1e6);
    jw_bool(w, "drain_cut_short", L->drain_cut);
    hist_json(w, "schedule_lag_us", &L->lag_us);
    jw_uint(w, "reconnects", L->reconnects);
    jw_uint(w, "users_lost", L->users_lost);
    jw_uint(w, "unmatched_answers", L->unmatched_answers);
    jw_uint(w, "unmatched_replies", L->unmatched_replies);
    jw_uint(w, "notices", L->ntc_seen);
    jw_arr(w, "missing_replies");
    for (int i = 0; i < L->n_missing_replies; i++)
        jw_str(w, NULL, L->missing_replies[i]);
    jw_end(w);
    jw_end(w);

    requests_json(w, L);

    uint64_t r503 = 0, ra = 0;
    for (int k = 0; k < RK__COUNT; k++) {
        r503 += L->ks[k].rejected_503;
        ra += L->ks[k].with_retry_after;
    }
    jw_obj(w, "retry_after");
    jw_uint(w, "responses_503", r503);
    jw_uint(w, "with_retry_after", ra);
    if (r503)
        jw_num(w, "percent", 100.0 * (double)ra / (double)r503);
    else
        jw_null(w, "percent");
    jw_end(w);

    jw_obj(w, "posts");
    jw_uint(w, "accepted", L->ks[RK_POST].accepted);
    jw_uint(w, "received", ds->received);
    jw_uint(w, "deliveries", ds->deliveries);
    jw_uint(w, "expected", ds->expected);
    jw_uint(w, "lost", ds->lost);
    jw_uint(w, "echoes", ds->echoes);
    jw_uint(w, "expected_echoes", ds->expected_echoes);
    jw_uint(w, "echo_lost", ds->echo_lost);
    jw_uint(w, "duplicates", ds->duplicates);
    jw_uint(w, "reordered", ds->reordered);
    jw_uint(w, "not_owed", ds->not_owed);
    jw_uint(w, "after_part", ds->after_part);
    jw_uint(w, "to_non_members", ds->to_non_members);
    jw_uint(w, "after_503", ds->after_503);
    jw_uint(w, "mismatched", ds->mismatched);
    jw_uint(w, "foreign", ds->foreign);
    hist_json(w, "delivery_us", &ds->delivery_us);
    hist_json(w, "echo_us", &ds->echo_us);
    jw_end(w);

    jw_arr(w, "per_second");
    for (int i = 0; i < L->n_seconds; i++) {
        const struct second *s = &L->series[i];
        jw_obj_compact(w, NULL);
        jw_int(w, "t", i);
        jw_uint(w, "offered", s->offered);
        jw_uint(w, "sent", s->sent);
        jw_uint(w, "accepted", s->accepted);
        jw_uint(w, "rejected_503", s->rejected_503);
        jw_uint(w, "timeouts", s->timeouts);
        jw_uint(w, "failed", s->failed);
        jw_uint(w, "retried", s->retried);
        jw_uint(w, "deliveries", s->deliveries);
        jw_uint(w, "echoes", s->echoes);
        jw_end(w);
    }
    jw_end(w);

    jw_obj(w, "memory");
    jw_arr(w, "pool");
    for (int i = 0; i < L->n_procs; i++) {
        const struct pool_proc *p = &L->procs[i];
        jw_obj(w, NULL);
        jw_int(w, "pid", p->pid);
        jw_str(w, "name", p->name);
        mem_json(w, "start", &p->start);
        mem_json(w, "after_setup", &p->after_setup);
        mem_json(w, "end", &p->end);
        jw_end(w);
    }
    jw_end(w);
    mem_json(w, "tool", &L->tool_end);
    jw_end(w);

    jw_obj_compact(w, "cpu");
    jw_num(w, "tool_user_s", L->tool_user_s);
    jw_num(w, "tool_sys_s", L->tool_sys_s);
    jw_num(w, "setup_s", L->setup_cpu_s);
    jw_num(w, "run_s", L->run_cpu_s);
    jw_end(w);

    jw_obj(w, "violations");
    jw_uint(w, "total", L->violations);
    jw_uint(w, "users", L->users_with_violations);
    jw_arr(w, "samples");
    for (int i = 0; i < L->n_violation_samples; i++)
        jw_str(w, NULL, L->violation_samples[i]);
    jw_end(w);
    jw_end(w);
    jw_end(w);
    fputc('\n', w->f);
}

int report_json(const struct load *L, const char *path, char *err, size_t errlen)
{
    bool to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write --json %s: %s", path, strerror(errno));
        return -1;
    }
    struct jw w;
    jw_init(&w, f);
    write_doc(&w, L);
    if (to_stdout) {
        fflush(f);
        return 0;
    }
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write --json %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
