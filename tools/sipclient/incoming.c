/* incoming.c — what SIPE does with each message the server sends: responses matched by
 * "<Call-ID><CSeq>", server INFOs matched by From URI then Call-ID (sipe-incoming.c
 * process_incoming_info), NOTIFY/BENOTIFY for provisioning, BYE, and the rest answered like
 * SIPE answers them. Everything SIPE would choke on becomes a violation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sc_internal.h"

static void on_response(struct sc_user *u, struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2];
    if (m->status < 200)
        return;                    /* SIPE ignores provisional responses */
    struct sc_txn *t = sc_txn_find(u, m);
    if (!t) {
        sc_msg_excerpt(m, ex, sizeof(ex));
        const char *cseq = sc_msg_header(m, "CSeq");
        if (u->state == SC_REGISTERING && cseq && strcasestr(cseq, "REGISTER"))
            sc_check_fail(u, SC_CHK_REG_MATCH,
                          "a REGISTER answer does not carry our Call-ID and CSeq verbatim: SIPE ignores it [%s]", ex);
        sc_violation(u, "a response matches none of our outstanding requests by Call-ID + CSeq "
                        "(SIPE ignores it; #3) [%s]", ex);
        return;
    }
    /* the handler may send requests and grow the table: take the transaction out first */
    struct sc_txn copy = *t;
    t->key = NULL;
    sc_txn_remove(u, t);
    if (copy.dlg && strcmp(copy.method, "BYE") == 0)
        copy.dlg->end_confirmed = true;
    sc_ladder_on_response(u, &copy, m);
    free(copy.key);
}

static struct sc_dialog *dialog_by_uri(struct sc_user *u, const char *uri, bool ended)
{
    struct sc_dialog *live[2] = { u->channel, u->lookup };
    if (!ended) {
        for (int i = 0; i < 2; i++)
            if (live[i] && !live[i]->ended && strcasecmp(live[i]->remote_uri, uri) == 0)
                return live[i];
        return NULL;
    }
    for (int i = 0; i < SC_OLD_DIALOGS; i++) {
        struct sc_dialog *d = u->old_dialogs[i];
        if (d && d->role != SC_DLG_SUBSCRIPTION && strcasecmp(d->remote_uri, uri) == 0)
            return d;
    }
    return NULL;
}

static void on_info(struct sc_user *u, struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2], from[512];
    const char *ct = sc_msg_header(m, "Content-Type");
    sc_msg_excerpt(m, ex, sizeof(ex));

    if (ct && (strncasecmp(ct, "application/csta+xml", 20) == 0
               || strncasecmp(ct, "application/xml+conversationinfo", 32) == 0
               || strncasecmp(ct, "application/ms-filetransfer+xml", 31) == 0)) {
        sc_violation(u, "server INFO with Content-Type %s: SIPE routes it away from group chat [%s]", ct, ex);
        return;
    }
    const char *fromh = sc_msg_header(m, "From");
    if (!fromh || sc_uri_of(fromh, from, sizeof(from)) < 0) {
        sc_check_fail(u, SC_CHK_INFO_FROM, "server INFO without a readable From: SIPE finds no session and does not answer [%s]", ex);
        return;
    }
    struct sc_dialog *d = dialog_by_uri(u, from, false);
    if (!d) {
        struct sc_dialog *old = dialog_by_uri(u, from, true);
        if (old) {
            /* SIPE would crash (channel) or stay silent (lookup): never answer a dead dialog.
               Before our BYE is answered the INFO may simply have crossed it on the wire. */
            if (old->end_confirmed)
                sc_violation(u, "INFO on a dialog after BYE (%s dialog with %s): SIPE crashes or ignores it (#15) [%s]",
                             old->role == SC_DLG_CHANNEL ? "channel" : "lookup", old->remote_uri, ex);
            return;
        }
        const char *want = u->channel ? u->channel->remote_uri : u->lookup ? u->lookup->remote_uri : "(no dialog)";
        if (strchr(from, ';'))
            sc_check_fail(u, SC_CHK_INFO_FROM,
                          "INFO From has URI parameters (<%s>, expected <%s>): SIPE finds no session and sends no response [%s]",
                          from, want, ex);
        else
            sc_check_fail(u, SC_CHK_INFO_FROM,
                          "INFO From URI <%s> is not the INVITEd <%s>: SIPE finds no session and sends no response [%s]",
                          from, want, ex);
        return;
    }
    const char *cid = sc_msg_header(m, "Call-ID");
    if (!cid || strcmp(cid, d->call_id) != 0) {
        sc_check_fail(u, SC_CHK_INFO_CALLID,
                      "INFO Call-ID '%s' is not the dialog's '%s': SIPE answers 487 and ignores it [%s]",
                      cid ? cid : "(none)", d->call_id, ex);
        sc_send_response(u, m, 487, "Request Terminated");
        return;
    }
    if (u->checks[SC_CHK_INFO_FROM].state == SC_NOT_RUN)
        sc_check_pass(u, SC_CHK_INFO_FROM);
    if (u->checks[SC_CHK_INFO_CALLID].state == SC_NOT_RUN)
        sc_check_pass(u, SC_CHK_INFO_CALLID);
    /* SIPE answers before it parses the body: 200 means received, not understood */
    sc_send_response(u, m, 200, "OK");
    sc_deliver_server_info(u, d, m);
}

static void on_notify(struct sc_user *u, struct sc_msg *m, bool benotify)
{
    const char *event = sc_msg_header(m, "Event");
    if (event && strncasecmp(event, "vnd-microsoft-provisioning-v2", 29) == 0
        && (event[29] == '\0' || event[29] == ';')) {
        if (!benotify)
            sc_send_response(u, m, 200, "OK");
        sc_ladder_provisioned(u, m->body, m->body_len);
        return;
    }
    if (!benotify)
        sc_send_response(u, m, 200, "OK");
}

static void on_bye(struct sc_user *u, struct sc_msg *m)
{
    char ex[SC_DETAIL_MAX / 2];
    const char *cid = sc_msg_header(m, "Call-ID");
    sc_send_response(u, m, 200, "OK");
    sc_msg_excerpt(m, ex, sizeof(ex));
    if (u->channel && cid && strcmp(cid, u->channel->call_id) == 0) {
        sc_violation(u, "server sent BYE on the channel dialog: SIPE's group chat is dead until it reconnects (#16) [%s]", ex);
        u->channel->end_confirmed = true;
        sc_dialog_retire(u, u->channel);
        u->channel = NULL;
        sc_set_state(u, u->state, "the server ended the channel dialog with BYE");
    } else if (u->lookup && cid && strcmp(cid, u->lookup->call_id) == 0) {
        u->lookup->end_confirmed = true;
        sc_dialog_retire(u, u->lookup);
        u->lookup = NULL;
    }
}

void sc_incoming(struct sc_user *u, struct sc_msg *m)
{
    if (m->is_response) {
        on_response(u, m);
        return;
    }
    const char *method = m->method;
    if (strcmp(method, "INFO") == 0)
        on_info(u, m);
    else if (strcmp(method, "NOTIFY") == 0)
        on_notify(u, m, false);
    else if (strcmp(method, "BENOTIFY") == 0)
        on_notify(u, m, true);
    else if (strcmp(method, "BYE") == 0)
        on_bye(u, m);
    else if (strcmp(method, "ACK") == 0 || strcmp(method, "CANCEL") == 0)
        ;
    else if (strcmp(method, "OPTIONS") == 0 || strcmp(method, "PRACK") == 0
             || strcmp(method, "SUBSCRIBE") == 0)
        sc_send_response(u, m, 200, "OK");
    else {
        char ex[SC_DETAIL_MAX / 2];
        sc_msg_excerpt(m, ex, sizeof(ex));
        sc_violation(u, "unexpected %s request from the server (SIPE answers 501 or opens an IM window) [%s]", method, ex);
        sc_send_response(u, m, 501, "Not implemented");
    }
}
