/* wire.c — protobuf-c <-> ZeroMQ frames. Every receive is bounded before unpacking. */
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "util.h"

void room_topic(uint64_t room_id, char out[ROOM_TOPIC_LEN + 1])
{
    snprintf(out, ROOM_TOPIC_LEN + 1, "r%016" PRIx64, room_id);
}

void wire_socket_defaults(void *sock)
{
    int zero = 0, hwm = 100000;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
}

static int send_packed(void *sock, const ProtobufCMessage *msg, int flags)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t small[2048];
    uint8_t *buf = len <= sizeof small ? small : xmalloc(len);
    protobuf_c_message_pack(msg, buf);
    int rc = zmq_send(sock, buf, len, flags | ZMQ_DONTWAIT);
    int saved = errno;
    if (buf != small)
        free(buf);
    errno = saved;
    return rc < 0 ? -1 : 0;
}

int wire_send_to_worker(void *router, const void *identity, size_t id_len,
                        const Pchat__ToWorker *msg)
{
    if (zmq_send(router, identity, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return send_packed(router, &msg->base, 0);
}

int wire_send_to_frontend(void *dealer, const Pchat__ToFrontend *msg)
{
    return send_packed(dealer, &msg->base, 0);
}

int wire_publish(void *pub, const Pchat__RoomEvent *ev)
{
    char topic[ROOM_TOPIC_LEN + 1];
    room_topic(ev->room_id, topic);
    if (zmq_send(pub, topic, ROOM_TOPIC_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return send_packed(pub, &ev->base, 0);
}

uint8_t *wire_pack_event(const Pchat__RoomEvent *ev, size_t *len)
{
    *len = pchat__room_event__get_packed_size(ev);
    uint8_t *buf = xmalloc(*len);
    pchat__room_event__pack(ev, buf);
    return buf;
}

/* Drain the rest of a multipart message so the next receive starts at a message boundary. */
static void discard_more(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
        sz = sizeof more;
    }
}

static int has_more(void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz);
    return more;
}

/* Receive one frame; returns 0 and an initialised message, or -1 (errno). */
static int recv_frame(void *sock, zmq_msg_t *m)
{
    zmq_msg_init(m);
    if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(m);
        errno = e;
        return -1;
    }
    return 0;
}

static void *unpack_frame(void *sock, const ProtobufCMessageDescriptor *desc, const char *what)
{
    zmq_msg_t m;
    if (recv_frame(sock, &m) < 0)
        return NULL;
    void *out = NULL;
    size_t len = zmq_msg_size(&m);
    if (has_more(sock)) {
        log_warn("dropping a %s with unexpected extra frames", what);
        discard_more(sock);
    } else if (len > WIRE_MAX_FRAME) {
        log_warn("dropping a %zu-byte %s: the limit is %u bytes", len, what, WIRE_MAX_FRAME);
    } else {
        out = protobuf_c_message_unpack(desc, NULL, len, zmq_msg_data(&m));
        if (!out)
            log_warn("dropping a malformed %s (%zu bytes that do not decode)", what, len);
    }
    zmq_msg_close(&m);
    if (!out)
        errno = EBADMSG;
    return out;
}

Pchat__ToWorker *wire_recv_to_worker(void *dealer)
{
    return unpack_frame(dealer, &pchat__to_worker__descriptor, "message from a front end");
}

Pchat__ToFrontend *wire_recv_to_frontend(void *router, unsigned char *id, size_t id_cap,
                                         size_t *id_len)
{
    zmq_msg_t m;
    if (recv_frame(router, &m) < 0)
        return NULL;
    size_t n = zmq_msg_size(&m);
    *id_len = n < id_cap ? n : id_cap;
    memcpy(id, zmq_msg_data(&m), *id_len);
    zmq_msg_close(&m);
    if (!has_more(router)) {
        log_warn("dropping a message from a worker without a body frame");
        errno = EBADMSG;
        return NULL;
    }
    return unpack_frame(router, &pchat__to_frontend__descriptor, "message from a worker");
}

Pchat__RoomEvent *wire_recv_event(void *sub)
{
    zmq_msg_t topic;
    if (recv_frame(sub, &topic) < 0)
        return NULL;
    size_t tlen = zmq_msg_size(&topic);
    zmq_msg_close(&topic);
    if (tlen != ROOM_TOPIC_LEN || !has_more(sub)) {
        log_warn("dropping a room event with a malformed topic frame");
        discard_more(sub);
        errno = EBADMSG;
        return NULL;
    }
    return unpack_frame(sub, &pchat__room_event__descriptor, "room event");
}
