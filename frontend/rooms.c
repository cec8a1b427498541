/* rooms.c — room traffic from the workers' PUB sockets to the local sessions of each room.
 *
 * Every room event carries the room's gap-free sequence number. A room is delivered strictly
 * in sequence: duplicates are dropped, early events wait while the missing range is fetched
 * from a worker (gap repair), so a late or lost publication never loses or reorders a
 * delivery. A ring of recent events lets a session whose join reply arrives after newer
 * events catch up from memory. */
#include "fe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zmq.h>

#include "log.h"
#include "sbuf.h"
#include "util.h"
#include "wire.h"

#define DRAIN_BUDGET 256
#define RING_SIZE 512                  /* recent events kept per room */
#define PENDING_MAX 4096               /* early events held per room while a gap is fetched */
#define GAP_WAIT_US (50 * 1000)        /* how long an out-of-order event may wait unfetched */
#define CATCHUP_DELAY_US (300 * 1000)  /* after subscribing: fetch what raced the subscription */
#define FETCH_RETRY_US (3 * 1000000)

struct fe_room {
    uint64_t id;
    char topic[ROOM_TOPIC_LEN + 1];
    uint64_t next_seq;                 /* the next sequence number to deliver */
    struct fe_session **sessions;      /* NULL: a hole left by a session that went while busy */
    int n_sessions, cap_sessions;
    int busy;                          /* delivering: sessions leave holes, the room stays */
    Pchat__RoomEvent *ring[RING_SIZE]; /* delivered events, slot = seq % RING_SIZE */
    struct hmap pending;               /* seq -> early RoomEvent */
    int64_t gap_since;                 /* mono µs an early event first waited, 0 = none */
    int64_t catchup_at;                /* mono µs of the post-subscription fetch, 0 = none */
    int64_t fetch_sent;                /* mono µs of the fetch in flight, 0 = none */
};

static void subscribe(struct fe *fe, struct fe_room *room, bool on)
{
    zmq_setsockopt(fe->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, room->topic, ROOM_TOPIC_LEN);
}

static struct fe_room *room_new(struct fe *fe, uint64_t room_id, uint64_t seq)
{
    struct fe_room *room = xcalloc(1, sizeof *room);
    room->id = room_id;
    room_topic(room_id, room->topic);
    room->next_seq = seq + 1;
    hmap_init(&room->pending);
    hmap_put(&fe->rooms, room_id, room);
    subscribe(fe, room, true);
    /* a publication between the join's commit and our subscription reaching the workers
       is missed: fetch once after the subscription has surely propagated */
    room->catchup_at = mono_us() + CATCHUP_DELAY_US;
    return room;
}

static void room_free(struct fe *fe, struct fe_room *room)
{
    subscribe(fe, room, false);
    hmap_del(&fe->rooms, room->id);
    for (int i = 0; i < RING_SIZE; i++)
        if (room->ring[i])
            pchat__room_event__free_unpacked(room->ring[i], NULL);
    size_t pos = 0;
    void *v;
    while (hmap_next(&room->pending, &pos, NULL, &v))
        pchat__room_event__free_unpacked(v, NULL);
    hmap_free(&room->pending);
    free(room->sessions);
    free(room);
}

/* After a delivery: close the holes sessions left meanwhile, and free the room once it is
 * empty and nothing is delivering in it. Returns the room, or NULL when it is gone. A send
 * can end a session (its client went away) in the middle of a room's fan-out, so sessions
 * leave a delivering room as holes: the fan-out neither skips the session moved into the
 * leaver's slot nor touches a freed room. */
static struct fe_room *room_settle(struct fe *fe, struct fe_room *room)
{
    if (room->busy)
        return room;
    int kept = 0;
    for (int i = 0; i < room->n_sessions; i++)
        if (room->sessions[i])
            room->sessions[kept++] = room->sessions[i];
    room->n_sessions = kept;
    if (kept > 0)
        return room;
    room_free(fe, room);
    return NULL;
}

static bool is_own_notice(const struct fe *fe, const struct fe_session *s, const Pchat__RoomEvent *ev)
{
    return (ev->kind == PCHAT__ROOM_EVENT__KIND__JOIN || ev->kind == PCHAT__ROOM_EVENT__KIND__PART) &&
           ev->session_id == s->id && ev->frontend_id && strcmp(ev->frontend_id, fe->id) == 0;
}

static void deliver_to(struct fe *fe, struct fe_session *s, const Pchat__RoomEvent *ev)
{
    struct fe_session_room *sr = session_room(s, ev->room_id);
    if (!sr || ev->seq <= sr->start_seq || ev->quiet || ev->document.len == 0 ||
        is_own_notice(fe, s, ev))
        return;
    session_send(fe, s, ev->document.data, ev->document.len);
}

/* An operator removed these users from the room (member removed, room disabled, ...): every
 * local member sees them leave (ntc:part), their own sessions included, and their sessions
 * leave the room so nothing more reaches them. */
static void evict(struct fe *fe, struct fe_room *room, const Pchat__RoomEvent *ev)
{
    struct sbuf b;
    sbuf_init(&b, 8192);
    char uri[320];
    snprintf(uri, sizeof uri, "ma-chan://%s/", fe->cfg->pool.domain);
    for (size_t u = 0; u < ev->n_evict_users; u++) {
        const char *who = ev->evict_users[u];
        const char *room_uri = NULL;
        /* the room's URI as the clients know it: from any member's joined entry */
        for (int i = 0; i < room->n_sessions && !room_uri; i++) {
            struct fe_session_room *sr = room->sessions[i] ? session_room(room->sessions[i], room->id) : NULL;
            room_uri = sr ? sr->room_uri : NULL;
        }
        if (!room_uri)
            return;
        sbuf_reset(&b);
        xccos_render_ntc_part(&b, random_u64() >> 1, who, room_uri);
        for (int i = 0; i < room->n_sessions; i++)
            if (room->sessions[i])
                session_send(fe, room->sessions[i], b.data, b.len);
    }
    sbuf_free(&b);
    /* then take the evicted users' sessions out (the room is busy: they leave holes) */
    for (int i = 0; i < room->n_sessions; i++) {
        struct fe_session *s = room->sessions[i];
        for (size_t u = 0; s && u < ev->n_evict_users; u++) {
            if (strcasecmp(s->user_uri, ev->evict_users[u]) == 0) {
                session_parted(fe, s, room->id);
                break;
            }
        }
    }
}

/* Deliver the next event in sequence to every member and keep it in the ring (takes it).
 * Returns the room, or NULL when an eviction emptied it and it is gone. */
static struct fe_room *deliver(struct fe *fe, struct fe_room *room, Pchat__RoomEvent *ev)
{
    room->busy++;
    if (ev->kind == PCHAT__ROOM_EVENT__KIND__CHANGE && ev->n_evict_users > 0)
        evict(fe, room, ev);
    for (int i = 0; i < room->n_sessions; i++)
        if (room->sessions[i])
            deliver_to(fe, room->sessions[i], ev);
    int slot = (int)(ev->seq % RING_SIZE);
    if (room->ring[slot])
        pchat__room_event__free_unpacked(room->ring[slot], NULL);
    room->ring[slot] = ev;
    room->next_seq = ev->seq + 1;
    room->busy--;
    return room_settle(fe, room);   /* NULL when everyone left (the ring goes with it) */
}

static void accept_event(struct fe *fe, struct fe_room *room, Pchat__RoomEvent *ev)
{
    if (ev->seq < room->next_seq) {
        pchat__room_event__free_unpacked(ev, NULL);   /* already delivered */
        return;
    }
    if (ev->seq > room->next_seq) {
        if (hmap_get(&room->pending, ev->seq) || room->pending.count >= PENDING_MAX) {
            pchat__room_event__free_unpacked(ev, NULL);   /* the fetch brings it again */
        } else {
            hmap_put(&room->pending, ev->seq, ev);
        }
        if (!room->gap_since)
            room->gap_since = mono_us();
        return;
    }
    room = deliver(fe, room, ev);
    Pchat__RoomEvent *next;
    while (room && (next = hmap_del(&room->pending, room->next_seq)) != NULL)
        room = deliver(fe, room, next);
    if (room && room->pending.count == 0)
        room->gap_since = 0;
}

/* A copy of an event owned by a message (a reply, a notice) that the ring or pending can
 * keep and free on their own; NULL if it cannot be made. */
static Pchat__RoomEvent *event_copy(const Pchat__RoomEvent *ev)
{
    size_t len;
    uint8_t *buf = wire_pack_event(ev, &len);
    Pchat__RoomEvent *copy = pchat__room_event__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

void rooms_notice(struct fe *fe, const Pchat__RoomEvent *ev)
{
    struct fe_room *room = hmap_get(&fe->rooms, ev->room_id);
    Pchat__RoomEvent *copy = room ? event_copy(ev) : NULL;
    if (copy)
        accept_event(fe, room, copy);
}

void rooms_drain(struct fe *fe)
{
    for (int n = 0; n < DRAIN_BUDGET; n++) {
        Pchat__RoomEvent *ev = wire_recv_event(fe->sub);
        if (!ev) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        struct fe_room *room = hmap_get(&fe->rooms, ev->room_id);
        if (room)
            accept_event(fe, room, ev);
        else
            pchat__room_event__free_unpacked(ev, NULL);
    }
    zmq_su_rearm(fe);
}

static void fetch(struct fe *fe, struct fe_room *room, uint64_t from, uint64_t to)
{
    struct fe_request *r = request_new(fe, REQ_ROOM_FETCH, 0);
    r->room_id = room->id;
    r->from_seq = from;
    r->to_seq = to;
    room->fetch_sent = mono_us();
    router_submit(fe, r);
}

void rooms_fetched(struct fe *fe, uint64_t room_id, Pchat__RoomEvent **events, size_t n)
{
    struct fe_room *room = hmap_get(&fe->rooms, room_id);
    if (!room)
        return;
    room->fetch_sent = 0;
    for (size_t i = 0; i < n; i++) {
        Pchat__RoomEvent *copy = event_copy(events[i]);   /* the reply owns the events */
        room = hmap_get(&fe->rooms, room_id);   /* an eviction may have emptied it */
        if (copy && room && copy->room_id == room_id)
            accept_event(fe, room, copy);
        else if (copy)
            pchat__room_event__free_unpacked(copy, NULL);
    }
    room = hmap_get(&fe->rooms, room_id);
    if (!room)
        return;
    if (n > 0)
        fe->stats.gaps_repaired++;
    /* the store has no event for the missing sequence numbers (purged): skip over them
       rather than hold the room forever */
    if (room->pending.count > 0 && room->gap_since &&
        mono_us() - room->gap_since > 4 * FETCH_RETRY_US) {
        uint64_t lowest = UINT64_MAX;
        size_t pos = 0;
        uint64_t k;
        while (hmap_next(&room->pending, &pos, &k, NULL))
            if (k < lowest)
                lowest = k;
        log_warn("room %llu: events %llu..%llu cannot be found; skipping them",
                 (unsigned long long)room_id, (unsigned long long)room->next_seq,
                 (unsigned long long)lowest - 1);
        room->next_seq = lowest;
        Pchat__RoomEvent *next;
        while (room && (next = hmap_del(&room->pending, room->next_seq)) != NULL)
            room = deliver(fe, room, next);
        if (room)
            room->gap_since = room->pending.count ? mono_us() : 0;
    }
}

void rooms_add_session(struct fe *fe, struct fe_session *s, uint64_t room_id, uint64_t seq)
{
    struct fe_room *room = hmap_get(&fe->rooms, room_id);
    if (!room)
        room = room_new(fe, room_id, seq);
    if (room->n_sessions == room->cap_sessions) {
        room->cap_sessions = room->cap_sessions ? room->cap_sessions * 2 : 8;
        room->sessions = realloc(room->sessions, (size_t)room->cap_sessions * sizeof *room->sessions);
        if (!room->sessions)
            abort();
    }
    room->sessions[room->n_sessions++] = s;
    /* the join committed at `seq` but this room already delivered beyond it: replay the
       events this session has not seen from the ring */
    int me = room->n_sessions - 1;
    room->busy++;
    for (uint64_t q = seq + 1; q < room->next_seq && room->sessions[me] == s; q++) {
        Pchat__RoomEvent *ev = room->ring[q % RING_SIZE];
        if (ev && ev->seq == q) {
            deliver_to(fe, s, ev);   /* may end the session: the loop stops at its hole */
        } else {
            log_warn("room %llu: event %llu is no longer in memory for a late join; the "
                     "session sees it in its history", (unsigned long long)room_id,
                     (unsigned long long)q);
        }
    }
    room->busy--;
    room_settle(fe, room);
}

void rooms_remove_session(struct fe *fe, struct fe_session *s, uint64_t room_id)
{
    struct fe_room *room = hmap_get(&fe->rooms, room_id);
    if (!room)
        return;
    for (int i = 0; i < room->n_sessions; i++) {
        if (room->sessions[i] == s) {
            room->sessions[i] = NULL;   /* a hole: room_settle closes it when not busy */
            break;
        }
    }
    room_settle(fe, room);
}

void rooms_janitor(struct fe *fe)
{
    int64_t now = mono_us();
    size_t pos = 0;
    void *v;
    while (hmap_next(&fe->rooms, &pos, NULL, &v)) {
        struct fe_room *room = v;
        if (room->fetch_sent && now - room->fetch_sent < FETCH_RETRY_US)
            continue;
        if (room->gap_since && now - room->gap_since >= GAP_WAIT_US) {
            uint64_t lowest = UINT64_MAX;
            size_t p = 0;
            uint64_t k;
            while (hmap_next(&room->pending, &p, &k, NULL))
                if (k < lowest)
                    lowest = k;
            if (lowest != UINT64_MAX && lowest > room->next_seq)
                fetch(fe, room, room->next_seq, lowest - 1);
        } else if (room->catchup_at && now >= room->catchup_at) {
            room->catchup_at = 0;
            fetch(fe, room, room->next_seq, 0);
        }
    }
}

int rooms_open(struct fe *fe)
{
    fe->sub = zmq_socket(fe->zctx, ZMQ_SUB);
    wire_socket_defaults(fe->sub);
    if (zmq_bind(fe->sub, fe->cfg->frontend.events) < 0) {
        log_error("cannot bind frontend.events %s: %s", fe->cfg->frontend.events,
                  zmq_strerror(errno));
        return -1;
    }
    fe->sub_wait = zmq_su_register(fe, fe->sub, rooms_drain);
    return fe->sub_wait < 0 ? -1 : 0;
}

void rooms_close(struct fe *fe)
{
    size_t pos = 0;
    void *v;
    while (hmap_next(&fe->rooms, &pos, NULL, &v))
        room_free(fe, v);
    hmap_free(&fe->rooms);
    if (fe->sub_wait > 0)
        zmq_su_unregister(fe, fe->sub_wait);
    fe->sub_wait = 0;
    if (fe->sub)
        zmq_close(fe->sub);
    fe->sub = NULL;
}
