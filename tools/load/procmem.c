/* procmem.c — what the run costs: the pool processes' memory (VmRSS, VmHWM from
 * /proc/PID/status), the tool's own CPU time and memory, and the open-files limit it needs. */
#include "load.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void proc_mem_read(int pid, struct proc_mem *m)
{
    char path[64], line[256];
    m->rss_kb = m->hwm_kb = -1;
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            m->rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            m->hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static void add_proc(struct load *L, int pid)
{
    for (int i = 0; i < L->n_procs; i++)
        if (L->procs[i].pid == pid)
            return;
    if (L->n_procs == LOAD_MAX_PIDS)
        return;
    struct pool_proc *p = &L->procs[L->n_procs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->start.rss_kb = p->start.hwm_kb = -1;
    p->after_setup = p->end = p->start;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(p->name, sizeof p->name, f))
            p->name[strcspn(p->name, "\n")] = '\0';
        fclose(f);
    }
    if (!p->name[0])
        snprintf(p->name, sizeof p->name, "pid %d (gone)", pid);
}

int procs_collect(struct load *L, char *err, size_t errlen)
{
    for (int i = 0; i < L->o.n_pids; i++)
        add_proc(L, L->o.pids[i]);
    if (!L->o.pidfile_dir[0])
        return 0;
    DIR *d = opendir(L->o.pidfile_dir);
    if (!d) {
        snprintf(err, errlen, "--pool-pidfile-dir %s cannot be read: %s", L->o.pidfile_dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".pid") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", L->o.pidfile_dir, e->d_name);
        FILE *f = fopen(path, "r");
        long pid = 0;
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0 && pid < 4194304) {
            /* stale pidfiles of a stopped pool are skipped, not reported as zero */
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/%ld", pid);
            DIR *pd = opendir(proc);
            if (pd) {
                closedir(pd);
                add_proc(L, (int)pid);
            }
        }
    }
    closedir(d);
    return 0;
}

void procs_sample(struct load *L, int which)
{
    for (int i = 0; i < L->n_procs; i++) {
        struct pool_proc *p = &L->procs[i];
        struct proc_mem *m = which == 0 ? &p->start : which == 1 ? &p->after_setup : &p->end;
        proc_mem_read(p->pid, m);
    }
}

void tool_cpu(double *user_s, double *sys_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Raise the soft open-files limit to the hard one; returns 1 (with msg) when even that is
 * below what want descriptors need. */
int raise_nofile(int want, char *msg, size_t msglen)
{
    struct rlimit rl;
    msg[0] = '\0';
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        snprintf(msg, msglen, "cannot read the open-files limit: %s", strerror(errno));
        return -1;
    }
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            snprintf(msg, msglen, "cannot raise the open-files limit from %llu to %llu: %s",
                     (unsigned long long)before, (unsigned long long)rl.rlim_max, strerror(errno));
            return -1;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want) {
        snprintf(msg, msglen,
                 "the open-files limit is %llu (hard) but this run needs about %d (a socket per user): "
                 "users past the limit will fail to connect; raise the hard limit (ulimit -Hn as root, "
                 "LimitNOFILE= in systemd) or run several pchat-load with --first-user",
                 (unsigned long long)rl.rlim_cur, want);
        return 1;
    }
    if (before < rl.rlim_cur)
        snprintf(msg, msglen, "raised the open-files limit from %llu to %llu",
                 (unsigned long long)before, (unsigned long long)rl.rlim_cur);
    return 0;
}
