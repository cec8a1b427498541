/* zmq_su.c — ZeroMQ sockets inside sofia-sip's su_root.
 *
 * ZMQ_FD is edge-triggered and may not fire again for messages already queued, or after our
 * own zmq_send consumed the edge (research/engineering.md §1.6). So every drain is budgeted,
 * a 0 ms timer re-runs the drains while ZMQ_EVENTS still reports input, and a prepoll hook
 * drains before every poll. */
#include "fe.h"

#include <zmq.h>

#include "log.h"

struct zmq_watch {
    void *sock;
    void (*drain)(struct fe *);
};

#define MAX_WATCHES 6
static struct zmq_watch watches[MAX_WATCHES];
static int n_watches;
static bool prepoll_added;

static void run_drains(struct fe *fe)
{
    for (int i = 0; i < n_watches; i++)
        watches[i].drain(fe);
}

static int zmq_wakeup(struct fe *fe, su_wait_t *w, void *arg)
{
    (void)w;
    (void)arg;
    run_drains(fe);
    return 0;
}

static void zmq_prepoll(struct fe *fe, su_root_t *root)
{
    (void)root;
    run_drains(fe);
}

static void drain_timer_fired(struct fe *fe, su_timer_t *t, void *arg)
{
    (void)t;
    (void)arg;
    run_drains(fe);
}

void zmq_su_rearm(struct fe *fe)
{
    if (fe->drain_timer && !su_timer_is_set(fe->drain_timer))
        su_timer_set_interval(fe->drain_timer, drain_timer_fired, NULL, 0);
}

int zmq_su_register(struct fe *fe, void *sock, void (*drain)(struct fe *))
{
    if (n_watches == MAX_WATCHES)
        return -1;
    int fd;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0) {
        log_error("cannot get the ZeroMQ socket's file descriptor: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    su_wait_t w;
    if (su_wait_create(&w, fd, SU_WAIT_IN) < 0)
        return -1;
    int idx = su_root_register(fe->root, &w, zmq_wakeup, NULL, 0);
    if (idx < 0) {
        su_wait_destroy(&w);
        return -1;
    }
    watches[n_watches++] = (struct zmq_watch){ sock, drain };
    if (!fe->drain_timer)
        fe->drain_timer = su_timer_create(su_root_task(fe->root), 0);
    if (!prepoll_added) {
        su_root_add_prepoll(fe->root, zmq_prepoll, fe);
        prepoll_added = true;
    }
    return idx;
}

void zmq_su_unregister(struct fe *fe, int idx)
{
    /* deregister before zmq_close, or su_root later fails EPOLL_CTL_DEL on a dead fd */
    if (idx > 0)
        su_root_deregister(fe->root, idx);
    if (prepoll_added) {
        su_root_remove_prepoll(fe->root);
        prepoll_added = false;
    }
    n_watches = 0;
    if (fe->drain_timer) {
        su_timer_destroy(fe->drain_timer);
        fe->drain_timer = NULL;
    }
}
