/* sc_internal.h — the client's internal structures, shared by its small .c files only. */
#ifndef PCHAT_SC_INTERNAL_H
#define PCHAT_SC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sipclient.h"

#define SC_MAX_HDRS 96
#define SC_MAX_HEAD 65536          /* header block of one message */
#define SC_MAX_VIOLATIONS 64       /* stored sentences per user (all are counted) */
#define SC_MAX_ROOMS 256           /* rooms one user may have open */
#define SC_MAX_TXNS 4096           /* outstanding requests per user */
#define SC_DETAIL_MAX 1024
#define SC_OLD_DIALOGS 4           /* ended dialogs remembered to spot INFO after BYE */

/* ---- loop ---------------------------------------------------------------------------------- */

struct sc_timer {
    int64_t due_us;
    int heap_idx;                  /* -1: not armed */
    void (*fire)(struct sc_timer *t);
};

struct sc_fd {
    int fd;
    void (*on_io)(struct sc_fd *f, uint32_t events);
};

struct sc_loop {
    int epfd;
    char *scratch;                 /* one read buffer for every socket */
    size_t scratch_len;
    struct sc_timer **heap;
    int heap_len, heap_cap;
    uint64_t rng;
    struct sc_user *users;         /* every user, for sc_loop_free */
};

void sc_timer_arm(struct sc_loop *l, struct sc_timer *t, int64_t due_us);
void sc_timer_cancel(struct sc_loop *l, struct sc_timer *t);
int sc_fd_watch(struct sc_loop *l, struct sc_fd *f, uint32_t events, bool add);
void sc_fd_unwatch(struct sc_loop *l, struct sc_fd *f);
uint32_t sc_random(struct sc_loop *l);

/* ---- received messages --------------------------------------------------------------------- */

struct sc_hdr {
    const char *name;
    const char *value;             /* unfolded, leading/trailing blanks trimmed */
};

struct sc_msg {
    char *raw;                     /* the whole message, NUL-terminated, untouched */
    size_t raw_len;
    size_t head_len;               /* start line + headers + CRLFCRLF */
    char *work;                    /* NUL-separated copy the hdrs point into */
    bool is_response;
    int status;
    const char *reason;
    const char *method;
    const char *ruri;
    struct sc_hdr hdrs[SC_MAX_HDRS];
    int n_hdrs;
    const char *body;              /* into raw */
    size_t body_len;
};

/* Parse one whole message (head_len known). Framing problems are written as sentences to
 * problem (first one only); *fatal when SIPE would stall or drop the connection on it.
 * Returns -1 if the message is unusable at all. */
int sc_msg_parse(struct sc_msg *m, const char *buf, size_t head_len, size_t total_len,
                 char *problem, size_t problem_len, bool *fatal);
void sc_msg_clear(struct sc_msg *m);
/* Content-Length as SIPE finds it (full name only): -1 absent, -2 unparsable. Works on the
 * raw header block before a full parse. */
long sc_head_content_length(const char *head, size_t head_len);
const char *sc_msg_header(const struct sc_msg *m, const char *name);          /* first */
const char *sc_msg_header_nth(const struct sc_msg *m, const char *name, int n);
int sc_msg_header_count(const struct sc_msg *m, const char *name);
/* URI as SIPE's parse_from sees it: between < and >, else up to ';'. Returns 0 or -1. */
int sc_uri_of(const char *hdr_value, char *out, size_t outlen);
/* Value of "name=" anywhere in a header value up to ';' (SIPE's find_part_of_header). */
int sc_hdr_param(const char *hdr_value, const char *name, char *out, size_t outlen);
/* Short printable excerpt of a message's head for sentences ("SIP/2.0 200 OK | To: ..."). */
void sc_msg_excerpt(const struct sc_msg *m, char *out, size_t outlen);
bool sc_sofia_parses(const char *buf, size_t len);

/* ---- per-user state ------------------------------------------------------------------------ */

enum sc_dialog_role { SC_DLG_LOOKUP = 0, SC_DLG_CHANNEL, SC_DLG_SUBSCRIPTION };

struct sc_dialog {
    enum sc_dialog_role role;
    char *remote_uri;              /* the URI we INVITEd/subscribed ("with") */
    char *call_id;
    char *our_tag;
    char *their_tag;               /* NULL until the 2xx */
    char *their_epid;
    char *request_uri;             /* Contact of the 200; NULL: remote_uri */
    char *routes;                  /* "Route: ...\r\n" lines, or NULL */
    uint32_t cseq;
    bool established;
    bool ended;
    bool end_confirmed;            /* the BYE was answered (or came from the server): an INFO
                                      now cannot have crossed it on the wire */
};

enum sc_txn_purpose {
    SC_TP_REGISTER = 1, SC_TP_SUBSCRIBE, SC_TP_LOOKUP_INVITE, SC_TP_REQURI, SC_TP_LOOKUP_BYE,
    SC_TP_CHANNEL_INVITE, SC_TP_COMMAND, SC_TP_UPDATE, SC_TP_CHANNEL_BYE, SC_TP_UNSUBSCRIBE,
    SC_TP_UNREGISTER, SC_TP_RAW, SC_TP_REREGISTER, SC_TP_DEAD_BYE, SC_TP_GETINV,
};

struct sc_txn {
    char *key;                     /* "<Call-ID><CSeq value>" as SIPE keys transactions */
    enum sc_txn_purpose purpose;
    enum sc_req_kind kind;
    char method[16];
    uint32_t cseq;
    uint32_t envid;
    struct sc_dialog *dlg;         /* may be NULL */
    int64_t sent_us;
    int64_t deadline_us;
};

struct sc_check_rec {
    enum sc_check_state state;
    char *detail;
};

struct sc_user {
    struct sc_loop *loop;
    struct sc_user *next_in_loop, *prev_in_loop;
    struct sc_opts opts;
    char *user_agent;
    void *data;

    /* identity */
    char *aor;                     /* sip:alice@example.com */
    char *username;                /* alice@example.com */
    char *domain;
    char epid[16];
    char uuid[40];

    /* transport */
    char *host;
    int port;
    struct sc_fd fd;
    bool connected_tcp;
    char local_ip[64];
    int local_port;
    char *rbuf; size_t rlen, rcap;
    char *wbuf; size_t wlen, wcap;
    int64_t last_tx_us;
    uint64_t rx_bytes;
    int sys_errno;                 /* errno of the last failed socket/bind/connect */

    /* sign-in */
    enum sc_state state;
    char *error;                   /* first failure, NULL while none */
    char *contact;                 /* our Contact for in-dialog requests */
    char *register_call_id;
    uint32_t register_cseq;
    int register_expires;
    int keepalive_s;
    bool prov_seen;
    char *pool_uri;                /* lookup URI INVITEd */
    char *lookup_domain;           /* getinv domain */
    char *channel_uri;
    int session_expires;
    uint32_t envid;
    struct sc_dialog *lookup, *channel, *subscription;
    struct sc_dialog *old_dialogs[SC_OLD_DIALOGS];
    int old_next;
    int signout_pending;
    unsigned reconnects;

    /* timers */
    struct sc_timer step_timer;
    struct sc_timer keepalive_timer;
    struct sc_timer txn_timer;
    struct sc_timer update_timer;
    struct sc_timer reregister_timer;

    /* transactions */
    struct sc_txn *txns;
    int n_txns, cap_txns;

    /* rooms open as SIPE would have them (byte-exact URIs) */
    char **rooms;
    int n_rooms, cap_rooms;

    /* events */
    struct sc_event **q;
    int q_len, q_cap, q_head;
    uint64_t dropped;

    /* findings */
    struct sc_check_rec checks[SC_CHK__COUNT];
    char *violations[SC_MAX_VIOLATIONS];
    int n_violations;
    int n_stored_violations;
};

/* user.c */
void sc_violation(struct sc_user *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_check_pass(struct sc_user *u, enum sc_check c);
void sc_check_fail(struct sc_user *u, enum sc_check c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sc_fail(struct sc_user *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sc_set_state(struct sc_user *u, enum sc_state s, const char *text);
void sc_emit(struct sc_user *u, struct sc_event *ev);   /* takes ownership */
struct sc_event *sc_event_new(enum sc_event_kind kind);
char *sc_strdup(const char *s);
char *sc_strndup(const char *s, size_t n);

/* conn.c */
int sc_conn_open(struct sc_user *u);
void sc_conn_close(struct sc_user *u);
int sc_conn_send(struct sc_user *u, const char *buf, size_t len);

/* request.c: building and sending what SIPE sends */
void sc_gen_tag(struct sc_user *u, char *out, size_t outlen);
void sc_gen_callid(struct sc_user *u, char *out, size_t outlen);
struct sc_dialog *sc_dialog_new(struct sc_user *u, enum sc_dialog_role role, const char *with);
void sc_dialog_free(struct sc_dialog *d);
void sc_dialog_retire(struct sc_user *u, struct sc_dialog *d);
/* Send a request; dialog NULL = out of dialog (fresh Call-ID and tag, Via branch). Returns the
 * transaction (NULL on send failure). no_txn for ACK. */
struct sc_txn *sc_send_request(struct sc_user *u, const char *method, const char *uri,
                               const char *to, struct sc_dialog *dlg, const char *addheaders,
                               const char *body, enum sc_txn_purpose purpose,
                               enum sc_req_kind kind, bool no_txn);
int sc_send_response(struct sc_user *u, const struct sc_msg *req, int code, const char *text);
struct sc_txn *sc_txn_find(struct sc_user *u, const struct sc_msg *resp);
void sc_txn_remove(struct sc_user *u, struct sc_txn *t);
void sc_txn_rearm(struct sc_user *u);
void sc_send_register(struct sc_user *u, bool deregister, enum sc_txn_purpose purpose);

/* ladder.c */
void sc_ladder_start(struct sc_user *u);
void sc_ladder_on_response(struct sc_user *u, struct sc_txn *t, const struct sc_msg *m);
void sc_ladder_on_timeout(struct sc_user *u, struct sc_txn *t);
void sc_ladder_lookup_invite(struct sc_user *u);
void sc_ladder_provisioned(struct sc_user *u, const char *body, size_t len);
void sc_ladder_requri_reply(struct sc_user *u, const struct xnode *rpl);
void sc_ladder_step_deadline(struct sc_user *u);
void sc_ladder_update_due(struct sc_user *u);
void sc_ladder_reregister_due(struct sc_user *u);

/* incoming.c */
void sc_incoming(struct sc_user *u, struct sc_msg *m);

/* xccos_client.c */
uint32_t sc_send_command(struct sc_user *u, struct sc_dialog *d, const char *inner,
                         enum sc_txn_purpose purpose);
void sc_deliver_server_info(struct sc_user *u, struct sc_dialog *d, const struct sc_msg *m);
void sc_rooms_clear(struct sc_user *u);

/* provision.c */
struct sc_provisioning {
    bool found_group;
    bool enabled;                  /* EnablePersistentChat exactly "true" */
    char enable_text[64];
    char pool[256];                /* DefaultPersistentChatPoolUri text, as sent */
    bool has_pool;
};
int sc_provisioning_read(const char *body, size_t len, struct sc_provisioning *p,
                         char *err, size_t errlen);
/* SIPE's sipe_groupchat_init target choice. */
void sc_groupchat_target(const char *setting, const struct sc_provisioning *p,
                         const char *username, char *out, size_t outlen, char *domain_out,
                         size_t domain_len);

#endif
