/* loop.c — the client's one event loop: epoll for sockets, a binary min-heap for timers
 * (O(log n) arm/cancel, so tens of thousands of users each with a few timers stay cheap). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "sc_internal.h"

int64_t sc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct sc_loop *sc_loop_new(void)
{
    struct sc_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->scratch_len = 256 * 1024;
    l->scratch = malloc(l->scratch_len);
    if (l->epfd < 0 || !l->scratch) {
        if (l->epfd >= 0)
            close(l->epfd);
        free(l->scratch);
        free(l);
        return NULL;
    }
    if (getrandom(&l->rng, sizeof(l->rng), 0) != sizeof(l->rng) || l->rng == 0)
        l->rng = (uint64_t)sc_now_us() * 0x9E3779B97F4A7C15ull | 1;
    return l;
}

void sc_loop_free(struct sc_loop *l)
{
    if (!l)
        return;
    while (l->users)
        sc_user_free(l->users);
    close(l->epfd);
    free(l->heap);
    free(l->scratch);
    free(l);
}

uint32_t sc_random(struct sc_loop *l)
{
    /* xorshift64*: plenty for tags, Call-IDs and branches */
    uint64_t x = l->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* ---- timer heap ---------------------------------------------------------------------------- */

static void heap_swap(struct sc_loop *l, int a, int b)
{
    struct sc_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

static void heap_up(struct sc_loop *l, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (l->heap[p]->due_us <= l->heap[i]->due_us)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(struct sc_loop *l, int i)
{
    for (;;) {
        int c = 2 * i + 1, m = i;
        if (c < l->heap_len && l->heap[c]->due_us < l->heap[m]->due_us)
            m = c;
        if (c + 1 < l->heap_len && l->heap[c + 1]->due_us < l->heap[m]->due_us)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

void sc_timer_cancel(struct sc_loop *l, struct sc_timer *t)
{
    int i = t->heap_idx;
    if (i < 0 || i >= l->heap_len || l->heap[i] != t)
        return;
    l->heap_len--;
    if (i != l->heap_len) {
        l->heap[i] = l->heap[l->heap_len];
        l->heap[i]->heap_idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
    t->heap_idx = -1;
}

void sc_timer_arm(struct sc_loop *l, struct sc_timer *t, int64_t due_us)
{
    sc_timer_cancel(l, t);
    if (l->heap_len == l->heap_cap) {
        int cap = l->heap_cap ? l->heap_cap * 2 : 256;
        struct sc_timer **h = realloc(l->heap, (size_t)cap * sizeof(*h));
        if (!h)
            return;     /* out of memory: the timer stays unarmed; its step times out never */
        l->heap = h;
        l->heap_cap = cap;
    }
    t->due_us = due_us;
    t->heap_idx = l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, t->heap_idx);
}

/* ---- sockets ------------------------------------------------------------------------------- */

int sc_fd_watch(struct sc_loop *l, struct sc_fd *f, uint32_t events, bool add)
{
    struct epoll_event ev = { .events = events, .data.ptr = f };
    return epoll_ctl(l->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, f->fd, &ev);
}

void sc_fd_unwatch(struct sc_loop *l, struct sc_fd *f)
{
    if (f->fd >= 0)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
}

static void run_due_timers(struct sc_loop *l)
{
    int64_t now = sc_now_us();
    /* a budget keeps a storm of due timers from starving the sockets */
    for (int budget = 4096; budget > 0 && l->heap_len > 0; budget--) {
        struct sc_timer *t = l->heap[0];
        if (t->due_us > now)
            break;
        sc_timer_cancel(l, t);
        t->fire(t);
    }
}

int sc_loop_run(struct sc_loop *l, int timeout_ms, bool (*until)(void *arg), void *arg)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sc_now_us() + (int64_t)timeout_ms * 1000;
    struct epoll_event evs[256];

    if (until && until(arg))
        return 1;
    for (;;) {
        int64_t now = sc_now_us();
        if (now >= deadline)
            return 0;
        int64_t wait_us = deadline - now;
        if (l->heap_len > 0) {
            int64_t t = l->heap[0]->due_us - now;
            if (t < wait_us)
                wait_us = t < 0 ? 0 : t;
        }
        int wait_ms = (int)((wait_us + 999) / 1000);
        if (wait_ms > 1000)
            wait_ms = 1000;
        int n = epoll_wait(l->epfd, evs, 256, wait_ms);
        if (n < 0 && errno != EINTR)
            return 0;
        for (int i = 0; i < n; i++) {
            struct sc_fd *f = evs[i].data.ptr;
            f->on_io(f, evs[i].events);
        }
        run_due_timers(l);
        if (until && until(arg))
            return 1;
    }
}
