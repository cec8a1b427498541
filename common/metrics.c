/* metrics.c — Prometheus text exposition 0.0.4: family headers once per family, escaped label
 * values, exact number formatting and fixed-bucket histograms. The HTTP side is metrics_http.c. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

const double histogram_latency_bounds_s[HISTOGRAM_LATENCY_BUCKETS_N] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void metrics_writer_init(struct metrics_writer *w, struct sbuf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

/* Metric names may contain ':' (recording rules); label names may not. */
static bool valid_name(const char *s, bool colon_allowed)
{
    if (!s || !*s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon_allowed && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok || i >= METRICS_NAME_MAX)
            return false;
    }
    return true;
}

/* Checks every name before anything is written, so an invalid sample leaves no partial line
 * behind and the rest of the scrape stays parseable. */
static bool valid_sample(struct metrics_writer *w, const char *name, const char *const *labels,
                         bool histogram)
{
    const char *bad = NULL;
    if (!valid_name(name, true))
        bad = "metric name";
    for (int i = 0; !bad && labels && labels[i]; i += 2) {
        if (!valid_name(labels[i], false) || (histogram && strcmp(labels[i], "le") == 0))
            bad = "label name";
        else if (!labels[i + 1])
            bad = "label list (a name without a value)";
    }
    if (!bad)
        return true;
    w->rejected++;
    log_warn("metrics: skipped a sample of \"%.*s\" with an invalid %s; metric names must match "
             "[a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* (not \"le\" in a "
             "histogram), each followed by a value", METRICS_NAME_MAX, name ? name : "(null)", bad);
    return false;
}

/* HELP text escapes backslash and newline; label values also escape the double quote. */
static void put_escaped(struct sbuf *b, const char *s, bool quote)
{
    size_t run = 0, i = 0;
    for (; s[i]; i++) {
        const char *rep;
        if (s[i] == '\\')
            rep = "\\\\";
        else if (s[i] == '\n')
            rep = "\\n";
        else if (quote && s[i] == '"')
            rep = "\\\"";
        else
            continue;
        sbuf_append(b, s + run, i - run);
        sbuf_puts(b, rep);
        run = i + 1;
    }
    sbuf_append(b, s + run, i - run);
}

/* Shortest text that reads back as the same double, so "0.1" is not "0.10000000000000001"
 * and integers up to 2^53 print exactly. Assumes the C locale's decimal point, which our
 * daemons never change. */
static void put_double(struct sbuf *b, double v)
{
    if (isnan(v)) {
        sbuf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char text[32];
    snprintf(text, sizeof text, "%.15g", v);
    if (strtod(text, NULL) != v)
        snprintf(text, sizeof text, "%.17g", v);
    sbuf_puts(b, text);
}

static void put_family(struct metrics_writer *w, const char *name, const char *help,
                       const char *type)
{
    if (strcmp(w->family, name) == 0)
        return;
    strlcpy0(w->family, name, sizeof w->family);
    sbuf_printf(w->out, "# HELP %s ", name);
    put_escaped(w->out, help ? help : "", false);
    sbuf_printf(w->out, "\n# TYPE %s %s\n", name, type);
}

/* name{a="x",b="y"[,le="bound"]} — braces only when there is at least one label. */
static void put_series(struct sbuf *b, const char *name, const char *suffix,
                       const char *const *labels, const double *le)
{
    sbuf_puts(b, name);
    sbuf_puts(b, suffix);
    bool any = labels && labels[0];
    if (!any && !le)
        return;
    sbuf_putc(b, '{');
    for (int i = 0; labels && labels[i]; i += 2) {
        if (i > 0)
            sbuf_putc(b, ',');
        sbuf_printf(b, "%s=\"", labels[i]);
        put_escaped(b, labels[i + 1], true);
        sbuf_putc(b, '"');
    }
    if (le) {
        sbuf_puts(b, any ? ",le=\"" : "le=\"");
        put_double(b, *le);
        sbuf_putc(b, '"');
    }
    sbuf_putc(b, '}');
}

void metrics_counter(struct metrics_writer *w, const char *name, const char *help,
                     const char *const *labels, uint64_t value)
{
    if (!valid_sample(w, name, labels, false))
        return;
    put_family(w, name, help, "counter");
    put_series(w->out, name, "", labels, NULL);
    sbuf_printf(w->out, " %" PRIu64 "\n", value);
}

void metrics_gauge(struct metrics_writer *w, const char *name, const char *help,
                   const char *const *labels, double value)
{
    if (!valid_sample(w, name, labels, false))
        return;
    put_family(w, name, help, "gauge");
    put_series(w->out, name, "", labels, NULL);
    sbuf_putc(w->out, ' ');
    put_double(w->out, value);
    sbuf_putc(w->out, '\n');
}

int histogram_init(struct histogram *h, const double *bounds, int n)
{
    memset(h, 0, sizeof *h);
    if (n < 1 || n > HISTOGRAM_MAX_BUCKETS || !bounds)
        return -1;
    for (int i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return -1;
    memcpy(h->bounds, bounds, (size_t)n * sizeof bounds[0]);
    h->n = n;
    return 0;
}

void histogram_init_latency(struct histogram *h)
{
    histogram_init(h, histogram_latency_bounds_s, HISTOGRAM_LATENCY_BUCKETS_N);
}

void histogram_observe(struct histogram *h, double value)
{
    if (isnan(value))
        return;
    int i = 0;
    while (i < h->n && value > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += value;
    h->count++;
}

void metrics_histogram(struct metrics_writer *w, const char *name, const char *help,
                       const char *const *labels, const struct histogram *h)
{
    if (!valid_sample(w, name, labels, true))
        return;
    put_family(w, name, help, "histogram");
    uint64_t cumulative = 0;
    for (int i = 0; i <= h->n; i++) {
        cumulative += h->counts[i];
        double le = i < h->n ? h->bounds[i] : INFINITY;
        put_series(w->out, name, "_bucket", labels, &le);
        sbuf_printf(w->out, " %" PRIu64 "\n", cumulative);
    }
    put_series(w->out, name, "_sum", labels, NULL);
    sbuf_putc(w->out, ' ');
    put_double(w->out, h->sum);
    sbuf_putc(w->out, '\n');
    put_series(w->out, name, "_count", labels, NULL);
    sbuf_printf(w->out, " %" PRIu64 "\n", h->count);
}
