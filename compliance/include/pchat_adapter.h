/* pchat_adapter.h — the compliance adapter ABI: the one symbol an adapter .so exports and the
 * data pchat-compliance hands it. A third-party adapter needs only this header (and, if it
 * likes, the header-only helpers in pchat_adapter_util.h); it never links against pchat.
 *
 * Life of an adapter instance (one entry of compliance.adapters in the YAML config):
 *
 *   1. pchat-compliance dlopen()s <compliance.adapter_dir>/<type>.so (or the path given as
 *      `type`), looks up PCHAT_ADAPTER_CREATE_SYMBOL and calls it. The returned table must
 *      carry abi_version == PCHAT_ADAPTER_ABI_VERSION, or start-up stops with an error naming
 *      both versions. Several instances may share one .so: `create` returns a constant table,
 *      per-instance data lives in the `state` that init allocates.
 *   2. init(host, config, &state, err): config is the instance's own section of the YAML file,
 *      already parsed. Reject what you cannot use (unknown option, missing output_dir) by
 *      returning non-zero with a sentence in err; start-up then stops and prints it.
 *   3. translate(state, batch, err), called from the service's single thread every
 *      compliance.run_interval_s while there are new events, one batch at a time. Return 0
 *      once the batch is durably stored (files renamed into place, rows committed, request
 *      acknowledged); non-zero with a sentence in err to have the same batch retried later,
 *      with back-off. Do not keep pointers into the batch after returning.
 *   4. shutdown(state) before the process exits normally (it may also just be killed).
 *
 * EXACTLY ONCE. pchat-compliance fixes each batch's events and id in its database before the
 * first translate call, so a batch is always the same set of events under the same id.
 * After a crash or a failure the same batch comes again (batch->attempt > 1). An adapter
 * that makes its output idempotent per batch id (a file named after the batch and written
 * by rename, a primary key on the batch or event id at the receiver, the batch id as an
 * idempotency key of an HTTP call) therefore stores every event exactly once. See
 * docs/compliance.md, "Why exactly once".
 *
 * Strings are UTF-8 and NUL-terminated; pointers stay valid only during the call that
 * receives them. The struct layouts below are ABI version 1: any change to them, or to the
 * meaning of a field, is a new PCHAT_ADAPTER_ABI_VERSION. */
#ifndef PCHAT_ADAPTER_H
#define PCHAT_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PCHAT_ADAPTER_ABI_VERSION 1u
#define PCHAT_ADAPTER_CREATE_SYMBOL "pchat_adapter_create"

/* Event types. Operator actions are ADMIN_*; an adapter should pass unknown types through. */
#define PCHAT_EVENT_JOIN "JOIN"                 /* user entered a room */
#define PCHAT_EVENT_PART "PART"                 /* user left a room */
#define PCHAT_EVENT_CHAT "CHAT"                 /* user posted; content = the text */
#define PCHAT_EVENT_BACKCHAT "BACKCHAT"         /* user read history; content = what was asked */
#define PCHAT_EVENT_FILEUPLOAD "FILEUPLOAD"     /* content = the file name */
#define PCHAT_EVENT_FILEDOWNLOAD "FILEDOWNLOAD" /* content = the file name */
#define PCHAT_EVENT_ADMIN_ROOM_CLEARED "ADMIN_ROOM_CLEARED"
#define PCHAT_EVENT_ADMIN_MESSAGE_REMOVED "ADMIN_MESSAGE_REMOVED"   /* message_id = the post */
#define PCHAT_EVENT_ADMIN_MESSAGE_REPLACED "ADMIN_MESSAGE_REPLACED" /* content = new text */
#define PCHAT_EVENT_ADMIN_MEMBERSHIP_CHANGED "ADMIN_MEMBERSHIP_CHANGED" /* content = what changed */

enum pchat_adapter_log_level {
    PCHAT_ADAPTER_LOG_DEBUG = 0,
    PCHAT_ADAPTER_LOG_INFO = 1,
    PCHAT_ADAPTER_LOG_WARN = 2,
    PCHAT_ADAPTER_LOG_ERROR = 3,
};

/* What the service offers an adapter. Use log() instead of writing to stderr yourself, so
 * the line carries the service's timestamp, pid and the adapter instance name. */
struct pchat_adapter_host {
    unsigned abi_version;    /* the service's PCHAT_ADAPTER_ABI_VERSION */
    void *ctx;               /* pass back to log() */
    void (*log)(void *ctx, enum pchat_adapter_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
};

/* compliance.adapters[].options: free-form `key: value` pairs, values as written in YAML. */
struct pchat_adapter_option {
    const char *key;
    const char *value;
};

/* The instance's own section of the YAML config. */
struct pchat_adapter_config {
    const char *instance;          /* compliance.adapters[].name: unique, [A-Za-z0-9._-] */
    const char *type;              /* compliance.adapters[].type as written */
    const char *output_dir;        /* compliance.adapters[].output_dir ("" when unset) */
    int one_room_per_file;         /* 1: one output unit per room (OneChatRoomPerOutputFile) */
    int add_room_details;          /* 1: add category, description, privacy, type of the room */
    int add_user_details;          /* 1: add the user's e-mail address and chat store id */
    const struct pchat_adapter_option *options;
    size_t n_options;
    const char *pool_domain;       /* pool.domain: users of this SIP domain are internal */
};

struct pchat_adapter_user {
    const char *uri;               /* SIP URI, "sip:alice@example.com"; never NULL */
    const char *display_name;      /* NULL when the chat store does not know one */
    int64_t id;                    /* chat store user id; 0 when the user is not in the store */
    int internal;                  /* 1: of pool_domain; 0: federated */
};

/* Room fields other than uri and name are filled only when known (add_room_details or not,
 * the service always captures them; an adapter decides whether to write them). */
struct pchat_adapter_room {
    const char *uri;               /* "ma-chan://example.com/<guid>"; "" for pool-wide events */
    const char *name;              /* "" when unknown */
    const char *category;          /* NULL when unknown */
    const char *description;       /* NULL when unknown */
    int privacy;                   /* 0 open, 1 closed, 2 secret; -1 unknown */
    int type;                      /* 0 normal, 1 auditorium; -1 unknown */
};

struct pchat_adapter_event {
    const char *event_id;          /* UUID text, unique for all time */
    const char *type;              /* PCHAT_EVENT_* */
    int64_t time_us;               /* when it happened: microseconds since 1970-01-01 UTC */
    int64_t seq;                   /* the compliance store's sequence number (grows with time) */
    struct pchat_adapter_user user;
    int64_t message_id;            /* the post it concerns (CHAT, ADMIN_MESSAGE_*); 0 = none */
    const char *content;           /* text, file name, description; NULL for JOIN/PART */
};

/* The events of one room in one batch, oldest first (ties broken by seq). */
struct pchat_adapter_conversation {
    struct pchat_adapter_room room;
    const struct pchat_adapter_event *events;
    size_t n_events;               /* >= 1 */
    int64_t start_us;              /* time of the first event */
    int64_t end_us;                /* time of the last event */
};

struct pchat_adapter_batch {
    const char *id;                /* "<instance>-<number, 12 digits>": same on every attempt */
    uint64_t number;               /* 1, 2, 3 ... per instance, never reused */
    int64_t formed_us;             /* when the batch was fixed: same on every attempt, so it may
                                      go into output names */
    unsigned attempt;              /* 1 the first time; more after a crash or a failure */
    const struct pchat_adapter_conversation *conversations; /* sorted by room uri (bytewise) */
    size_t n_conversations;
    size_t n_events;               /* sum over conversations */
};

struct pchat_adapter {
    unsigned abi_version;          /* PCHAT_ADAPTER_ABI_VERSION the adapter was compiled with */
    const char *name;              /* short name for logs, e.g. "xml" */
    const char *description;       /* one line for --check-config and the docs */
    int (*init)(const struct pchat_adapter_host *host, const struct pchat_adapter_config *config,
                void **state, char *err, size_t errlen);
    int (*translate)(void *state, const struct pchat_adapter_batch *batch, char *err,
                     size_t errlen);
    void (*shutdown)(void *state);
};

typedef const struct pchat_adapter *(*pchat_adapter_create_fn)(void);

/* Exported even when the adapter is built with -fvisibility=hidden (a good idea: nothing else
 * of the adapter should leak into the service's symbol space). */
#define PCHAT_ADAPTER_EXPORT __attribute__((visibility("default")))

/* The one symbol an adapter exports. It returns a table with static storage duration. */
PCHAT_ADAPTER_EXPORT const struct pchat_adapter *pchat_adapter_create(void);

#ifdef __cplusplus
}
#endif

#endif
