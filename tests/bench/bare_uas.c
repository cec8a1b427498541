/* bare_uas.c — the benchmark's baseline: a bare sofia-sip NUA user agent server that answers
 * just enough of pidgin-sipe's ladder for pchat-load to drive it exactly like pchat, with no
 * edge relay, no workers and no database. Its post ceiling is the SIP stack's own.
 *
 *   bare_uas --port PORT [--address 127.0.0.1] [--domain example.com]
 *
 * REGISTER, the provisioning SUBSCRIBE (+ NOTIFY), both INVITEs and every INFO get 200; the
 * commands pchat-load waits for get the smallest reply SIPE accepts (rpl:requri naming our
 * channel URI, rpl:getinv, rpl:join/bjoin listing only the caller, empty rpl:bccontext,
 * rpl:part). Posts get 200 and go nowhere. Ends on SIGINT/SIGTERM. */
#define NUA_MAGIC_T struct uas
#define NUA_HMAGIC_T struct dialog
#define SU_ROOT_MAGIC_T struct uas

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sofia-sip/nua.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>

#include "sbuf.h"
#include "util.h"
#include "xccos.h"

#define REGISTER_EXPIRES "3600"
#define SESSION_EXPIRES "1800;refresher=uac"
#define REPLY_MAX (64 * 1024)          /* a reply larger than this is not sent */
#define DIALOG_QUEUE_MAX 256           /* replies waiting on one dialog; more are dropped */

struct reply {
    struct reply *next;
    char body[];
};

/* One INVITE dialog (lookup or channel). Server INFOs go one at a time, like the front end
 * does through the stack, so that replies keep their order. */
struct dialog {
    char user[256];                    /* sip:user@domain of the caller */
    bool in_flight;
    int queued;
    struct reply *head, *tail;
};

struct uas {
    su_root_t *root;
    nua_t *nua;
    char domain[128];
    char lookup_uri[200];              /* sip:pchat@domain, named in the provisioning NOTIFY */
    char channel_uri[200];             /* sip:pchat-chan@domain, named in rpl:requri */
    bool down;
    unsigned long infos, replies_dropped;
};

static struct uas *the_uas;

static void on_signal(int sig)
{
    (void)sig;
    if (the_uas)
        su_root_break(the_uas->root);
}

/* ---- replies on a dialog ------------------------------------------------------------------- */

static void dialog_pump(nua_handle_t *nh, struct dialog *d)
{
    if (d->in_flight || !d->head)
        return;
    struct reply *r = d->head;
    d->head = r->next;
    if (!d->head)
        d->tail = NULL;
    d->queued--;
    d->in_flight = true;
    nua_info(nh, SIPTAG_CONTENT_TYPE_STR("text/plain"), SIPTAG_PAYLOAD_STR(r->body), TAG_END());
    free(r);
}

static void dialog_send(struct uas *u, nua_handle_t *nh, struct dialog *d, const struct sbuf *b)
{
    if (b->overflow || d->queued >= DIALOG_QUEUE_MAX) {
        u->replies_dropped++;
        return;
    }
    struct reply *r = xmalloc(sizeof *r + b->len + 1);
    r->next = NULL;
    memcpy(r->body, b->data, b->len);
    r->body[b->len] = '\0';
    if (d->tail)
        d->tail->next = r;
    else
        d->head = r;
    d->tail = r;
    d->queued++;
    dialog_pump(nh, d);
}

static void dialog_free(struct dialog *d)
{
    while (d->head) {
        struct reply *r = d->head;
        d->head = r->next;
        free(r);
    }
    free(d);
}

/* ---- XCCOS: the smallest reply each command needs -------------------------------------------- */

static void reply_join(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                       const struct dialog *d)
{
    static const int caller[] = { 0 };
    struct xccos_user users[] = { { .uri = d->user } };
    struct xccos_join_room rooms[XCCOS_MAX_CHANIDS];
    char uris[XCCOS_MAX_CHANIDS][300];
    int n = 0;
    for (int i = 0; i < cmd->n_chanids && n < XCCOS_MAX_CHANIDS; i++, n++) {
        snprintf(uris[n], sizeof uris[n], "ma-chan://%s/%s", cmd->chanids[i].domain,
                 cmd->chanids[i].value);
        rooms[n] = (struct xccos_join_room){
            .room = { .uri = uris[n], .name = cmd->chanids[i].value, .user_count = 1 },
            .member_ids = caller,
            .n_members = 1,
        };
    }
    xccos_render_rpl_join(b, envid, cmd, users, 1, rooms, n, NULL, 0);
}

static void answer_command(struct uas *u, nua_handle_t *nh, struct dialog *d, const char *body,
                           size_t len)
{
    struct xccos_cmd *cmd = NULL;
    char err[256];
    if (xccos_cmd_parse(body, len, &xdoc_default_limits, &cmd, err, sizeof err) != XCCOS_OK) {
        xccos_cmd_free(cmd);
        return;
    }
    struct sbuf b;
    sbuf_init(&b, REPLY_MAX);
    uint64_t envid = random_u64() >> 1;
    switch (cmd->cmd) {
    case XCMD_REQURI:
        xccos_render_rpl_requri(&b, envid, cmd, u->channel_uri);
        break;
    case XCMD_GETINV:
        xccos_render_rpl_getinv(&b, envid, cmd, NULL, 0);
        break;
    case XCMD_JOIN:
    case XCMD_BJOIN:
        reply_join(&b, envid, cmd, d);
        break;
    case XCMD_BCCONTEXT:
        xccos_render_rpl_bccontext(&b, envid, cmd, cmd->chan_uri, NULL, 0);
        break;
    case XCMD_PART:
        xccos_render_rpl_part(&b, envid, cmd, cmd->chan_uri);
        break;
    case XCMD_CHANSRCH:
        xccos_render_rpl_chansrch(&b, envid, cmd, NULL, 0);
        break;
    default:
        xccos_render_error(&b, envid, cmd, 501, "the bare benchmark UAS does not serve this command");
        break;
    }
    dialog_send(u, nh, d, &b);
    sbuf_free(&b);
    xccos_cmd_free(cmd);
}

static void on_info(struct uas *u, nua_handle_t *nh, struct dialog *d, sip_t const *sip)
{
    u->infos++;
    if (!d) {
        nua_respond(nh, 481, "Call/Transaction Does Not Exist", NUTAG_WITH_THIS(u->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua), TAG_END());
    const sip_payload_t *pl = sip ? sip->sip_payload : NULL;
    if (!pl || pl->pl_len == 0)
        return;
    /* a post costs the stack and a peek, nothing more: that is the baseline */
    if (xccos_peek_cmd(pl->pl_data, pl->pl_len) == XCMD_GRPCHAT)
        return;
    answer_command(u, nh, d, pl->pl_data, pl->pl_len);
}

/* ---- sign-in ----------------------------------------------------------------------------------- */

static bool aor_of(const url_t *url, char *out, size_t outlen)
{
    if (!url || !url->url_user || !url->url_host || !*url->url_user)
        return false;
    snprintf(out, outlen, "sip:%s@%s", url->url_user, url->url_host);
    return true;
}

static void on_register(struct uas *u, nua_handle_t *nh, sip_t const *sip)
{
    bool signout = sip && sip->sip_expires && sip->sip_expires->ex_delta == 0;
    /* PROTOCOL §2.2: one Supported value, and Allow-Events naming the provisioning package */
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua),
                SIPTAG_EXPIRES_STR(signout ? "0" : REGISTER_EXPIRES),
                SIPTAG_SUPPORTED_STR("msrtc-event-categories"),
                SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"),
                TAG_IF(sip && sip->sip_contact, SIPTAG_CONTACT(sip ? sip->sip_contact : NULL)),
                TAG_END());
    nua_handle_destroy(nh);
}

static void on_subscribe(struct uas *u, nua_handle_t *nh, sip_t const *sip)
{
    if (!sip || !sip->sip_event ||
        strcmp(sip->sip_event->o_type, "vnd-microsoft-provisioning-v2") != 0) {
        nua_respond(nh, 489, "Bad Event", NUTAG_WITH_THIS(u->nua),
                    SIPTAG_ALLOW_EVENTS_STR("vnd-microsoft-provisioning-v2"), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua), SIPTAG_EXPIRES_STR("0"), TAG_END());
    if (sip->sip_expires && sip->sip_expires->ex_delta == 0 && !sip->sip_payload) {
        nua_handle_destroy(nh);     /* the un-SUBSCRIBE of sign-out */
        return;
    }
    /* PROTOCOL §2.4 (b): a body-less 200, then one NOTIFY with the document that ends it */
    char doc[1024];
    snprintf(doc, sizeof doc,
             "<provisionGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
             "provisiongrouplist-notification\"><provisionGroup name=\"persistentChatConfiguration\">"
             "<propertyEntryList><property name=\"EnablePersistentChat\">true</property>"
             "<property name=\"DefaultPersistentChatPoolUri\">%s</property></propertyEntryList>"
             "</provisionGroup></provisionGroupList>", u->lookup_uri);
    nua_notify(nh, SIPTAG_EVENT_STR("vnd-microsoft-provisioning-v2"),
               SIPTAG_SUBSCRIPTION_STATE_STR("terminated;expires=0"),
               SIPTAG_CONTENT_TYPE_STR("application/vnd-microsoft-roaming-provisioning-v2+xml"),
               SIPTAG_PAYLOAD_STR(doc), TAG_END());
}

static void on_invite(struct uas *u, nua_handle_t *nh, sip_t const *sip)
{
    char user[256], target[256];
    if (!sip || !sip->sip_from || !aor_of(sip->sip_from->a_url, user, sizeof user) ||
        !sip->sip_to || !aor_of(sip->sip_to->a_url, target, sizeof target)) {
        nua_respond(nh, 400, "From and To need sip:user@host URIs", NUTAG_WITH_THIS(u->nua),
                    TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    if (strcasecmp(target, u->lookup_uri) != 0 && strcasecmp(target, u->channel_uri) != 0) {
        nua_respond(nh, 404, "Not Found", NUTAG_WITH_THIS(u->nua), TAG_END());
        nua_handle_destroy(nh);
        return;
    }
    struct dialog *d = xcalloc(1, sizeof *d);
    snprintf(d->user, sizeof d->user, "%s", user);
    nua_handle_bind(nh, d);
    /* Session-Expires keeps pidgin-sipe refreshing with UPDATE (PROTOCOL §2.5) */
    nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua),
                SIPTAG_SESSION_EXPIRES_STR(SESSION_EXPIRES), TAG_END());
}

static void on_state(nua_handle_t *nh, struct dialog *d, tagi_t tags[])
{
    int callstate = -1;
    tl_gets(tags, NUTAG_CALLSTATE_REF(callstate), TAG_END());
    if (callstate != nua_callstate_terminated)
        return;
    if (d) {
        nua_handle_bind(nh, NULL);
        dialog_free(d);
    }
    nua_handle_destroy(nh);
}

static void on_nua_event(nua_event_t event, int status, char const *phrase, nua_t *nua,
                         struct uas *u, nua_handle_t *nh, struct dialog *d, sip_t const *sip,
                         tagi_t tags[])
{
    (void)phrase;
    (void)nua;
    switch (event) {
    case nua_i_register:
        on_register(u, nh, sip);
        break;
    case nua_i_subscribe:
        on_subscribe(u, nh, sip);
        break;
    case nua_i_invite:
        if (d)      /* a re-INVITE: nothing changes */
            nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua), TAG_END());
        else
            on_invite(u, nh, sip);
        break;
    case nua_i_info:
        on_info(u, nh, d, sip);
        break;
    case nua_i_update:
        nua_respond(nh, d ? 200 : 481, d ? "OK" : "Call/Transaction Does Not Exist",
                    NUTAG_WITH_THIS(u->nua), TAG_END());
        break;
    case nua_i_method:      /* SERVICE after sign-in */
        nua_respond(nh, SIP_200_OK, NUTAG_WITH_THIS(u->nua), TAG_END());
        if (!d)
            nua_handle_destroy(nh);
        break;
    case nua_i_publish:
        nua_respond(nh, 489, "Bad Event", NUTAG_WITH_THIS(u->nua), TAG_END());
        if (!d)
            nua_handle_destroy(nh);
        break;
    case nua_i_state:
        on_state(nh, d, tags);
        break;
    case nua_r_info:
        if (d && status >= 200) {
            d->in_flight = false;
            dialog_pump(nh, d);
        }
        break;
    case nua_r_notify:
        if (status >= 200 && !d)
            nua_handle_destroy(nh);
        break;
    case nua_r_shutdown:
        if (status >= 200)
            u->down = true;
        break;
    case nua_i_ack:
    case nua_i_bye:
    case nua_i_active:
    case nua_i_terminated:
    case nua_i_options:
    case nua_r_set_params:
    case nua_i_error:
        break;
    default:
        if (event < nua_r_set_params && !d && nh && event != nua_i_outbound)
            nua_handle_destroy(nh);
        break;
    }
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: bare_uas --port PORT [--address 127.0.0.1] [--domain example.com]\n"
               "A bare sofia-sip UAS that answers pchat-load's sign-in ladder and every INFO\n"
               "with 200 (the benchmark's SIP-stack baseline, docs/PERFORMANCE.md).\n");
}

int main(int argc, char **argv)
{
    const char *address = "127.0.0.1", *domain = "example.com";
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bare_uas: %s needs a value\n", argv[i]);
            usage(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--address") == 0)
            address = argv[++i];
        else if (strcmp(argv[i], "--domain") == 0)
            domain = argv[++i];
        else {
            fprintf(stderr, "bare_uas: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (port < 1 || port > 65535) {
        fprintf(stderr, "bare_uas: --port must be 1-65535\n");
        return 2;
    }
    if (strlen(domain) >= 100 || strlen(address) >= 64) {
        fprintf(stderr, "bare_uas: --domain must be under 100 and --address under 64 characters\n");
        return 2;
    }

    static struct uas u;
    snprintf(u.domain, sizeof u.domain, "%s", domain);
    snprintf(u.lookup_uri, sizeof u.lookup_uri, "sip:pchat@%s", domain);
    snprintf(u.channel_uri, sizeof u.channel_uri, "sip:pchat-chan@%s", domain);
    the_uas = &u;

    /* one descriptor per client: take every one the system allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    su_init();
    u.root = su_root_create(&u);
    if (!u.root) {
        fprintf(stderr, "bare_uas: cannot create the event loop\n");
        return 1;
    }
    char url[128];
    snprintf(url, sizeof url, "sip:%s:%d", address, port);
    /* the same stack settings as pchat-frontend (frontend/main.c), so the baseline is fair */
    u.nua = nua_create(u.root, on_nua_event, &u, NUTAG_URL(url),
                       NUTAG_APPL_METHOD("INVITE, REGISTER, PUBLISH, SUBSCRIBE, INFO, UPDATE, SERVICE"),
                       NUTAG_ALLOW("INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, "
                                   "SUBSCRIBE, NOTIFY, REGISTER, SERVICE"),
                       NUTAG_ALLOW_EVENTS("vnd-microsoft-provisioning-v2"),
                       NUTAG_MEDIA_ENABLE(0), NUTAG_SESSION_TIMER(0), NUTAG_AUTOANSWER(0),
                       NUTAG_ENABLEMESSAGE(0), SIPTAG_SERVER_STR("RTC/5.0 bare_uas"),
                       TPTAG_PONG2PING(0), TAG_END());
    if (!u.nua) {
        fprintf(stderr, "bare_uas: cannot start the SIP stack on %s (port in use?)\n", url);
        su_root_destroy(u.root);
        return 1;
    }
    printf("ready: bare UAS on %s (tcp, udp) for domain %s, lookup %s, channel %s\n", url, domain,
           u.lookup_uri, u.channel_uri);
    fflush(stdout);
    su_root_run(u.root);

    nua_shutdown(u.nua);
    for (int i = 0; i < 250 && !u.down; i++)
        su_root_step(u.root, 20);
    if (u.down)
        nua_destroy(u.nua);
    printf("stopped: %lu INFOs answered, %lu replies dropped\n", u.infos, u.replies_dropped);
    su_root_destroy(u.root);
    su_deinit();
    return 0;
}
