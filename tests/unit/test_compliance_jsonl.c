/* test_compliance_jsonl.c — the built-in jsonl adapter through its ABI table: one line per event
 * with every field a log pipeline needs, details on request, one file per batch (or room),
 * and a retried batch replacing its own file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../compliance/adapters/jsonl/jsonl_adapter.c"

#include "compliance_fixture.h"

#define BATCH_FILE "archive-20080604T201640Z-000000000007.jsonl"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pchat-test-jsonl-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int clean_dir(void **state)
{
    (void)state;
    fixture_remove_tree(dir);
    return 0;
}

static int run_adapter(int one_room_per_file, int details, unsigned attempt, char *err, size_t errlen)
{
    const struct pchat_adapter *api = pchat_adapter_create();
    struct pchat_adapter_config cfg = fixture_config(dir);
    cfg.one_room_per_file = one_room_per_file;
    cfg.add_room_details = details;
    cfg.add_user_details = details;
    void *st = NULL;
    int rc = api->init(&fixture_host, &cfg, &st, err, errlen);
    if (rc != 0)
        return rc;
    struct pchat_adapter_batch batch = fixture_batch(attempt);
    rc = api->translate(st, &batch, err, errlen);
    api->shutdown(st);
    return rc;
}

static char *read_output(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return fixture_read_file(path);
}

static void one_line_per_event(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(0, 0, 1, err, sizeof err), 0);
    char listing[512];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 1);
    assert_string_equal(listing, BATCH_FILE "\n");
    char *text = read_output(BATCH_FILE);
    assert_non_null(text);
    assert_int_equal(fixture_count(text, "\n"), FIXTURE_N_EVENTS);
    assert_int_equal(fixture_count(text, "{\"event_id\":"), FIXTURE_N_EVENTS);
    const char *types[] = { "JOIN", "PART", "CHAT", "BACKCHAT", "FILEUPLOAD", "FILEDOWNLOAD",
                            "ADMIN_ROOM_CLEARED", "ADMIN_MESSAGE_REMOVED", "ADMIN_MESSAGE_REPLACED",
                            "ADMIN_MEMBERSHIP_CHANGED" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"type\":\"%s\"", types[i]);
        assert_int_equal(fixture_count(text, needle), 1);
    }
    /* the CHAT line, whole: ids, the three time forms, user, room, post id, escaped text */
    assert_non_null(strstr(text,
        "{\"event_id\":\"00000000-0000-4000-8000-000000000002\",\"type\":\"CHAT\","
        "\"time\":\"2008-06-04T20:15:41.9530000Z\",\"time_ms\":1212610541953,"
        "\"time_ticks\":633482073419530000,\"seq\":2,\"batch\":\"archive-000000000007\","
        "\"user\":{\"uri\":\"sip:alice@example.com\",\"name\":\"Alice Example\",\"id\":10,"
        "\"internal\":true},"
        "\"room\":{\"uri\":\"" FIXTURE_ROOM_URI "\",\"name\":\"General & Co\"},"
        "\"message_id\":42,\"content\":\"hello <world> & \\\"friends\\\"\\nline two\\ttab\"}\n"));
    /* JOIN has no content; an unnamed user has name null; a federated one internal false */
    assert_non_null(strstr(text, "\"type\":\"JOIN\""));
    assert_non_null(strstr(text, "\"message_id\":null,\"content\":null}"));
    assert_non_null(strstr(text, "\"uri\":\"sip:bob@example.com\",\"name\":null,\"id\":11"));
    assert_non_null(strstr(text, "\"uri\":\"sip:carol@fabrikam.com\",\"name\":\"Carol <Fed>\",\"id\":0,"
                                 "\"internal\":false}"));
    assert_null(strstr(text, "\"email\""));
    assert_null(strstr(text, "\"category\""));
    free(text);
}

static void details_on_request(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(0, 1, 1, err, sizeof err), 0);
    char *text = read_output(BATCH_FILE);
    assert_non_null(text);
    assert_int_equal(fixture_count(text, "\"email\":\"alice@example.com\""), 3);
    assert_non_null(strstr(text, "\"room\":{\"uri\":\"" FIXTURE_ROOM_URI "\",\"name\":\"General & Co\","
                                 "\"category\":\"Demo\",\"description\":\"General talk\","
                                 "\"privacy\":\"open\",\"type\":\"auditorium\"}"));
    assert_non_null(strstr(text, "\"room\":{\"uri\":\"\",\"name\":\"\",\"category\":null,"
                                 "\"description\":null,\"privacy\":null,\"type\":null}"));
    free(text);
}

static void one_file_per_room(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(1, 0, 1, err, sizeof err), 0);
    char listing[1024];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 3);
    char *text = read_output("archive-20080604T201640Z-000000000007-0002-7e1f0a52-3c1d-4f3e-9d2a-0123456789ab.jsonl");
    assert_non_null(text);
    assert_int_equal(fixture_count(text, "\n"), 8);
    free(text);
}

static void retried_batch_replaces_its_file(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(0, 0, 1, err, sizeof err), 0);
    char *first = read_output(BATCH_FILE);
    assert_int_equal(run_adapter(0, 0, 2, err, sizeof err), 0);
    char listing[512];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 1);
    char *again = read_output(BATCH_FILE);
    assert_non_null(first);
    assert_non_null(again);
    assert_string_equal(first, again);
    free(first);
    free(again);
}

static void takes_no_options(void **state)
{
    (void)state;
    const struct pchat_adapter *api = pchat_adapter_create();
    const struct pchat_adapter_option opts[] = { { "compress", "gzip" } };
    struct pchat_adapter_config cfg = fixture_config(dir);
    cfg.options = opts;
    cfg.n_options = 1;
    void *st = NULL;
    char err[512] = "";
    assert_int_not_equal(api->init(&fixture_host, &cfg, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "options.compress"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_line_per_event, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(details_on_request, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(one_file_per_room, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(retried_batch_replaces_its_file, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(takes_no_options, make_dir, clean_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
