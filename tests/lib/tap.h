/* tap.h — a tiny TAP producer for the C integration tests: plan, ok, is, is_str, diag, done.
 * Header-only (each test is one translation unit); output goes to stdout, diagnostics to
 * stdout as "# " lines so prove shows them next to the failing test. */
#ifndef PCHAT_TAP_H
#define PCHAT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

static inline void tap_plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* one "# " per line so multi-line diagnostics stay TAP comments */
    for (char *line = buf, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        printf("# %s\n", line);
    }
    fflush(stdout);
}

static inline bool ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool ok(bool cond, const char *fmt, ...)
{
    char name[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%s %d - %s\n", cond ? "ok" : "not ok", tap_run, name);
    fflush(stdout);
    return cond;
}

static inline bool is_int(long got, long want, const char *name)
{
    bool r = ok(got == want, "%s", name);
    if (!r)
        diag("  got: %ld\n  expected: %ld", got, want);
    return r;
}

static inline bool is_str(const char *got, const char *want, const char *name)
{
    bool r = ok(got && want && strcmp(got, want) == 0, "%s", name);
    if (!r)
        diag("  got: '%s'\n  expected: '%s'", got ? got : "(null)", want ? want : "(null)");
    return r;
}

static inline void skip(int n, const char *why)
{
    for (int i = 0; i < n; i++) {
        tap_run++;
        printf("ok %d # SKIP %s\n", tap_run, why);
    }
    fflush(stdout);
}

static inline void bail_out(const char *why)
{
    printf("Bail out! %s\n", why);
    fflush(stdout);
    exit(255);
}

/* Exit code: 0 when every planned test ran and passed. */
static inline int done_testing(void)
{
    if (tap_planned < 0)
        printf("1..%d\n", tap_run);
    else if (tap_run != tap_planned)
        diag("planned %d tests but ran %d", tap_planned, tap_run);
    fflush(stdout);
    return tap_failed || (tap_planned >= 0 && tap_run != tap_planned) ? 1 : 0;
}

#endif
