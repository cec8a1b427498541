/* sipmsg.c — reading one received SIP message the way SIPE's sipmsg.c does (full header names,
 * case-insensitive, folded lines joined, values not split on commas) and saying in a sentence
 * what in its framing would make SIPE stall or drop the connection (PROTOCOL §2.1, §5 #1 #2). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>

#include "sc_internal.h"

static void problem_set(char *problem, size_t len, const char *fmt, const char *arg)
{
    if (problem && len && problem[0] == '\0')
        snprintf(problem, len, fmt, arg);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

long sc_head_content_length(const char *head, size_t head_len)
{
    const char *p = head, *end = head + head_len;
    long found = -1;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        if (n > 15 && strncasecmp(p, "Content-Length", 14) == 0) {
            const char *q = p + 14;
            while (q < p + n && (*q == ' ' || *q == '\t'))
                q++;
            if (q < p + n && *q == ':') {
                q++;
                while (q < p + n && (*q == ' ' || *q == '\t'))
                    q++;
                if (q >= p + n || !isdigit((unsigned char)*q))
                    return -2;
                long v = 0;
                while (q < p + n && isdigit((unsigned char)*q) && v < 100000000)
                    v = v * 10 + (*q++ - '0');
                if (found < 0)
                    found = v;
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return found;
}

void sc_msg_clear(struct sc_msg *m)
{
    free(m->raw);
    free(m->work);
    memset(m, 0, sizeof(*m));
}

/* SIPE only knows full names; these one-letter compact forms are invisible to it. */
static bool is_compact_name(const char *name)
{
    return name[0] != '\0' && name[1] == '\0' && strchr("iftlcvmkseourbxjady", tolower((unsigned char)name[0]));
}

int sc_msg_parse(struct sc_msg *m, const char *buf, size_t head_len, size_t total_len,
                 char *problem, size_t problem_len, bool *fatal)
{
    *fatal = false;
    memset(m, 0, sizeof(*m));
    m->raw = malloc(total_len + 1);
    m->work = malloc(head_len + 1);
    if (!m->raw || !m->work) {
        sc_msg_clear(m);
        return -1;
    }
    memcpy(m->raw, buf, total_len);
    m->raw[total_len] = '\0';
    m->raw_len = total_len;
    m->head_len = head_len;
    m->body = m->raw + head_len;
    m->body_len = total_len - head_len;

    /* head without the final CRLFCRLF; a bare LF anywhere breaks SIPE's line split on CRLF */
    size_t hl = head_len >= 4 ? head_len - 4 : 0;
    memcpy(m->work, buf, hl);
    m->work[hl] = '\0';
    for (size_t i = 0; i < hl; i++) {
        if (m->work[i] == '\n' && (i == 0 || m->work[i - 1] != '\r')) {
            problem_set(problem, problem_len, "%s", "a header line ends in a bare LF: SIPE splits on CRLF only");
            break;
        }
        if (m->work[i] == '\0') {
            problem_set(problem, problem_len, "%s", "the header block contains a NUL byte");
            m->work[i] = ' ';
        }
    }

    /* split into lines in place; continuation lines are appended to the previous value */
    char *lines[SC_MAX_HDRS + 1];
    int n_lines = 0;
    char *p = m->work;
    while (p && *p && n_lines < SC_MAX_HDRS + 1) {
        char *eol = strstr(p, "\r\n");
        if (eol) {
            *eol = '\0';
        }
        if ((*p == ' ' || *p == '\t') && n_lines > 1) {
            /* folded: join with one space onto the previous line */
            char *prev = lines[n_lines - 1];
            size_t plen = strlen(prev);
            memmove(prev + plen + 1, trim(p), strlen(trim(p)) + 1);
            prev[plen] = ' ';
        } else {
            lines[n_lines++] = p;
        }
        p = eol ? eol + 2 : NULL;
    }
    if (p && *p)
        problem_set(problem, problem_len, "%s", "more header lines than the client accepts");
    if (n_lines == 0)
        return -1;

    /* start line */
    char *start = lines[0];
    if (strncmp(start, "SIP/2.0 ", 8) == 0) {
        m->is_response = true;
        char *code = start + 8;
        char *sp = strchr(code, ' ');
        if (!sp || sp[1] == '\0') {
            problem_set(problem, problem_len,
                        "status line '%s' has no reason phrase: SIPE cannot parse it and stalls", start);
            *fatal = true;
            if (sp)
                *sp = '\0';
            m->reason = "";
        } else {
            *sp = '\0';
            m->reason = sp + 1;
        }
        if (strlen(code) != 3 || !isdigit((unsigned char)code[0]) || !isdigit((unsigned char)code[1])
            || !isdigit((unsigned char)code[2]))
            return -1;
        m->status = atoi(code);
    } else {
        char *sp1 = strchr(start, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strcmp(sp2 + 1, "SIP/2.0") != 0) {
            problem_set(problem, problem_len, "request line '%s' is not 'METHOD URI SIP/2.0'", start);
            return -1;
        }
        *sp1 = '\0';
        *sp2 = '\0';
        m->method = start;
        m->ruri = sp1 + 1;
    }

    for (int i = 1; i < n_lines; i++) {
        char *colon = strchr(lines[i], ':');
        if (!colon) {
            problem_set(problem, problem_len,
                        "header line '%s' has no ':': SIPE cannot parse the message and stalls", lines[i]);
            *fatal = true;
            continue;
        }
        *colon = '\0';
        char *name = trim(lines[i]);
        if (is_compact_name(name))
            problem_set(problem, problem_len,
                        "compact header name '%s:' is invisible to SIPE (full names only)", name);
        if (m->n_hdrs < SC_MAX_HDRS) {
            m->hdrs[m->n_hdrs].name = name;
            m->hdrs[m->n_hdrs].value = trim(colon + 1);
            m->n_hdrs++;
        }
    }

    if (sc_msg_header(m, "Content-Type") && !sc_msg_header(m, "Content-Length")) {
        problem_set(problem, problem_len, "%s",
                    "Content-Type without Content-Length: SIPE calls the message corrupt and drops the connection");
        *fatal = true;
    }
    return 0;
}

const char *sc_msg_header_nth(const struct sc_msg *m, const char *name, int n)
{
    for (int i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0 && n-- == 0)
            return m->hdrs[i].value;
    return NULL;
}

const char *sc_msg_header(const struct sc_msg *m, const char *name)
{
    return sc_msg_header_nth(m, name, 0);
}

int sc_msg_header_count(const struct sc_msg *m, const char *name)
{
    int n = 0;
    for (int i = 0; i < m->n_hdrs; i++)
        if (strcasecmp(m->hdrs[i].name, name) == 0)
            n++;
    return n;
}

int sc_uri_of(const char *v, char *out, size_t outlen)
{
    if (!v || outlen == 0)
        return -1;
    const char *lt = strchr(v, '<');
    const char *s, *e;
    if (lt) {
        s = lt + 1;
        e = strchr(s, '>');
        if (!e)
            return -1;
    } else {
        s = v;
        e = strchr(s, ';');
        if (!e)
            e = s + strlen(s);
    }
    size_t n = (size_t)(e - s);
    if (n >= outlen)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int sc_hdr_param(const char *v, const char *name, char *out, size_t outlen)
{
    if (!v || outlen == 0)
        return -1;
    const char *p = strstr(v, name);
    if (!p)
        return -1;
    p += strlen(name);
    const char *e = strchr(p, ';');
    if (!e)
        e = p + strlen(p);
    size_t n = (size_t)(e - p);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

void sc_msg_excerpt(const struct sc_msg *m, char *out, size_t outlen)
{
    /* the head with CRLF shown as " | ", cut to fit */
    size_t o = 0;
    size_t hl = m->head_len >= 4 ? m->head_len - 4 : m->raw_len;
    for (size_t i = 0; i < hl && o + 4 < outlen; i++) {
        char c = m->raw[i];
        if (c == '\r')
            continue;
        if (c == '\n') {
            out[o++] = ' ';
            out[o++] = '|';
            out[o++] = ' ';
        } else {
            out[o++] = (c >= 0x20 && c < 0x7f) ? c : '?';
        }
    }
    if (o + 4 >= outlen && outlen > 4) {
        o = outlen - 4;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

bool sc_sofia_parses(const char *buf, size_t len)
{
    msg_t *msg = msg_make(sip_default_mclass(), 0, buf, (ssize_t)len);
    if (!msg)
        return false;
    sip_t *sip = sip_object(msg);
    bool ok = sip && !sip->sip_error && sip->sip_call_id && sip->sip_cseq;
    msg_destroy(msg);
    return ok;
}
