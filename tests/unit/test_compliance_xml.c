/* test_compliance_xml.c — the built-in xml adapter through its ABI table: every event type in the
 * Lync XmlAdapter layout with the right fields, output valid against compliance/xsd, options,
 * one file per room, and a retried batch rewriting its own file instead of adding one.
 * Run from the repository root (make test does): xmllint validates against the XSD there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <utime.h>

/* The adapter is a .so the Makefile links on its own; compiling its sources in here tests
 * the same code through the same pchat_adapter_create() table without dlopen. */
#include "../../compliance/adapters/xml/xml_adapter.c"
#include "../../compliance/adapters/xml/xml_render.c"

#include "compliance_fixture.h"

#define XSD "compliance/xsd/pchat-compliance.xsd"
#define BATCH_FILE "archive-20080604T201640Z-000000000007.xml"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pchat-test-xml-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int clean_dir(void **state)
{
    (void)state;
    fixture_remove_tree(dir);
    return 0;
}

/* init + translate + shutdown with the given switches; returns translate's result. */
static int run_adapter(int one_room_per_file, int details, const struct pchat_adapter_option *opts,
                       size_t n_opts, unsigned attempt, char *err, size_t errlen)
{
    const struct pchat_adapter *api = pchat_adapter_create();
    struct pchat_adapter_config cfg = fixture_config(dir);
    cfg.one_room_per_file = one_room_per_file;
    cfg.add_room_details = details;
    cfg.add_user_details = details;
    cfg.options = opts;
    cfg.n_options = n_opts;
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

static int xmllint(const char *name)
{
    /* Quiet when valid; xmllint's complaints become TAP comments otherwise. */
    char cmd[768];
    snprintf(cmd, sizeof cmd,
             "out=$(xmllint --noout --schema %s %s/%s 2>&1); rc=$?; "
             "[ $rc = 0 ] || printf '%%s\\n' \"$out\" | sed 's/^/# /'; exit $rc", XSD, dir, name);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void abi_table_is_complete(void **state)
{
    (void)state;
    const struct pchat_adapter *api = pchat_adapter_create();
    assert_int_equal(api->abi_version, PCHAT_ADAPTER_ABI_VERSION);
    assert_string_equal(api->name, "xml");
    assert_non_null(api->init);
    assert_non_null(api->translate);
    assert_non_null(api->shutdown);
}

static void every_event_type_with_its_fields(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(0, 1, NULL, 0, 1, err, sizeof err), 0);
    char listing[512];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 1);
    assert_string_equal(listing, BATCH_FILE "\n");
    char *xml = read_output(BATCH_FILE);
    assert_non_null(xml);

    assert_int_equal(fixture_count(xml, "<Conversation>"), 3);
    assert_int_equal(fixture_count(xml, "<Message "), FIXTURE_N_EVENTS);
    assert_int_equal(fixture_count(xml, "<FirstMessage "), 3);
    const char *types[] = { "JOIN", "PART", "CHAT", "BACKCHAT", "FILEUPLOAD", "FILEDOWNLOAD",
                            "ADMIN_ROOM_CLEARED", "ADMIN_MESSAGE_REMOVED", "ADMIN_MESSAGE_REPLACED",
                            "ADMIN_MEMBERSHIP_CHANGED" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "<Message type=\"%s\"", types[i]);
        assert_int_equal(fixture_count(xml, needle), 1);
    }
    /* the room with its details, escaped */
    assert_non_null(strstr(xml, "<Channel uri=\"" FIXTURE_ROOM_URI "\" name=\"General &amp; Co\""
                                " category=\"Demo\" description=\"General talk\" privacy=\"open\""
                                " type=\"auditorium\"/>"));
    /* JOIN: empty content, id 0, the sender in full, the time in its three forms */
    assert_non_null(strstr(xml,
        "      <Message type=\"JOIN\" content=\"\" id=\"0\" eventId=\"00000000-0000-4000-8000-000000000001\">\n"
        "        <Sender UserName=\"Alice Example\" id=\"10\" email=\"alice@example.com\" internal=\"true\" uri=\"sip:alice@example.com\"/>\n"
        "        <DateTimeUTC since1970=\"1212610540953\" string=\"2008-06-04T20:15:40.9530000Z\" long=\"633482073409530000\"/>\n"
        "      </Message>\n"));
    /* CHAT: content escaped (newline and tab survive as references), the post id */
    assert_non_null(strstr(xml, "<Message type=\"CHAT\" content=\"hello &lt;world&gt; &amp; "
                                "&quot;friends&quot;&#10;line two&#9;tab\" id=\"42\""));
    /* files: the file name as content; a federated user is internal="false" */
    assert_non_null(strstr(xml, "<Message type=\"FILEUPLOAD\" content=\"report.pdf\" id=\"0\""));
    assert_non_null(strstr(xml, "<Sender UserName=\"Carol &lt;Fed&gt;\" id=\"0\" "
                                "email=\"carol@fabrikam.com\" internal=\"false\" "
                                "uri=\"sip:carol@fabrikam.com\"/>"));
    /* no display name: the address stands in, as the 2013 service did */
    assert_non_null(strstr(xml, "<Sender UserName=\"bob@example.com\" id=\"11\""));
    /* FirstMessage repeats the first message; Start/End are the first and last times */
    assert_non_null(strstr(xml, "<FirstMessage type=\"JOIN\" content=\"\" id=\"0\" "
                                "eventId=\"00000000-0000-4000-8000-000000000001\">"));
    assert_non_null(strstr(xml, "<StartTimeUTC since1970=\"1212610540953\" "
                                "string=\"2008-06-04T20:15:40.9530000Z\" long=\"633482073409530000\"/>\n"
                                "    <EndTimeUTC since1970=\"1212610547953\" "
                                "string=\"2008-06-04T20:15:47.9530000Z\" long=\"633482073479530000\"/>"));
    /* the pool-wide conversation has an empty channel */
    assert_non_null(strstr(xml, "<Channel uri=\"\" name=\"\"/>"));
    free(xml);
    assert_int_equal(xmllint(BATCH_FILE), 0);
}

static void without_details_or_event_ids(void **state)
{
    (void)state;
    const struct pchat_adapter_option opts[] = { { "event_ids", "false" } };
    char err[512] = "";
    assert_int_equal(run_adapter(0, 0, opts, 1, 1, err, sizeof err), 0);
    char *xml = read_output(BATCH_FILE);
    assert_non_null(xml);
    assert_null(strstr(xml, "eventId="));
    assert_null(strstr(xml, "email="));
    assert_null(strstr(xml, "category="));
    assert_non_null(strstr(xml, "<Channel uri=\"" FIXTURE_ROOM_URI "\" name=\"General &amp; Co\"/>"));
    assert_non_null(strstr(xml, "<Sender UserName=\"Alice Example\" id=\"10\" internal=\"true\" "
                                "uri=\"sip:alice@example.com\"/>"));
    free(xml);
    assert_int_equal(xmllint(BATCH_FILE), 0);
}

static void one_file_per_room(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(1, 1, NULL, 0, 1, err, sizeof err), 0);
    char listing[1024];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 3);
    assert_string_equal(listing,
        "archive-20080604T201640Z-000000000007-0001-none.xml\n"
        "archive-20080604T201640Z-000000000007-0002-7e1f0a52-3c1d-4f3e-9d2a-0123456789ab.xml\n"
        "archive-20080604T201640Z-000000000007-0003-0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a.xml\n");
    char *xml = read_output("archive-20080604T201640Z-000000000007-0002-7e1f0a52-3c1d-4f3e-9d2a-0123456789ab.xml");
    assert_non_null(xml);
    assert_int_equal(fixture_count(xml, "<Conversation>"), 1);
    assert_int_equal(fixture_count(xml, "<Message "), 8);
    free(xml);
    assert_int_equal(xmllint("archive-20080604T201640Z-000000000007-0001-none.xml"), 0);
    assert_int_equal(xmllint("archive-20080604T201640Z-000000000007-0002-7e1f0a52-3c1d-4f3e-9d2a-0123456789ab.xml"), 0);
    assert_int_equal(xmllint("archive-20080604T201640Z-000000000007-0003-0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a.xml"), 0);
}

/* Exactly once rests on this: the same batch again (after a crash) replaces its own file. */
static void retried_batch_replaces_its_file(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(run_adapter(0, 1, NULL, 0, 1, err, sizeof err), 0);
    char *first = read_output(BATCH_FILE);
    assert_int_equal(run_adapter(0, 1, NULL, 0, 2, err, sizeof err), 0);
    assert_int_equal(run_adapter(0, 1, NULL, 0, 3, err, sizeof err), 0);
    char listing[512];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 1);
    char *again = read_output(BATCH_FILE);
    assert_non_null(first);
    assert_non_null(again);
    assert_string_equal(first, again);
    free(first);
    free(again);
}

static void bad_options_stop_init(void **state)
{
    (void)state;
    char err[512] = "";
    const struct pchat_adapter_option unknown[] = { { "colour", "blue" } };
    assert_int_not_equal(run_adapter(0, 0, unknown, 1, 1, err, sizeof err), 0);
    assert_non_null(strstr(err, "options.colour"));
    const struct pchat_adapter_option bad_bool[] = { { "event_ids", "maybe" } };
    assert_int_not_equal(run_adapter(0, 0, bad_bool, 1, 1, err, sizeof err), 0);
    assert_non_null(strstr(err, "true or false"));

    const struct pchat_adapter *api = pchat_adapter_create();
    struct pchat_adapter_config cfg = fixture_config("");
    void *st = NULL;
    assert_int_not_equal(api->init(&fixture_host, &cfg, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "output_dir"));
}

/* A sink that cannot be written is a failed translate with the path in the message. */
static void unwritable_output_fails_with_the_path(void **state)
{
    (void)state;
    const struct pchat_adapter *api = pchat_adapter_create();
    struct pchat_adapter_config cfg = fixture_config(dir);
    void *st = NULL;
    char err[512] = "";
    assert_int_equal(api->init(&fixture_host, &cfg, &st, err, sizeof err), 0);
    fixture_remove_tree(dir);
    struct pchat_adapter_batch batch = fixture_batch(1);
    assert_int_not_equal(api->translate(st, &batch, err, sizeof err), 0);
    assert_non_null(strstr(err, dir));
    api->shutdown(st);
    assert_int_equal(mkdir(dir, 0700), 0);
}

static void touch(const char *name, time_t age_s)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
    struct utimbuf t = { time(NULL) - age_s, time(NULL) - age_s };
    assert_int_equal(utime(p, &t), 0);
}

/* Killed writers leave temp files; init removes this instance's old ones, nothing else. */
static void init_removes_stale_temp_files(void **state)
{
    (void)state;
    touch(".archive-20080604T201640Z-000000000001.xml.4242.tmp", 7200);
    touch(".archive-20080604T201640Z-000000000002.xml.4243.tmp", 10);
    touch(".other-20080604T201640Z-000000000001.xml.4244.tmp", 7200);
    touch("archive-keep.xml", 7200);
    const struct pchat_adapter *api = pchat_adapter_create();
    struct pchat_adapter_config cfg = fixture_config(dir);
    void *st = NULL;
    char err[256];
    assert_int_equal(api->init(&fixture_host, &cfg, &st, err, sizeof err), 0);
    api->shutdown(st);
    char listing[1024];
    assert_int_equal(fixture_list_dir(dir, listing, sizeof listing), 3);
    assert_string_equal(listing, ".archive-20080604T201640Z-000000000002.xml.4243.tmp\n"
                                 ".other-20080604T201640Z-000000000001.xml.4244.tmp\n"
                                 "archive-keep.xml\n");
    assert_non_null(strstr(fixture_last_log, "removed 1 unfinished temp files"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(abi_table_is_complete),
        cmocka_unit_test_setup_teardown(every_event_type_with_its_fields, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(without_details_or_event_ids, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(one_file_per_room, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(retried_batch_replaces_its_file, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(bad_options_stop_init, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(unwritable_output_fails_with_the_path, make_dir, clean_dir),
        cmocka_unit_test_setup_teardown(init_removes_stale_temp_files, make_dir, clean_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
