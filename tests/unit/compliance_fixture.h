/* compliance_fixture.h — one batch holding every compliance event type, in two rooms and one
 * pool-wide conversation, plus temp-directory helpers, for the adapter unit tests. */
#ifndef PCHAT_COMPLIANCE_FIXTURE_H
#define PCHAT_COMPLIANCE_FIXTURE_H

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pchat_adapter.h"

/* 2008-06-04T20:15:40.953Z, the first timestamp of Microsoft's XmlAdapter sample. */
#define FIXTURE_T0_US 1212610540953000LL
#define FIXTURE_ROOM_URI "ma-chan://example.com/7e1f0a52-3c1d-4f3e-9d2a-0123456789ab"

/* Conversation 0: pool-wide (no room); 1: General (all user event types); 2: Other. */
static const struct pchat_adapter_event fixture_pool_events[] = {
    { "00000000-0000-4000-8000-00000000000a", "ADMIN_MEMBERSHIP_CHANGED", FIXTURE_T0_US + 9000000, 10,
      { "sip:admin@example.com", "Admin", 1, 1 }, 0, "category Demo: added sip:bob@example.com as member" },
};
static const struct pchat_adapter_event fixture_general_events[] = {
    { "00000000-0000-4000-8000-000000000001", "JOIN", FIXTURE_T0_US, 1,
      { "sip:alice@example.com", "Alice Example", 10, 1 }, 0, NULL },
    { "00000000-0000-4000-8000-000000000002", "CHAT", FIXTURE_T0_US + 1000000, 2,
      { "sip:alice@example.com", "Alice Example", 10, 1 }, 42, "hello <world> & \"friends\"\nline two\ttab" },
    { "00000000-0000-4000-8000-000000000003", "BACKCHAT", FIXTURE_T0_US + 2000000, 3,
      { "sip:bob@example.com", NULL, 11, 1 }, 0, "last 25" },
    { "00000000-0000-4000-8000-000000000004", "FILEUPLOAD", FIXTURE_T0_US + 3000000, 4,
      { "sip:carol@fabrikam.com", "Carol <Fed>", 0, 0 }, 0, "report.pdf" },
    { "00000000-0000-4000-8000-000000000005", "FILEDOWNLOAD", FIXTURE_T0_US + 4000000, 5,
      { "sip:bob@example.com", NULL, 11, 1 }, 0, "report.pdf" },
    { "00000000-0000-4000-8000-000000000006", "ADMIN_MESSAGE_REPLACED", FIXTURE_T0_US + 5000000, 6,
      { "sip:admin@example.com", "Admin", 1, 1 }, 42, "[replaced by an operator]" },
    { "00000000-0000-4000-8000-000000000007", "ADMIN_MESSAGE_REMOVED", FIXTURE_T0_US + 6000000, 7,
      { "sip:admin@example.com", "Admin", 1, 1 }, 42, NULL },
    { "00000000-0000-4000-8000-000000000008", "PART", FIXTURE_T0_US + 7000000, 8,
      { "sip:alice@example.com", "Alice Example", 10, 1 }, 0, NULL },
};
static const struct pchat_adapter_event fixture_other_events[] = {
    { "00000000-0000-4000-8000-000000000009", "ADMIN_ROOM_CLEARED", FIXTURE_T0_US + 8000000, 9,
      { "sip:admin@example.com", "Admin", 1, 1 }, 0, NULL },
};

#define FIXTURE_N_EVENTS 10

static const struct pchat_adapter_conversation fixture_conversations[] = {
    { { "", "", NULL, NULL, -1, -1 }, fixture_pool_events, 1, FIXTURE_T0_US + 9000000, FIXTURE_T0_US + 9000000 },
    { { FIXTURE_ROOM_URI, "General & Co", "Demo", "General talk", 0, 1 }, fixture_general_events, 8,
      FIXTURE_T0_US, FIXTURE_T0_US + 7000000 },
    { { "ma-chan://example.com/0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a", "Other", "Demo", NULL, 2, 0 },
      fixture_other_events, 1, FIXTURE_T0_US + 8000000, FIXTURE_T0_US + 8000000 },
};

static inline struct pchat_adapter_batch fixture_batch(unsigned attempt)
{
    struct pchat_adapter_batch b = {
        .id = "archive-000000000007",
        .number = 7,
        .formed_us = FIXTURE_T0_US + 60000000,
        .attempt = attempt,
        .conversations = fixture_conversations,
        .n_conversations = 3,
        .n_events = FIXTURE_N_EVENTS,
    };
    return b;
}

static char fixture_last_log[1024];

static void fixture_log(void *ctx, enum pchat_adapter_log_level level, const char *fmt, ...)
{
    (void)ctx;
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fixture_last_log, sizeof fixture_last_log, fmt, ap);
    va_end(ap);
}

static const struct pchat_adapter_host fixture_host = { PCHAT_ADAPTER_ABI_VERSION, NULL, fixture_log };

static inline struct pchat_adapter_config fixture_config(const char *dir)
{
    struct pchat_adapter_config c = {
        .instance = "archive",
        .type = "test",
        .output_dir = dir,
        .pool_domain = "example.com",
    };
    return c;
}

/* Names of the entries of dir, sorted, '\n'-separated; returns how many. */
static inline int fixture_list_dir(const char *dir, char *out, size_t outlen)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    int files = 0;
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        /* every entry but . and .. counts: a left-over ".name.tmp" would be a bug */
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
            if (o < outlen)
                o += (size_t)snprintf(out + o, outlen - o, "%s\n", names[i]->d_name);
            files++;
        }
        free(names[i]);
    }
    free(names);
    return files;
}

static inline char *fixture_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

static inline int fixture_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static inline void fixture_remove_tree(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, NULL);
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, names[i]->d_name);
            unlink(p);
        }
        free(names[i]);
    }
    free(names);
    rmdir(dir);
}

#endif
