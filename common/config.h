/* config.h — the node's YAML configuration, loaded through one typed table (config.c).
 *
 * One file per node, one section per role; every key has a type, a default and a range.
 * An unknown key, a wrong type or an out-of-range value stops start-up with
 * "<file>:<line>: <sentence naming the key, the rule and the value>".
 * Every process loads (and so validates) the whole file, and reads the sections it needs. */
#ifndef PCHAT_CONFIG_H
#define PCHAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_FRONTENDS 32
#define CONFIG_MAX_AGENTS 16
#define CONFIG_MAX_ADAPTERS 8
#define CONFIG_MAX_ADAPTER_OPTIONS 16
#define CONFIG_ERR_LEN 512

/* One front end as seen by a channel worker (channel.frontends list entry). */
struct config_frontend_ref {
    char *id;        /* informational; the front end announces its own id */
    char *router;    /* ZeroMQ endpoint of its ROUTER (requests), e.g. tcp://127.0.0.1:5570 */
    char *events;    /* ZeroMQ endpoint of its SUB (room events), e.g. tcp://127.0.0.1:5571 */
};

/* One compliance adapter instance (compliance.adapters list entry; issue 5 extends it). */
struct config_adapter {
    char *name;      /* instance name, unique */
    char *type;      /* "xml", "jsonl" or a path/name of a .so */
    char *output_dir;
    bool one_room_per_file;
    bool add_room_details;
    bool add_user_details;
    /* compliance.adapters[].options: free-form `key: scalar` pairs handed to the adapter's
       init as its own section (at most CONFIG_MAX_ADAPTER_OPTIONS) */
    struct { char *key; char *value; } options[CONFIG_MAX_ADAPTER_OPTIONS];
    int n_options;
};

struct pchat_config {
    char *path;                        /* file it was loaded from */

    struct {
        char *domain;                  /* pool.domain: SIP domain served (example.com) */
        char *lookup_uri;              /* pool.lookup_uri: provisioned DefaultPersistentChatPoolUri;
                                          default sip:pchat@<domain> */
        char *channel_uri;             /* pool.channel_uri: returned by cmd:requri;
                                          default sip:pchat-chan@<domain> */
    } pool;

    struct {
        char *level;                   /* log.level: debug|info|warn|error (info) */
    } log;

    struct {
        char *pchat;                   /* database.pchat: libpq conninfo of the chat store */
        char *mgccomp;                 /* database.mgccomp: libpq conninfo of the compliance store */
        int connect_timeout_s;         /* database.connect_timeout_s: 1..60 (5) */
        int statement_timeout_ms;      /* database.statement_timeout_ms: 100..600000 (5000) */
    } database;

    struct {
        char *mode;                    /* auth.mode: "none" (anyone signs in as anyone) */
    } auth;

    struct {
        char *id;                      /* frontend.id: node name, unique in the pool (fe1) */
        char *sip_address;             /* frontend.sip_address: listen address (127.0.0.1) */
        int sip_port;                  /* frontend.sip_port: 1..65535 (5060) */
        bool sip_udp;                  /* frontend.sip_udp: also listen on UDP (true) */
        char *router;                  /* frontend.router: ZeroMQ ROUTER bind (tcp://127.0.0.1:5570) */
        char *events;                  /* frontend.events: ZeroMQ SUB bind (tcp://127.0.0.1:5571) */
        int register_expires_s;        /* frontend.register_expires_s: 60..86400 (3600) */
        int session_expires_s;         /* frontend.session_expires_s: 90..86400 (300) */
        int keepalive_s;               /* frontend.keepalive_s: ms-keep-alive timeout 10..3600 (300) */
        int max_sessions;              /* frontend.max_sessions: 1..1000000 (50000) */
        int max_body_bytes;            /* frontend.max_body_bytes: 1024..1048576 (65536) */
        int queue_max;                 /* frontend.queue_max: requests waiting for worker
                                          credit, 1..1000000 (2000) */
        int request_timeout_ms;        /* frontend.request_timeout_ms: 100..120000 (5000) */
        int retry_after_min_s;         /* frontend.retry_after_min_s: 1..3600 (2) */
        int retry_after_max_s;         /* frontend.retry_after_max_s: 1..3600 (10), >= min */
        char *non_retrying_agents[CONFIG_MAX_AGENTS]; /* frontend.non_retrying_agents: list of
                                          User-Agent substrings of clients that ignore 503
                                          (default ["Sipe/"]) */
        int n_non_retrying_agents;
        int session_queue_max;         /* frontend.session_queue_max: outbound INFOs queued per
                                          session before it is cut, 4..100000 (1000) */
        int heartbeat_ms;              /* frontend.heartbeat_ms: 100..60000 (1000) */
        int worker_timeout_ms;         /* frontend.worker_timeout_ms: silence after which a worker
                                          is dead, 300..600000 (3000), > heartbeat_ms */
        int metrics_port;              /* frontend.metrics_port: 0 = off, 1..65535 (0) */
        /* admission control (DESIGN.md §3, docs/overload.md) */
        int admit_delay_high_ms;       /* frontend.admit_delay_high_ms: queue delay that starts
                                          shedding, 1..60000 (50) */
        int admit_delay_low_ms;        /* frontend.admit_delay_low_ms: queue delay below which
                                          shedding stops, 0..60000 (20), < high */
        int admit_hold_ms;             /* frontend.admit_hold_ms: how long it must stay below
                                          low before shedding stops, 0..60000 (500) */
        int admit_post_delay_ms;       /* frontend.admit_post_delay_ms: queue delay (or delivery
                                          delay of one INFO in ten) at which posts are shed too,
                                          1..120000 (150) */
        int outbound_high;             /* frontend.outbound_high: server INFOs queued over all
                                          sessions that count as overload, 100..10000000 (20000) */
        int admit_delivery_high_ms;    /* frontend.admit_delivery_high_ms: when more than one in
                                          ten server INFOs takes longer than this from queueing to
                                          the client's 200, the node is overloaded, 1..60000 (50) */
    } frontend;

    struct {
        struct config_frontend_ref frontends[CONFIG_MAX_FRONTENDS]; /* channel.frontends */
        int n_frontends;
        int credit;                    /* channel.credit: pipeline depth granted to each front
                                          end, 1..1024 (16) */
        int heartbeat_ms;              /* channel.heartbeat_ms: 100..60000 (1000) */
        int frontend_timeout_ms;       /* channel.frontend_timeout_ms: 300..600000 (3000) */
        int metrics_port;              /* channel.metrics_port: 0 = off (0) */
    } channel;

    struct {
        int history_on_join;           /* chat.history_on_join: 1..500 (30) */
        int max_message_bytes;         /* chat.max_message_bytes: 16..1048576 (8192) */
        int search_limit;              /* chat.search_limit: 1..10000 (999) */
        int participant_update_limit;  /* chat.participant_update_limit: 0..100000 (75) */
        char *demo_room;               /* chat.demo_room: name of the open demo room that
                                          deploy/run-pool.sh creates ("" = none) */
    } chat;

    struct {
        bool enabled;                  /* compliance.enabled (false) */
        int run_interval_s;            /* compliance.run_interval_s: 1..2592000 (900) */
        int batch_size;                /* compliance.batch_size: 1..100000 (500) */
        char *adapter_dir;             /* compliance.adapter_dir: where <type>.so are looked up */
        struct config_adapter adapters[CONFIG_MAX_ADAPTERS]; /* compliance.adapters */
        int n_adapters;
        int metrics_port;              /* compliance.metrics_port (0) */
    } compliance;
};

/* Fill every key with its default. */
void config_defaults(struct pchat_config *cfg);

/* Load `path` over the defaults. Returns 0, or -1 with `err` = "path:line: message". */
int config_load(const char *path, struct pchat_config *cfg, char *err, size_t errlen);

/* Override one key from the command line ("frontend.sip_port", "5062"); same checks as the
 * file. Returns 0, or -1 with err = "--set frontend.sip_port: message". */
int config_set(struct pchat_config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Checks across keys (retry_after_min <= max, derived URIs); called by config_load and
 * after --set overrides. Returns 0 or -1 with err. */
int config_finish(struct pchat_config *cfg, char *err, size_t errlen);

void config_free(struct pchat_config *cfg);

/* Print every key and its current value as YAML (for --print-config). */
void config_dump(const struct pchat_config *cfg, FILE *out);

#endif
