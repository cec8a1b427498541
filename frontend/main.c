/* main.c — pchat-frontend: the SIP edge of a pool. Loads the config, starts sofia-sip NUA,
 * binds the ZeroMQ sockets towards the workers, runs one su_root loop until SIGINT/SIGTERM. */
#include "fe.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sofia-sip/nua_tag.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/nta_tag.h>

#include "daemon.h"
#include "edge.h"
#include "log.h"
#include "util.h"

static struct fe *the_fe;

static void on_signal(int sig)
{
    (void)sig;
    if (the_fe && !the_fe->shutting_down) {
        the_fe->shutting_down = true;
        su_root_break(the_fe->root);
    }
}

static void janitor_tick(struct fe *fe, su_timer_t *t, void *arg)
{
    (void)t;
    (void)arg;
    router_janitor(fe);
    rooms_janitor(fe);
    sessions_janitor(fe);
    edge_janitor(fe);
    stats_tick(fe);
    admit_tick(fe);
    admit_overloaded(fe);   /* the overload state also ends while no INFO arrives */
    static int ticks;
    if (++ticks % 100 == 0) {   /* every 10 s */
        sip_janitor(fe);
        /* give freed memory back: join replies of big rooms and bursts of fan-out leave the
           heap's high-water mark far above what is in use (2,000 users joining one room:
           219 MB resident, 31 MB after a trim), and glibc only trims the heap's top */
        malloc_trim(0);
    }
}

/* A loopback port nobody listens on now (bind to port 0, read it, let it go). */
static int free_loopback_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int start_sip(struct fe *fe)
{
    /* sofia listens on loopback only; clients reach it through the edge relay (edge.h) */
    int internal = free_loopback_port();
    if (internal <= 0) {
        log_error("cannot find a free loopback port for the SIP stack");
        return -1;
    }
    char url[256];
    snprintf(url, sizeof url, "sip:127.0.0.1:%d", internal);
    fe->nua = nua_create(fe->root, fe_nua_callback, fe,
                         NUTAG_URL(url),
                         /* the application answers these itself (sofia-sip-wire-notes.md:
                            both APPL_METHOD and ALLOW are needed) */
                         /* the whole set including sofia's defaults (INVITE, PUBLISH): a
                            list that drops some of them makes 1.12.11 read uninitialised
                            memory while merging it (valgrind; crashes in some layouts) */
                         NUTAG_APPL_METHOD("INVITE, REGISTER, PUBLISH, SUBSCRIBE, INFO, UPDATE, SERVICE"),
                         NUTAG_ALLOW("INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, "
                                     "SUBSCRIBE, NOTIFY, REGISTER, SERVICE"),
                         NUTAG_ALLOW_EVENTS("vnd-microsoft-provisioning-v2"),
                         NUTAG_MEDIA_ENABLE(0),
                         /* no RFC 4028 engine: the Session-Expires pidgin-sipe needs is added
                            by hand, and sofia must never refresh or BYE on its own */
                         NUTAG_SESSION_TIMER(0),
                         NUTAG_AUTOANSWER(0),
                         NUTAG_ENABLEMESSAGE(0),
                         SIPTAG_SERVER_STR("RTC/5.0 pchat/" PCHAT_VERSION),
                         TPTAG_PONG2PING(0),
                         TAG_END());
    if (!fe->nua) {
        log_error("cannot start the SIP stack on %s", url);
        return -1;
    }
    return edge_open(fe, internal);
}

static void stop_sip(struct fe *fe)
{
    if (!fe->nua)
        return;
    nua_shutdown(fe->nua);
    /* let NUA finish its shutdown (it answers nua_r_shutdown >= 200) for a short while */
    /* it BYEs the sessions still open; give it a few seconds (clients that are gone make
       those BYEs fail quickly or time out) */
    for (int i = 0; i < 250 && !fe->nua_down; i++)
        su_root_step(fe->root, 20);
    if (fe->nua_down)
        nua_destroy(fe->nua);
    else
        log_warn("SIP stack did not finish its shutdown in 5 s; exiting anyway");
    fe->nua = NULL;
}

int main(int argc, char **argv)
{
    static const struct daemon_info info = {
        .program = "pchat-frontend",
        .summary = "The SIP front end of a pchat pool: registrar, provisioning, chat sessions,\n"
                   "admission control (503), routing of XCCOS commands to channel workers.",
    };
    struct pchat_config cfg;
    const char *unused_id;
    daemon_init(&info, argc, argv, &cfg, &unused_id);

    struct fe fe;
    memset(&fe, 0, sizeof fe);
    fe.cfg = &cfg;
    snprintf(fe.id, sizeof fe.id, "%s", cfg.frontend.id);
    fe.incarnation = (uint64_t)now_us();
    fe.next_request_id = 1;
    fe.next_session_id = 1;
    hmap_init(&fe.sessions);
    hmap_init(&fe.rooms);
    hmap_init(&fe.inflight);
    hmap_init(&fe.policies);
    snprintf(fe.state, sizeof fe.state, "active");
    snprintf(fe.address, sizeof fe.address, "%s:%d", cfg.frontend.sip_address, cfg.frontend.sip_port);
    the_fe = &fe;

    if (strcmp(cfg.auth.mode, "none") == 0)
        log_warn("auth.mode is \"none\": anyone who can reach %s:%d can sign in as any user of "
                 "%s; use it only on a trusted network", cfg.frontend.sip_address,
                 cfg.frontend.sip_port, cfg.pool.domain);

    su_init();
    su_home_init(fe.home);
    /* run sofia's stack in this thread: one event loop, no locks (STYLE.md) */
    fe.root = su_root_create(&fe);
    if (!fe.root) {
        log_error("cannot create the event loop");
        return 1;
    }
    su_root_threading(fe.root, 0);

    /* each client costs a descriptor (its socket; a UDP peer's is its relay leg), and the
       process needs some of its own (listeners, shared relay legs, ZeroMQ, metrics): take
       every descriptor the system allows */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    const rlim_t own_fds = 64;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > own_fds &&
        nofile.rlim_cur - own_fds < (rlim_t)cfg.frontend.max_sessions)
        log_warn("open-files limit %llu allows about %llu clients, fewer than frontend.max_sessions "
                 "(%d): raise it (ulimit -n, LimitNOFILE=)", (unsigned long long)nofile.rlim_cur,
                 (unsigned long long)(nofile.rlim_cur - own_fds), cfg.frontend.max_sessions);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 1;
    if (router_open(&fe) < 0 || rooms_open(&fe) < 0 || stats_open(&fe) < 0 || start_sip(&fe) < 0)
        goto out;

    fe.janitor = su_timer_create(su_root_task(fe.root), 100);
    su_timer_set_for_ever(fe.janitor, janitor_tick, NULL);

    log_info("ready: SIP on %s:%d (tcp%s) for domain %s, lookup %s, channel service %s; "
             "workers connect to %s and %s", cfg.frontend.sip_address, cfg.frontend.sip_port,
             cfg.frontend.sip_udp ? ", udp" : "", cfg.pool.domain, cfg.pool.lookup_uri,
             cfg.pool.channel_uri, cfg.frontend.router, cfg.frontend.events);
    su_root_run(fe.root);
    log_info("stopping: %zu sessions, %d requests waiting", fe.sessions.count, fe.ready_len);
    /* close client connections: their sessions end and leave their rooms in the store; give
       the workers a moment to take those requests */
    edge_close(&fe);
    for (int i = 0; i < 100 && (fe.ready_len || fe.inflight.count) && router_live_workers(&fe); i++)
        su_root_step(fe.root, 20);
    rc = 0;

out:
    if (fe.janitor)
        su_timer_destroy(fe.janitor);
    stop_sip(&fe);
    stats_close(&fe);
    rooms_close(&fe);
    router_close(&fe);
    su_root_destroy(fe.root);
    su_home_deinit(fe.home);
    su_deinit();
    config_free(&cfg);
    return rc;
}
