/* util.h — small helpers every process needs: clocks, random numbers, string copies. */
#ifndef PCHAT_UTIL_H
#define PCHAT_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t now_us(void);          /* CLOCK_REALTIME in µs: timestamps that cross processes */
int64_t mono_us(void);         /* CLOCK_MONOTONIC in µs: timeouts and latencies */
uint64_t random_u64(void);     /* non-cryptographic, seeded from getrandom at first use */
/* Uniform integer in [lo, hi]. */
int random_between(int lo, int hi);
/* Copy at most dstlen-1 bytes and NUL-terminate; returns dst. */
char *strlcpy0(char *dst, const char *src, size_t dstlen);
/* printf into a caller's error buffer (truncating, always NUL-terminated; err may be NULL). */
void set_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* malloc that aborts the process on failure (used for small control structures only). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
