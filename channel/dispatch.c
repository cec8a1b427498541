/* dispatch.c — runs one request: deadline and store checks, decode, the handler, then
 * publish what committed and reply. Room events are published before the reply, so an
 * author's 200 never overtakes the delivery of the post it acknowledges. */
#include "ch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

const char *i64(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

bool tx_begin(struct ch_req *r)
{
    r->tx_mark = r->res->n_events;
    return pq_begin(r->ch->db) == 0;
}

static void drop_events_since_mark(struct ch_req *r)
{
    struct ch_result *res = r->res;
    while (res->n_events > r->tx_mark) {
        event_free(res->events[--res->n_events]);
    }
}

bool tx_commit(struct ch_req *r)
{
    if (pq_commit(r->ch->db) == 0)
        return true;
    drop_events_since_mark(r);
    return false;
}

void tx_abort(struct ch_req *r)
{
    if (PQtransactionStatus(r->ch->db) != PQTRANS_IDLE)
        pq_rollback(r->ch->db);
    drop_events_since_mark(r);
}

void fail_store(struct ch_req *r, const char *what)
{
    tx_abort(r);
    r->ch->failed++;
    if (store_unavailable(r->ch)) {
        log_warn("chat store lost while %s", what);
        result_error(r, 503, "The chat store is unavailable; try again shortly.");
        r->res->reply.sip_status = 503;
    } else {
        log_error("store error while %s: %s", what, PQerrorMessage(r->ch->db));
        result_error(r, 500, "The server could not complete the request.");
    }
}

static void run_xccos(struct ch_req *r)
{
    const Pchat__Request *rq = r->rq;
    char err[256];
    enum xccos_err e = xccos_cmd_parse((const char *)rq->xccos.data, rq->xccos.len,
                                       &xdoc_default_limits, &r->cmd, err, sizeof err);
    if (e == XCCOS_EXML || e == XCCOS_EROOT) {
        log_info("unusable XCCOS from %s: %s", rq->user_uri, err);
        /* no command id to reply to; a post still gets its SIP answer */
        if (xccos_peek_cmd((const char *)rq->xccos.data, rq->xccos.len) == XCMD_GRPCHAT)
            result_sip(r->res, 400, err);
        return;
    }
    if (e == XCCOS_ESCHEMA) {
        result_error(r, 400, err);
        return;
    }
    r->user_id = user_id(r, rq->user_uri);
    if (r->user_id < 0) {
        fail_store(r, "looking up the user");
        return;
    }
    switch (r->cmd->cmd) {
    case XCMD_REQURI: cmd_requri(r); break;
    case XCMD_GETSERVERINFO: cmd_getserverinfo(r); break;
    case XCMD_GETINV: cmd_getinv(r); break;
    case XCMD_CHANSRCH: cmd_chansrch(r); break;
    case XCMD_GETASSOCIATIONS: cmd_getassociations(r); break;
    case XCMD_JOIN:
    case XCMD_BJOIN: cmd_join(r); break;
    case XCMD_PART: cmd_part(r); break;
    case XCMD_BCCONTEXT: cmd_bccontext(r); break;
    case XCMD_GRPCHAT: cmd_post(r); break;
    case XCMD_UNKNOWN:
        if (strcmp(r->cmd->id, "cmd:getpref") == 0) {
            cmd_getpref(r);
            break;
        } else if (strcmp(r->cmd->id, "cmd:setpref") == 0) {
            cmd_setpref(r);
            break;
        } else if (strcmp(r->cmd->id, "cmd:follow") == 0 || strcmp(r->cmd->id, "cmd:unfollow") == 0) {
            cmd_follow(r, strcmp(r->cmd->id, "cmd:follow") == 0);
            break;
        } else if (strcmp(r->cmd->id, "cmd:getparticipants") == 0) {
            cmd_getparticipants(r);
            break;
        }
        /* fall through */
    default: {
        char why[200];
        snprintf(why, sizeof why, "The command %.100s is not supported by this server.", r->cmd->id);
        result_error(r, 501, why);
        break;
    }
    }
}

static void send_reply(struct ch *ch, int link, struct ch_result *res)
{
    ProtobufCBinaryData docs[ARRAY_LEN(res->docs)];
    for (size_t i = 0; i < res->n_docs; i++)
        docs[i] = res->docs[i];
    res->reply.documents = docs;
    res->reply.n_documents = res->n_docs;
    res->reply.joined = res->joined_ptrs;
    res->reply.n_joined = res->n_joined;
    res->reply.parted = res->parted;
    res->reply.n_parted = res->n_parted;
    /* FETCH_RANGE: the events are the answer. Everything else: the events it published go
       back to the asking front end too, a second path beside PUB, so that its own sessions
       get a post even when the publication is late or lost and no later event in the room
       would reveal the gap (the front end drops whichever copy comes second) */
    res->reply.events = res->events;
    res->reply.n_events = res->n_events;
    link_reply(ch, link, &res->reply);
    res->reply.documents = NULL;
    res->reply.n_documents = 0;
    res->reply.joined = NULL;
    res->reply.n_joined = 0;
    res->reply.parted = NULL;
    res->reply.n_parted = 0;
    res->reply.events = NULL;
    res->reply.n_events = 0;
}

void job_run(struct ch *ch, struct ch_job *job)
{
    const Pchat__Request *rq = job->msg->request;
    struct ch_result res;
    result_init(&res, rq);
    struct ch_req r = { .ch = ch, .rq = rq, .res = &res };
    int64_t started = mono_us();
    snprintf(r.request_key, sizeof r.request_key, "%s:%" PRIu64 ":%" PRIu64, rq->frontend_id,
             rq->incarnation, rq->request_id);

    if (rq->deadline_us && now_us() > rq->deadline_us) {
        /* the client was already answered at its deadline; do not act on it now */
        log_debug("request %s expired before it could run", r.request_key);
        result_sip(&res, 503, "the request waited past its deadline");
    } else if (db_ensure(ch) < 0) {
        if (rq->kind == PCHAT__REQUEST__KIND__XCCOS &&
            xccos_cmd_parse((const char *)rq->xccos.data, rq->xccos.len, &xdoc_default_limits,
                            &r.cmd, NULL, 0) != XCCOS_EXML)
            result_error(&r, 503, "The chat store is unavailable; try again shortly.");
        result_sip(&res, 503, "the chat store is unavailable");
    } else {
        switch (rq->kind) {
        case PCHAT__REQUEST__KIND__XCCOS: run_xccos(&r); break;
        case PCHAT__REQUEST__KIND__SESSION_END: job_session_end(&r); break;
        case PCHAT__REQUEST__KIND__FETCH_RANGE: job_fetch_range(&r); break;
        case PCHAT__REQUEST__KIND__FRONTEND_RESET: job_frontend_reset(&r); break;
        case PCHAT__REQUEST__KIND__POLICY: job_policy(&r); break;
        case PCHAT__REQUEST__KIND__NODE_STATUS: job_node_status(&r); break;
        default: break;
        }
        if (ch->db && PQtransactionStatus(ch->db) != PQTRANS_IDLE) {
            log_error("a handler left a transaction open; rolling back");
            tx_abort(&r);
        }
    }
    if (!res.events_in_reply)
        for (size_t i = 0; i < res.n_events; i++)
            publish_event(ch, res.events[i]);
    int64_t done = mono_us();
    histogram_observe(&ch->stats.wait, (double)(started - job->received) / 1e6);
    histogram_observe(&ch->stats.latency, (double)(done - started) / 1e6);
    /* the outcome as the client sees it: a post's SIP status, else the first reply's code */
    int code = (int)res.reply.sip_status;
    if (!code && res.n_docs) {
        const char *c = strstr((const char *)res.docs[0].data, "<resp code=\"");
        code = c ? atoi(c + 12) : 200;
    }
    if (rq->kind < CH_KINDS)
        ch->stats.by_kind[rq->kind][code == 0 || code == 200 ? 0 : code >= 500 ? 2 : 1]++;
    if (rq->kind == PCHAT__REQUEST__KIND__XCCOS && r.cmd && r.cmd->cmd == XCMD_GRPCHAT && code == 200)
        ch->stats.posts++;
    send_reply(ch, job->link, &res);
    ch->served++;
    xccos_cmd_free(r.cmd);
    result_free(&res);
}
