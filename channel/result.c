/* result.c — building one request's reply and the room events it publishes. Everything a
 * reply points to is owned here and freed in one place (result_free). */
#include "ch.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

uint64_t envid_new(void)
{
    /* real servers send 64-bit sized decimal envids (PROTOCOL §3.1); keep it positive */
    return random_u64() >> 1;
}

void event_free(Pchat__RoomEvent *ev)
{
    for (size_t k = 0; k < ev->n_evict_users; k++)
        free(ev->evict_users[k]);
    free(ev->evict_users);
    free(ev->document.data);
    free(ev->frontend_id);
    free(ev);
}

void result_init(struct ch_result *res, const Pchat__Request *rq)
{
    memset(res, 0, sizeof *res);
    pchat__reply__init(&res->reply);
    res->reply.request_id = rq->request_id;
    res->reply.session_id = rq->session_id;
    res->reply.sip_reason = xstrdup("");   /* owned, so result_free can always free it */
}

void result_free(struct ch_result *res)
{
    for (size_t i = 0; i < res->n_docs; i++)
        free(res->docs[i].data);
    for (size_t i = 0; i < res->n_joined; i++)
        free(res->joined_store[i].room_uri);
    for (size_t i = 0; i < res->n_events; i++)
        event_free(res->events[i]);
    free(res->reply.sip_reason);
    memset(res, 0, sizeof *res);
}

void result_doc(struct ch_result *res, const struct sbuf *b)
{
    if (res->n_docs == ARRAY_LEN(res->docs) || b->overflow || b->len == 0) {
        log_warn("a reply document was dropped (%s)", b->overflow ? "too large" : "too many");
        return;
    }
    res->docs[res->n_docs].data = (uint8_t *)xstrndup(b->data, b->len);
    res->docs[res->n_docs].len = b->len;
    res->n_docs++;
}

void result_joined(struct ch_result *res, uint64_t room_id, uint64_t seq, const char *uri)
{
    if (res->n_joined == ARRAY_LEN(res->joined_store))
        return;
    Pchat__RoomJoined *j = &res->joined_store[res->n_joined];
    pchat__room_joined__init(j);
    j->room_id = room_id;
    j->seq = seq;
    j->room_uri = xstrdup(uri);
    res->joined_ptrs[res->n_joined++] = j;
}

void result_parted(struct ch_result *res, uint64_t room_id)
{
    if (res->n_parted < ARRAY_LEN(res->parted))
        res->parted[res->n_parted++] = room_id;
}

Pchat__RoomEvent *result_event(struct ch_result *res, uint64_t room_id, uint64_t seq,
                               Pchat__RoomEvent__Kind kind, const struct sbuf *doc)
{
    if (res->n_events == ARRAY_LEN(res->events)) {
        log_warn("too many events in one request; room %llu seq %llu is left to gap repair",
                 (unsigned long long)room_id, (unsigned long long)seq);
        return NULL;
    }
    Pchat__RoomEvent *ev = xcalloc(1, sizeof *ev);
    pchat__room_event__init(ev);
    ev->room_id = room_id;
    ev->seq = seq;
    ev->kind = kind;
    ev->frontend_id = xstrdup("");
    if (doc && doc->len && !doc->overflow) {
        ev->document.data = (uint8_t *)xstrndup(doc->data, doc->len);
        ev->document.len = doc->len;
    }
    res->events[res->n_events++] = ev;
    return ev;
}

void result_sip(struct ch_result *res, int status, const char *reason)
{
    /* a 404 to an INFO ends the dialog (RFC 5057, and sofia enforces it): refuse with 403 */
    if (status == 404)
        status = 403;
    res->reply.sip_status = (uint32_t)status;
    free(res->reply.sip_reason);
    res->reply.sip_reason = xstrdup(reason ? reason : "");
    if (status == 503)
        res->reply.retry_after_s = (uint32_t)random_between(2, 10);
}

void result_error(struct ch_req *r, int code, const char *sentence)
{
    if (!r->cmd)
        return;
    if (r->cmd->cmd == XCMD_GRPCHAT) {
        /* a post's only feedback channel is the SIP answer (PROTOCOL §3.4.6) */
        result_sip(r->res, code == 503 ? 503 : code == 413 ? 413 : code == 400 ? 400 : 403,
                   sentence);
        return;
    }
    struct sbuf b;
    sbuf_init(&b, 16384);
    xccos_render_error(&b, envid_new(), r->cmd, code, sentence);
    result_doc(r->res, &b);
    sbuf_free(&b);
}
