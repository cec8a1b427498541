/* pchat_adapter_util.h — header-only helpers for adapter authors: the three timestamp forms of
 * the Lync XmlAdapter format, a capped output buffer with XML and JSON escaping, safe file
 * names, and the atomic file write (temp file, fsync, rename, fsync of the directory) that
 * makes "same batch id -> same file" idempotent. Optional: the ABI is pchat_adapter.h alone.
 * Everything is static inline, so an adapter compiles it in and links against nothing. */
#ifndef PCHAT_ADAPTER_UTIL_H
#define PCHAT_ADAPTER_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pchat_adapter.h"

/* ---- errors --------------------------------------------------------------------------------- */

/* printf into an adapter's err buffer (truncating, always NUL-terminated). */
static inline void pchat_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void pchat_set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- time: epoch milliseconds, ISO-8601 with 7 decimals, .NET ticks ------------------------ */

/* .NET DateTime ticks (100 ns since 0001-01-01) at 1970-01-01T00:00:00Z. */
#define PCHAT_DOTNET_TICKS_AT_EPOCH 621355968000000000LL
/* Room for "2008-06-04T20:15:40.9535480Z" (28 bytes) with margin for any int the format sees. */
#define PCHAT_TIME_ISO_LEN 80

/* Milliseconds since 1970, rounded down (the XmlAdapter's `since1970`). */
static inline int64_t pchat_time_epoch_ms(int64_t time_us)
{
    int64_t ms = time_us / 1000;
    if (time_us % 1000 < 0)
        ms--;
    return ms;
}

/* .NET ticks (the XmlAdapter's `long`): epoch_ms * 10000 + 621355968000000000 for a whole
 * millisecond, plus the sub-millisecond part at 100 ns resolution. */
static inline int64_t pchat_time_ticks(int64_t time_us)
{
    return time_us * 10 + PCHAT_DOTNET_TICKS_AT_EPOCH;
}

/* ISO-8601 UTC with seven decimals (the XmlAdapter's `string`), e.g.
 * "2008-06-04T20:15:40.9535480Z". Returns the length, or -1 for a time gmtime cannot show. */
static inline int pchat_time_iso(int64_t time_us, char out[PCHAT_TIME_ISO_LEN])
{
    int64_t secs = time_us / 1000000;
    int64_t frac = time_us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
        out[0] = '\0';
        return -1;
    }
    return snprintf(out, PCHAT_TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%07lldZ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, (long long)(frac * 10));
}

/* Compact UTC stamp for file names: "20080604T201540Z". */
static inline void pchat_time_compact(int64_t time_us, char out[20])
{
    time_t t = (time_t)(time_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 20, "%Y%m%dT%H%M%SZ", &tm) == 0)
        snprintf(out, 20, "%lld", (long long)(time_us / 1000000));
}

/* ---- a growable buffer with a hard cap ---------------------------------------------------- */

struct pchat_buf {
    char *data;      /* NUL-terminated while non-NULL */
    size_t len;
    size_t cap;
    size_t max;      /* len never exceeds this */
    int failed;      /* an append was refused: over max or out of memory */
};

static inline void pchat_buf_init(struct pchat_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

static inline void pchat_buf_free(struct pchat_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static inline int pchat_buf_reserve(struct pchat_buf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (more > b->max - b->len) {
        b->failed = 1;
        return -1;
    }
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline void pchat_buf_append(struct pchat_buf *b, const void *data, size_t n)
{
    if (pchat_buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void pchat_buf_puts(struct pchat_buf *b, const char *s)
{
    pchat_buf_append(b, s, strlen(s));
}

static inline void pchat_buf_printf(struct pchat_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void pchat_buf_printf(struct pchat_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        pchat_buf_append(b, small, (size_t)n);
        return;
    }
    if (pchat_buf_reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Characters XML 1.0 cannot carry at all (C0 controls other than TAB/LF/CR, U+FFFE, U+FFFF)
 * become U+FFFD; the text is otherwise kept byte for byte (PostgreSQL text is valid UTF-8). */
static inline size_t pchat_xml_forbidden_len(const unsigned char *p)
{
    if (p[0] < 0x20 && p[0] != '\t' && p[0] != '\n' && p[0] != '\r')
        return 1;
    if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
        return 3;
    return 0;
}

/* Append s escaped for an XML attribute value in double quotes. TAB, LF and CR become
 * character references so that attribute-value normalisation does not turn them into spaces. */
static inline void pchat_buf_xml_attr(struct pchat_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p;
    for (;; p++) {
        const char *rep = NULL;
        size_t skip = 1;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\t': rep = "&#9;"; break;
        case '\n': rep = "&#10;"; break;
        case '\r': rep = "&#13;"; break;
        case '\0': break;
        default:
            if ((skip = pchat_xml_forbidden_len(p)) != 0)
                rep = "\xEF\xBF\xBD";
            else
                skip = 1;
        }
        if (*p == '\0' || rep) {
            pchat_buf_append(b, run, (size_t)(p - run));
            if (*p == '\0')
                return;
            pchat_buf_puts(b, rep);
            p += skip - 1;
            run = p + 1;
        }
    }
}

/* Append s as a JSON string literal (with quotes), or `null` when s is NULL. */
static inline void pchat_buf_json_string(struct pchat_buf *b, const char *s)
{
    if (!s) {
        pchat_buf_puts(b, "null");
        return;
    }
    pchat_buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s, *run = p;
    for (;; p++) {
        char esc[8];
        const char *rep = NULL;
        switch (*p) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        case '\0': break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                rep = esc;
            }
        }
        if (*p == '\0' || rep) {
            pchat_buf_append(b, run, (size_t)(p - run));
            if (*p == '\0')
                break;
            pchat_buf_puts(b, rep);
            run = p + 1;
        }
    }
    pchat_buf_append(b, "\"", 1);
}

/* ---- names and paths -------------------------------------------------------------------- */

/* Copy s into out as a file-name component: [A-Za-z0-9._-] kept, anything else '_', at most
 * outlen-1 bytes, never empty, never starting with '.'. */
static inline void pchat_file_component(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    for (; s && *s && o + 1 < outlen; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && o > 0);
        out[o++] = ok ? c : '_';
    }
    if (o == 0 && outlen > 1)
        out[o++] = '_';
    out[o] = '\0';
}

/* The last path segment of a room URI ("ma-chan://example.com/<guid>" -> "<guid>"), as a file
 * name component; "none" for "". */
static inline void pchat_room_file_component(const char *room_uri, char *out, size_t outlen)
{
    const char *slash = room_uri ? strrchr(room_uri, '/') : NULL;
    const char *seg = slash ? slash + 1 : room_uri;
    pchat_file_component(seg && *seg ? seg : "none", out, outlen);
}

/* The address part of a SIP URI: "sip:alice@example.com;transport=tls" -> "alice@example.com".
 * pchat keeps no directory, so this is the user's e-mail address exactly when the pool follows
 * the usual rule "SIP address = e-mail address". */
static inline void pchat_user_address(const char *uri, char *out, size_t outlen)
{
    const char *p = uri ? uri : "";
    if (strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    else if (strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    size_t n = strcspn(p, ";?>");
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* The value of options key `key`, or NULL. */
static inline const char *pchat_option(const struct pchat_adapter_config *c, const char *key)
{
    for (size_t i = 0; i < c->n_options; i++)
        if (strcmp(c->options[i].key, key) == 0)
            return c->options[i].value;
    return NULL;
}

/* "true"/"yes"/"on"/"1" -> 1, "false"/"no"/"off"/"0" -> 0, anything else -1. */
static inline int pchat_option_bool(const char *v)
{
    static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };
    for (size_t i = 0; v && i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* mkdir -p with mode 0750 for what it creates. */
static inline int pchat_mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) {
        pchat_set_error(err, errlen, "directory path \"%.200s\" is empty or longer than %zu bytes", path,
                 sizeof tmp - 1);
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0750) < 0 && errno != EEXIST) {
            pchat_set_error(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
            return -1;
        }
        tmp[i] = c;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        pchat_set_error(err, errlen, "%s is not a directory", path);
        return -1;
    }
    return 0;
}

/* Write data to dir/name so that a reader sees either no file or the whole file, and the
 * file survives a power cut once this returns 0: write "dir/.name.<pid>.tmp", fsync it,
 * rename it over dir/name, fsync dir. Writing the same name again replaces the file, which is
 * what makes a retried batch land once. */
static inline int pchat_write_file_atomic(const char *dir, const char *name, const void *data,
                                          size_t len, char *err, size_t errlen)
{
    char final[4096], tmp[4096];
    if ((size_t)snprintf(final, sizeof final, "%s/%s", dir, name) >= sizeof final ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid()) >= sizeof tmp) {
        pchat_set_error(err, errlen, "output path %s/%s is too long", dir, name);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        pchat_set_error(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            pchat_set_error(err, errlen, "cannot write %s: %s", tmp, w < 0 ? strerror(errno) : "no progress");
            close(fd);
            unlink(tmp);
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0) {
        pchat_set_error(err, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, final) < 0) {
        pchat_set_error(err, errlen, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* A writer killed between open and rename leaves its ".<name>.<pid>.tmp" behind. Remove such
 * files of this instance ("." + instance + "-" ... ".tmp") older than max_age_s: old enough that
 * no live writer (on this node or another sharing the directory) can still own them. Returns
 * how many were removed. */
static inline int pchat_remove_stale_temp_files(const char *dir, const char *instance, int max_age_s)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t ilen = strlen(instance);
    int removed = 0;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] != '.' || len < ilen + 6 || strncmp(n + 1, instance, ilen) != 0 ||
            n[ilen + 1] != '-' || strcmp(n + len - 4, ".tmp") != 0)
            continue;
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, n) >= sizeof path ||
            lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < max_age_s)
            continue;
        removed += unlink(path) == 0;
    }
    closedir(d);
    return removed;
}

#endif
