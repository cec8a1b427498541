/* load.h — pchat-load's shared state: options, rooms and users, posts and the requests in
 * flight, and the measurements the report is made of. One process, one sipclient loop. */
#ifndef PCHAT_LOAD_H
#define PCHAT_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "../sipclient/sipclient.h"

#define LOAD_MAX_FRONTENDS 16
#define LOAD_MAX_ROOM_SPECS 16
#define LOAD_MAX_PIDS 64
#define LOAD_MAX_SOURCES 254
#define LOAD_MAX_USERS 1000000
#define LOAD_MAX_STATUS_KINDS 16       /* distinct non-200 statuses kept per request kind */
#define LOAD_MAX_REASONS 8             /* distinct sign-in failure sentences kept */
#define LOAD_MAX_ROOMS_PER_USER 256     /* rooms the client library keeps open per user */
#define LOAD_NONE UINT32_MAX

/* ---- options (options.c) ------------------------------------------------------------------- */

enum arrivals { ARRIVALS_POISSON = 0, ARRIVALS_UNIFORM };

/* The kinds of request the tool sends. The first four are scheduled on the timetable. */
enum req_kind {
    RK_POST = 0, RK_JOIN, RK_HISTORY, RK_SEARCH,
    RK_PART,              /* the part before a scheduled re-join */
    RK_SETUP_JOIN,        /* joins of the set-up phase */
    RK__COUNT
};
#define RK_SCHEDULED 4

struct frontend_addr {
    char host[256];
    int port;
};

struct room_spec {
    int size, count;
};

struct load_opts {
    struct frontend_addr fe[LOAD_MAX_FRONTENDS];
    int n_fe;
    char domain[256];
    int users;
    int first_user;
    char user_prefix[64];
    struct room_spec rooms[LOAD_MAX_ROOM_SPECS];
    int n_rooms;
    char room_prefix[64];
    char setup_conninfo[1024];          /* "" : find the rooms with cmd:chansrch */
    double signin_rate;
    int signin_concurrency;
    int step_timeout_ms;
    int setup_timeout_s;
    uint32_t src_first, src_last;       /* host order; 0: kernel's choice, then 127.0.0.2.. */
    bool src_given;
    double duration_s;
    double rate[RK_SCHEDULED];          /* per second */
    enum arrivals arrivals;
    uint64_t seed;
    int post_size;
    int history_count;
    char search_criteria[256];
    bool no_retry;
    int max_retries;
    int retry_after_default_s;
    int timeout_ms;
    double drain_s;
    char user_agent[256];               /* "": depends on --no-retry */
    bool no_join_history;               /* no SIPE cmd:bccontext after every joined room */
    bool sofia_check;
    int pids[LOAD_MAX_PIDS];
    int n_pids;
    char pidfile_dir[512];
    char json_path[512];                /* "" none, "-" stdout */
    int progress;                       /* -1 auto (stderr is a terminal), 0, 1 */
    bool signout;
    int max_outstanding;
    char *argv_line;                    /* the command line, for the report */
};

/* Parse argv into o. Returns 0, 1 when --help was printed, or -1 with a sentence in err. */
int options_parse(struct load_opts *o, int argc, char **argv, char *err, size_t errlen);
void options_help(FILE *f);
void options_free(struct load_opts *o);
const char *req_kind_name(enum req_kind k);

/* ---- rooms and users (population.c) -------------------------------------------------------- */

enum member_state { MS_NONE = 0, MS_JOINING, MS_JOINED, MS_PARTING };

struct membership {
    uint32_t room;
    uint32_t slot;                 /* index in the room's member list (its delivery bit) */
    uint8_t state;                 /* enum member_state */
    int64_t stable_since_us;       /* joined without a break since; INT64_MAX when not joined */
    uint32_t chain_tail;           /* the user's latest-sent post in this room */
};

struct room {
    char name[96];
    char *uri;                     /* ma-chan://…, NULL until known */
    int size;
    uint32_t *members;             /* user indexes, size entries */
};

enum user_phase {
    UP_WAITING = 0,                /* not started yet */
    UP_SIGNING_IN,
    UP_JOINING,                    /* connected; set-up joins outstanding */
    UP_READY,
    UP_FAILED,
};

struct luser {
    struct sc_user *sc;
    uint32_t idx;
    uint8_t phase;                 /* enum user_phase */
    uint8_t fe;                    /* front end index */
    uint8_t in_action_ring;        /* a pending action is queued for this user */
    uint8_t action;                /* which one (enum user_action) */
    int16_t src;                   /* source address index; -1 kernel's choice */
    uint16_t n_rooms;
    uint16_t setup_pending;        /* set-up joins still unanswered */
    uint16_t connect_tries;
    struct membership *rooms;
    int64_t backoff_until[RK__COUNT];
    int64_t signin_start_us;
    uint32_t reqs;                 /* outstanding request slots (linked through next_of_user) */
    uint32_t reconnects;
};

/* ---- posts (deliveries.c) ------------------------------------------------------------------- */

enum post_state { PS_PENDING = 0, PS_ACCEPTED, PS_REJECTED, PS_TIMEOUT, PS_FAILED };

struct post {
    uint32_t author, room;
    uint32_t chain_prev, chain_next;   /* same author and room, in the order of last sending */
    uint64_t bits;                     /* offset of the room-sized delivery bitset */
    int64_t sent_us;                   /* the last attempt */
    int64_t intended_us;               /* where the timetable put it */
    uint16_t rejected_mask;            /* attempts answered 503 (bit = attempt) */
    uint8_t attempt;
    uint8_t state;                     /* enum post_state */
};

/* ---- requests in flight (requests.c) --------------------------------------------------------- */

struct req {
    uint32_t user;
    uint32_t cseq;
    uint32_t envid;
    uint32_t arg;                  /* post id, or the user's membership index */
    uint32_t next_of_user;
    uint32_t next_free;
    int64_t sent_us;
    int64_t intended_us;
    uint8_t kind;                  /* enum req_kind */
    uint8_t attempt;
    bool in_use;
    bool answered;                 /* a 200 came; a command now waits for its rpl */
    bool replied;                  /* the rpl came (it may overtake the 200) */
};

/* Retries and deferred requests: a min-heap by due time. */
struct timed {
    int64_t due_us;
    int64_t intended_us;
    uint32_t user;
    uint32_t arg;                  /* post id / membership index / LOAD_NONE */
    uint8_t kind;
    uint8_t attempt;
};

/* ---- measurements ----------------------------------------------------------------------------- */

struct status_count {
    int status;
    uint64_t n;
};

struct kind_stats {
    uint64_t offered;              /* events the timetable produced (scheduled kinds) */
    uint64_t skipped;              /* no signed-in user with a suitable room at that moment */
    uint64_t deferred;             /* waited for that user's Retry-After before going out */
    uint64_t dropped;              /* over --max-outstanding, or the run ended first */
    uint64_t sent;                 /* INFOs sent, retries included */
    uint64_t not_sent;             /* the client library refused (connection gone) */
    uint64_t accepted;             /* answered 200 */
    uint64_t rejected_503;
    uint64_t with_retry_after;     /* 503s that carried Retry-After */
    uint64_t retried;
    uint64_t gave_up;              /* 503 after --max-retries retries */
    uint64_t failed;               /* other final status, or 503 with --no-retry */
    uint64_t timeouts;             /* no final response within --timeout */
    uint64_t replies_ok, replies_error, reply_timeouts;
    struct status_count statuses[LOAD_MAX_STATUS_KINDS];      /* SIP final statuses but 200 */
    struct status_count reply_codes[LOAD_MAX_STATUS_KINDS];   /* rpl resp/@code but 200 */
    struct hist answer_us;         /* INFO sent -> final SIP response */
    struct hist reply_us;          /* INFO sent -> XCCOS rpl */
};

struct second {
    uint64_t offered, sent, accepted, rejected_503, timeouts, failed, retried;
    uint64_t deliveries, echoes;
};

struct delivery_stats {
    uint64_t received;             /* grpchat INFOs carrying one of our posts, all of them */
    uint64_t deliveries;           /* first arrival at a member other than the author */
    uint64_t echoes;               /* first arrival back at the author */
    uint64_t duplicates;
    uint64_t reordered;
    uint64_t not_owed;             /* arrived, but not owed: the member joined or left during the
                                      post's life, or the post was never answered 200 */
    uint64_t after_part;           /* arrived while the member was out of the room (after its
                                      rpl:part, or a failed join): SIPE drops these */
    uint64_t to_non_members;       /* to a user who is not a member of that room at all */
    uint64_t after_503;            /* an attempt the server answered 503 was delivered */
    uint64_t mismatched;           /* room or author of the delivery differ from the post */
    uint64_t foreign;              /* grpchat not sent by this run */
    uint64_t expected, expected_echoes, lost, echo_lost;  /* filled at the end */
    struct hist delivery_us;       /* post sent -> arrival at another member */
    struct hist echo_us;           /* post sent -> echo at the author */
};

struct proc_mem {
    long rss_kb, hwm_kb;           /* -1: not readable */
};

struct pool_proc {
    int pid;
    char name[64];
    struct proc_mem start, after_setup, end;
};

/* ---- the run ---------------------------------------------------------------------------------- */

enum user_action { UA_NONE = 0, UA_SETUP_JOINS, UA_RETRY_CONNECT, UA_REJOIN_ALL };

struct load {
    struct load_opts o;
    struct sc_loop *loop;
    uint64_t rng;

    struct room *rooms;
    int n_rooms;
    struct luser *users;
    int n_users;
    uint64_t memberships;

    /* source addresses: index -1 is the kernel's choice, 0.. are src_first + i */
    int src_current;
    int src_count;
    int src_used_max;

    /* sign-in */
    int signin_started, signin_in_flight, ready, signin_failed;
    int64_t setup_start_us, setup_end_us, signin_all_us;
    struct hist signin_us;
    uint64_t reason_count[LOAD_MAX_REASONS];   /* why users failed or were lost, by sentence */
    char reason_text[LOAD_MAX_REASONS][200];
    int n_reasons;
    uint64_t setup_join_failed;
    uint64_t rooms_found;
    bool discovering;              /* finding the rooms with cmd:chansrch (no --setup-rooms) */
    uint32_t discover_cseq;        /* the search in flight */
    int discover_status;           /* its SIP answer; 0 while none */
    int discover_retry_after;
    int discover_code;             /* its rpl's resp/@code; 0 while none */
    char discover_text[200];

    /* pending per-user actions (never sent from inside a client callback) */
    uint32_t *ring;
    int ring_head, ring_len, ring_cap;

    /* requests */
    struct req *reqs;
    uint32_t reqs_cap, reqs_hwm, free_req;
    uint32_t reqs_in_use;
    struct timed *heap;
    int heap_len, heap_cap;

    /* posts */
    struct post *posts;
    uint32_t n_posts, cap_posts;
    uint8_t *bits;
    uint64_t bits_len, bits_cap;
    char *post_text;               /* scratch of --post-size bytes */

    /* the run */
    bool running;                  /* the timetable is active */
    int64_t next_due_us;           /* the loop returns to the timetable at this time */
    int64_t last_delivery_us;
    bool drain_cut;                /* deliveries were still arriving when the drain ended:
                                      some "lost" ones may only be late */
    int64_t run_start_us, run_end_us, drain_end_us;
    double run_cpu_s, setup_cpu_s;
    struct second *series;
    int n_seconds;
    struct kind_stats ks[RK__COUNT];
    struct delivery_stats ds;
    struct hist lag_us;            /* how late the tool sent against its timetable */
    uint64_t reconnects, users_lost, unmatched_answers, unmatched_replies, ntc_seen;
    uint64_t violations, users_with_violations;
    char violation_samples[5][400];    /* "user: sentence" */
    char missing_replies[3][300];      /* commands answered 200 whose rpl never came */
    uint8_t missing_kind[3];
    int n_missing_replies;
    char violation_keys[5][64];        /* the sentence's start, to keep the samples distinct */
    int n_violation_samples;

    /* memory */
    struct pool_proc procs[LOAD_MAX_PIDS];
    int n_procs;
    struct proc_mem tool_end;
    double tool_user_s, tool_sys_s;
    char started_at[40];
    bool completed;
};

/* SIGINT/SIGTERM: the first ends the schedule early (the report still comes), the second
 * also cuts the drain short. */
extern volatile int load_interrupted;

/* random numbers (seeded by --seed, so a run's choices can be repeated) */
uint64_t load_rand(struct load *L);
double load_rand01(struct load *L);          /* (0, 1] */
uint32_t load_rand_below(struct load *L, uint32_t n);

/* population.c */
int population_build(struct load *L, char *err, size_t errlen);
void population_free(struct load *L);
void user_name(const struct load *L, uint32_t idx, char *out, size_t outlen);
int source_address(const struct load *L, int src, char *out, size_t outlen);

/* store_setup.c: rooms in the chat store (--setup-rooms) */
int store_setup_rooms(struct load *L, char *err, size_t errlen);

/* signin.c: the set-up phase */
int signin_phase(struct load *L, char *err, size_t errlen);
void action_push(struct load *L, uint32_t user, enum user_action a);
void actions_run(struct load *L);
void on_client_event(struct sc_user *u, const struct sc_event *ev, void *arg);
void user_state_changed(struct load *L, struct luser *lu, const struct sc_event *ev);
void setup_join_done(struct load *L, struct luser *lu);
/* Run the client loop until due_us, a pending action, or at most 100 ms. */
void loop_turn(struct load *L, int64_t due_us);

/* requests.c */
int requests_init(struct load *L);
void requests_free(struct load *L);
/* Send one request now; returns true when it went out. */
bool request_send(struct load *L, uint32_t user, enum req_kind k, uint32_t arg, int attempt,
                  int64_t intended_us);
void request_on_answer(struct load *L, struct luser *lu, const struct sc_event *ev);
void request_on_reply(struct load *L, struct luser *lu, const struct sc_event *ev);
void requests_sweep(struct load *L, int64_t now);     /* reply timeouts */
void requests_abandon_user(struct load *L, struct luser *lu);
void timed_push(struct load *L, const struct timed *t);
void timed_run_due(struct load *L, int64_t now);
int64_t timed_next_due(const struct load *L);
void count_status(struct status_count *list, int status);
int backoff_class(enum req_kind k);      /* the scheduled kind whose Retry-After applies */
struct second *second_at(struct load *L, int64_t at_us);

/* schedule.c: the open-loop timetable */
int run_phase(struct load *L);

/* deliveries.c */
uint32_t post_new(struct load *L, uint32_t author, uint32_t membership, int64_t intended_us);
void post_sent(struct load *L, uint32_t post_id, uint32_t membership, int attempt);
int post_text(struct load *L, uint32_t post_id, char *out, size_t outlen);
void delivery_received(struct load *L, struct luser *lu, const struct sc_event *ev);
void deliveries_account(struct load *L);
void deliveries_free(struct load *L);
int membership_find(const struct luser *lu, uint32_t room);
void membership_break(struct load *L, struct luser *lu);

/* procmem.c */
void proc_mem_read(int pid, struct proc_mem *m);
int procs_collect(struct load *L, char *err, size_t errlen);
void procs_sample(struct load *L, int which);        /* 0 start, 1 after set-up, 2 end */
void tool_cpu(double *user_s, double *sys_s);
int raise_nofile(int want, char *msg, size_t msglen);

/* report.c, report_json.c */
void report_human(const struct load *L, FILE *f);
int report_json(const struct load *L, const char *path, char *err, size_t errlen);

#endif
