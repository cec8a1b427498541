/* compliance_status.h — the compliance pipeline's state as the databases hold it: outbox
 * backlog, compliance store backlog, and per adapter what is pending, the last success and the
 * last failure. One query function shared by `pchat-compliance --status`, its /metrics and
 * `pchatctl compliance status`, so every node reports the same thing. */
#ifndef PCHAT_COMPLIANCE_STATUS_H
#define PCHAT_COMPLIANCE_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#define COMPLIANCE_STATUS_MAX_ADAPTERS 32

struct compliance_adapter_status {
    char name[72];
    char type[256];
    bool retired;
    int64_t delivered_seq;         /* events up to this seq are in the adapter's output */
    int64_t pending_events;        /* in mgccomp, not yet delivered by this adapter */
    double oldest_pending_age_s;   /* age of its oldest pending event; -1 when none */
    int64_t delivered_events;      /* since the adapter was registered */
    int consecutive_failures;
    double last_success_unix;      /* 0 = never */
    int64_t last_success_batch;
    double last_failure_unix;      /* 0 = never */
    char last_error[512];
    double next_run_unix;
    int64_t open_batch;            /* 0 = none */
    int open_batch_attempts;
    int64_t open_batch_events;
    char last_seen_by[128];
    double last_seen_unix;
};

struct compliance_status {
    double read_at_unix;
    bool outbox_known;             /* false when the chat store was not reachable */
    int64_t outbox_events;         /* rows waiting in the chat store's compliance_outbox */
    double outbox_oldest_age_s;    /* -1 when empty */
    int64_t store_events;          /* events held in mgccomp */
    double store_oldest_age_s;     /* -1 when empty */
    int64_t store_max_seq;
    struct compliance_adapter_status adapters[COMPLIANCE_STATUS_MAX_ADAPTERS];
    int n_adapters;
};

/* Fill `st` from the compliance store `mgccomp` and, when `pchat` is not NULL, the chat store's
 * outbox. Returns 0, or -1 with a sentence in err (st then holds what was read before). */
int compliance_status_query(PGconn *pchat, PGconn *mgccomp, struct compliance_status *st,
                            char *err, size_t errlen);

/* Print `st` as indented "key: value" lines (stable names, one per line, easy to grep). */
void compliance_status_print(const struct compliance_status *st, FILE *out);

#endif
