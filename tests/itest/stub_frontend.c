/* stub_frontend.c — a helper of t40_pchatctl.t, not a test: binds a front end's ROUTER and
 * prints each pchat__to_frontend NOTICE it receives, so the test can check what pchatctl
 * tells the front ends after an operator change. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "pchat.pb-c.h"
#include "util.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT TIMEOUT_S\n"
                        "Binds a ROUTER on ENDPOINT, prints \"ready\", then one line per message\n"
                        "(\"notice room=N seq=N kind=N evict=URI,URI\") until COUNT arrived;\n"
                        "exits 1 if they did not within TIMEOUT_S seconds.\n", argv[0]);
        return 2;
    }
    int want = atoi(argv[2]);
    int64_t deadline = mono_us() + (int64_t)atoi(argv[3]) * 1000000;
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(router, argv[1]) != 0) {
        fprintf(stderr, "%s: cannot bind %s: %s\n", argv[0], argv[1], zmq_strerror(zmq_errno()));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    int got = 0;
    while (got < want) {
        int64_t left_ms = (deadline - mono_us()) / 1000;
        if (left_ms <= 0) {
            printf("timeout after %d message(s)\n", got);
            break;
        }
        zmq_pollitem_t item = { .socket = router, .events = ZMQ_POLLIN };
        if (zmq_poll(&item, 1, (long)left_ms) <= 0)
            continue;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, router, 0) < 0 || !zmq_msg_more(&id) || zmq_msg_recv(&body, router, 0) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            continue;
        }
        Pchat__ToFrontend *m = pchat__to_frontend__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        if (!m) {
            printf("undecodable message of %zu bytes\n", zmq_msg_size(&body));
        } else if (m->body_case != PCHAT__TO_FRONTEND__BODY_NOTICE) {
            printf("message of body case %d\n", (int)m->body_case);
        } else {
            const Pchat__RoomEvent *ev = m->notice;
            printf("notice room=%" PRIu64 " seq=%" PRIu64 " kind=%d evict=", ev->room_id, ev->seq,
                   (int)ev->kind);
            for (size_t i = 0; i < ev->n_evict_users; i++)
                printf("%s%s", i ? "," : "", ev->evict_users[i]);
            printf("\n");
        }
        if (m)
            pchat__to_frontend__free_unpacked(m, NULL);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        fflush(stdout);
        got++;
    }
    zmq_close(router);
    zmq_ctx_term(ctx);
    return got == want ? 0 : 1;
}
