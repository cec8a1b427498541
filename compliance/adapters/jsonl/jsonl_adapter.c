/* jsonl_adapter.c — the built-in `jsonl` adapter: one JSON object per event, one line each, for
 * log pipelines (Filebeat, Vector, Fluent Bit tail a directory). Each batch is one file named
 * after the batch (or one per room) and written atomically, so a retry never adds lines. */
#include <inttypes.h>
#include <stdlib.h>

#include "pchat_adapter.h"
#include "pchat_adapter_util.h"

/* Unfinished temp files older than this belong to nobody any more. */
#define STALE_TEMP_AGE_S 3600
#define JSONL_FILE_MAX ((size_t)1 << 30)

struct jsonl_state {
    const struct pchat_adapter_host *host;
    char instance[80];
    char output_dir[4096];
    int one_room_per_file;
    int add_room_details;
    int add_user_details;
};

static int jsonl_init(const struct pchat_adapter_host *host, const struct pchat_adapter_config *cfg,
                      void **state, char *err, size_t errlen)
{
    if (!cfg->output_dir || !cfg->output_dir[0]) {
        snprintf(err, errlen, "the jsonl adapter needs output_dir: the directory its files go to");
        return -1;
    }
    if (strlen(cfg->output_dir) >= sizeof ((struct jsonl_state *)0)->output_dir - 64) {
        snprintf(err, errlen, "output_dir is too long");
        return -1;
    }
    if (cfg->n_options > 0) {
        snprintf(err, errlen, "options.%s is not an option of the jsonl adapter: it takes none",
                 cfg->options[0].key);
        return -1;
    }
    struct jsonl_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->host = host;
    pchat_file_component(cfg->instance, st->instance, sizeof st->instance);
    snprintf(st->output_dir, sizeof st->output_dir, "%s", cfg->output_dir);
    st->one_room_per_file = cfg->one_room_per_file;
    st->add_room_details = cfg->add_room_details;
    st->add_user_details = cfg->add_user_details;
    if (pchat_mkdir_p(st->output_dir, err, errlen) < 0) {
        free(st);
        return -1;
    }
    int stale = pchat_remove_stale_temp_files(st->output_dir, st->instance, STALE_TEMP_AGE_S);
    if (stale > 0)
        host->log(host->ctx, PCHAT_ADAPTER_LOG_INFO,
                  "removed %d unfinished temp files left in %s by killed writers", stale,
                  st->output_dir);
    *state = st;
    return 0;
}

static void key(struct pchat_buf *b, const char *k)
{
    pchat_buf_printf(b, ",\"%s\":", k);
}

static void room_object(struct pchat_buf *b, const struct jsonl_state *st,
                        const struct pchat_adapter_room *r)
{
    static const char *const privacy[] = { "open", "closed", "secret" };
    static const char *const type[] = { "normal", "auditorium" };
    pchat_buf_puts(b, "{\"uri\":");
    pchat_buf_json_string(b, r->uri);
    key(b, "name");
    pchat_buf_json_string(b, r->name);
    if (st->add_room_details) {
        key(b, "category");
        pchat_buf_json_string(b, r->category);
        key(b, "description");
        pchat_buf_json_string(b, r->description);
        key(b, "privacy");
        pchat_buf_json_string(b, r->privacy >= 0 && r->privacy <= 2 ? privacy[r->privacy] : NULL);
        key(b, "type");
        pchat_buf_json_string(b, r->type >= 0 && r->type <= 1 ? type[r->type] : NULL);
    }
    pchat_buf_puts(b, "}");
}

/* {"event_id":…,"type":…,"time":…,"time_ms":…,"time_ticks":…,"seq":…,"batch":…,
 *  "user":{…},"room":{…},"message_id":…,"content":…} */
static void event_line(struct pchat_buf *b, const struct jsonl_state *st, const char *batch_id,
                       const struct pchat_adapter_room *room, const struct pchat_adapter_event *e)
{
    char iso[PCHAT_TIME_ISO_LEN];
    pchat_time_iso(e->time_us, iso);
    pchat_buf_puts(b, "{\"event_id\":");
    pchat_buf_json_string(b, e->event_id);
    key(b, "type");
    pchat_buf_json_string(b, e->type);
    pchat_buf_printf(b, ",\"time\":\"%s\",\"time_ms\":%" PRId64 ",\"time_ticks\":%" PRId64
                        ",\"seq\":%" PRId64, iso, pchat_time_epoch_ms(e->time_us),
                     pchat_time_ticks(e->time_us), e->seq);
    key(b, "batch");
    pchat_buf_json_string(b, batch_id);
    pchat_buf_puts(b, ",\"user\":{\"uri\":");
    pchat_buf_json_string(b, e->user.uri);
    key(b, "name");
    pchat_buf_json_string(b, e->user.display_name);
    pchat_buf_printf(b, ",\"id\":%" PRId64 ",\"internal\":%s", e->user.id,
                     e->user.internal ? "true" : "false");
    if (st->add_user_details) {
        char address[512];
        pchat_user_address(e->user.uri, address, sizeof address);
        key(b, "email");
        pchat_buf_json_string(b, address);
    }
    pchat_buf_puts(b, "},\"room\":");
    room_object(b, st, room);
    if (e->message_id)
        pchat_buf_printf(b, ",\"message_id\":%" PRId64, e->message_id);
    else
        pchat_buf_puts(b, ",\"message_id\":null");
    key(b, "content");
    pchat_buf_json_string(b, e->content);
    pchat_buf_puts(b, "}\n");
}

static int write_lines(struct jsonl_state *st, const char *name, const char *batch_id,
                       const struct pchat_adapter_conversation *convs, size_t n, char *err,
                       size_t errlen)
{
    struct pchat_buf b;
    pchat_buf_init(&b, JSONL_FILE_MAX);
    for (size_t c = 0; c < n; c++)
        for (size_t i = 0; i < convs[c].n_events; i++)
            event_line(&b, st, batch_id, &convs[c].room, &convs[c].events[i]);
    int rc;
    if (b.failed) {
        snprintf(err, errlen, "%s would be larger than %zu bytes (or memory ran out); lower "
                 "compliance.batch_size", name, JSONL_FILE_MAX);
        rc = -1;
    } else {
        rc = pchat_write_file_atomic(st->output_dir, name, b.data ? b.data : "", b.len, err, errlen);
    }
    pchat_buf_free(&b);
    return rc;
}

static int jsonl_translate(void *state, const struct pchat_adapter_batch *batch, char *err,
                           size_t errlen)
{
    struct jsonl_state *st = state;
    char when[20], base[160], name[256];
    pchat_time_compact(batch->formed_us, when);
    snprintf(base, sizeof base, "%s-%s-%012" PRIu64, st->instance, when, batch->number);
    if (!st->one_room_per_file) {
        snprintf(name, sizeof name, "%s.jsonl", base);
        return write_lines(st, name, batch->id, batch->conversations, batch->n_conversations, err,
                           errlen);
    }
    for (size_t i = 0; i < batch->n_conversations; i++) {
        char room[64];
        pchat_room_file_component(batch->conversations[i].room.uri, room, sizeof room);
        snprintf(name, sizeof name, "%s-%04zu-%s.jsonl", base, i + 1, room);
        if (write_lines(st, name, batch->id, &batch->conversations[i], 1, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static void jsonl_shutdown(void *state)
{
    free(state);
}

static const struct pchat_adapter jsonl_adapter = {
    .abi_version = PCHAT_ADAPTER_ABI_VERSION,
    .name = "jsonl",
    .description = "one JSON object per event and line, one file per batch or per room",
    .init = jsonl_init,
    .translate = jsonl_translate,
    .shutdown = jsonl_shutdown,
};

const struct pchat_adapter *pchat_adapter_create(void)
{
    return &jsonl_adapter;
}
