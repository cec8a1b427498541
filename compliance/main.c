/* main.c — pchat-compliance: command line, start-up checks, and the one loop that drains the
 * outbox, runs each due adapter one batch at a time, purges delivered events and answers
 * /metrics. --once does the same to completion and exits (cron, tests, benchmarks). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compliance.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#define DRAIN_BUDGET_US 500000      /* drain at most this long before giving adapters a turn */
#define DELIVERY_BUDGET_US 500000   /* and each due adapter this long before draining again */
#define IDLE_WAIT_MS 200            /* loop sleep when there was nothing to do */
#define PURGE_EVERY_US 1000000
#define HEARTBEAT_EVERY_US 5000000
#define ONCE_BUSY_WAIT_S 300        /* --once waits this long for another worker's delivery */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct cli {
    bool once, status, check;
    const char *retire;
};

static const char EXTRA_HELP[] =
    "Compliance commands (all read -c FILE):\n"
    "      --once             drain the outbox, deliver everything pending through every\n"
    "                         adapter, purge, print figures and exit (1 if anything failed)\n"
    "      --status           print backlog, oldest event age and each adapter's last\n"
    "                         success and failure, read from the databases, and exit\n"
    "      --retire-adapter NAME  stop holding events for adapter NAME (after removing it\n"
    "                         from every node's config) and exit\n"
    "      --check-config     also loads and initialises every adapter";

/* Takes out the options only pchat-compliance knows and leaves the rest for daemon_init. */
static int split_args(int argc, char **argv, char **rest, struct cli *cli)
{
    static const char *const with_value[] = { "-c", "--config", "--set", "--id", "--log-level" };
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--once") == 0) {
            cli->once = true;
        } else if (strcmp(a, "--status") == 0) {
            cli->status = true;
        } else if (strcmp(a, "--check-config") == 0) {
            cli->check = true;
        } else if (strcmp(a, "--retire-adapter") == 0 && i + 1 < argc) {
            cli->retire = argv[++i];
        } else if (strncmp(a, "--retire-adapter=", 17) == 0) {
            cli->retire = a + 17;
        } else {
            rest[n++] = argv[i];
            for (size_t k = 0; k < ARRAY_LEN(with_value); k++)
                if (strcmp(a, with_value[k]) == 0 && i + 1 < argc) {
                    rest[n++] = argv[++i];
                    break;
                }
        }
    }
    rest[n] = NULL;
    return n;
}

static int status_command(struct compliance_worker *w)
{
    if (!db_ready(&w->mgccomp)) {
        fprintf(stderr, "pchat-compliance: cannot read the status: the mgccomp store (%s) is not "
                "reachable\n", w->cfg->database.mgccomp);
        return 1;
    }
    bool have_pchat = db_ready(&w->pchat);
    char err[512];
    int rc = compliance_status_query(have_pchat ? w->pchat.conn : NULL, w->mgccomp.conn,
                                     &w->status, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "pchat-compliance: %s\n", err);
        return 1;
    }
    compliance_status_print(&w->status, stdout);
    return 0;
}

static int retire_command(struct compliance_worker *w, const char *name)
{
    if (!db_ready(&w->mgccomp)) {
        fprintf(stderr, "pchat-compliance: the mgccomp store (%s) is not reachable\n",
                w->cfg->database.mgccomp);
        return 1;
    }
    int rc = registry_retire(&w->mgccomp, name);
    if (rc == 1) {
        fprintf(stderr, "pchat-compliance: no adapter \"%s\" is registered in mgccomp; "
                "--status lists them\n", name);
        return 1;
    }
    if (rc < 0)
        return 1;
    printf("adapter %s retired: events no longer wait for it (a worker whose config still lists "
           "it registers it again)\n", name);
    return 0;
}

static void load_adapters(struct compliance_worker *w)
{
    char err[1024];
    for (int i = 0; i < w->cfg->compliance.n_adapters; i++) {
        if (adapter_load(&w->adapters[i], w->cfg, i, err, sizeof err) < 0) {
            fprintf(stderr, "pchat-compliance: %s\n", err);
            for (int k = 0; k < i; k++)
                adapter_unload(&w->adapters[k]);
            exit(1);
        }
        w->n_adapters = i + 1;
    }
}

/* Bit i set when adapter i's next run is due (one cheap query instead of one per adapter). */
static uint32_t due_adapters(struct compliance_worker *w)
{
    PGresult *r = db_exec(&w->mgccomp, "listing due adapters",
                          "SELECT name FROM adapters WHERE next_run_at <= now() AND NOT retired",
                          0, NULL, PGRES_TUPLES_OK);
    if (!r)
        return 0;
    uint32_t due = 0;
    for (int row = 0; row < PQntuples(r); row++)
        for (int i = 0; i < w->n_adapters; i++)
            if (strcmp(PQgetvalue(r, row, 0), w->adapters[i].cfg->name) == 0)
                due |= 1u << i;
    PQclear(r);
    return due;
}

static bool ensure_registered(struct compliance_worker *w)
{
    if (!db_ready(&w->mgccomp))
        return false;
    if (w->registered_generation == w->mgccomp.generation)
        return true;
    return registry_register(w) == 0;
}

static void refresh_status(struct compliance_worker *w)
{
    char err[512];
    w->status_valid = compliance_status_query(w->pchat.conn, w->mgccomp.conn, &w->status, err,
                                              sizeof err) == 0;
    if (!w->status_valid)
        log_warn("cannot refresh the status for /metrics: %s", err);
}

static void run_forever(struct compliance_worker *w)
{
    int64_t next_purge = 0, next_heartbeat = 0;
    while (!stop_requested) {
        bool more = false;
        bool registered = ensure_registered(w);
        if (registered && db_ready(&w->pchat)) {
            int64_t until = mono_us() + DRAIN_BUDGET_US;
            for (;;) {
                int limit = w->drain_limit;
                int n = outbox_drain_once(w);
                if (n < limit || stop_requested)
                    break;
                if (mono_us() >= until) {
                    more = true;
                    break;
                }
            }
        }
        if (registered && w->mgccomp.conn) {
            uint32_t due = due_adapters(w);
            for (int i = 0; i < w->n_adapters && w->mgccomp.conn && !stop_requested; i++) {
                if (!((due >> i) & 1u))
                    continue;
                int64_t until = mono_us() + DELIVERY_BUDGET_US;
                while (delivery_step(w, &w->adapters[i], false) == DELIVERY_PROGRESS &&
                       !stop_requested) {
                    if (mono_us() >= until) {
                        more = true;
                        break;
                    }
                }
            }
        }
        int64_t now = mono_us();
        if (now >= next_purge && w->mgccomp.conn && w->pchat.conn) {
            purge_delivered(w);
            next_purge = now + PURGE_EVERY_US;
        }
        if (now >= next_heartbeat && w->mgccomp.conn) {
            registry_heartbeat(w);
            if (w->metrics && w->mgccomp.conn)
                refresh_status(w);
            next_heartbeat = now + HEARTBEAT_EVERY_US;
        }
        metrics_wait(w, more ? 0 : IDLE_WAIT_MS);
    }
}

static double per_second(uint64_t n, int64_t us)
{
    return us > 0 ? (double)n * 1e6 / (double)us : 0.0;
}

/* Everything pending, to the end, once. Exit status 0 only when every step succeeded. */
static int run_once(struct compliance_worker *w)
{
    if (!db_ready(&w->pchat) || !ensure_registered(w)) {
        log_error("--once needs both stores reachable; see the messages above");
        return 1;
    }
    int n;
    while ((n = outbox_drain_once(w)) > 0 && !stop_requested)
        ;
    if (n < 0)
        return 1;
    log_info("drained %" PRIu64 " events from the outbox into mgccomp in %.3f s (%.0f events/s)",
             w->drained_events, (double)w->drain_us / 1e6,
             per_second(w->drained_events, w->drain_us));
    int failed = 0;
    for (int i = 0; i < w->n_adapters && !stop_requested; i++) {
        struct loaded_adapter *a = &w->adapters[i];
        int64_t busy_until = mono_us() + (int64_t)ONCE_BUSY_WAIT_S * 1000000;
        for (;;) {
            enum delivery_result r = delivery_step(w, a, true);
            if (r == DELIVERY_PROGRESS && !stop_requested)
                continue;
            if (r == DELIVERY_BUSY && mono_us() < busy_until && !stop_requested) {
                usleep(100000);
                continue;
            }
            if (r != DELIVERY_IDLE) {
                log_error("adapter %s: --once stops here (%s)", a->cfg->name,
                          r == DELIVERY_BUSY ? "another worker kept delivering for it"
                          : r == DELIVERY_FAILED ? "the adapter refused a batch"
                                                 : "mgccomp failed");
                failed++;
            }
            break;
        }
        log_info("adapter %s: delivered %" PRIu64 " events in %" PRIu64 " batches in %.3f s "
                 "(%.0f events/s)", a->cfg->name, a->once_events, a->delivered_batches,
                 (double)a->once_us / 1e6, per_second(a->once_events, a->once_us));
    }
    int64_t purged;
    while ((purged = purge_delivered(w)) > 0)
        ;
    if (purged < 0)
        failed++;
    log_info("purged %" PRIu64 " delivered events from mgccomp", w->purged_events);
    return failed || stop_requested ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct daemon_info info = {
        .program = "pchat-compliance",
        .summary = "Copies compliance events from the chat store's outbox into the mgccomp store "
                   "and hands them, exactly once, to the configured adapters.",
        .takes_id = true,
        .extra_help = EXTRA_HELP,
    };
    struct cli cli = { 0 };
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return 1;
    int n_rest = split_args(argc, argv, rest, &cli);
    static struct pchat_config cfg;
    const char *id = NULL;
    daemon_init(&info, n_rest, rest, &cfg, &id);
    free(rest);   /* what we keep (id, --retire-adapter) points into argv itself */

    static struct compliance_worker w;
    w.cfg = &cfg;
    if (id) {
        snprintf(w.id, sizeof w.id, "%s", id);
    } else {
        char host[64] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(w.id, sizeof w.id, "%s:%d", host, (int)getpid());
    }
    w.drain_limit = cfg.compliance.batch_size;
    db_link_init(&w.pchat, "pchat", "database.pchat", cfg.database.pchat, "sql/pchat",
                 COMPLIANCE_PCHAT_SCHEMA, &cfg);
    db_link_init(&w.mgccomp, "mgccomp", "database.mgccomp", cfg.database.mgccomp, "sql/mgccomp",
                 COMPLIANCE_MGCCOMP_SCHEMA, &cfg);

    if (cli.status || cli.retire)
        log_set_level(LOG_LEVEL_WARN);   /* the answer goes to stdout; keep stderr for trouble */
    if (cli.status)
        return status_command(&w);
    if (cli.retire)
        return retire_command(&w, cli.retire);
    if (!cfg.compliance.enabled && !cli.check) {
        log_info("compliance.enabled is false in %s: nothing to do (channel workers write no "
                 "outbox rows either); set it to true to archive", cfg.path ? cfg.path : "the config");
        return 0;
    }
    load_adapters(&w);
    if (cli.check) {
        for (int i = 0; i < w.n_adapters; i++) {
            printf("adapter %s: %s (%s, ABI %u)\n", w.adapters[i].cfg->name, w.adapters[i].path,
                   w.adapters[i].api->name, w.adapters[i].api->abi_version);
            adapter_unload(&w.adapters[i]);
        }
        printf("ok\n");
        return 0;
    }
    if (w.n_adapters == 0)
        log_warn("no compliance.adapters configured: events are copied to mgccomp and kept there "
                 "until an adapter is configured");

    struct sigaction sa = { .sa_handler = on_stop_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("%s started: %d adapter%s, run every %d s, batches of %d", w.id, w.n_adapters,
             w.n_adapters == 1 ? "" : "s", cfg.compliance.run_interval_s,
             cfg.compliance.batch_size);
    int rc = 0;
    if (cli.once) {
        rc = run_once(&w);
    } else {
        if (cfg.compliance.metrics_port > 0 && metrics_start(&w, cfg.compliance.metrics_port) < 0)
            rc = 1;
        else
            run_forever(&w);
        metrics_stop(&w);
    }
    for (int i = 0; i < w.n_adapters; i++)
        adapter_unload(&w.adapters[i]);
    db_close(&w.pchat);
    db_close(&w.mgccomp);
    if (!cli.once)
        log_info("stopped");
    config_free(&cfg);
    return rc;
}
