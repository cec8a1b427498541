/* ch.h — the channel worker's state and the functions its files offer each other.
 *
 * A worker is stateless between requests: it takes a request from a front end's ROUTER,
 * runs it against the Persistent Chat Store in one transaction, publishes the room events
 * that transaction created, and replies. Its loop is one zmq_poll over its DEALERs. */
#ifndef PCHAT_CH_H
#define PCHAT_CH_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <zmq.h>

#include "pq.h"

#include "config.h"
#include "hmap.h"
#include "metrics.h"
#include "pchat.pb-c.h"
#include "sbuf.h"
#include "xccos.h"

#define CH_SCHEMA_VERSION 3

/* One front end this worker serves. */
struct ch_link {
    const struct config_frontend_ref *ref;
    void *dealer;
    bool welcomed;              /* the front end answered our Hello */
    int64_t last_heard;         /* mono µs */
    int64_t last_sent;          /* mono µs of the last Hello/Heartbeat */
    char frontend_id[64];       /* from its Welcome */
};

/* A request waiting in this worker, with the link it came from. */
struct ch_job {
    struct ch_job *next;
    int link;
    int64_t received;           /* mono µs */
    Pchat__ToWorker *msg;
};

#define CH_KINDS 6   /* Request kinds, for metrics */

struct ch_stats {
    uint64_t by_kind[CH_KINDS][3];   /* ok, refused (4xx), failed (5xx) */
    uint64_t posts, published, reconnects;
    struct histogram latency, wait;
};

struct ch {
    struct pchat_config *cfg;
    char id[96];
    void *zctx;
    void *pub;
    struct ch_link links[CONFIG_MAX_FRONTENDS];
    int n_links;
    struct ch_job *jobs_head, *jobs_tail;
    int n_jobs;
    PGconn *db;
    int64_t db_retry_at;        /* mono µs of the next reconnect attempt */
    struct hmap user_ids;       /* hash of user URI -> user id (cache; ids never change) */
    bool stopping;
    uint64_t served, failed;
    struct ch_stats stats;
    struct metrics_server *metrics;
    int64_t next_reap;          /* mono µs */
};

/* What one request produces: a reply and the events to publish once committed. */
struct ch_result {
    Pchat__Reply reply;
    /* owned copies of everything the reply points to */
    ProtobufCBinaryData docs[128];
    size_t n_docs;
    Pchat__RoomJoined joined_store[64];
    Pchat__RoomJoined *joined_ptrs[64];
    size_t n_joined;
    uint64_t parted[64];
    size_t n_parted;
    Pchat__RoomEvent *events[256];   /* published after commit, also returned by FETCH */
    size_t n_events;
    bool events_in_reply;            /* FETCH_RANGE: events go in the reply, not on PUB */
};

/* A request as the handlers see it. */
struct ch_req {
    struct ch *ch;
    const Pchat__Request *rq;
    struct xccos_cmd *cmd;           /* parsed XCCOS (kind XCCOS), else NULL */
    int64_t user_id;                 /* the caller, resolved lazily by store_user_id */
    char request_key[160];           /* frontend:incarnation:request id */
    struct ch_result *res;
    size_t tx_mark;                  /* events recorded before the open transaction */
};

/* transactions (dispatch.c): events recorded inside a transaction that rolls back are
   dropped with it */
bool tx_begin(struct ch_req *r);
bool tx_commit(struct ch_req *r);
void tx_abort(struct ch_req *r);
/* A statement failed: roll back and answer 503 (store gone) or 500. */
void fail_store(struct ch_req *r, const char *what);
/* int64 as a text parameter */
const char *i64(char buf[24], int64_t v);

/* db.c */
int db_ensure(struct ch *ch);        /* connected and prepared, or -1 */
void db_drop(struct ch *ch);
PGresult *db_run(struct ch *ch, const char *stmt, int n, const char *const *params);

/* link.c */
int links_open(struct ch *ch);
void links_close(struct ch *ch);
void links_poll_in(struct ch *ch, int timeout_ms);
void links_tick(struct ch *ch);
void link_reply(struct ch *ch, int link, Pchat__Reply *reply);
void publish_event(struct ch *ch, const Pchat__RoomEvent *ev);

/* stats.c */
int stats_open(struct ch *ch);
void stats_close(struct ch *ch);
int stats_poll_items(struct ch *ch, zmq_pollitem_t *items, int max);
void stats_handle(struct ch *ch, const zmq_pollitem_t *items, int n);

/* dispatch.c */
void job_run(struct ch *ch, struct ch_job *job);

/* result helpers (result.c) */
void result_init(struct ch_result *res, const Pchat__Request *rq);
void result_free(struct ch_result *res);
/* Free an event built by result_event (all its fields are owned). */
void event_free(Pchat__RoomEvent *ev);
void result_doc(struct ch_result *res, const struct sbuf *b);
void result_joined(struct ch_result *res, uint64_t room_id, uint64_t seq, const char *uri);
void result_parted(struct ch_result *res, uint64_t room_id);
/* Record an event (the result takes ownership of a copy of `doc`). */
Pchat__RoomEvent *result_event(struct ch_result *res, uint64_t room_id, uint64_t seq,
                               Pchat__RoomEvent__Kind kind, const struct sbuf *doc);
/* Render an XCCOS error reply to the caller's command. */
void result_error(struct ch_req *r, int code, const char *sentence);
/* For posts: the SIP status of the held INFO. */
void result_sip(struct ch_result *res, int status, const char *reason);
uint64_t envid_new(void);

/* rooms.c: room lookup, rights, URIs */
struct room_row {
    int64_t id;
    int64_t category_id;
    char guid[40];
    char uri[320];
    char *name, *description, *topic;
    int privacy;                     /* 0 open, 1 closed, 2 secret */
    int type;                        /* 0 normal, 1 auditorium */
    bool disabled;
    bool chat_history, file_upload, invitations;
};
/* Look a room up by the path of its ma-chan URI (a GUID). 0 found, 1 not found, -1 error. */
int room_by_path(struct ch_req *r, const char *domain, const char *path, struct room_row *out);
/* The GUID (lower-case) of a room URI or path of this pool's domain; -1 if malformed. */
int room_guid(const struct ch *ch, const char *domain, const char *path, char guid[40]);
int room_guid_of_uri(const struct ch *ch, const char *uri, char guid[40]);
int room_by_uri(struct ch_req *r, const char *uri, struct room_row *out);
int room_by_id(struct ch_req *r, int64_t id, struct room_row *out);
void room_row_free(struct room_row *row);
void room_uri(const struct ch *ch, const char *guid, char *out, size_t outlen);
/* The caller's standing in a room: roles as a bit set (1 member, 2 manager, 4 presenter)
 * and whether the room's category has the caller in scope. -1 on error. */
int room_rights(struct ch_req *r, const struct room_row *room, bool *in_scope);
#define ROLE_MEMBER 1
#define ROLE_MANAGER 2
#define ROLE_PRESENTER 4
/* Next value of the room's event sequence, in the current transaction (locks the room). */
int64_t room_next_seq(struct ch_req *r, int64_t room_id);
int64_t user_id(struct ch_req *r, const char *uri);   /* creates the user; -1 on error */
int outbox(struct ch_req *r, const char *type, const char *user_uri, const struct room_row *room,
           int64_t message_id, const char *content);

/* command handlers */
void cmd_requri(struct ch_req *r);
void cmd_getserverinfo(struct ch_req *r);
void cmd_getinv(struct ch_req *r);
void cmd_chansrch(struct ch_req *r);
void cmd_getassociations(struct ch_req *r);
void cmd_join(struct ch_req *r);            /* join and bjoin */
void cmd_part(struct ch_req *r);
void cmd_bccontext(struct ch_req *r);
void cmd_post(struct ch_req *r);
void job_session_end(struct ch_req *r);
void job_frontend_reset(struct ch_req *r);
/* A front end stopped reporting (killed, host gone): its sessions leave their rooms. */
void job_frontend_gone(struct ch_req *r);

/* reaper.c */
void reaper_tick(struct ch *ch);
void job_fetch_range(struct ch_req *r);
void job_policy(struct ch_req *r);
void job_node_status(struct ch_req *r);
void cmd_getpref(struct ch_req *r);
void cmd_setpref(struct ch_req *r);
void cmd_follow(struct ch_req *r, bool follow);
void cmd_getparticipants(struct ch_req *r);

/* Errors from the store: true when the caller should answer "try again" (503). */
bool store_unavailable(struct ch *ch);

#endif
