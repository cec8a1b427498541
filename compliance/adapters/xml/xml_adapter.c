/* xml_adapter.c — the built-in `xml` adapter: each batch becomes one XmlAdapter document (or one
 * per room), named after the batch and written atomically, so a retried batch replaces its
 * own file instead of adding a second copy. */
#include <inttypes.h>
#include <stdlib.h>

#include "pchat_adapter.h"
#include "pchat_adapter_util.h"
#include "xml_render.h"

/* A batch is bounded by the service (count and bytes); this only stops a runaway. */
/* Unfinished temp files older than this belong to nobody any more. */
#define STALE_TEMP_AGE_S 3600
#define XML_DOCUMENT_MAX ((size_t)1 << 30)

struct xml_state {
    const struct pchat_adapter_host *host;
    char instance[80];
    char output_dir[4096];
    int one_room_per_file;
    struct xml_render_options render;
};

static int xml_init(const struct pchat_adapter_host *host, const struct pchat_adapter_config *cfg,
                    void **state, char *err, size_t errlen)
{
    if (!cfg->output_dir || !cfg->output_dir[0]) {
        snprintf(err, errlen, "the xml adapter needs output_dir: the directory its files go to");
        return -1;
    }
    if (strlen(cfg->output_dir) >= sizeof ((struct xml_state *)0)->output_dir - 64) {
        snprintf(err, errlen, "output_dir is longer than %zu bytes",
                 sizeof ((struct xml_state *)0)->output_dir - 64);
        return -1;
    }
    struct xml_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->host = host;
    pchat_file_component(cfg->instance, st->instance, sizeof st->instance);
    snprintf(st->output_dir, sizeof st->output_dir, "%s", cfg->output_dir);
    st->one_room_per_file = cfg->one_room_per_file;
    st->render.add_room_details = cfg->add_room_details;
    st->render.add_user_details = cfg->add_user_details;
    st->render.event_ids = 1;
    for (size_t i = 0; i < cfg->n_options; i++) {
        const struct pchat_adapter_option *o = &cfg->options[i];
        if (strcmp(o->key, "event_ids") == 0 && pchat_option_bool(o->value) >= 0) {
            st->render.event_ids = pchat_option_bool(o->value);
        } else {
            snprintf(err, errlen,
                     strcmp(o->key, "event_ids") == 0
                         ? "options.%s must be true or false (got \"%.60s\")"
                         : "options.%s is not an option of the xml adapter (got \"%.60s\"); "
                           "the only one is event_ids: true|false",
                     o->key, o->value);
            free(st);
            return -1;
        }
    }
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

static int write_document(struct xml_state *st, const char *name,
                          const struct pchat_adapter_conversation *convs, size_t n, char *err,
                          size_t errlen)
{
    struct pchat_buf doc;
    pchat_buf_init(&doc, XML_DOCUMENT_MAX);
    xml_render_document(&doc, convs, n, &st->render);
    int rc;
    if (doc.failed) {
        snprintf(err, errlen, "%s would be larger than %zu bytes (or memory ran out); lower "
                 "compliance.batch_size", name, XML_DOCUMENT_MAX);
        rc = -1;
    } else {
        rc = pchat_write_file_atomic(st->output_dir, name, doc.data, doc.len, err, errlen);
    }
    pchat_buf_free(&doc);
    return rc;
}

static int xml_translate(void *state, const struct pchat_adapter_batch *batch, char *err,
                         size_t errlen)
{
    struct xml_state *st = state;
    char when[20], base[160], name[256];
    pchat_time_compact(batch->formed_us, when);
    /* Everything in the name comes from the batch, so attempt 2 rewrites attempt 1's file. */
    snprintf(base, sizeof base, "%s-%s-%012" PRIu64, st->instance, when, batch->number);
    if (!st->one_room_per_file) {
        snprintf(name, sizeof name, "%s.xml", base);
        if (write_document(st, name, batch->conversations, batch->n_conversations, err, errlen) < 0)
            return -1;
    } else {
        for (size_t i = 0; i < batch->n_conversations; i++) {
            char room[64];
            pchat_room_file_component(batch->conversations[i].room.uri, room, sizeof room);
            snprintf(name, sizeof name, "%s-%04zu-%s.xml", base, i + 1, room);
            if (write_document(st, name, &batch->conversations[i], 1, err, errlen) < 0)
                return -1;
        }
    }
    st->host->log(st->host->ctx, PCHAT_ADAPTER_LOG_DEBUG, "wrote %zu events of batch %s to %s",
                  batch->n_events, batch->id, st->output_dir);
    return 0;
}

static void xml_shutdown(void *state)
{
    free(state);
}

static const struct pchat_adapter xml_adapter = {
    .abi_version = PCHAT_ADAPTER_ABI_VERSION,
    .name = "xml",
    .description = "Lync XmlAdapter documents (Conversations/Conversation/Messages), one file per "
                   "batch or per room",
    .init = xml_init,
    .translate = xml_translate,
    .shutdown = xml_shutdown,
};

const struct pchat_adapter *pchat_adapter_create(void)
{
    return &xml_adapter;
}
