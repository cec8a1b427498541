/* csv_adapter.c — an example third-party compliance adapter: each batch becomes one CSV file
 * (RFC 4180: quoted fields, CRLF line ends) that a spreadsheet or an e-discovery tool can
 * import. It is the starting point for a compliance team's own adapter: it builds against
 * compliance/include/ only (see Makefile), validates its options at init, names its output
 * after the batch and writes it atomically, which is all exactly-once asks of an adapter.
 *
 * Config (one entry of compliance.adapters):
 *     - name: "csv-archive"
 *       type: "/usr/local/lib/pchat/csv.so"     # a path (with '/'), or "csv" in adapter_dir
 *       output_dir: "/srv/compliance/csv"
 *       options:
 *         delimiter: ";"                        # one character; default ","
 *         header: true                          # first line names the columns; default true */
#include <inttypes.h>
#include <stdlib.h>

#include "pchat_adapter.h"
#include "pchat_adapter_util.h"

#define CSV_FILE_MAX ((size_t)1 << 30)

struct csv_state {
    const struct pchat_adapter_host *host;
    char instance[80];
    char output_dir[4096];
    char delimiter;
    int header;
};

static int csv_init(const struct pchat_adapter_host *host, const struct pchat_adapter_config *cfg,
                    void **state, char *err, size_t errlen)
{
    /* Refuse a service speaking another ABI even if it loaded us (belt and braces). */
    if (host->abi_version != PCHAT_ADAPTER_ABI_VERSION) {
        pchat_set_error(err, errlen, "the csv adapter speaks ABI %u, the service %u",
                        PCHAT_ADAPTER_ABI_VERSION, host->abi_version);
        return -1;
    }
    if (!cfg->output_dir[0] || strlen(cfg->output_dir) > 4000) {
        pchat_set_error(err, errlen, "the csv adapter needs output_dir (at most 4000 bytes)");
        return -1;
    }
    struct csv_state *st = calloc(1, sizeof *st);
    if (!st) {
        pchat_set_error(err, errlen, "out of memory");
        return -1;
    }
    st->host = host;
    st->delimiter = ',';
    st->header = 1;
    pchat_file_component(cfg->instance, st->instance, sizeof st->instance);
    snprintf(st->output_dir, sizeof st->output_dir, "%s", cfg->output_dir);
    for (size_t i = 0; i < cfg->n_options; i++) {
        const char *k = cfg->options[i].key, *v = cfg->options[i].value;
        if (strcmp(k, "delimiter") == 0 && strlen(v) == 1 && v[0] != '"' && v[0] != '\r' &&
            v[0] != '\n') {
            st->delimiter = v[0];
        } else if (strcmp(k, "header") == 0 && pchat_option_bool(v) >= 0) {
            st->header = pchat_option_bool(v);
        } else {
            pchat_set_error(err, errlen, "options.%s = \"%.40s\" is not valid for the csv adapter: "
                            "it takes delimiter (one character, not a quote) and header (true or "
                            "false)", k, v);
            free(st);
            return -1;
        }
    }
    if (pchat_mkdir_p(st->output_dir, err, errlen) < 0) {
        free(st);
        return -1;
    }
    host->log(host->ctx, PCHAT_ADAPTER_LOG_INFO, "csv adapter writing to %s", st->output_dir);
    *state = st;
    return 0;
}

/* One RFC 4180 field: quoted when it holds the delimiter, a quote or a line break. */
static void field(struct pchat_buf *b, const struct csv_state *st, const char *s, int last)
{
    s = s ? s : "";
    if (strpbrk(s, "\"\r\n") || strchr(s, st->delimiter)) {
        pchat_buf_puts(b, "\"");
        for (const char *p = s; *p; p++) {
            if (*p == '"')
                pchat_buf_puts(b, "\"");
            pchat_buf_append(b, p, 1);
        }
        pchat_buf_puts(b, "\"");
    } else {
        pchat_buf_puts(b, s);
    }
    pchat_buf_puts(b, last ? "\r\n" : (char[]){ st->delimiter, '\0' });
}

static void number(struct pchat_buf *b, const struct csv_state *st, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    field(b, st, s, 0);
}

static int csv_translate(void *state, const struct pchat_adapter_batch *batch, char *err,
                         size_t errlen)
{
    struct csv_state *st = state;
    struct pchat_buf b;
    pchat_buf_init(&b, CSV_FILE_MAX);
    if (st->header) {
        static const char *const cols[] = { "batch", "event_id", "type", "time_utc", "time_ms",
                                            "user_uri", "user_name", "user_id", "internal",
                                            "room_uri", "room_name", "message_id", "content" };
        for (size_t i = 0; i < 13; i++)
            field(&b, st, cols[i], i == 12);
    }
    for (size_t c = 0; c < batch->n_conversations; c++) {
        const struct pchat_adapter_conversation *conv = &batch->conversations[c];
        for (size_t i = 0; i < conv->n_events; i++) {
            const struct pchat_adapter_event *e = &conv->events[i];
            char iso[PCHAT_TIME_ISO_LEN];
            pchat_time_iso(e->time_us, iso);
            field(&b, st, batch->id, 0);
            field(&b, st, e->event_id, 0);
            field(&b, st, e->type, 0);
            field(&b, st, iso, 0);
            number(&b, st, pchat_time_epoch_ms(e->time_us));
            field(&b, st, e->user.uri, 0);
            field(&b, st, e->user.display_name, 0);
            number(&b, st, e->user.id);
            field(&b, st, e->user.internal ? "true" : "false", 0);
            field(&b, st, conv->room.uri, 0);
            field(&b, st, conv->room.name, 0);
            number(&b, st, e->message_id);
            field(&b, st, e->content, 1);
        }
    }
    if (b.failed) {
        pchat_buf_free(&b);
        pchat_set_error(err, errlen, "batch %s does not fit in %zu bytes of CSV", batch->id,
                        CSV_FILE_MAX);
        return -1;
    }
    /* Named after the batch only: a retry after a crash replaces this file, never adds one. */
    char name[160];
    snprintf(name, sizeof name, "%s-%012" PRIu64 ".csv", st->instance, batch->number);
    int rc = pchat_write_file_atomic(st->output_dir, name, b.data ? b.data : "", b.len, err, errlen);
    pchat_buf_free(&b);
    if (rc == 0 && batch->attempt > 1)
        st->host->log(st->host->ctx, PCHAT_ADAPTER_LOG_INFO, "rewrote %s (attempt %u)", name,
                      batch->attempt);
    return rc;
}

static void csv_shutdown(void *state)
{
    free(state);
}

static const struct pchat_adapter csv_adapter = {
    .abi_version = PCHAT_ADAPTER_ABI_VERSION,
    .name = "csv",
    .description = "example third-party adapter: one RFC 4180 CSV file per batch",
    .init = csv_init,
    .translate = csv_translate,
    .shutdown = csv_shutdown,
};

const struct pchat_adapter *pchat_adapter_create(void)
{
    return &csv_adapter;
}
