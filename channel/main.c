/* main.c — pchat-channel: a stateless channel worker. Connects to every front end in its
 * config and to the chat store, then serves requests one at a time until SIGINT/SIGTERM. */
#include "ch.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    static const struct daemon_info info = {
        .program = "pchat-channel",
        .summary = "A stateless channel worker of a pchat pool: runs XCCOS commands against the\n"
                   "Persistent Chat Store (PostgreSQL) for every front end in channel.frontends.",
        .takes_id = true,
    };
    struct pchat_config cfg;
    const char *id;
    daemon_init(&info, argc, argv, &cfg, &id);

    struct ch ch;
    memset(&ch, 0, sizeof ch);
    ch.cfg = &cfg;
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    /* the id is the ZeroMQ routing id: unique per process, even for a restarted worker */
    if (id)
        snprintf(ch.id, sizeof ch.id, "%s.%d", id, (int)getpid());
    else
        snprintf(ch.id, sizeof ch.id, "%s.%d", host, (int)getpid());
    hmap_init(&ch.user_ids);
    /* first look for dead front ends only after live ones had time to report through us
       (after a pool-wide worker outage their last reports are all old) */
    ch.next_reap = mono_us() + 30 * 1000000LL;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cfg.channel.n_frontends == 0) {
        log_error("channel.frontends is empty: list the front ends this worker serves");
        return 1;
    }
    if (db_ensure(&ch) < 0)
        log_warn("starting without the chat store; requests get 503 until it is reachable");
    if (stats_open(&ch) < 0 || links_open(&ch) < 0)
        return 1;
    log_info("ready: worker %s serving %d front end(s)", ch.id, ch.n_links);

    while (!stop_requested) {
        links_poll_in(&ch, ch.jobs_head ? 0 : 20);
        links_tick(&ch);
        reaper_tick(&ch);
        /* a few jobs per turn, so heartbeats keep flowing under load */
        for (int n = 0; n < 8 && ch.jobs_head; n++) {
            struct ch_job *job = ch.jobs_head;
            ch.jobs_head = job->next;
            if (!ch.jobs_head)
                ch.jobs_tail = NULL;
            ch.n_jobs--;
            job_run(&ch, job);
            pchat__to_worker__free_unpacked(job->msg, NULL);
            free(job);
        }
    }
    log_info("stopping: served %llu requests (%llu failed), %d waiting", (unsigned long long)ch.served,
             (unsigned long long)ch.failed, ch.n_jobs);
    while (ch.jobs_head) {
        struct ch_job *job = ch.jobs_head;
        ch.jobs_head = job->next;
        pchat__to_worker__free_unpacked(job->msg, NULL);
        free(job);
    }
    links_close(&ch);
    stats_close(&ch);
    db_drop(&ch);
    hmap_free(&ch.user_ids);
    config_free(&cfg);
    return 0;
}
