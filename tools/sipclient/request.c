/* request.c — the bytes SIPE puts on the wire: request layout (sip-transport.c
 * sip_transport_request_timeout), responses to server requests (sip_transport_response), tags,
 * Call-IDs, branches, dialogs, and the transaction table keyed "<Call-ID><CSeq>" like SIPE's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbuf.h"
#include "sc_internal.h"

void sc_gen_tag(struct sc_user *u, char *out, size_t outlen)
{
    snprintf(out, outlen, "%04u%04u", sc_random(u->loop) & 0xFFFF, sc_random(u->loop) & 0xFFFF);
}

void sc_gen_callid(struct sc_user *u, char *out, size_t outlen)
{
    struct sc_loop *l = u->loop;
    snprintf(out, outlen, "%04Xg%04Xa%04Xi%04Xm%04Xt%04Xb%04Xx%04Xx",
             sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF,
             sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF,
             sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF);
}

static void gen_branch(struct sc_user *u, char *out, size_t outlen)
{
    struct sc_loop *l = u->loop;
    snprintf(out, outlen, "z9hG4bK%04X%04X%04X%04X%04X", sc_random(l) & 0xFFFF,
             sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF, sc_random(l) & 0xFFFF,
             sc_random(l) & 0xFFFF);
}

struct sc_dialog *sc_dialog_new(struct sc_user *u, enum sc_dialog_role role, const char *with)
{
    struct sc_dialog *d = calloc(1, sizeof(*d));
    char tag[32], cid[80];
    if (!d)
        return NULL;
    sc_gen_tag(u, tag, sizeof(tag));
    sc_gen_callid(u, cid, sizeof(cid));
    d->role = role;
    d->remote_uri = sc_strdup(with);
    d->our_tag = sc_strdup(tag);
    d->call_id = sc_strdup(cid);
    return d;
}

void sc_dialog_free(struct sc_dialog *d)
{
    if (!d)
        return;
    free(d->remote_uri);
    free(d->call_id);
    free(d->our_tag);
    free(d->their_tag);
    free(d->their_epid);
    free(d->request_uri);
    free(d->routes);
    free(d);
}

/* An ended dialog is kept a while so that a server INFO on it is recognised (PROTOCOL §2.7:
 * it would crash SIPE). Transactions still pointing at it are detached. */
void sc_dialog_retire(struct sc_user *u, struct sc_dialog *d)
{
    if (!d)
        return;
    d->ended = true;
    struct sc_dialog *old = u->old_dialogs[u->old_next];
    if (old) {
        for (int i = 0; i < u->n_txns; i++)
            if (u->txns[i].dlg == old)
                u->txns[i].dlg = NULL;
        sc_dialog_free(old);
    }
    u->old_dialogs[u->old_next] = d;
    u->old_next = (u->old_next + 1) % SC_OLD_DIALOGS;
}

static struct sc_txn *txn_add(struct sc_user *u)
{
    if (u->n_txns >= SC_MAX_TXNS)
        return NULL;
    if (u->n_txns == u->cap_txns) {
        int cap = u->cap_txns ? u->cap_txns * 2 : 16;
        struct sc_txn *t = realloc(u->txns, (size_t)cap * sizeof(*t));
        if (!t)
            return NULL;
        u->txns = t;
        u->cap_txns = cap;
    }
    struct sc_txn *t = &u->txns[u->n_txns++];
    memset(t, 0, sizeof(*t));
    return t;
}

void sc_txn_remove(struct sc_user *u, struct sc_txn *t)
{
    int i = (int)(t - u->txns);
    if (i < 0 || i >= u->n_txns)
        return;
    free(t->key);
    /* keep send order: later lookups scan oldest first */
    memmove(&u->txns[i], &u->txns[i + 1], (size_t)(u->n_txns - i - 1) * sizeof(*t));
    u->n_txns--;
}

struct sc_txn *sc_txn_find(struct sc_user *u, const struct sc_msg *resp)
{
    const char *cid = sc_msg_header(resp, "Call-ID");
    const char *cseq = sc_msg_header(resp, "CSeq");
    if (!cid || !cseq)
        return NULL;
    size_t cl = strlen(cid);
    for (int i = 0; i < u->n_txns; i++) {
        const char *k = u->txns[i].key;
        /* key is "<callid><N METHOD>"; SIPE compares the whole thing case-insensitively */
        if (k[0] == '<' && strncasecmp(k + 1, cid, cl) == 0 && k[1 + cl] == '>' && k[2 + cl] == '<'
            && strncasecmp(k + 3 + cl, cseq, strlen(cseq)) == 0 && k[3 + cl + strlen(cseq)] == '>'
            && k[4 + cl + strlen(cseq)] == '\0')
            return &u->txns[i];
    }
    return NULL;
}

void sc_txn_rearm(struct sc_user *u)
{
    int64_t min = INT64_MAX;
    for (int i = 0; i < u->n_txns; i++)
        if (u->txns[i].deadline_us < min)
            min = u->txns[i].deadline_us;
    if (min == INT64_MAX)
        sc_timer_cancel(u->loop, &u->txn_timer);
    else if (u->txn_timer.heap_idx < 0 || u->txn_timer.due_us > min)
        sc_timer_arm(u->loop, &u->txn_timer, min);
}

struct sc_txn *sc_send_request(struct sc_user *u, const char *method, const char *uri,
                               const char *to, struct sc_dialog *dlg, const char *addheaders,
                               const char *body, enum sc_txn_purpose purpose,
                               enum sc_req_kind kind, bool no_txn)
{
    char tag[32], cid[80], branch[64];
    const char *ourtag, *callid;
    uint32_t cseq;
    bool with_branch = !(dlg && dlg->call_id);

    if (u->fd.fd < 0)
        return NULL;
    if (dlg) {
        ourtag = dlg->our_tag;
        callid = dlg->call_id;
        cseq = ++dlg->cseq;
    } else {
        sc_gen_tag(u, tag, sizeof(tag));
        ourtag = tag;
        sc_gen_callid(u, cid, sizeof(cid));
        callid = cid;
        cseq = 1;
    }
    if (strcmp(method, "REGISTER") == 0) {
        if (!u->register_call_id)
            u->register_call_id = sc_strdup(callid);
        callid = u->register_call_id;
        cseq = ++u->register_cseq;
    }
    if (with_branch)
        gen_branch(u, branch, sizeof(branch));

    struct sbuf b;
    sbuf_init(&b, u->opts.max_send_buffer);
    sbuf_printf(&b, "%s %s SIP/2.0\r\n", method, dlg && dlg->request_uri ? dlg->request_uri : uri);
    sbuf_printf(&b, "Via: SIP/2.0/tcp %s:%d%s%s\r\n", u->local_ip, u->local_port,
                with_branch ? ";branch=" : "", with_branch ? branch : "");
    sbuf_printf(&b, "From: <sip:%s>%s%s;epid=%s\r\n", u->username, ourtag ? ";tag=" : "",
                ourtag ? ourtag : "", u->epid);
    sbuf_printf(&b, "To: <%s>%s%s%s%s\r\n", to, dlg && dlg->their_tag ? ";tag=" : "",
                dlg && dlg->their_tag ? dlg->their_tag : "", dlg && dlg->their_epid ? ";epid=" : "",
                dlg && dlg->their_epid ? dlg->their_epid : "");
    sbuf_puts(&b, "Max-Forwards: 70\r\n");
    sbuf_printf(&b, "CSeq: %u %s\r\n", cseq, method);
    sbuf_printf(&b, "User-Agent: %s\r\n", u->user_agent);
    sbuf_printf(&b, "Call-ID: %s\r\n", callid);
    if (dlg && dlg->routes)
        sbuf_puts(&b, dlg->routes);
    if (addheaders)
        sbuf_puts(&b, addheaders);
    sbuf_printf(&b, "Content-Length: %zu\r\n\r\n", body ? strlen(body) : 0);
    if (body)
        sbuf_puts(&b, body);
    if (b.overflow) {
        sbuf_free(&b);
        sc_violation(u, "client: a %s request did not fit the send buffer", method);
        return NULL;
    }

    struct sc_txn *t = NULL;
    if (!no_txn) {
        t = txn_add(u);
        if (!t) {
            sbuf_free(&b);
            sc_violation(u, "client: more than %d requests outstanding; %s not sent", SC_MAX_TXNS, method);
            return NULL;
        }
        char key[256];
        snprintf(key, sizeof(key), "<%s><%u %s>", callid, cseq, method);
        t->key = sc_strdup(key);
        t->purpose = purpose;
        t->kind = kind;
        snprintf(t->method, sizeof(t->method), "%s", method);
        t->cseq = cseq;
        t->dlg = dlg;
        t->sent_us = sc_now_us();
        t->deadline_us = t->sent_us + (int64_t)u->opts.txn_timeout_ms * 1000;
    }
    /* the transaction may move when the array grows: remember its index, not the pointer */
    int idx = t ? (int)(t - u->txns) : -1;
    int rc = sc_conn_send(u, b.data, b.len);
    sbuf_free(&b);
    if (rc < 0) {
        if (idx >= 0 && idx < u->n_txns)
            sc_txn_remove(u, &u->txns[idx]);
        return NULL;
    }
    if (idx < 0)
        return NULL;
    sc_txn_rearm(u);
    return &u->txns[idx];
}

int sc_send_response(struct sc_user *u, const struct sc_msg *req, int code, const char *text)
{
    static const char *const keepers[] = { "To", "From", "Call-ID", "CSeq", "Via", "Record-Route", NULL };
    struct sbuf b;
    sbuf_init(&b, 65536);
    sbuf_printf(&b, "SIP/2.0 %d %s\r\n", code, text);
    for (int i = 0; i < req->n_hdrs; i++) {
        for (int k = 0; keepers[k]; k++) {
            if (strcasecmp(req->hdrs[i].name, keepers[k]) == 0) {
                sbuf_printf(&b, "%s: %s\r\n", req->hdrs[i].name, req->hdrs[i].value);
                break;
            }
        }
    }
    sbuf_printf(&b, "Contact: %s\r\n", u->contact ? u->contact : "");
    sbuf_puts(&b, "Content-Length: 0\r\n");
    sbuf_printf(&b, "User-Agent: %s\r\n\r\n", u->user_agent);
    int rc = b.overflow ? -1 : sc_conn_send(u, b.data, b.len);
    sbuf_free(&b);
    return rc;
}

void sc_send_register(struct sc_user *u, bool deregister, enum sc_txn_purpose purpose)
{
    char hdr[1024];
    char uri[300];
    snprintf(hdr, sizeof(hdr),
             "Contact: <sip:%s:%d;transport=tcp;ms-opaque=d3470f2e1d>;methods=\"INVITE, MESSAGE, INFO, "
             "SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";proxy=replace;"
             "+sip.instance=\"<urn:uuid:%s>\"\r\n"
             "Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n"
             "Event: registration\r\n"
             "Allow-Events: presence\r\n"
             "ms-keep-alive: UAC;hop-hop=yes\r\n"
             "%s",
             u->local_ip, u->local_port, u->uuid, deregister ? "Expires: 0\r\n" : "");
    snprintf(uri, sizeof(uri), "sip:%s", u->domain);
    sc_send_request(u, "REGISTER", uri, u->aor, NULL, hdr, "", purpose,
                    deregister ? SC_REQ_UNREGISTER : SC_REQ_REGISTER, false);
}
