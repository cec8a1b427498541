/* session.c — chat sessions (the lookup and channel INVITE dialogs): their rooms, the queue
 * of server INFOs towards the client, and how a session ends.
 *
 * pidgin-sipe crashes on an INFO in a dialog that ended and stops chatting after a server BYE
 * (PROTOCOL.md §2.7, §2.9): an ended session never sends again, and the front end never BYEs a
 * client that may still be alive — it answers the client's next request with 481 instead. */
#include "fe.h"
#include "edge.h"

#include <stdlib.h>
#include <string.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>

#include "log.h"
#include "util.h"

/* INFOs in flight per session. Through the stack (UDP, or before the dialog is known) one at
 * a time; on the edge's fast path several, since one TCP connection keeps them in order. */
#define SESSION_WINDOW_STACK 1
#define SESSION_WINDOW_FAST 8
/* a client that answers none of our INFOs for this long is gone (Timer F, RFC 3261) */
#define SESSION_ANSWER_TIMEOUT_US (32 * 1000000LL)

static bool agent_does_not_retry(const struct pchat_config *cfg, const char *ua)
{
    for (int i = 0; i < cfg->frontend.n_non_retrying_agents; i++)
        if (ua && strstr(ua, cfg->frontend.non_retrying_agents[i]))
            return true;
    return false;
}

struct fe_session *session_new(struct fe *fe, nua_handle_t *nh, enum session_role role,
                               const char *user, const char *ua, const char *service)
{
    struct fe_session *s = xcalloc(1, sizeof *s);
    s->id = fe->next_session_id++;
    s->nh = nh;
    s->role = role;
    s->user_uri = xstrdup(user);
    s->user_agent = xstrdup(ua ? ua : "");
    s->service_uri = xstrdup(service);
    s->non_retrying = agent_does_not_retry(fe->cfg, ua);
    s->last_activity = mono_us();
    s->pinned = -1;
    hmap_put(&fe->sessions, s->id, s);
    return s;
}

struct fe_session *session_get(struct fe *fe, uint64_t id)
{
    return id ? hmap_get(&fe->sessions, id) : NULL;
}

struct fe_session_room *session_room(struct fe_session *s, uint64_t room_id)
{
    for (int i = 0; i < s->n_rooms; i++)
        if (s->rooms[i].room_id == room_id)
            return &s->rooms[i];
    return NULL;
}

static void drop_outbound(struct fe *fe, struct fe_session *s)
{
    while (s->out_head) {
        struct fe_outdoc *d = s->out_head;
        s->out_head = d->next;
        free(d);
        fe->out_total--;
    }
    s->out_tail = NULL;
    s->out_len = 0;
}

static void session_free(struct fe *fe, struct fe_session *s)
{
    free(s->dlg.call_id);
    free(s->dlg.local);
    free(s->dlg.remote);
    free(s->dlg.target);
    hmap_del(&fe->sessions, s->id);
    drop_outbound(fe, s);
    free(s->rooms);
    free(s->user_uri);
    free(s->user_agent);
    free(s->service_uri);
    free(s);
}

void session_release_if_done(struct fe *fe, struct fe_session *s)
{
    if (s->ended && !s->nh && s->req_inflight == 0 && s->req_len == 0)
        session_free(fe, s);
}

void session_end(struct fe *fe, struct fe_session *s, const char *why)
{
    if (s->ended) {
        session_release_if_done(fe, s);
        return;
    }
    s->ended = true;
    log_debug("session %llu of %s ended: %s", (unsigned long long)s->id, s->user_uri, why);
    drop_outbound(fe, s);
    while (s->n_rooms > 0)
        session_parted(fe, s, s->rooms[s->n_rooms - 1].room_id);
    /* Requests not yet sent to a worker will never be: answer the held posts (481: the
       client reconnects) and drop the rest. The one in flight finishes normally. */
    while (s->req_head) {
        struct fe_request *r = s->req_head;
        s->req_head = r->next;
        s->req_len--;
        fe->session_queued--;
        request_answer(fe, r, 481, "Session ended", 0);
        request_free(r);
    }
    s->req_tail = NULL;
    /* Tell the store: leave every room, notify the others (ntc:part), archive PART events.
       Queued behind the request in flight so a join cannot land after it. */
    if (s->role == SESSION_CHANNEL && !s->end_queued) {
        s->end_queued = true;
        struct fe_request *r = request_new(fe, REQ_SESSION_END, s->id);
        router_submit(fe, r);
    }
    session_release_if_done(fe, s);
}

static void pump(struct fe *fe, struct fe_session *s)
{
    int window = s->dlg.ready ? SESSION_WINDOW_FAST : SESSION_WINDOW_STACK;
    while (!s->ended && s->nh && s->out_head && s->out_inflight < window) {
        struct fe_outdoc *d = s->out_head;
        s->out_head = d->next;
        if (!s->out_head)
            s->out_tail = NULL;
        s->out_len--;
        fe->out_total--;
        s->out_sent_at = d->queued;
        s->out_progress = mono_us();
        if (s->out_q_len < (int)ARRAY_LEN(s->out_queued))
            s->out_queued[(s->out_q_head + s->out_q_len++) % ARRAY_LEN(s->out_queued)] = d->queued;
        s->out_inflight++;
        if (edge_send_info(fe, s, d->body, d->len) < 0)
            nua_info(s->nh, SIPTAG_CONTENT_TYPE_STR("text/plain"), SIPTAG_PAYLOAD_STR(d->body),
                     TAG_END());
        free(d);
    }
}

void session_learn_dialog(struct fe_session *s, sip_t const *sip)
{
    if (s->dlg.ready || !sip || !sip->sip_call_id || !sip->sip_from || !sip->sip_to ||
        !sip->sip_to->a_tag)
        return;
    su_home_t home[1] = { SU_HOME_INIT(home) };
    char *remote = sip_header_as_string(home, (sip_header_t const *)sip->sip_from);
    char *local = sip_header_as_string(home, (sip_header_t const *)sip->sip_to);
    if (remote && local) {
        /* the Call-ID as the client knows it: without the edge's per-connection suffix */
        const char *id = sip->sip_call_id->i_id;
        const char *mark = strstr(id, EDGE_CALLID_MARK);
        s->dlg.call_id = mark ? xstrndup(id, (size_t)(mark - id)) : xstrdup(id);
        s->dlg.remote = xstrdup(remote);
        s->dlg.local = xstrdup(local);
        s->dlg.target = xstrdup(s->user_uri);
        s->dlg.ready = true;
    }
    su_home_deinit(home);
}

void session_send(struct fe *fe, struct fe_session *s, const void *doc, size_t len)
{
    if (s->ended || !s->nh)
        return;
    if (s->out_len >= fe->cfg->frontend.session_queue_max) {
        /* a client that cannot keep up is cut rather than growing memory (DESIGN.md §8);
           it gets 481 on its next request and reconnects */
        fe->stats.sessions_cut++;
        log_warn("session %llu of %s: %d INFOs waiting (frontend.session_queue_max); cutting it",
                 (unsigned long long)s->id, s->user_uri, s->out_len);
        s->overflowed = true;
        return;
    }
    struct fe_outdoc *d = xmalloc(sizeof *d + len + 1);
    d->next = NULL;
    d->queued = mono_us();
    d->len = len;
    memcpy(d->body, doc, len);
    d->body[len] = '\0';
    if (s->out_tail)
        s->out_tail->next = d;
    else
        s->out_head = d;
    s->out_tail = d;
    s->out_len++;
    fe->out_total++;
    pump(fe, s);
}

void session_info_answered(struct fe *fe, struct fe_session *s, int status)
{
    if (status < 200)
        return;
    if (s->out_inflight > 0)
        s->out_inflight--;
    s->out_progress = mono_us();
    int64_t queued = s->out_sent_at;
    if (s->out_q_len > 0) {   /* answers come back in the order sent: one connection */
        queued = s->out_queued[s->out_q_head];
        s->out_q_head = (s->out_q_head + 1) % (int)ARRAY_LEN(s->out_queued);
        s->out_q_len--;
    }
    if (status < 300) {
        fe->stats.deliveries++;
        if (queued) {
            int64_t lag = s->out_progress - queued;
            histogram_observe(&fe->stats.delivery_latency, (double)lag / 1e6);
            admit_delivered(fe, lag);
        }
        pump(fe, s);
        return;
    }
    fe->stats.delivery_failures++;
    /* 481/487: the client forgot the dialog; 408/503 from the stack: the transport died */
    char why[64];
    snprintf(why, sizeof why, "the client answered an INFO with %d", status);
    session_end(fe, s, why);
}

void session_joined(struct fe *fe, struct fe_session *s, uint64_t room_id, uint64_t seq,
                    const char *room_uri)
{
    if (s->ended || session_room(s, room_id))
        return;
    if (s->n_rooms == s->cap_rooms) {
        s->cap_rooms = s->cap_rooms ? s->cap_rooms * 2 : 4;
        s->rooms = realloc(s->rooms, (size_t)s->cap_rooms * sizeof *s->rooms);
        if (!s->rooms)
            abort();
    }
    s->rooms[s->n_rooms++] = (struct fe_session_room){ room_id, seq, xstrdup(room_uri ? room_uri : "") };
    rooms_add_session(fe, s, room_id, seq);
}

void session_parted(struct fe *fe, struct fe_session *s, uint64_t room_id)
{
    for (int i = 0; i < s->n_rooms; i++) {
        if (s->rooms[i].room_id != room_id)
            continue;
        free(s->rooms[i].room_uri);
        s->rooms[i] = s->rooms[--s->n_rooms];
        rooms_remove_session(fe, s, room_id);
        return;
    }
}

void sessions_janitor(struct fe *fe)
{
    int64_t now = mono_us();
    int64_t expiry = ((int64_t)fe->cfg->frontend.session_expires_s + 30) * 1000000;
    size_t pos = 0;
    void *v;
    while (hmap_next(&fe->sessions, &pos, NULL, &v)) {
        struct fe_session *s = v;
        if (!s->ended && s->overflowed) {
            session_end(fe, s, "outbound queue full");
            continue;
        }
        if (!s->ended && s->out_inflight > 0 && now - s->out_progress > SESSION_ANSWER_TIMEOUT_US) {
            session_end(fe, s, "the client stopped answering our INFOs");
            continue;
        }
        if (!s->ended && now - s->last_activity > expiry) {
            /* pidgin-sipe refreshes with UPDATE every Session-Expires - 10 s */
            session_end(fe, s, "no request within Session-Expires");
            continue;
        }
        if (s->ended && s->nh && now - s->last_activity > 2 * expiry) {
            /* ended and silent since: the client is gone, free the dialog */
            nua_handle_t *nh = s->nh;
            nua_handle_bind(nh, NULL);
            s->nh = NULL;
            nua_handle_destroy(nh);
            session_release_if_done(fe, s);
        }
    }
}
