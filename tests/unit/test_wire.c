/* test_wire.c — the front end <-> worker envelope: protobuf round trips over real ZeroMQ
 * sockets, the room topic, and the bounds on what a receiver accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "wire.h"

struct pair {
    void *ctx, *router, *dealer;
};

static int setup_pair(void **state)
{
    static int n;
    struct pair *p = calloc(1, sizeof *p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://wire-test-%d", n++);
    p->ctx = zmq_ctx_new();
    p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
    p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
    wire_socket_defaults(p->router);
    wire_socket_defaults(p->dealer);
    zmq_setsockopt(p->dealer, ZMQ_ROUTING_ID, "w1.42", 5);
    assert_int_equal(zmq_bind(p->router, ep), 0);
    assert_int_equal(zmq_connect(p->dealer, ep), 0);
    *state = p;
    return 0;
}

static int teardown_pair(void **state)
{
    struct pair *p = *state;
    zmq_close(p->router);
    zmq_close(p->dealer);
    zmq_ctx_term(p->ctx);
    free(p);
    return 0;
}

/* Wait (bounded) until sock has a message. */
static void wait_readable(void *sock)
{
    zmq_pollitem_t it = { sock, 0, ZMQ_POLLIN, 0 };
    assert_true(zmq_poll(&it, 1, 2000) == 1);
}

static void request_round_trip_keeps_every_field(void **state)
{
    struct pair *p = *state;
    /* the worker says hello first so the ROUTER knows its identity */
    Pchat__Hello h = PCHAT__HELLO__INIT;
    h.worker_id = "w1.42";
    h.credit = 16;
    Pchat__ToFrontend hello = PCHAT__TO_FRONTEND__INIT;
    hello.body_case = PCHAT__TO_FRONTEND__BODY_HELLO;
    hello.hello = &h;
    assert_int_equal(wire_send_to_frontend(p->dealer, &hello), 0);
    wait_readable(p->router);
    unsigned char id[256];
    size_t id_len = 0;
    Pchat__ToFrontend *got_hello = wire_recv_to_frontend(p->router, id, sizeof id, &id_len);
    assert_non_null(got_hello);
    assert_int_equal(got_hello->body_case, PCHAT__TO_FRONTEND__BODY_HELLO);
    assert_string_equal(got_hello->hello->worker_id, "w1.42");
    assert_int_equal(got_hello->hello->credit, 16);
    assert_int_equal(id_len, 5);
    assert_memory_equal(id, "w1.42", 5);
    pchat__to_frontend__free_unpacked(got_hello, NULL);

    static const char body[] = "<xccos ver=\"1\" envid=\"7\"><grpchat id=\"grpchat\" chanUri=\"ma-chan://"
                               "example.com/x\"><chat>h\xc3\xa9llo &amp; \xf0\x9f\x98\x80</chat></grpchat></xccos>";
    Pchat__Request q = PCHAT__REQUEST__INIT;
    q.request_id = UINT64_MAX - 1;
    q.frontend_id = "fe1";
    q.incarnation = 1764489600123456ULL;
    q.session_id = 42;
    q.user_uri = "sip:alice@example.com";
    q.user_agent = "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)";
    q.deadline_us = 1764489605123456LL;
    q.kind = PCHAT__REQUEST__KIND__XCCOS;
    q.xccos.data = (uint8_t *)body;
    q.xccos.len = sizeof body - 1;
    q.service_uri = "sip:pchat-chan@example.com";
    q.attempt = 3;
    Pchat__ToWorker m = PCHAT__TO_WORKER__INIT;
    m.body_case = PCHAT__TO_WORKER__BODY_REQUEST;
    m.request = &q;
    assert_int_equal(wire_send_to_worker(p->router, id, id_len, &m), 0);
    wait_readable(p->dealer);
    Pchat__ToWorker *got = wire_recv_to_worker(p->dealer);
    assert_non_null(got);
    assert_int_equal(got->body_case, PCHAT__TO_WORKER__BODY_REQUEST);
    Pchat__Request *r = got->request;
    assert_true(r->request_id == UINT64_MAX - 1);
    assert_string_equal(r->frontend_id, "fe1");
    assert_true(r->incarnation == 1764489600123456ULL);
    assert_int_equal(r->session_id, 42);
    assert_string_equal(r->user_uri, "sip:alice@example.com");
    assert_string_equal(r->user_agent, q.user_agent);
    assert_true(r->deadline_us == q.deadline_us);
    assert_int_equal(r->kind, PCHAT__REQUEST__KIND__XCCOS);
    assert_int_equal(r->xccos.len, sizeof body - 1);
    assert_memory_equal(r->xccos.data, body, sizeof body - 1);
    assert_string_equal(r->service_uri, "sip:pchat-chan@example.com");
    assert_int_equal(r->attempt, 3);
    pchat__to_worker__free_unpacked(got, NULL);
}

static void reply_round_trip_keeps_documents_rooms_and_events(void **state)
{
    struct pair *p = *state;
    ProtobufCBinaryData docs[2] = { { 5, (uint8_t *)"<a/>\n" }, { 4, (uint8_t *)"<b/>" } };
    Pchat__RoomJoined j = PCHAT__ROOM_JOINED__INIT;
    j.room_id = 7;
    j.seq = 99;
    j.room_uri = "ma-chan://example.com/7e1f0a52-3c1d-4f3e-9d2a-0123456789ab";
    Pchat__RoomJoined *joined[] = { &j };
    uint64_t parted[] = { 8, 9 };
    Pchat__RoomEvent ev = PCHAT__ROOM_EVENT__INIT;
    ev.room_id = 7;
    ev.seq = 100;
    ev.kind = PCHAT__ROOM_EVENT__KIND__CHANGE;
    char *evict[] = { "sip:bob@example.com", "sip:carol@example.com" };
    ev.evict_users = evict;
    ev.n_evict_users = 2;
    Pchat__RoomEvent *events[] = { &ev };
    Pchat__Reply rep = PCHAT__REPLY__INIT;
    rep.request_id = 12;
    rep.session_id = 42;
    rep.sip_status = 503;
    rep.sip_reason = "the chat store is unavailable";
    rep.retry_after_s = 7;
    rep.documents = docs;
    rep.n_documents = 2;
    rep.joined = joined;
    rep.n_joined = 1;
    rep.parted = parted;
    rep.n_parted = 2;
    rep.events = events;
    rep.n_events = 1;
    Pchat__ToFrontend m = PCHAT__TO_FRONTEND__INIT;
    m.body_case = PCHAT__TO_FRONTEND__BODY_REPLY;
    m.reply = &rep;
    assert_int_equal(wire_send_to_frontend(p->dealer, &m), 0);
    wait_readable(p->router);
    unsigned char id[256];
    size_t id_len;
    Pchat__ToFrontend *got = wire_recv_to_frontend(p->router, id, sizeof id, &id_len);
    assert_non_null(got);
    Pchat__Reply *r = got->reply;
    assert_int_equal(r->request_id, 12);
    assert_int_equal(r->sip_status, 503);
    assert_string_equal(r->sip_reason, "the chat store is unavailable");
    assert_int_equal(r->retry_after_s, 7);
    assert_int_equal(r->n_documents, 2);
    assert_memory_equal(r->documents[0].data, "<a/>\n", 5);
    assert_int_equal(r->n_joined, 1);
    assert_int_equal(r->joined[0]->seq, 99);
    assert_string_equal(r->joined[0]->room_uri, j.room_uri);
    assert_int_equal(r->n_parted, 2);
    assert_int_equal(r->parted[1], 9);
    assert_int_equal(r->n_events, 1);
    assert_int_equal(r->events[0]->kind, PCHAT__ROOM_EVENT__KIND__CHANGE);
    assert_int_equal(r->events[0]->n_evict_users, 2);
    assert_string_equal(r->events[0]->evict_users[1], "sip:carol@example.com");
    pchat__to_frontend__free_unpacked(got, NULL);
}

static void room_topics_are_fixed_width_and_never_prefix_each_other(void **state)
{
    (void)state;
    char a[ROOM_TOPIC_LEN + 1], b[ROOM_TOPIC_LEN + 1];
    room_topic(1, a);
    room_topic(16, b);
    assert_int_equal(strlen(a), ROOM_TOPIC_LEN);
    assert_int_equal(strlen(b), ROOM_TOPIC_LEN);
    assert_string_equal(a, "r0000000000000001");
    assert_string_equal(b, "r0000000000000010");
    /* with variable-width topics "r1" would receive room 16's events (prefix match) */
    assert_true(strncmp(a, b, ROOM_TOPIC_LEN) != 0);
    room_topic(UINT64_MAX, a);
    assert_string_equal(a, "rffffffffffffffff");
}

static void published_events_arrive_only_for_subscribed_rooms(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB), *sub = zmq_socket(ctx, ZMQ_SUB);
    wire_socket_defaults(pub);
    wire_socket_defaults(sub);
    assert_int_equal(zmq_bind(sub, "inproc://wire-pubsub"), 0);
    assert_int_equal(zmq_connect(pub, "inproc://wire-pubsub"), 0);
    char topic[ROOM_TOPIC_LEN + 1];
    room_topic(16, topic);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, topic, ROOM_TOPIC_LEN);
    /* subscriptions travel asynchronously; publish until the subscribed room gets through */
    Pchat__RoomEvent ev = PCHAT__ROOM_EVENT__INIT;
    ev.document.data = (uint8_t *)"<xccos/>";
    ev.document.len = 8;
    Pchat__RoomEvent *got = NULL;
    for (int i = 0; i < 200 && !got; i++) {
        ev.room_id = 1;   /* not subscribed: must never arrive */
        ev.seq = (uint64_t)i;
        assert_int_equal(wire_publish(pub, &ev), 0);
        ev.room_id = 16;
        assert_int_equal(wire_publish(pub, &ev), 0);
        zmq_pollitem_t it = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 10) == 1)
            got = wire_recv_event(sub);
    }
    assert_non_null(got);
    assert_int_equal(got->room_id, 16);
    assert_int_equal(got->document.len, 8);
    pchat__room_event__free_unpacked(got, NULL);
    while ((got = wire_recv_event(sub)) != NULL) {
        assert_int_equal(got->room_id, 16);
        pchat__room_event__free_unpacked(got, NULL);
    }
    zmq_close(pub);
    zmq_close(sub);
    zmq_ctx_term(ctx);
}

static void garbage_and_oversized_frames_are_dropped_not_decoded(void **state)
{
    struct pair *p = *state;
    /* garbage protobuf */
    assert_int_equal(zmq_send(p->dealer, "\xff\xff\xff\xff\x0f", 5, 0), 5);
    wait_readable(p->router);
    unsigned char id[256];
    size_t id_len;
    errno = 0;
    assert_null(wire_recv_to_frontend(p->router, id, sizeof id, &id_len));
    assert_int_equal(errno, EBADMSG);
    /* a frame above WIRE_MAX_FRAME */
    size_t big = WIRE_MAX_FRAME + 1;
    char *buf = calloc(1, big);
    assert_int_equal(zmq_send(p->dealer, buf, big, 0), (int)big);
    free(buf);
    wait_readable(p->router);
    assert_null(wire_recv_to_frontend(p->router, id, sizeof id, &id_len));
    assert_int_equal(errno, EBADMSG);
    /* the socket still works afterwards */
    Pchat__Heartbeat hb = PCHAT__HEARTBEAT__INIT;
    hb.sent_us = 5;
    Pchat__ToFrontend m = PCHAT__TO_FRONTEND__INIT;
    m.body_case = PCHAT__TO_FRONTEND__BODY_HEARTBEAT;
    m.heartbeat = &hb;
    assert_int_equal(wire_send_to_frontend(p->dealer, &m), 0);
    wait_readable(p->router);
    Pchat__ToFrontend *got = wire_recv_to_frontend(p->router, id, sizeof id, &id_len);
    assert_non_null(got);
    assert_int_equal(got->heartbeat->sent_us, 5);
    pchat__to_frontend__free_unpacked(got, NULL);
    /* nothing waiting: EAGAIN, not a blocking read */
    assert_null(wire_recv_to_frontend(p->router, id, sizeof id, &id_len));
    assert_int_equal(errno, EAGAIN);
}

static void event_pack_and_unpack_agree(void **state)
{
    (void)state;
    Pchat__RoomEvent ev = PCHAT__ROOM_EVENT__INIT;
    ev.room_id = 3;
    ev.seq = 1234567;
    ev.kind = PCHAT__ROOM_EVENT__KIND__PART;
    ev.frontend_id = "fe2";
    ev.session_id = 77;
    ev.quiet = true;
    size_t len;
    uint8_t *buf = wire_pack_event(&ev, &len);
    Pchat__RoomEvent *back = pchat__room_event__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(back);
    assert_int_equal(back->seq, 1234567);
    assert_int_equal(back->kind, PCHAT__ROOM_EVENT__KIND__PART);
    assert_string_equal(back->frontend_id, "fe2");
    assert_int_equal(back->session_id, 77);
    assert_true(back->quiet);
    pchat__room_event__free_unpacked(back, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(request_round_trip_keeps_every_field, setup_pair, teardown_pair),
        cmocka_unit_test_setup_teardown(reply_round_trip_keeps_documents_rooms_and_events, setup_pair,
                                        teardown_pair),
        cmocka_unit_test(room_topics_are_fixed_width_and_never_prefix_each_other),
        cmocka_unit_test(published_events_arrive_only_for_subscribed_rooms),
        cmocka_unit_test_setup_teardown(garbage_and_oversized_frames_are_dropped_not_decoded, setup_pair,
                                        teardown_pair),
        cmocka_unit_test(event_pack_and_unpack_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
