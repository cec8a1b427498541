/* probe_adapter.c — a test-only compliance adapter (built by the t5x tests with cc, never
 * shipped): writes each batch's event ids, one per line, to <output_dir>/<instance>-<n>.ids
 * (atomically, named after the batch), and can be told to misbehave through the environment:
 *   PROBE_FAIL_WHILE=<path>   translate fails while that file exists (then recovers)
 *   PROBE_DELAY_MS=<n>        sleep n ms inside translate, before the rename (widens the window
 *                             in which a SIGKILL lands between "batch formed" and "delivered")
 *   PROBE_BAD_ABI=1           create() returns a table of ABI version 999
 * Compile with -DPROBE_NO_SYMBOL to get a .so that exports no create function at all. */
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "pchat_adapter.h"
#include "pchat_adapter_util.h"

struct probe {
    const struct pchat_adapter_host *host;
    char dir[4096];
    char instance[80];
    const char *fail_while;
    long delay_ms;
};

static int probe_init(const struct pchat_adapter_host *host, const struct pchat_adapter_config *cfg,
                      void **state, char *err, size_t errlen)
{
    if (getenv("PROBE_REFUSE_INIT")) {
        pchat_set_error(err, errlen, "probe refuses to start because PROBE_REFUSE_INIT is set");
        return -1;
    }
    struct probe *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->host = host;
    snprintf(p->dir, sizeof p->dir, "%s", cfg->output_dir);
    pchat_file_component(cfg->instance, p->instance, sizeof p->instance);
    p->fail_while = getenv("PROBE_FAIL_WHILE");
    p->delay_ms = getenv("PROBE_DELAY_MS") ? atol(getenv("PROBE_DELAY_MS")) : 0;
    if (pchat_mkdir_p(p->dir, err, errlen) < 0) {
        free(p);
        return -1;
    }
    *state = p;
    return 0;
}

static int probe_translate(void *state, const struct pchat_adapter_batch *batch, char *err,
                           size_t errlen)
{
    struct probe *p = state;
    if (p->fail_while && access(p->fail_while, F_OK) == 0) {
        pchat_set_error(err, errlen, "probe sink unavailable (%s exists)", p->fail_while);
        return -1;
    }
    struct pchat_buf b;
    pchat_buf_init(&b, (size_t)1 << 28);
    for (size_t c = 0; c < batch->n_conversations; c++)
        for (size_t i = 0; i < batch->conversations[c].n_events; i++)
            pchat_buf_printf(&b, "%s\n", batch->conversations[c].events[i].event_id);
    if (p->delay_ms > 0) {
        struct timespec ts = { p->delay_ms / 1000, (p->delay_ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
    }
    char name[160];
    snprintf(name, sizeof name, "%s-%012" PRIu64 ".ids", p->instance, batch->number);
    int rc = b.failed ? -1 : pchat_write_file_atomic(p->dir, name, b.data ? b.data : "", b.len, err, errlen);
    pchat_buf_free(&b);
    return rc;
}

static void probe_shutdown(void *state)
{
    free(state);
}

static struct pchat_adapter probe = {
    .abi_version = PCHAT_ADAPTER_ABI_VERSION,
    .name = "probe",
    .description = "test adapter: event ids per batch, with injectable failures",
    .init = probe_init,
    .translate = probe_translate,
    .shutdown = probe_shutdown,
};

#ifdef PROBE_NO_SYMBOL
/* Another name: the table exists but the service cannot find it. */
const struct pchat_adapter *not_the_create_function(void)
{
    return &probe;
}
#else
const struct pchat_adapter *pchat_adapter_create(void)
{
    if (getenv("PROBE_BAD_ABI"))
        probe.abi_version = 999;
    return &probe;
}
#endif
