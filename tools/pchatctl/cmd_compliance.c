/* cmd_compliance.c — pchatctl compliance status: the compliance pipeline as the stores hold it
 * (outbox backlog, mgccomp backlog, each adapter's progress and last error), read through the
 * same common/compliance_status.c that pchat-compliance --status uses. */
#include "ctl.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compliance_status.h"
#include "pq.h"

static struct jv *when(double unix_s)
{
    if (unix_s <= 0)
        return jv_null();
    time_t t = (time_t)unix_s;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return jv_null();
    return jv_str(buf);
}

static struct jv *age(double s)
{
    return s < 0 ? jv_null() : jv_num(round(s * 10) / 10);
}

/* libpq's messages span lines; a status line should not */
static void one_line(char *s)
{
    char *out = s;
    for (const char *p = s; *p; p++) {
        bool space = (unsigned char)*p < 0x20 || *p == ' ';
        if (space && (out == s || out[-1] == ' '))
            continue;
        *out++ = space ? ' ' : *p;
    }
    while (out > s && out[-1] == ' ')
        out--;
    *out = '\0';
}

/* Only the outbox, when the compliance store cannot be read. */
static int outbox_only(struct ctl *c, struct compliance_status *st)
{
    PGresult *r = db_exec(c, "SELECT count(*), (SELECT extract(epoch FROM now() - occurred_at)::float8"
                             "   FROM compliance_outbox ORDER BY id LIMIT 1) FROM compliance_outbox", 0, NULL);
    if (!r)
        return ctl_db_fail(c, "read the compliance outbox");
    st->outbox_known = true;
    st->outbox_events = cell_i64(r, 0, 0);
    st->outbox_oldest_age_s = cell(r, 0, 1) ? strtod(cell(r, 0, 1), NULL) : -1;
    PQclear(r);
    return 0;
}

static int compliance_status(struct ctl *c, const struct args *a)
{
    (void)a;
    struct compliance_status *st = calloc(1, sizeof *st);
    if (!st)
        return ctl_fail(c, EXIT_RUNTIME, "out of memory");
    char err[1024] = "";
    PGconn *mgc = NULL;
    if (c->cfg.database.mgccomp && *c->cfg.database.mgccomp)
        mgc = pq_connect(c->cfg.database.mgccomp, c->cfg.database.connect_timeout_s,
                         c->cfg.database.statement_timeout_ms, err, sizeof err);
    else
        snprintf(err, sizeof err, "database.mgccomp is not set in %s", c->config_path);
    bool store_read = false;
    if (mgc) {
        if (compliance_status_query(c->db, mgc, st, err, sizeof err) == 0)
            store_read = true;
        PQfinish(mgc);
    }
    int rc = 0;
    one_line(err);
    if (!store_read) {
        memset(st, 0, sizeof *st);
        if ((rc = outbox_only(c, st)) != 0) {
            free(st);
            return rc;
        }
    }

    struct jv *o = jv_set(c->out, "compliance", jv_obj());
    jv_set_bool(o, "enabled", c->cfg.compliance.enabled);
    jv_set_int(o, "outbox_events", st->outbox_events);
    jv_set(o, "outbox_oldest_age_s", age(st->outbox_oldest_age_s));
    jv_set_bool(o, "store_reachable", store_read);
    if (!store_read)
        jv_set_str(o, "store_error", err);
    if (store_read) {
        jv_set_int(o, "store_events", st->store_events);
        jv_set(o, "store_oldest_age_s", age(st->store_oldest_age_s));
        struct jv *list = jv_set(o, "adapters", jv_arr());
        for (int i = 0; i < st->n_adapters; i++) {
            const struct compliance_adapter_status *ad = &st->adapters[i];
            struct jv *x = jv_push(list, jv_obj());
            jv_set_str(x, "name", ad->name);
            jv_set_str(x, "type", ad->type);
            jv_set_str(x, "state", ad->retired ? "retired" : ad->consecutive_failures > 0 ? "failing" : "ok");
            jv_set_int(x, "pending_events", ad->pending_events);
            jv_set(x, "oldest_pending_age_s", age(ad->oldest_pending_age_s));
            jv_set_int(x, "delivered_events", ad->delivered_events);
            jv_set(x, "last_success", when(ad->last_success_unix));
            jv_set(x, "last_failure", when(ad->last_failure_unix));
            jv_set_str(x, "last_error", ad->last_error);
            jv_set_int(x, "consecutive_failures", ad->consecutive_failures);
        }
    }

    /* text: the same lines pchat-compliance --status prints */
    ctl_say(c, "enabled: %s%s", c->cfg.compliance.enabled ? "yes" : "no",
            c->cfg.compliance.enabled ? "" : " (compliance.enabled is false: nothing is recorded)");
    if (store_read) {
        char *text = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&text, &len);
        if (mem) {
            compliance_status_print(st, mem);
            fclose(mem);
            sbuf_append(&c->human, text, len);
            free(text);
        }
    } else {
        ctl_say(c, "outbox_events: %lld", (long long)st->outbox_events);
        if (st->outbox_oldest_age_s < 0)
            ctl_say(c, "outbox_oldest_age_s: none");
        else
            ctl_say(c, "outbox_oldest_age_s: %.1f", st->outbox_oldest_age_s);
        ctl_say(c, "store: not read (%s)", err);
    }
    free(st);
    return 0;
}

static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec compliance_verbs[] = {
    { "status", "", 0, 0, "Show the compliance backlog and each adapter's progress and errors.",
      "\nReads the chat store's outbox and, through database.mgccomp, the compliance store. When\n"
      "the compliance store cannot be read, the outbox alone is shown with the reason.\n",
      "  pchatctl compliance status\n  pchatctl --json compliance status", no_opts,
      compliance_status, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_compliance = {
    "compliance", "The compliance pipeline's backlog and adapters.", NULL, compliance_verbs,
};
