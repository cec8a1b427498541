/* main.c — pchat-load: options, the set-up phase (rooms, sign-ins, joins), the open-loop run,
 * the accounting and the reports. Exit 0 when the run completed, 1 when it could not run,
 * 2 on a usage error. */
#include "load.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

volatile int load_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    load_interrupted++;
}

static void collect_violations(struct load *L)
{
    for (int i = 0; i < L->n_users; i++) {
        struct sc_user *u = L->users[i].sc;
        if (!u || sc_user_violation_count(u) == 0)
            continue;
        L->violations += (uint64_t)sc_user_violation_count(u);
        L->users_with_violations++;
        const char *v = sc_user_violation(u, 0);
        bool seen = false;
        for (int k = 0; k < L->n_violation_samples && !seen; k++)
            seen = strncmp(L->violation_keys[k], v, sizeof L->violation_keys[0] - 1) == 0;
        if (!seen && L->n_violation_samples < 5) {
            snprintf(L->violation_keys[L->n_violation_samples], sizeof L->violation_keys[0], "%s", v);
            snprintf(L->violation_samples[L->n_violation_samples++], sizeof L->violation_samples[0],
                     "%s: %s", sc_user_uri(u), v);
        }
    }
}

static bool all_signed_out(void *arg)
{
    const struct load *L = arg;
    for (int i = 0; i < L->n_users; i++) {
        enum sc_state s = L->users[i].sc ? sc_user_state(L->users[i].sc) : SC_SIGNED_OUT;
        if (s == SC_SIGNING_OUT)
            return false;
    }
    return true;
}

/* SIPE's sign-out (BYE, SUBSCRIBE Expires: 0, REGISTER Expires: 0), paced like the sign-in. */
static void sign_everyone_out(struct load *L)
{
    int64_t start = sc_now_us(), deadline = start + (int64_t)L->o.setup_timeout_s * 1000000;
    double interval_us = 1e6 / L->o.signin_rate;
    int next = 0, started = 0;
    while (next < L->n_users && sc_now_us() < deadline) {
        double allowed = (double)(sc_now_us() - start) / interval_us + 1;
        for (; next < L->n_users && (double)started < allowed; next++) {
            struct sc_user *u = L->users[next].sc;
            if (u && sc_user_state(u) == SC_CONNECTED && sc_user_signout(u) == 0)
                started++;
        }
        sc_loop_run(L->loop, 10, NULL, NULL);
    }
    int left = (int)((deadline - sc_now_us()) / 1000);
    if (left > 0)
        sc_loop_run(L->loop, left < 10000 ? left : 10000, all_signed_out, L);
}

static void cleanup(struct load *L)
{
    if (L->loop)
        sc_loop_free(L->loop);        /* frees every user and closes every connection */
    L->loop = NULL;
    population_free(L);
    deliveries_free(L);
    requests_free(L);
    free(L->ring);
    free(L->series);
    options_free(&L->o);
    free(L);
}

int main(int argc, char **argv)
{
    char err[1024];
    struct load *L = calloc(1, sizeof *L);
    if (!L) {
        fprintf(stderr, "pchat-load: out of memory\n");
        return 1;
    }
    int rc = options_parse(&L->o, argc, argv, err, sizeof err);
    if (rc != 0) {
        if (rc > 0)
            options_help(stdout);
        else
            fprintf(stderr, "pchat-load: %s\n", err);
        options_free(&L->o);
        free(L);
        return rc > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (L->o.seed == 0 && getrandom(&L->o.seed, sizeof L->o.seed, 0) != sizeof L->o.seed)
        L->o.seed = (uint64_t)sc_now_us();
    L->o.seed &= (1ull << 48) - 1;      /* exact in every JSON reader */
    if (L->o.seed == 0)
        L->o.seed = 1;
    L->rng = L->o.seed * 0x9E3779B97F4A7C15ull | 1;
    time_t t0 = time(NULL);
    struct tm tm;
    gmtime_r(&t0, &tm);
    strftime(L->started_at, sizeof L->started_at, "%Y-%m-%dT%H:%M:%SZ", &tm);

    int fd_rc = raise_nofile(L->o.users + 16, err, sizeof err);
    if (err[0])
        fprintf(stderr, "pchat-load: %s\n", err);
    (void)fd_rc;

    if (population_build(L, err, sizeof err) < 0 || procs_collect(L, err, sizeof err) < 0) {
        fprintf(stderr, "pchat-load: %s\n", err);
        cleanup(L);
        return 2;
    }
    if (requests_init(L) < 0) {
        fprintf(stderr, "pchat-load: out of memory\n");
        cleanup(L);
        return 1;
    }
    if (L->o.setup_conninfo[0] && L->n_rooms > 0) {
        if (store_setup_rooms(L, err, sizeof err) < 0) {
            fprintf(stderr, "pchat-load: %s\n", err);
            cleanup(L);
            return 1;
        }
        fprintf(stderr, "pchat-load: %d rooms ready in the chat store (category pchat-load)\n", L->n_rooms);
    }
    procs_sample(L, 0);

    L->loop = sc_loop_new();
    if (!L->loop) {
        fprintf(stderr, "pchat-load: cannot create the event loop (epoll)\n");
        cleanup(L);
        return 1;
    }
    double u0, s0, u1, s1, u2, s2;
    tool_cpu(&u0, &s0);
    if (signin_phase(L, err, sizeof err) < 0) {
        fprintf(stderr, "pchat-load: %s\n", err);
        cleanup(L);
        return 1;
    }
    tool_cpu(&u1, &s1);
    L->setup_cpu_s = (u1 - u0) + (s1 - s0);
    procs_sample(L, 1);

    if (run_phase(L) < 0) {
        fprintf(stderr, "pchat-load: out of memory for the per-second series\n");
        cleanup(L);
        return 1;
    }
    tool_cpu(&u2, &s2);
    L->run_cpu_s = (u2 - u1) + (s2 - s1);
    procs_sample(L, 2);
    proc_mem_read(0, &L->tool_end);
    L->tool_user_s = u2;
    L->tool_sys_s = s2;

    collect_violations(L);
    deliveries_account(L);
    L->completed = !load_interrupted;

    bool json_stdout = strcmp(L->o.json_path, "-") == 0;
    report_human(L, json_stdout ? stderr : stdout);
    fflush(stdout);
    int status = 0;
    if (L->o.json_path[0] && report_json(L, L->o.json_path, err, sizeof err) < 0) {
        fprintf(stderr, "pchat-load: %s\n", err);
        status = 1;
    }
    if (L->o.signout && !load_interrupted)
        sign_everyone_out(L);
    if (load_interrupted) {
        fprintf(stderr, "pchat-load: interrupted: the figures above cover the run up to that point\n");
        status = 1;
    }
    cleanup(L);
    return status;
}
