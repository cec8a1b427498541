/* edge.h — the front end's TCP edge: clients connect here, and their messages are relayed to
 * sofia-sip over loopback with two rewrites that sofia cannot be told to do itself:
 *
 *  - Call-ID gets a per-connection suffix ("~c<hex id>") on the way in and loses it on the way
 *    out. pidgin-sipe seeds rand() with the time in seconds, so two clients started in the same
 *    second send identical Call-IDs, tags and CSeqs; sofia would merge their dialogs.
 *  - Contact is pointed at the loopback leg the client's messages take, so sofia sends
 *    requests (INFO, NOTIFY) back over that leg and never dials a client (pidgin-sipe never
 *    listens). TCP clients share a few legs; the Call-ID mark routes what comes back.
 *
 * It also knows the moment a client's connection closes, so its sessions end at once. */
#ifndef PCHAT_EDGE_H
#define PCHAT_EDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fe;
struct fe_session;

#define EDGE_CALLID_MARK "~c"

/* Listen on frontend.sip_address:sip_port and relay to sofia at 127.0.0.1:internal_port. */
int edge_open(struct fe *fe, int internal_port);
void edge_close(struct fe *fe);
void edge_janitor(struct fe *fe);
/* The connection id a (suffixed) Call-ID came through, 0 if none. */
uint32_t edge_conn_of_callid(const char *call_id);
/* A session began on a connection: it ends when the connection closes. */
void edge_session_opened(struct fe *fe, uint32_t conn_id, uint64_t session_id);
/* Send a server INFO in s's dialog straight on the client's connection, bypassing the SIP
 * stack (the hot path of room traffic). The client's answer comes back to
 * session_info_answered. Returns 0, or -1 when the connection cannot take it (then the
 * caller uses the stack). */
int edge_send_info(struct fe *fe, struct fe_session *s, const char *body, size_t len);
#define EDGE_BRANCH_MARK "z9hG4bKpc"
/* Answer an INFO that came through the fast path: status line, the request's own Via, From,
 * To, Call-ID and CSeq lines (`headers`), then `extra` (complete CRLF-ended lines or ""). */
void edge_respond(struct fe *fe, uint32_t conn_id, const char *headers, int status,
                  const char *phrase, const char *extra);
/* Connections open now. */
int edge_connections(const struct fe *fe);

#endif
