/* conversation.c — groups a batch into conversations. The order is a pure function of the
 * events, so a retried batch is rendered identically (same files, same bytes). */
#include "conversation.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int compare_rows(const void *pa, const void *pb)
{
    const struct event_row *a = pa, *b = pb;
    int c = strcmp(a->room.uri, b->room.uri);
    if (c != 0)
        return c;
    if (a->event.time_us != b->event.time_us)
        return a->event.time_us < b->event.time_us ? -1 : 1;
    if (a->event.seq != b->event.seq)
        return a->event.seq < b->event.seq ? -1 : 1;
    return 0;
}

int conversations_build(struct event_row *rows, size_t n, struct conversation_set *set)
{
    memset(set, 0, sizeof *set);
    if (n == 0)
        return 0;
    qsort(rows, n, sizeof *rows, compare_rows);
    size_t rooms = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(rows[i].room.uri, rows[i - 1].room.uri) != 0)
            rooms++;
    set->events = calloc(n, sizeof *set->events);
    set->conversations = calloc(rooms, sizeof *set->conversations);
    if (!set->events || !set->conversations) {
        conversation_set_free(set);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        set->events[i] = rows[i].event;
    set->n_events = n;
    size_t start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && strcmp(rows[i].room.uri, rows[start].room.uri) == 0)
            continue;
        struct pchat_adapter_conversation *c = &set->conversations[set->n_conversations++];
        /* The room as the newest event saw it (a rename inside the batch shows the new name). */
        c->room = rows[i - 1].room;
        c->events = &set->events[start];
        c->n_events = i - start;
        c->start_us = rows[start].event.time_us;
        c->end_us = rows[i - 1].event.time_us;
        start = i;
    }
    return 0;
}

void conversation_set_free(struct conversation_set *set)
{
    free(set->events);
    free(set->conversations);
    memset(set, 0, sizeof *set);
}

int user_is_internal(const char *uri, const char *domain)
{
    if (!uri || !domain || !domain[0])
        return 0;
    const char *at = strchr(uri, '@');
    const char *host = at ? at + 1 : uri;
    if (!at) {
        const char *colon = strchr(uri, ':');
        host = colon ? colon + 1 : uri;
    }
    size_t len = strcspn(host, ":;?>");
    return len == strlen(domain) && strncasecmp(host, domain, len) == 0;
}
