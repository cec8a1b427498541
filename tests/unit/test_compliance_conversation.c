/* test_compliance_conversation.c — the worker's pure parts: grouping a batch into conversations
 * (order must not depend on how rows arrive, or a retried batch would render differently),
 * internal/federated users, and the array literals that carry a batch to PostgreSQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../compliance/conversation.c"
#include "../../compliance/pg_array.c"

#define R1 "ma-chan://example.com/aaaaaaaa-0000-0000-0000-000000000001"
#define R2 "ma-chan://example.com/bbbbbbbb-0000-0000-0000-000000000002"

static struct event_row row(const char *room_uri, const char *room_name, int64_t time_us, int64_t seq)
{
    struct event_row r;
    memset(&r, 0, sizeof r);
    r.event.event_id = "id";
    r.event.type = "CHAT";
    r.event.time_us = time_us;
    r.event.seq = seq;
    r.event.user.uri = "sip:a@example.com";
    r.room.uri = room_uri;
    r.room.name = room_name;
    r.room.privacy = -1;
    r.room.type = -1;
    return r;
}

static void groups_by_room_then_time(void **state)
{
    (void)state;
    struct event_row rows[] = {
        row(R2, "two", 500, 7),
        row(R1, "one", 300, 3),
        row("", "", 100, 9),
        row(R1, "one renamed", 900, 1),   /* newest in R1: its name wins */
        row(R2, "two", 500, 2),           /* same time as seq 7: seq breaks the tie */
        row(R1, "one", 200, 4),
    };
    struct conversation_set set;
    assert_int_equal(conversations_build(rows, 6, &set), 0);
    assert_int_equal(set.n_events, 6);
    assert_int_equal(set.n_conversations, 3);

    const struct pchat_adapter_conversation *c = set.conversations;
    assert_string_equal(c[0].room.uri, "");
    assert_int_equal(c[0].n_events, 1);

    assert_string_equal(c[1].room.uri, R1);
    assert_string_equal(c[1].room.name, "one renamed");
    assert_int_equal(c[1].n_events, 3);
    assert_int_equal(c[1].events[0].time_us, 200);
    assert_int_equal(c[1].events[1].time_us, 300);
    assert_int_equal(c[1].events[2].time_us, 900);
    assert_int_equal(c[1].start_us, 200);
    assert_int_equal(c[1].end_us, 900);

    assert_string_equal(c[2].room.uri, R2);
    assert_int_equal(c[2].n_events, 2);
    assert_int_equal(c[2].events[0].seq, 2);
    assert_int_equal(c[2].events[1].seq, 7);
    conversation_set_free(&set);
}

/* Whatever order the database returns rows in, the conversations come out the same. */
static void order_does_not_depend_on_input_order(void **state)
{
    (void)state;
    enum { N = 200 };
    static struct event_row a[N], b[N];
    const char *rooms[] = { R1, R2, "" };
    for (int i = 0; i < N; i++)
        a[i] = row(rooms[i % 3], "r", (int64_t)((i * 7919) % 97) * 1000, i + 1);
    memcpy(b, a, sizeof a);
    unsigned x = 12345;
    for (int i = N - 1; i > 0; i--) {
        x = x * 1103515245u + 12345u;
        int j = (int)(x % (unsigned)(i + 1));
        struct event_row t = b[i];
        b[i] = b[j];
        b[j] = t;
    }
    struct conversation_set sa, sb;
    assert_int_equal(conversations_build(a, N, &sa), 0);
    assert_int_equal(conversations_build(b, N, &sb), 0);
    assert_int_equal(sa.n_conversations, sb.n_conversations);
    for (int i = 0; i < N; i++)
        assert_int_equal(sa.events[i].seq, sb.events[i].seq);
    conversation_set_free(&sa);
    conversation_set_free(&sb);
}

static void empty_batch(void **state)
{
    (void)state;
    struct conversation_set set;
    assert_int_equal(conversations_build(NULL, 0, &set), 0);
    assert_int_equal(set.n_conversations, 0);
    conversation_set_free(&set);
}

static void internal_users_are_of_the_pool_domain(void **state)
{
    (void)state;
    assert_int_equal(user_is_internal("sip:alice@example.com", "example.com"), 1);
    assert_int_equal(user_is_internal("sip:alice@EXAMPLE.com;transport=tls", "example.com"), 1);
    assert_int_equal(user_is_internal("sip:alice@example.com:5061", "example.com"), 1);
    assert_int_equal(user_is_internal("sip:carol@fabrikam.com", "example.com"), 0);
    assert_int_equal(user_is_internal("sip:eve@example.com.evil.org", "example.com"), 0);
    assert_int_equal(user_is_internal("sip:eve@sub.example.com", "example.com"), 0);
    assert_int_equal(user_is_internal("sip:alice@example.com", ""), 0);
}

static void array_literals_quote_everything(void **state)
{
    (void)state;
    struct pg_array a;
    pg_array_init(&a, 1024);
    assert_string_equal(pg_array_text(&a), "{}");
    pg_array_reset(&a);
    pg_array_add(&a, "plain");
    pg_array_add(&a, NULL);
    pg_array_add(&a, "NULL");
    pg_array_add(&a, "a,b {c} \"q\" \\");
    pg_array_add(&a, "");
    assert_string_equal(pg_array_text(&a), "{\"plain\",NULL,\"NULL\",\"a,b {c} \\\"q\\\" \\\\\",\"\"}");
    pg_array_free(&a);

    pg_array_init(&a, 8);
    pg_array_add(&a, "too long for eight bytes");
    assert_null(pg_array_text(&a));
    pg_array_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_by_room_then_time),
        cmocka_unit_test(order_does_not_depend_on_input_order),
        cmocka_unit_test(empty_batch),
        cmocka_unit_test(internal_users_are_of_the_pool_domain),
        cmocka_unit_test(array_literals_quote_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
