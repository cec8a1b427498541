/* compliance.h — pchat-compliance's shared state and the entry points of its modules: database
 * links (db.c), outbox drain (outbox_drain.c), adapter loading (adapter_loader.c), delivery and
 * back-off (delivery.c), purge (purge.c), registration (registry.c) and /metrics (metrics.c). */
#ifndef PCHAT_COMPLIANCE_H
#define PCHAT_COMPLIANCE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "compliance_status.h"
#include "config.h"
#include "pchat_adapter.h"

/* Schema versions this binary needs (sql/pchat, sql/mgccomp). */
#define COMPLIANCE_PCHAT_SCHEMA 1
#define COMPLIANCE_MGCCOMP_SCHEMA 2

/* Advisory lock namespaces in mgccomp (first key of the two-key form). */
#define COMPLIANCE_LOCK_INSERT 0x7064   /* serialises inserts so seq commits in order */
#define COMPLIANCE_LOCK_ADAPTER 0x7063  /* second key hashtext(adapter name): one deliverer */

/* One adapter batch holds at most this many times compliance.batch_size events, and at most
 * COMPLIANCE_BATCH_BYTES of content, so a worker's memory stays bounded. */
#define COMPLIANCE_BATCH_FACTOR 10
#define COMPLIANCE_BATCH_EVENTS_MAX 100000
#define COMPLIANCE_BATCH_BYTES ((int64_t)64 << 20)
/* Retries after a failed batch wait 1, 2, 4 ... s, never longer than this (nor run_interval). */
#define COMPLIANCE_BACKOFF_MAX_S 900

/* ---- db.c: a libpq connection that reconnects with back-off ---------------------------------- */

/* Statements are prepared once per connection, keyed by the address of their (static) SQL. */
#define DB_MAX_PREPARED 64

struct db_link {
    const char *name;            /* "pchat" or "mgccomp", for messages */
    const char *config_key;      /* "database.pchat" */
    const char *conninfo;
    const char *migrations;      /* "sql/pchat", for the schema error */
    int schema_needed;
    int connect_timeout_s;
    int statement_timeout_ms;
    PGconn *conn;                /* NULL while down */
    int64_t retry_at_us;         /* monotonic: no connection attempt before this */
    int backoff_ms;
    bool down_logged;            /* say "unreachable" once per outage, not every retry */
    bool lost;                   /* a connection failed since the last good one */
    uint64_t generation;         /* bumps at every new connection (re-register, re-prepare) */
    const char *prepared[DB_MAX_PREPARED];   /* SQL prepared on this connection as "s<index>" */
    int n_prepared;
};

void db_link_init(struct db_link *l, const char *name, const char *config_key, const char *conninfo,
                  const char *migrations, int schema_needed, const struct pchat_config *cfg);
/* True when l->conn is usable, connecting first if it is down and the back-off allows. A store
 * whose schema is older than needed ends the process with the migration to run. */
bool db_ready(struct db_link *l);
/* Log what failed with the server's message, drop the connection, schedule a reconnect. */
void db_fail(struct db_link *l, const char *what);
void db_close(struct db_link *l);
/* Runs `sql` (a string with static storage: it is prepared once per connection and found
 * again by its address) with text parameters; returns the result when its status is
 * `expect`, otherwise logs, drops the connection and returns NULL. */
PGresult *db_exec(struct db_link *l, const char *what, const char *sql, int n_params,
                  const char *const *params, ExecStatusType expect);
/* A statement without result rows (BEGIN, COMMIT, UPDATE ...); returns 0 or -1 (after db_fail). */
int db_command(struct db_link *l, const char *what, const char *sql, int n_params,
               const char *const *params);
/* ROLLBACK if a transaction is open; keeps the connection. */
void db_rollback(struct db_link *l);

/* ---- adapter_loader.c --------------------------------------------------------------------- */

struct loaded_adapter {
    int index;                               /* position in compliance.adapters */
    const struct config_adapter *cfg;
    char path[4096];
    void *dl;
    const struct pchat_adapter *api;
    void *state;
    bool initialised;
    struct pchat_adapter_host host;
    struct pchat_adapter_option options[CONFIG_MAX_ADAPTER_OPTIONS];
    struct pchat_adapter_config adapter_cfg;

    /* this process's counters, for /metrics */
    uint64_t delivered_events, delivered_batches, failures;
    uint64_t once_events;                    /* --once: events delivered, for the summary */
    int64_t once_us;                         /* --once: time spent in delivery */
};

/* dlopen the adapter for compliance.adapters[index], check its ABI and call its init.
 * Returns 0, or -1 with a sentence naming the config entry, the file and the fix. */
int adapter_load(struct loaded_adapter *a, const struct pchat_config *cfg, int index, char *err,
                 size_t errlen);
void adapter_unload(struct loaded_adapter *a);

/* ---- the worker ---------------------------------------------------------------------------- */

struct compliance_worker {
    const struct pchat_config *cfg;
    char id[128];                            /* --id, or host:pid */
    struct db_link pchat, mgccomp;
    struct loaded_adapter adapters[CONFIG_MAX_ADAPTERS];
    int n_adapters;
    uint64_t registered_generation;          /* mgccomp generation the adapters were registered in */
    int drain_limit;                         /* rows per outbox claim: batch_size, halved on overflow */

    /* counters for /metrics and the --once summary */
    uint64_t drained_events, drain_errors, purged_events, delivery_errors;
    int64_t drain_us;                        /* time spent draining (the --once summary) */
    struct compliance_status status;         /* last refresh, for /metrics */
    bool status_valid;

    struct metrics_server *metrics;          /* NULL when compliance.metrics_port is 0 */
    struct pollfd watched[24];               /* its fds (listener + connections) */
    int n_watched;
};

/* ---- outbox_drain.c ----------------------------------------------------------------------- */

/* Move up to w->drain_limit outbox rows into mgccomp: claim them with FOR UPDATE SKIP LOCKED
 * (deleting them in the still-open chat store transaction), insert them into mgccomp with
 * ON CONFLICT DO NOTHING under the insert lock, commit mgccomp, then commit the chat store.
 * Returns the number of rows moved, or -1 after a database error (both links are usable or
 * reset; nothing is lost: uncommitted claims go back to the outbox). */
int outbox_drain_once(struct compliance_worker *w);

/* ---- registry.c --------------------------------------------------------------------------- */

/* Upsert every configured adapter into mgccomp.adapters (un-retiring it) and note this worker
 * as seen. Returns 0 or -1 after a database error. */
int registry_register(struct compliance_worker *w);
/* Refresh last_seen_at/by of the configured adapters. */
int registry_heartbeat(struct compliance_worker *w);
/* Mark an adapter retired: its deliveries no longer hold events back. 0, 1 = unknown, -1 error. */
int registry_retire(struct db_link *mgccomp, const char *name);

/* ---- delivery.c --------------------------------------------------------------------------- */

enum delivery_result {
    DELIVERY_IDLE,        /* not due, or nothing new: the run is complete */
    DELIVERY_PROGRESS,    /* one batch delivered; call again */
    DELIVERY_FAILED,      /* the adapter refused the batch; retried after back-off */
    DELIVERY_BUSY,        /* another worker is delivering for this adapter */
    DELIVERY_DB_ERROR,    /* mgccomp failed; the link was reset */
};

/* One step of an adapter's run: start a run when due (fixing its horizon), form or re-use the
 * open batch, hand it to the adapter, record the outcome. `force` ignores run_interval and
 * back-off (--once). */
enum delivery_result delivery_step(struct compliance_worker *w, struct loaded_adapter *a, bool force);

/* ---- purge.c ------------------------------------------------------------------------------ */

/* Delete events every registered adapter has delivered (and that no chat store transaction
 * can copy again). Returns the number deleted, or -1 after a database error. */
int64_t purge_delivered(struct compliance_worker *w);

/* ---- metrics.c ---------------------------------------------------------------------------- */

/* Serve /metrics and /healthz on compliance.metrics_port (common/metrics). Returns 0 or -1. */
int metrics_start(struct compliance_worker *w, int port);
/* Sleep up to timeout_ms, answering HTTP requests that arrive meanwhile (or only sleep when
 * metrics are off); returns early on a signal. */
void metrics_wait(struct compliance_worker *w, int timeout_ms);
void metrics_stop(struct compliance_worker *w);

#endif
