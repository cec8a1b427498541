/* live.c — operator changes that take people out of a room reach live sessions at once: in
 * the change's transaction a room event (kind 3, the evicted URIs) takes the room's next
 * sequence number and their participants rows go; after COMMIT every front end in
 * channel.frontends is told over a DEALER. A front end that is not reached repairs the gap
 * from the store later, so it is not an error. */
#include "ctl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zmq.h>

#include "pchat.pb-c.h"
#include "util.h"

#define NOTIFY_WAIT_MS 2000     /* how long front ends get to accept the connection */
#define NOTIFY_LINGER_MS 2000   /* how long a queued notice may take to flush on close */

int live_evict(struct ctl *c, int64_t room_id, const char *uris)
{
    char id[24], seq_text[24];
    snprintf(id, sizeof id, "%" PRId64, room_id);
    const char *p1[] = { id };
    PGresult *r = db_exec(c, "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1"
                             " RETURNING last_seq, name", 1, p1);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        snprintf(c->db_error, sizeof c->db_error, "room %s vanished during the change", id);
        return -1;
    }
    int64_t seq = cell_i64(r, 0, 0);
    char *name = xstrdup(cell(r, 0, 1));
    PQclear(r);
    snprintf(seq_text, sizeof seq_text, "%" PRId64, seq);
    const char *p2[] = { id, seq_text, uris };
    const char *p3[] = { id, uris };
    if (db_do(c, "INSERT INTO room_events (room_id, seq, kind, user_id, detail)"
                 " VALUES ($1, $2, 3, NULL, $3)", 3, p2) < 0 ||
        (*uris && db_do(c, "DELETE FROM participants p USING users u"
                           " WHERE p.room_id = $1 AND u.id = p.user_id"
                           "   AND lower(u.uri) = ANY (string_to_array(lower($2), ','))", 2, p3) < 0)) {
        free(name);
        return -1;
    }
    struct notice *n = xcalloc(1, sizeof *n);
    n->room_id = room_id;
    n->room_name = name;
    n->seq = seq;
    n->evict = xstrdup(uris);
    /* kept in the order made, which is the order told */
    struct notice **tail = &c->notices;
    while (*tail)
        tail = &(*tail)->next;
    *tail = n;
    return 0;
}

/* Add the comma-separated URIs of `more` to `list` (a heap string), skipping ones present. */
static char *merge_uris(char *list, const char *more)
{
    struct sbuf b;
    sbuf_init(&b, 1u << 24);
    sbuf_puts(&b, list ? list : "");
    const char *p = more;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        bool present = false;
        for (const char *q = b.data ? b.data : ""; *q;) {
            const char *qe = strchr(q, ',');
            size_t qlen = qe ? (size_t)(qe - q) : strlen(q);
            if (qlen == len && strncasecmp(q, p, len) == 0)
                present = true;
            q = qe ? qe + 1 : q + qlen;
        }
        if (len && !present) {
            if (b.len)
                sbuf_putc(&b, ',');
            sbuf_append(&b, p, len);
        }
        p = end ? end + 1 : NULL;
    }
    free(list);
    char *out = sbuf_steal(&b, NULL);
    return out ? out : xstrdup("");
}

int live_recheck(struct ctl *c, const char *room_filter_sql, const char *param,
                 int64_t extra_room, const char *extra)
{
    /* who may be present follows the workers' join rule: room enabled, user in the
       category's scope, and a member unless the room is open */
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT r.id, string_agg(DISTINCT u.uri, ',' ORDER BY u.uri)"
             "  FROM rooms r JOIN participants p ON p.room_id = r.id JOIN users u ON u.id = p.user_id"
             " WHERE (%s)"
             "   AND (r.disabled OR NOT pchat_in_scope(r.category_id, u.uri)"
             "        OR (r.privacy > 0 AND NOT EXISTS (SELECT 1 FROM room_roles g"
             "             WHERE g.room_id = r.id AND g.user_id = u.id AND g.role = 0)))"
             " GROUP BY r.id ORDER BY r.id", room_filter_sql);
    const char *p[] = { param };
    PGresult *r = db_exec(c, sql, 1, p);
    if (!r)
        return -1;
    int evicted = 0;
    bool extra_done = false;
    for (int i = 0; i < PQntuples(r); i++) {
        int64_t room = cell_i64(r, i, 0);
        char *uris = merge_uris(NULL, cell(r, i, 1));
        if (room == extra_room && extra) {
            uris = merge_uris(uris, extra);
            extra_done = true;
        }
        int rc = live_evict(c, room, uris);
        for (const char *q = uris; *q; q++)
            evicted += *q == ',' ? 1 : 0;
        evicted += *uris ? 1 : 0;
        free(uris);
        if (rc < 0) {
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    if (extra_room > 0 && extra && !extra_done) {
        char *uris = merge_uris(NULL, extra);
        int rc = live_evict(c, extra_room, uris);
        for (const char *q = uris; *q; q++)
            evicted += *q == ',' ? 1 : 0;
        evicted += *uris ? 1 : 0;
        free(uris);
        if (rc < 0)
            return -1;
    }
    return evicted;
}

/* --- telling the front ends ----------------------------------------------------------------- */

struct fe_link {
    const struct config_frontend_ref *ref;
    void *sock, *monitor;
    bool connected, failed;
};

static void report_evictions(struct ctl *c)
{
    struct jv *list = jv_arr();
    for (struct notice *n = c->notices; n; n = n->next) {
        struct jv *o = jv_push(list, jv_obj());
        jv_set_str(o, "room", n->room_name);
        jv_set_int(o, "room_id", n->room_id);
        jv_set_int(o, "seq", n->seq);
        struct jv *users = jv_set(o, "users", jv_arr());
        for (const char *q = n->evict; *q;) {
            const char *e = strchr(q, ',');
            size_t len = e ? (size_t)(e - q) : strlen(q);
            char *u = xstrndup(q, len);
            jv_push(users, jv_str(u));
            free(u);
            q = e ? e + 1 : q + len;
        }
        if (*n->evict)
            ctl_say(c, "taken out of room \"%s\" at once: %s", n->room_name, n->evict);
    }
    jv_set(c->out, "evicted", list);
}

void live_notify(struct ctl *c)
{
    if (!c->notices)
        return;
    report_evictions(c);
    int n_fe = c->cfg.channel.n_frontends;
    if (n_fe == 0) {
        ctl_verbose(c, "no front ends listed in channel.frontends of %s: live sessions learn of "
                       "the change when their front end repairs the room from the store",
                    c->config_path);
        return;
    }
    /* pack every notice once */
    int n_msgs = 0;
    for (struct notice *n = c->notices; n; n = n->next)
        n_msgs++;
    uint8_t **bufs = xcalloc((size_t)n_msgs, sizeof *bufs);
    size_t *lens = xcalloc((size_t)n_msgs, sizeof *lens);
    int k = 0;
    for (struct notice *n = c->notices; n; n = n->next, k++) {
        Pchat__RoomEvent ev = PCHAT__ROOM_EVENT__INIT;
        ev.room_id = (uint64_t)n->room_id;
        ev.seq = (uint64_t)n->seq;
        ev.kind = PCHAT__ROOM_EVENT__KIND__CHANGE;
        size_t n_uris = 0, cap = 1;
        for (const char *q = n->evict; *q; q++)
            cap += *q == ',' ? 1 : 0;
        char *copy = xstrdup(n->evict);
        char **uris = xcalloc(cap, sizeof *uris);
        for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && n_uris < cap;
             tok = strtok_r(NULL, ",", &save))
            uris[n_uris++] = tok;
        ev.n_evict_users = n_uris;
        ev.evict_users = uris;
        Pchat__ToFrontend msg = PCHAT__TO_FRONTEND__INIT;
        msg.body_case = PCHAT__TO_FRONTEND__BODY_NOTICE;
        msg.notice = &ev;
        lens[k] = pchat__to_frontend__get_packed_size(&msg);
        bufs[k] = xmalloc(lens[k]);
        pchat__to_frontend__pack(&msg, bufs[k]);
        free(uris);
        free(copy);
    }

    void *ctx = zmq_ctx_new();
    struct fe_link *links = xcalloc((size_t)n_fe, sizeof *links);
    for (int i = 0; i < n_fe; i++) {
        struct fe_link *l = &links[i];
        l->ref = &c->cfg.channel.frontends[i];
        l->sock = zmq_socket(ctx, ZMQ_DEALER);
        int linger = NOTIFY_LINGER_MS;
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
        char mon[64];
        snprintf(mon, sizeof mon, "inproc://pchatctl-monitor-%d", i);
        if (zmq_socket_monitor(l->sock, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0) {
            l->monitor = zmq_socket(ctx, ZMQ_PAIR);
            if (zmq_connect(l->monitor, mon) != 0) {
                zmq_close(l->monitor);
                l->monitor = NULL;
            }
        }
        if (!l->ref->router || zmq_connect(l->sock, l->ref->router) != 0) {
            ctl_verbose(c, "front end %s: cannot connect to its router endpoint \"%s\": %s",
                        l->ref->id ? l->ref->id : "?", l->ref->router ? l->ref->router : "",
                        zmq_strerror(zmq_errno()));
            l->failed = true;
            continue;
        }
        for (int m = 0; m < n_msgs; m++) {
            if (zmq_send(l->sock, bufs[m], lens[m], ZMQ_DONTWAIT) < 0) {
                ctl_verbose(c, "front end %s: cannot queue the notice: %s",
                            l->ref->id ? l->ref->id : "?", zmq_strerror(zmq_errno()));
                l->failed = true;
                break;
            }
        }
    }

    /* wait (bounded) for each front end to accept the connection */
    int64_t deadline = mono_us() + (int64_t)NOTIFY_WAIT_MS * 1000;
    for (;;) {
        zmq_pollitem_t items[CONFIG_MAX_FRONTENDS];
        int idx[CONFIG_MAX_FRONTENDS];
        int n_items = 0;
        for (int i = 0; i < n_fe; i++) {
            if (links[i].failed || links[i].connected || !links[i].monitor)
                continue;
            items[n_items] = (zmq_pollitem_t){ .socket = links[i].monitor, .events = ZMQ_POLLIN };
            idx[n_items++] = i;
        }
        int64_t left_ms = (deadline - mono_us()) / 1000;
        if (n_items == 0 || left_ms <= 0)
            break;
        if (zmq_poll(items, n_items, (long)left_ms) < 0)
            break;
        for (int j = 0; j < n_items; j++) {
            if (!(items[j].revents & ZMQ_POLLIN))
                continue;
            struct fe_link *l = &links[idx[j]];
            zmq_msg_t frame;
            int more = 1;
            bool first = true;
            while (more) {   /* event frame (id + value), then the endpoint frame */
                zmq_msg_init(&frame);
                if (zmq_msg_recv(&frame, l->monitor, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&frame);
                    break;
                }
                if (first && zmq_msg_size(&frame) >= 2) {
                    uint16_t event;
                    memcpy(&event, zmq_msg_data(&frame), sizeof event);
                    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                        l->connected = true;
                }
                first = false;
                more = zmq_msg_more(&frame);
                zmq_msg_close(&frame);
            }
        }
    }

    int told = 0;
    for (int i = 0; i < n_fe; i++) {
        struct fe_link *l = &links[i];
        const char *id = l->ref->id ? l->ref->id : "?";
        if (l->connected) {
            told++;
            ctl_verbose(c, "told front end %s (%s) about %d room change(s)", id, l->ref->router, n_msgs);
        } else {
            if (!l->failed)
                ctl_verbose(c, "front end %s did not answer at %s within %d ms; its sessions learn "
                               "of the change when it repairs the room from the store",
                            id, l->ref->router ? l->ref->router : "", NOTIFY_WAIT_MS);
            int zero = 0;   /* nobody to flush to: do not wait on close */
            zmq_setsockopt(l->sock, ZMQ_LINGER, &zero, sizeof zero);
        }
        if (l->monitor) {
            zmq_socket_monitor(l->sock, NULL, 0);
            zmq_close(l->monitor);
        }
        zmq_close(l->sock);
    }
    zmq_ctx_term(ctx);   /* returns once queued notices are flushed (or linger expired) */
    jv_set_int(c->out, "frontends_told", told);
    for (int m = 0; m < n_msgs; m++)
        free(bufs[m]);
    free(bufs);
    free(lens);
    free(links);
}
