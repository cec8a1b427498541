/* fe.h — the front end's state and the functions its files offer each other.
 *
 * One process, one su_root event loop: sofia-sip NUA callbacks (sip_*.c), the ZeroMQ
 * ROUTER towards workers (router.c) and the SUB for room events (rooms.c) all run on it.
 * Only soft state lives here: SIP sessions and which session joined which room. */
#ifndef PCHAT_FE_H
#define PCHAT_FE_H

#define NUA_MAGIC_T struct fe
#define NUA_HMAGIC_T struct fe_session
#define SU_ROOT_MAGIC_T struct fe
#define SU_WAKEUP_ARG_T void
#define SU_TIMER_ARG_T void
#define SU_PREPOLL_MAGIC_T struct fe

#include <stdbool.h>
#include <stdint.h>

#include <sofia-sip/nua.h>
#include <sofia-sip/su_wait.h>

#include "config.h"
#include "hmap.h"
#include "metrics.h"
#include "pchat.pb-c.h"
#include "xccos.h"

#define FE_MAX_WORKERS 256
#define FE_WORKER_ID_MAX 255

struct fe_request;

/* A client's chat dialog (the lookup or the channel INVITE session). */
enum session_role { SESSION_LOOKUP, SESSION_CHANNEL };

struct fe_session_room {
    uint64_t room_id;
    uint64_t start_seq;            /* deliver this room's events with seq > start_seq */
    char *room_uri;                /* as the client was given it (byte-exact, PROTOCOL §3.3) */
};

struct fe_outdoc {                 /* one queued server -> client INFO body */
    struct fe_outdoc *next;
    int64_t queued;                /* mono µs */
    size_t len;
    char body[];
};

/* What the front end needs to send an in-dialog INFO itself (edge.h fast path). */
struct fe_dialog {
    bool ready;                    /* learnt from the client's first request after the 200 */
    char *call_id;                 /* as the client sent it (without the edge's suffix) */
    char *local;                   /* our side: "<sip:pchat-chan@example.com>;tag=..." (From) */
    char *remote;                  /* the client: "<sip:alice@example.com>;tag=...;epid=..." (To) */
    char *target;                  /* Request-URI: the client's address of record */
    uint32_t cseq;                 /* our CSeq counter for the INFOs we send ourselves */
};

struct fe_session {
    uint64_t id;
    uint32_t conn_id;              /* edge connection (edge.h), 0 if unknown */
    struct fe_dialog dlg;
    nua_handle_t *nh;              /* NULL once the dialog is gone */
    enum session_role role;
    char *user_uri;
    char *user_agent;
    char *service_uri;             /* the URI the client INVITEd */
    bool ended;                    /* dialog over: nothing more is sent on it */
    bool end_queued;               /* SESSION_END request queued */
    bool non_retrying;             /* its User-Agent is in frontend.non_retrying_agents */
    bool overflowed;               /* outbound queue hit its cap: the janitor cuts it */
    int64_t last_activity;         /* mono µs of the last request from the client */

    struct fe_session_room *rooms; /* rooms joined through this session */
    int n_rooms, cap_rooms;

    struct fe_outdoc *out_head, *out_tail; /* INFOs waiting to be sent */
    int out_len;
    int out_inflight;              /* INFOs sent, response not yet received */
    int64_t out_sent_at;           /* mono µs the INFO in flight was queued */
    int64_t out_progress;          /* mono µs an INFO was last sent or answered */
    int64_t out_queued[8];         /* when each INFO in flight was queued, oldest first */
    int out_q_head, out_q_len;

    struct fe_request *req_head, *req_tail; /* requests waiting for room in the pipeline */
    int req_len;
    int req_inflight;              /* requests queued for or at a worker (at most a few) */
    int pinned;                    /* the worker they go to (keeps them in order), -1 none */
};

/* Why the front end sent a request; tells what to do with the reply. */
enum req_purpose {
    REQ_CLIENT,          /* an INFO of a session */
    REQ_SESSION_END,     /* the session's memberships must go */
    REQ_ROOM_FETCH,      /* gap repair / catch-up of a room: events go to every member */
    REQ_FRONTEND_RESET,
    REQ_POLICY,          /* a SUBSCRIBE or INVITE waits for the user's chat policy */
    REQ_NODE_STATUS,     /* periodic report of this node to the store */
};

/* A SIP request held until the store answers (policy check), and what to do then. */
struct fe_pending_sip {
    nua_handle_t *nh;
    nua_saved_event_t saved[1];
    sip_method_t method;           /* sip_method_subscribe or sip_method_invite */
    enum session_role role;
    char *user, *user_agent, *target;
    uint32_t cseq;
    uint32_t conn_id;              /* edge connection it came through */
};

/* Where the final answer to a client's INFO goes: through the SIP stack (its saved event) or
 * straight onto the client's connection (the edge's fast path, edge.h). */
struct fe_answer {
    bool edge;
    uint32_t conn_id;              /* edge: the connection */
    char *headers;                 /* edge: the request's Via, From, To, Call-ID, CSeq lines */
    bool saved_valid;              /* stack: saved holds the request */
    nua_saved_event_t saved[1];
};

struct fe_request {
    uint64_t id;
    uint64_t session_id;
    enum req_purpose purpose;
    enum xccos_cmd_id cmd;
    uint8_t *body;
    size_t body_len;
    uint64_t room_id, from_seq, to_seq;
    int64_t created;               /* mono µs */
    int64_t queued;                /* mono µs it entered the ready queue */
    int64_t deadline;              /* mono µs */
    bool held;                     /* the client's INFO awaits its final response (posts) */
    struct fe_answer answer;       /* where that response goes */
    int worker;                    /* index in fe.workers while in flight, else -1 */
    uint32_t attempt;
    bool counted;                  /* one of its session's pipelined requests */
    int64_t not_before;            /* mono µs: waiting in the retry list until then */
    struct fe_pending_sip *pending;  /* REQ_POLICY */
    char *user_uri;                /* REQ_POLICY: the user asked about */
    struct fe_request *next, *prev;
};

struct fe_worker {
    unsigned char ident[FE_WORKER_ID_MAX];
    size_t ident_len;
    char name[64];
    int credit;                    /* requests it still accepts */
    int inflight;
    int64_t last_seen;             /* mono µs */
    bool alive;
};

#define XCMD_COUNT (XCMD_GRPCHAT + 1)
enum info_outcome { OUT_ACCEPTED, OUT_REJECTED_503, OUT_REJECTED_OTHER, OUT_NO_SESSION, OUT_COUNT };

struct fe_stats {
    uint64_t info_in, info_503, info_481, replies, deliveries, delivery_failures;
    uint64_t gaps_repaired, redispatched, sessions_cut, late_answers;
    uint64_t info_by_cmd[XCMD_COUNT][OUT_COUNT];  /* INFOs by command and what we answered */
    uint64_t answered_by_cmd[XCMD_COUNT][3];      /* worker outcomes: ok, refused, failed */
    struct histogram queue_delay;                 /* s a request waited for worker credit */
    struct histogram request_latency;             /* s from INFO to the worker's reply */
    struct histogram delivery_latency;            /* s from queueing an INFO to its 200 */
};

struct fe {
    struct pchat_config *cfg;
    su_home_t home[1];
    su_root_t *root;
    nua_t *nua;
    char id[64];
    uint64_t incarnation;
    bool shutting_down;
    bool reset_sent;
    bool nua_down;                 /* nua_r_shutdown completed */

    void *zctx, *router, *sub;
    void *monitor;                 /* PAIR receiving the ROUTER's disconnect events */
    int router_wait, sub_wait, monitor_wait;   /* su_root registrations */
    su_timer_t *drain_timer;       /* 0 ms re-arm while ZeroMQ still has input */
    su_timer_t *janitor;

    struct hmap sessions;          /* id -> fe_session */
    struct hmap rooms;             /* room id -> fe_room (rooms.c) */
    struct hmap inflight;          /* request id -> fe_request in flight at a worker */
    struct fe_worker workers[FE_MAX_WORKERS];
    int n_workers;
    struct fe_request *ready_head, *ready_tail; /* waiting for worker credit */
    int ready_len;
    uint64_t next_request_id, next_session_id;
    struct fe_request *retry_head; /* store jobs that must not be lost, waiting to retry */
    struct hmap policies;          /* hash(user) -> cached policy (sip.c) */
    char state[16];                /* "active" or "draining" (set by the operator) */
    char address[80];              /* sip_address:sip_port, for status reports */
    int64_t last_report;           /* mono µs of the last node status report */
    struct metrics_server *metrics;
    int out_total;                 /* outbound INFOs queued over all sessions */
    int session_queued;            /* requests waiting in session queues */
    bool overloaded;               /* admission control is shedding (admit.c) */
    int64_t overload_since, calm_since;
    uint64_t overload_episodes;
    /* delivery delay over the current 100 ms tick (admit.c) */
    uint32_t tick_delivered, tick_late_high, tick_late_post;
    bool delivery_late_high, delivery_late_post;
    double delivery_rate;          /* server INFOs answered per second (smoothed) */
    double dispatch_rate;          /* requests sent to workers per second (smoothed) */
    uint32_t tick_dispatched;
    int64_t last_admit_tick;
    int64_t loop_lag;              /* how late the last janitor tick ran, µs */
    struct fe_stats stats;
};

/* sip.c */
void fe_nua_callback(nua_event_t event, int status, char const *phrase, nua_t *nua,
                     struct fe *fe, nua_handle_t *nh, struct fe_session *s,
                     sip_t const *sip, tagi_t tags[]);

/* sip.c */
/* The store answered a policy request (status 200 enabled, 403 disabled, else unknown). */
void sip_policy_answered(struct fe *fe, struct fe_request *r, int status);
void sip_pending_free(struct fe_pending_sip *p);
void sip_janitor(struct fe *fe);

/* session.c */
struct fe_session *session_new(struct fe *fe, nua_handle_t *nh, enum session_role role,
                               const char *user, const char *ua, const char *service);
struct fe_session *session_get(struct fe *fe, uint64_t id);
/* The dialog is over (BYE, 481 sent, transport failure, expiry): stop traffic, leave rooms. */
void session_end(struct fe *fe, struct fe_session *s, const char *why);
/* Queue one XCCOS document for delivery as INFO; cuts a session whose queue is full. */
void session_send(struct fe *fe, struct fe_session *s, const void *doc, size_t len);
void session_info_answered(struct fe *fe, struct fe_session *s, int status);
/* The client's first request in the dialog tells the headers of ours (see fe_dialog). */
void session_learn_dialog(struct fe_session *s, sip_t const *sip);
void session_joined(struct fe *fe, struct fe_session *s, uint64_t room_id, uint64_t seq,
                    const char *room_uri);
void session_parted(struct fe *fe, struct fe_session *s, uint64_t room_id);
struct fe_session_room *session_room(struct fe_session *s, uint64_t room_id);
/* Free a session that is ended and has nothing left in flight. */
void session_release_if_done(struct fe *fe, struct fe_session *s);
void sessions_janitor(struct fe *fe);

/* info.c */
/* An INFO through the SIP stack. */
void info_received(struct fe *fe, nua_handle_t *nh, struct fe_session *s, sip_t const *sip);
/* The XCCOS body of an INFO of session s, however it came; `ans` says where the answer goes
 * (taken over). */
void info_handle(struct fe *fe, struct fe_session *s, const char *body, size_t len,
                 struct fe_answer *ans);
/* Send the final answer of an INFO and release what `ans` holds. */
void answer_send(struct fe *fe, struct fe_session *s, struct fe_answer *ans, int status,
                 const char *reason, int retry_after);

/* router.c */
int router_open(struct fe *fe);
void router_close(struct fe *fe);
struct fe_request *request_new(struct fe *fe, enum req_purpose purpose, uint64_t session_id);
void request_free(struct fe_request *r);
/* Queue a request: session requests go one at a time per session, in order. */
void router_submit(struct fe *fe, struct fe_request *r);
void router_drain(struct fe *fe);      /* read everything the ROUTER has (budgeted) */
void router_janitor(struct fe *fe);    /* heartbeats, dead workers, deadlines */
int router_live_workers(const struct fe *fe);
/* Answer a held INFO (posts) and forget the saved event. */
void request_answer(struct fe *fe, struct fe_request *r, int status, const char *reason,
                    int retry_after);

/* rooms.c */
int rooms_open(struct fe *fe);
void rooms_close(struct fe *fe);
void rooms_drain(struct fe *fe);
/* A session entered / left a room. */
void rooms_add_session(struct fe *fe, struct fe_session *s, uint64_t room_id, uint64_t seq);
void rooms_remove_session(struct fe *fe, struct fe_session *s, uint64_t room_id);
/* Events fetched from a worker (gap repair). */
void rooms_fetched(struct fe *fe, uint64_t room_id, Pchat__RoomEvent **events, size_t n);
void rooms_janitor(struct fe *fe);
/* An event told directly by an operator tool (pchatctl) rather than published. */
void rooms_notice(struct fe *fe, const Pchat__RoomEvent *ev);

/* stats.c: /metrics and /healthz */
int stats_open(struct fe *fe);
void stats_close(struct fe *fe);
void stats_tick(struct fe *fe);
const char *xcmd_name(enum xccos_cmd_id cmd);

/* admit.c */
enum admit_verdict { ADMIT_ACCEPT, ADMIT_REJECT };
enum admit_verdict admit_decide(struct fe *fe, struct fe_session *s, enum xccos_cmd_id cmd);
bool admit_overloaded(struct fe *fe);
/* A server INFO was answered `lag_us` after it was queued. */
void admit_delivered(struct fe *fe, int64_t lag_us);
/* Every janitor tick: turn the tick's delivery delays into the overload signals. */
void admit_tick(struct fe *fe);
int admit_retry_after(struct fe *fe);

/* zmq_su.c: ZeroMQ sockets inside su_root */
int zmq_su_register(struct fe *fe, void *sock, void (*drain)(struct fe *));
void zmq_su_unregister(struct fe *fe, int idx);
/* Called by a drain that stopped on its budget: run the drains again in 0 ms. */
void zmq_su_rearm(struct fe *fe);

#endif
