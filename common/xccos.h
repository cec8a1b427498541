/* xccos.h — XCCOS commands (client → server) decoded into a struct, and every reply, notice
 * and post the server sends rendered as one whole <xccos> document.
 *
 * Wire reference: shared xccos/PROTOCOL.md §3. Parsing goes through xdoc (hardened expat);
 * every renderer writes exactly one rpl, ntc or grpchat per envelope (PROTOCOL §5 #19). */
#ifndef PCHAT_XCCOS_H
#define PCHAT_XCCOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "xdoc.h"

#define XCCOS_NS "urn:parlano:xml:ns:xccos"
#define XCCOS_AIB_MEMBER 3984    /* aib key for ordinary members (SIPE's guess, PROTOCOL §3.4.4) */
#define XCCOS_AIB_MANAGER 12276  /* aib key SIPE shows as channel operator */

enum xccos_cmd_id {
    XCMD_UNKNOWN = 0,          /* well-formed command with an id we do not implement */
    XCMD_REQURI,
    XCMD_GETSERVERINFO,
    XCMD_GETASSOCIATIONS,
    XCMD_JOIN,
    XCMD_BJOIN,
    XCMD_PART,
    XCMD_BCCONTEXT,
    XCMD_CHANSRCH,
    XCMD_GETINV,
    XCMD_GRPCHAT,              /* a post: <grpchat> directly under <xccos> */
};

enum xccos_bcq { XCCOS_BCQ_LAST = 0, XCCOS_BCQ_BEFORE, XCCOS_BCQ_AFTER };

struct xccos_chanid {
    const char *key;           /* index as sent ("0", "1", ...) */
    const char *domain;
    const char *value;         /* room path; room URI = ma-chan://<domain>/<value> */
};

#define XCCOS_MAX_CHANIDS 64   /* bjoin with more rooms is refused with 413 */

/* A decoded client document. Every string points into `doc` (owned; freed by
 * xccos_cmd_free) and is never NULL unless documented. */
struct xccos_cmd {
    enum xccos_cmd_id cmd;
    const char *id;            /* id attribute as sent: "cmd:join", "grpchat", "cmd:frob" */
    const char *seqid;         /* as sent, "1" when absent */
    const char *envid;         /* envid of the <xccos> root, "" when absent */

    /* cmd:join, cmd:bjoin */
    struct xccos_chanid chanids[XCCOS_MAX_CHANIDS];
    int n_chanids;

    /* cmd:part and cmd:bccontext: data/chanib/@uri; grpchat: @chanUri. NULL for others. */
    const char *chan_uri;

    /* cmd:bccontext: <bcq><last cnt="25"/></bcq>, or <before cnt msgid/>, <after cnt msgid/> */
    enum xccos_bcq bcq;
    int bcq_cnt;               /* as sent; the caller clamps it */
    const char *bcq_msgid;     /* before/after: the message id; NULL for last */

    /* cmd:chansrch: <qib qtype="BYNAME" criteria="" extended="false"/> */
    const char *qtype;         /* "BYNAME", "BYDESC", ...; "BYNAME" when absent */
    const char *criteria;      /* "" = every visible room */
    bool extended;

    /* grpchat */
    const char *author;        /* as sent; never trusted, the server knows the user */
    const char *ts;            /* as sent, may be "" */
    const char *text;          /* text of <chat>, entity-decoded */
    size_t text_len;

    /* cmd:getinv: <inv inviteId="1" domain="example.com"/> (both may be NULL) */
    const char *inv_id;
    const char *inv_domain;

    /* cmd:getserverinfo: <sib domain="..." infoType="..."/> (both may be NULL) */
    const char *sib_domain;
    const char *sib_info_type;

    struct xdoc *doc;
};

enum xccos_err {
    XCCOS_OK = 0,
    XCCOS_EXML,        /* not parseable (xdoc error: size, DOCTYPE, limits, malformed) */
    XCCOS_EROOT,       /* root is not <xccos>, or it holds no cmd/grpchat */
    XCCOS_ESCHEMA,     /* a known command lacks a required element/attribute or has a bad value;
                          id/seqid/envid are set so an error rpl can be rendered */
};

/* Decode one client document. On XCCOS_OK and XCCOS_ESCHEMA *out is allocated (free it with
 * xccos_cmd_free); otherwise *out is NULL. err gets a sentence naming what is wrong. */
enum xccos_err xccos_cmd_parse(const char *buf, size_t len, const struct xdoc_limits *lim,
                               struct xccos_cmd **out, char *err, size_t errlen);
void xccos_cmd_free(struct xccos_cmd *cmd);

/* Cheap classification without parsing (for admission control before any XML work): looks
 * at the first few hundred bytes for the command id. Returns XCMD_UNKNOWN if unsure. */
enum xccos_cmd_id xccos_peek_cmd(const char *buf, size_t len);

/* "cmd:join" -> "rpl:join"; anything else -> "rpl:" + part after the colon. Writes into out. */
void xccos_reply_id(const char *cmd_id, char *out, size_t outlen);

/* ISO-8601 UTC with milliseconds and 'Z' (2024-05-01T10:15:02.797Z); out >= 32 bytes. */
void xccos_format_ts(int64_t epoch_us, char *out, size_t outlen);
/* Parse "ma-chan://domain/path" (path may contain '/'); pointers into uri. Returns 0 or -1. */
int xccos_split_room_uri(const char *uri, const char **domain, size_t *domain_len,
                         const char **path);

/* ---- rendering ---------------------------------------------------------------------------
 * Every function appends exactly one whole document: <xccos ver="1" envid="E" xmlns=...>…
 * </xccos>. All strings are XML-escaped here; callers pass raw text. */

struct xccos_room {
    const char *uri;           /* ma-chan://domain/path */
    const char *name;
    const char *description;   /* may be NULL */
    const char *topic;         /* may be NULL */
    int user_count;            /* -1 = omit ucnt */
    bool is_private;           /* closed or secret: visibility "private", else "public" */
    bool logged;               /* history kept */
    bool invite;               /* invitations on */
    bool filepost;             /* file upload allowed */
};

struct xccos_user {
    const char *uri;           /* sip:user@domain */
    const char *display_name;  /* may be NULL */
};

/* One room in a join/bjoin reply: uib ids refer to the users[] array of the reply. */
struct xccos_join_room {
    struct xccos_room room;    /* uri, name, topic used */
    const int *member_ids;     /* aib key 3984 */
    int n_members;
    const int *manager_ids;    /* aib key 12276 */
    int n_managers;
};

struct xccos_msg {
    const char *chan_uri;
    const char *author;        /* sip URI */
    const char *ts;            /* server time, xccos_format_ts */
    const char *text;
    size_t text_len;
    int64_t msgid;             /* server message id, rendered as msgid="…" (ignored by SIPE) */
};

struct xccos_server_info {
    const char *domain;
    const char *server_time;   /* xccos_format_ts of now */
    const char *root_uri;      /* ma-cat://domain/<guid> */
    const char *db_version;    /* schema version as a GUID-like string */
    const char *display_name;  /* may be NULL */
    const char *room_management_url; /* may be NULL */
    int search_limit;
    int message_size_limit;
    int story_size_limit;
};

struct xccos_association {
    struct xccos_room room;
    bool manager;              /* false = member */
};

struct xccos_invitation {
    const char *invite_id;
    const char *chan_uri;
    const char *chan_name;
    const char *inviter;       /* sip URI, may be NULL */
    const char *ts;
};

/* Generic building blocks: open writes the envelope, <rpl id seqid>, <commandid>, <resp> and
 * <data>; close writes </data></rpl></xccos>. Reply id is derived from cmd->id. */
void xccos_rpl_open(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd, int code,
                    const char *resp_text);
void xccos_rpl_close(struct sbuf *b);

/* Error reply for any command: rpl:<suffix> with code and sentence, empty <data/>. */
void xccos_render_error(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd, int code,
                        const char *sentence);
void xccos_render_rpl_requri(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                             const char *channel_service_uri);
void xccos_render_rpl_getserverinfo(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                    const struct xccos_server_info *info);
void xccos_render_rpl_chansrch(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                               const struct xccos_room *rooms, int n_rooms);
/* join and bjoin (reply id follows cmd): every user as <uib id uri/> under data, then one
 * chanib per room with its aib lists. For bjoin, rooms that failed go as <fib key=
 * "OPERATION_FAILED" value="<path>" domain="<domain>"/> (failed_uris). */
void xccos_render_rpl_join(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                           const struct xccos_user *users, int n_users,
                           const struct xccos_join_room *rooms, int n_rooms,
                           const char *const *failed_uris, int n_failed);
void xccos_render_rpl_bccontext(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                const char *chan_uri, const struct xccos_msg *msgs, int n_msgs);
void xccos_render_rpl_part(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                           const char *chan_uri);
void xccos_render_rpl_getinv(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                             const struct xccos_invitation *invs, int n_invs);
void xccos_render_rpl_getassociations(struct sbuf *b, uint64_t envid, const struct xccos_cmd *cmd,
                                      const struct xccos_association *assoc, int n_assoc);

/* Notices and posts (no commandid/resp). */
void xccos_render_ntc_join(struct sbuf *b, uint64_t envid, const char *user_uri,
                           const char *room_uri, bool manager);
void xccos_render_ntc_part(struct sbuf *b, uint64_t envid, const char *user_uri,
                           const char *room_uri);
void xccos_render_grpchat(struct sbuf *b, uint64_t envid, const struct xccos_msg *msg);

#endif
