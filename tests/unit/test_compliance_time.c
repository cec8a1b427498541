/* test_compliance_time.c — the adapter helpers every output relies on: the three timestamp forms
 * of the XmlAdapter format, XML/JSON escaping, safe file names, and the atomic file write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "pchat_adapter_util.h"

/* Microsoft's published sample: since1970="1212610540953" long="633482073409535482"
 * string="2008-06-04T20:15:40.9535482Z". We keep microseconds (PostgreSQL's resolution), so
 * the 100 ns digit is 0 and the rest must match. */
static void sample_from_the_2013_documentation(void **state)
{
    (void)state;
    int64_t us = 1212610540953548LL;
    char iso[PCHAT_TIME_ISO_LEN];
    assert_int_equal(pchat_time_epoch_ms(us), 1212610540953LL);
    assert_int_equal(pchat_time_ticks(us), 633482073409535480LL);
    assert_int_equal(pchat_time_iso(us, iso), 28);
    assert_string_equal(iso, "2008-06-04T20:15:40.9535480Z");
}

/* ticks = epoch_ms * 10000 + 621355968000000000 for every whole millisecond. */
static void ticks_formula_on_whole_milliseconds(void **state)
{
    (void)state;
    const int64_t ms_values[] = { 0, 1, 999, 1000, 1205351800522LL, 1212610602532LL,
                                  1714557302797LL, 253402300799999LL };
    for (size_t i = 0; i < sizeof ms_values / sizeof ms_values[0]; i++) {
        int64_t ms = ms_values[i];
        assert_int_equal(pchat_time_ticks(ms * 1000), ms * 10000 + 621355968000000000LL);
        assert_int_equal(pchat_time_epoch_ms(ms * 1000), ms);
    }
}

/* The three forms name one instant: ticks and the ISO string both come back to since1970. */
static void three_forms_agree(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = (int64_t)(x % 4102444800000000ULL);   /* 1970 .. 2100 */
        int64_t ms = pchat_time_epoch_ms(us), ticks = pchat_time_ticks(us);
        assert_int_equal((ticks - 621355968000000000LL) / 10000, ms);
        char iso[PCHAT_TIME_ISO_LEN];
        assert_int_equal(pchat_time_iso(us, iso), 28);
        struct tm tm = { 0 };
        char *rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
        assert_non_null(rest);
        assert_int_equal(rest[0], '.');
        int64_t seconds = (int64_t)timegm(&tm);
        int64_t sevenths = strtoll(rest + 1, NULL, 10);
        assert_int_equal(seconds * 1000 + sevenths / 10000, ms);
        assert_int_equal(seconds * 10000000 + sevenths + 621355968000000000LL, ticks);
    }
}

static void epoch_edges(void **state)
{
    (void)state;
    char iso[PCHAT_TIME_ISO_LEN];
    pchat_time_iso(0, iso);
    assert_string_equal(iso, "1970-01-01T00:00:00.0000000Z");
    assert_int_equal(pchat_time_ticks(0), 621355968000000000LL);
    /* before 1970 the millisecond rounds down, as .NET's does */
    assert_int_equal(pchat_time_epoch_ms(-1), -1);
    pchat_time_iso(-1, iso);
    assert_string_equal(iso, "1969-12-31T23:59:59.9999990Z");
    /* .NET tick 0 is 0001-01-01T00:00:00 */
    assert_int_equal(pchat_time_ticks(-62135596800000000LL), 0);
    pchat_time_iso(-62135596800000000LL, iso);
    assert_string_equal(iso, "0001-01-01T00:00:00.0000000Z");
    char compact[20];
    pchat_time_compact(1212610540953000LL, compact);
    assert_string_equal(compact, "20080604T201540Z");
}

static void xml_attribute_escaping(void **state)
{
    (void)state;
    struct pchat_buf b;
    pchat_buf_init(&b, 1024);
    pchat_buf_xml_attr(&b, "a&b<c>d\"e'f\tg\nh\ri\x01j\xEF\xBF\xBEk\xC3\xA9");
    assert_false(b.failed);
    assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i\xEF\xBF\xBDj"
                                "\xEF\xBF\xBDk\xC3\xA9");
    pchat_buf_free(&b);
}

static void json_string_escaping(void **state)
{
    (void)state;
    struct pchat_buf b;
    pchat_buf_init(&b, 1024);
    pchat_buf_json_string(&b, "q\"b\\s/n\nr\rt\tc\x1f\xC3\xA9");
    pchat_buf_puts(&b, " ");
    pchat_buf_json_string(&b, NULL);
    assert_string_equal(b.data, "\"q\\\"b\\\\s/n\\nr\\rt\\tc\\u001f\xC3\xA9\" null");
    pchat_buf_free(&b);
}

static void buffer_cap_is_enforced(void **state)
{
    (void)state;
    struct pchat_buf b;
    pchat_buf_init(&b, 8);
    pchat_buf_puts(&b, "12345678");
    assert_false(b.failed);
    pchat_buf_puts(&b, "9");
    assert_true(b.failed);
    assert_int_equal(b.len, 8);
    pchat_buf_free(&b);
}

static void file_names_and_addresses(void **state)
{
    (void)state;
    char out[64];
    pchat_file_component("../etc/passwd", out, sizeof out);
    assert_string_equal(out, "_._etc_passwd");   /* no slash, no leading dot */
    pchat_file_component("", out, sizeof out);
    assert_string_equal(out, "_");
    pchat_room_file_component("ma-chan://example.com/7e1f0a52-3c1d-4f3e-9d2a-0123456789ab", out,
                              sizeof out);
    assert_string_equal(out, "7e1f0a52-3c1d-4f3e-9d2a-0123456789ab");
    pchat_room_file_component("", out, sizeof out);
    assert_string_equal(out, "none");
    pchat_user_address("sip:alice@example.com;transport=tls", out, sizeof out);
    assert_string_equal(out, "alice@example.com");
    pchat_user_address("SIPS:bob@example.com", out, sizeof out);
    assert_string_equal(out, "bob@example.com");
}

static void atomic_write_replaces_whole_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/pchat-test-atomic-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[256];
    assert_int_equal(pchat_write_file_atomic(dir, "a.xml", "first", 5, err, sizeof err), 0);
    assert_int_equal(pchat_write_file_atomic(dir, "a.xml", "second!", 7, err, sizeof err), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/a.xml", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[32] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    assert_int_equal(n, 7);
    assert_string_equal(buf, "second!");
    /* nothing else is left in the directory: no temp file survives */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        entries += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    assert_int_equal(entries, 1);
    /* a directory that does not exist is an error with the path in it */
    assert_int_equal(pchat_write_file_atomic("/nonexistent-pchat-dir", "x", "y", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-pchat-dir"));
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sample_from_the_2013_documentation),
        cmocka_unit_test(ticks_formula_on_whole_milliseconds),
        cmocka_unit_test(three_forms_agree),
        cmocka_unit_test(epoch_edges),
        cmocka_unit_test(xml_attribute_escaping),
        cmocka_unit_test(json_string_escaping),
        cmocka_unit_test(buffer_cap_is_enforced),
        cmocka_unit_test(file_names_and_addresses),
        cmocka_unit_test(atomic_write_replaces_whole_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
