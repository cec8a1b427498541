/* wire.h — the front end <-> worker messages of proto/pchat.proto on ZeroMQ sockets:
 * packing with a size bound, the room topic, and socket options every peer sets. */
#ifndef PCHAT_WIRE_H
#define PCHAT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "pchat.pb-c.h"

#define WIRE_MAX_FRAME (4u << 20)     /* no frame above 4 MiB is unpacked */
#define ROOM_TOPIC_LEN 17             /* 'r' + 16 hex digits */

/* The PUB/SUB topic of a room: fixed width so one room's prefix never matches another's. */
void room_topic(uint64_t room_id, char out[ROOM_TOPIC_LEN + 1]);

/* Send one protobuf message as one frame, non-blocking. ROUTER sends prefix the peer
 * identity frame. Return 0, or -1 with errno (EAGAIN: peer full, EHOSTUNREACH: peer gone). */
int wire_send_to_worker(void *router, const void *identity, size_t id_len,
                        const Pchat__ToWorker *msg);
int wire_send_to_frontend(void *dealer, const Pchat__ToFrontend *msg);
int wire_publish(void *pub, const Pchat__RoomEvent *ev);

/* Receive helpers (non-blocking). Return NULL with errno EAGAIN when nothing is waiting;
 * malformed or oversized frames are dropped with a log line and NULL/EBADMSG.
 * Free results with the matching protobuf-c free_unpacked(…, NULL). */
Pchat__ToWorker *wire_recv_to_worker(void *dealer);
/* ROUTER side: identity copied into id (up to id_cap bytes), length into *id_len. */
Pchat__ToFrontend *wire_recv_to_frontend(void *router, unsigned char *id, size_t id_cap,
                                         size_t *id_len);
Pchat__RoomEvent *wire_recv_event(void *sub);

/* Pack a RoomEvent into a freshly allocated buffer (for storage in rings); returns length. */
uint8_t *wire_pack_event(const Pchat__RoomEvent *ev, size_t *len);

/* Options every socket gets: linger 0 (never block exit), big HWMs (credit bounds us). */
void wire_socket_defaults(void *sock);

#endif
