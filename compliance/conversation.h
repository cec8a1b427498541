/* conversation.h — a batch's events grouped into the per-room conversations adapters receive:
 * rooms in bytewise URI order, each room's events oldest first (ties broken by seq). */
#ifndef PCHAT_CONVERSATION_H
#define PCHAT_CONVERSATION_H

#include <stddef.h>

#include "pchat_adapter.h"

/* One event as loaded from mgccomp, with the room it belongs to. */
struct event_row {
    struct pchat_adapter_event event;
    struct pchat_adapter_room room;
};

struct conversation_set {
    struct pchat_adapter_event *events;                /* all events, conversation by conversation */
    struct pchat_adapter_conversation *conversations;
    size_t n_events;
    size_t n_conversations;
};

/* Sort `rows` in place and fill `set` (its arrays are allocated; strings still point into the
 * rows' storage). Returns 0, or -1 when memory ran out. */
int conversations_build(struct event_row *rows, size_t n, struct conversation_set *set);
void conversation_set_free(struct conversation_set *set);

/* 1 when the SIP URI's host is `domain` (case-insensitive): an internal user; else 0. */
int user_is_internal(const char *uri, const char *domain);

#endif
