/* sipclient.h — a SIP/XCCOS client that speaks exactly like pidgin-sipe 1.25 on the wire and
 * checks the server's answers where SIPE is picky (shared xccos/PROTOCOL.md §2, §3, §5).
 *
 * One process, one epoll loop, no threads; one non-blocking TCP connection per user; every
 * buffer bounded. Tests drive a few users and wait on their event queues; the load tool drives
 * tens of thousands through the on_event callback with the queue switched off. */
#ifndef PCHAT_SIPCLIENT_H
#define PCHAT_SIPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xdoc.h"

#define SC_DEFAULT_USER_AGENT "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)"

struct sc_loop;
struct sc_user;
struct sc_event;

/* ---- the loop ------------------------------------------------------------------------------ */

struct sc_loop *sc_loop_new(void);
void sc_loop_free(struct sc_loop *loop);     /* frees every user still attached */
int64_t sc_now_us(void);                     /* CLOCK_MONOTONIC */

/* Run until until(arg) is true (checked after every batch of I/O and timers; may be NULL),
 * or timeout_ms passed (-1 = no timeout). Returns 1 when until() became true, 0 on timeout. */
int sc_loop_run(struct sc_loop *loop, int timeout_ms, bool (*until)(void *arg), void *arg);

/* ---- users --------------------------------------------------------------------------------- */

enum sc_state {
    SC_IDLE = 0,
    SC_CONNECTING,       /* TCP connect in progress */
    SC_REGISTERING,
    SC_PROVISIONING,     /* SUBSCRIBE vnd-microsoft-provisioning-v2 sent, document awaited */
    SC_LOOKUP,           /* INVITE to the pool URI, cmd:requri, rpl:requri */
    SC_CHANNEL,          /* INVITE to the channel service URI */
    SC_CONNECTED,        /* ACK + cmd:getinv sent: commands and posts may go out */
    SC_SIGNING_OUT,
    SC_SIGNED_OUT,
    SC_FAILED,           /* see sc_user_error() */
};

struct sc_opts {
    const char *user_agent;      /* NULL: SC_DEFAULT_USER_AGENT */
    const char *bind_addr;       /* source IPv4 address (e.g. 127.0.0.7) when ports run out */
    const char *password;        /* unused by the wire (no auth yet); SIPE requires one */
    const char *groupchat_proxy; /* SIPE's "Group Chat Proxy" account setting; wins over
                                    the provisioned pool URI (PROTOCOL §2.4) */
    int step_timeout_ms;         /* every sign-in step; default 10000 */
    int txn_timeout_ms;          /* no final response within this: local 408 event and a
                                    violation (SIPE itself waits forever); default 32000 */
    int keepalive_ms;            /* idle CRLFCRLF interval; 0: SIPE's rule (60 s, then the
                                    REGISTER 200's ms-keep-alive timeout=) */
    bool no_auto_update;         /* SIPE sends UPDATE every Session-Expires - 10 s */
    bool no_reconnect_on_481;    /* SIPE restarts from the lookup INVITE on a 481 */
    bool no_auto_history;        /* SIPE sends cmd:bccontext (last 25) after every joined room */
    bool lenient;                /* go on past the checks where SIPE would stop (diagnosis) */
    bool no_sofia_check;         /* skip re-parsing every message with sofia-sip */
    bool trace;                  /* print every message sent and received to stderr
                                    (also switched on by SC_TRACE=1 in the environment) */
    size_t max_message;          /* largest acceptable message; default 1 MiB */
    size_t max_send_buffer;      /* unsent bytes before the connection is dropped; 4 MiB */
    int max_violations;          /* violation sentences kept per user (all are counted);
                                    0: 64, the most; a load run keeps a few */
    int event_queue_max;         /* queued events before new ones are dropped (counted);
                                    default 16384; -1: no queue, callback only */
    void (*on_event)(struct sc_user *u, const struct sc_event *ev, void *arg);
    void *on_event_arg;
};

/* uri is the sign-in name ("sip:alice@example.com" or "alice@example.com"); host is an IPv4
 * address or name of the front end. Returns NULL with a sentence in err on bad input. */
struct sc_user *sc_user_new(struct sc_loop *loop, const char *uri, const char *host, int port,
                            const struct sc_opts *opts, char *err, size_t errlen);
void sc_user_free(struct sc_user *u);        /* drops the connection; no sign-out */

int sc_user_signin(struct sc_user *u);       /* starts the ladder (PROTOCOL §2.10) */
/* Start and run the loop until connected or failed; true when connected. */
bool sc_user_signin_wait(struct sc_user *u, int timeout_ms);
/* BYE the channel dialog only and keep the connection: the first step of SIPE's sign-out,
 * so a test can check that nothing more arrives on the ended dialog (#15). Returns the BYE's
 * CSeq (its answer is an SC_EV_ANSWER), 0 when there is no channel dialog. */
uint32_t sc_user_end_channel(struct sc_user *u);
/* BYE every open dialog, SUBSCRIBE Expires: 0, REGISTER Expires: 0 — SIPE's order. */
int sc_user_signout(struct sc_user *u);
bool sc_user_signout_wait(struct sc_user *u, int timeout_ms);

enum sc_state sc_user_state(const struct sc_user *u);
const char *sc_state_name(enum sc_state s);
const char *sc_user_error(const struct sc_user *u);     /* "" while nothing failed */
const char *sc_user_uri(const struct sc_user *u);       /* sip:alice@example.com */
const char *sc_user_pool_uri(const struct sc_user *u);  /* lookup URI that was INVITEd */
const char *sc_user_channel_uri(const struct sc_user *u); /* from rpl:requri */
int sc_user_session_expires(const struct sc_user *u);   /* from the lookup 200; 0 = none */
int sc_user_register_expires(const struct sc_user *u);
uint64_t sc_user_rx_bytes(const struct sc_user *u);     /* everything received, keep-alives too */
/* errno of the last failed socket, bind or connect (EADDRNOTAVAIL: the source address has no
 * ephemeral port left for this destination); 0 when none failed. */
int sc_user_sys_errno(const struct sc_user *u);
/* envid of the last XCCOS envelope sent (command or post): what the server echoes in
 * rpl/commandid/@envid, so a reply can be matched to its command. */
uint32_t sc_user_last_envid(const struct sc_user *u);
bool sc_user_in_room(const struct sc_user *u, const char *room_uri); /* byte-exact, like SIPE */
void *sc_user_data(const struct sc_user *u);
void sc_user_set_data(struct sc_user *u, void *data);

/* ---- commands (all in the channel dialog, Content-Type text/plain, CSeq increasing) ---------
 * Each returns the INFO's CSeq (> 0), or 0 when it cannot be sent (not connected, bad room
 * URI, buffer full). The SIP answer arrives as SC_EV_ANSWER with that cseq. */
uint32_t sc_user_join(struct sc_user *u, const char *room_uri);
uint32_t sc_user_bjoin(struct sc_user *u, const char *const *room_uris, int n);
uint32_t sc_user_part(struct sc_user *u, const char *room_uri);
uint32_t sc_user_chansrch(struct sc_user *u, const char *criteria);  /* SIPE: "" */
uint32_t sc_user_bccontext(struct sc_user *u, const char *room_uri, int last_cnt);
uint32_t sc_user_getinv(struct sc_user *u);
uint32_t sc_user_getserverinfo(struct sc_user *u);
uint32_t sc_user_getassociations(struct sc_user *u);
uint32_t sc_user_post(struct sc_user *u, const char *room_uri, const char *text);
/* inner = one cmd/grpchat element; wrapped in <xccos ver envid xmlns> here. */
uint32_t sc_user_send_xccos(struct sc_user *u, const char *inner);
/* body sent as is (malformed XML, DOCTYPE, ... tests). */
uint32_t sc_user_send_info_body(struct sc_user *u, const char *body, size_t len);
uint32_t sc_user_update(struct sc_user *u);             /* session refresh, no body */
int sc_user_send_keepalive(struct sc_user *u);          /* one CRLFCRLF now */

/* Any request on the user's connection (negative tests); NULL fields get SIPE-like values.
 * A to_tag makes it look in-dialog: no Via branch, like SIPE. */
struct sc_raw_request {
    const char *method;          /* "INFO" */
    const char *request_uri;     /* NULL: the channel service URI */
    const char *to_uri;          /* NULL: request_uri */
    const char *call_id;         /* NULL: a fresh Call-ID */
    const char *to_tag;          /* NULL: none */
    uint32_t cseq;               /* 0: 1 */
    const char *extra_headers;   /* whole lines with CRLF, e.g. "Content-Type: text/plain\r\n" */
    const char *body;            /* NULL: none */
};
uint32_t sc_user_send_request(struct sc_user *u, const struct sc_raw_request *req);

/* ---- events -------------------------------------------------------------------------------- */

enum sc_event_kind {
    SC_EV_STATE = 1,     /* state changed (connected, failed, signed out, reconnecting) */
    SC_EV_SERVER_INFO,   /* a server INFO in a chat dialog (answered 200 already) */
    SC_EV_ANSWER,        /* the final response to one of our requests after sign-in */
};

enum sc_req_kind {
    SC_REQ_OTHER = 0,
    SC_REQ_REGISTER, SC_REQ_SUBSCRIBE, SC_REQ_INVITE, SC_REQ_BYE, SC_REQ_INFO, SC_REQ_UPDATE,
    SC_REQ_UNREGISTER, SC_REQ_UNSUBSCRIBE, SC_REQ_RAW,
};

struct sc_event {
    enum sc_event_kind kind;
    int64_t at_us;

    /* SC_EV_STATE */
    enum sc_state state;
    const char *text;            /* sentence (failure reason, "reconnecting after 481") */

    /* SC_EV_SERVER_INFO */
    bool lookup_dialog;          /* false: the channel dialog */
    const char *xid;             /* id of the first rpl (else ntc, else grpchat) child, the way
                                    SIPE picks it: "rpl:join", "ntc:part", "grpchat"; "" if none */
    const struct xnode *item;    /* that element, or NULL */
    int resp_code;               /* rpl: resp/@code as SIPE reads it (500 when absent); else 0 */
    const char *resp_text;       /* rpl: text of resp; else "" */
    struct xdoc *doc;            /* NULL when the body is not well-formed */

    /* SC_EV_ANSWER */
    enum sc_req_kind req;
    const char *method;          /* "INFO", "UPDATE", ... */
    uint32_t cseq;
    uint32_t envid;              /* INFO: envid of the xccos we sent */
    int status;                  /* 408 with local_timeout when nothing came */
    bool local_timeout;
    int retry_after;             /* Retry-After seconds, -1 when absent */
    int64_t rtt_us;

    /* SC_EV_SERVER_INFO: the body; SC_EV_ANSWER: the whole response (wire excerpt) */
    const char *raw;
    size_t raw_len;
};

typedef bool (*sc_event_pred)(const struct sc_event *ev, void *arg);

/* Oldest queued event (removed), or NULL. Free with sc_event_free. */
struct sc_event *sc_user_next_event(struct sc_user *u);
/* First queued event matching pred (removed, others keep their order); otherwise run the loop
 * until one arrives or timeout_ms passes (NULL). */
struct sc_event *sc_wait_for(struct sc_user *u, sc_event_pred pred, void *arg, int timeout_ms);
struct sc_event *sc_wait_xid(struct sc_user *u, const char *xid, int timeout_ms);
struct sc_event *sc_wait_answer(struct sc_user *u, uint32_t cseq, int timeout_ms);
int sc_user_queued(const struct sc_user *u);
uint64_t sc_user_events_dropped(const struct sc_user *u);
void sc_event_free(struct sc_event *ev);

/* grpchat (live or a history msg element): the attributes SIPE reads; NULL when absent. */
struct sc_post {
    const char *chan_uri, *author, *ts, *text;
};
bool sc_post_of(const struct xnode *grpchat_or_msg, struct sc_post *out);

/* ---- what the server got wrong --------------------------------------------------------------
 * Checks: one per thing SIPE depends on during sign-in (PROTOCOL §5). Violations: everything
 * seen at any time that SIPE would choke on (each a sentence with a wire excerpt). */
enum sc_check {
    SC_CHK_FRAMING = 0,          /* #1 #2 every message: Content-Length, reason phrase, ':' */
    SC_CHK_REG_MATCH,            /* #3 REGISTER answer carries our Call-ID and CSeq */
    SC_CHK_REG_200,
    SC_CHK_REG_EXPIRES,          /* #4 */
    SC_CHK_REG_SUPPORTED,        /* #5 */
    SC_CHK_REG_ALLOW_EVENTS,     /* #6 */
    SC_CHK_SUB_200,              /* #30 SUBSCRIBE with Proxy-Require: ms-benotify accepted */
    SC_CHK_PROV_DELIVERED,       /* #8 */
    SC_CHK_PROV_ENABLED,         /* #9 EnablePersistentChat exactly "true" */
    SC_CHK_PROV_POOL_URI,        /* #9 DefaultPersistentChatPoolUri usable as is */
    SC_CHK_LOOKUP_200,           /* #11 */
    SC_CHK_LOOKUP_TO,            /* #11 To URI echoed */
    SC_CHK_LOOKUP_TAG,           /* #11 To tag */
    SC_CHK_SESSION_EXPIRES,      /* #12 */
    SC_CHK_REQURI_ANSWER,        /* #17 cmd:requri INFO answered 200 */
    SC_CHK_REQURI_REPLY,         /* #13 rpl:requri with data/uib/@uri */
    SC_CHK_INFO_FROM,            /* #14 every server INFO: From URI == invited URI, no params */
    SC_CHK_INFO_CALLID,          /* #14 every server INFO: Call-ID == the dialog's */
    SC_CHK_LOOKUP_BYE_200,
    SC_CHK_CHANNEL_200,          /* #11 for the channel INVITE */
    SC_CHK_CHANNEL_TO,
    SC_CHK_CHANNEL_TAG,
    SC_CHK_GETINV_ANSWER,        /* #17 cmd:getinv answered 200 */
    SC_CHK__COUNT
};
enum sc_check_state { SC_NOT_RUN = 0, SC_PASS, SC_FAIL };

enum sc_check_state sc_check_state(const struct sc_user *u, enum sc_check c);
const char *sc_check_name(enum sc_check c);             /* sentence of what SIPE needs */
const char *sc_check_detail(const struct sc_user *u, enum sc_check c); /* why it failed */

int sc_user_violation_count(const struct sc_user *u);   /* total, even past the stored ones */
const char *sc_user_violation(const struct sc_user *u, int i);  /* i < stored count */
int sc_user_violations_stored(const struct sc_user *u);

#endif
