/* test_compliance_config.c — compliance.adapters[].options in common/config.c: the pairs reach
 * the adapter as written, --print-config shows them and loads back, and a wrong shape is an
 * error naming file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[] = "/tmp/pchat-test-ccfg-XXXXXX";
static char path[sizeof dir + 32];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return rmdir(dir);
}

static int load(const char *text, struct pchat_config *cfg, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -2;
    fputs(text, f);
    fclose(f);
    config_defaults(cfg);
    return config_load(path, cfg, err, errlen);
}

static void options_reach_the_adapter_entry(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN] = "";
    assert_int_equal(load("compliance:\n"
                          "  adapters:\n"
                          "    - name: a\n"
                          "      type: xml\n"
                          "      options:\n"
                          "        event_ids: false\n"
                          "        note: \"two words\"\n"
                          "    - name: b\n"
                          "      type: jsonl\n",
                          &c, err, sizeof err), 0);
    assert_int_equal(c.compliance.n_adapters, 2);
    assert_int_equal(c.compliance.adapters[0].n_options, 2);
    assert_string_equal(c.compliance.adapters[0].options[0].key, "event_ids");
    assert_string_equal(c.compliance.adapters[0].options[0].value, "false");
    assert_string_equal(c.compliance.adapters[0].options[1].key, "note");
    assert_string_equal(c.compliance.adapters[0].options[1].value, "two words");
    assert_int_equal(c.compliance.adapters[1].n_options, 0);

    /* --print-config writes them and the dump loads back to the same options */
    char dump_path[sizeof dir + 32];
    snprintf(dump_path, sizeof dump_path, "%s/dump.yaml", dir);
    FILE *f = fopen(dump_path, "w");
    assert_non_null(f);
    config_dump(&c, f);
    fclose(f);
    config_free(&c);
    config_defaults(&c);
    assert_int_equal(config_load(dump_path, &c, err, sizeof err), 0);
    unlink(dump_path);
    assert_int_equal(c.compliance.adapters[0].n_options, 2);
    assert_string_equal(c.compliance.adapters[0].options[1].value, "two words");
    assert_int_equal(c.compliance.adapters[1].n_options, 0);
    config_free(&c);
}

static void options_through_set(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN] = "";
    assert_int_equal(load("", &c, err, sizeof err), 0);
    assert_int_equal(config_set(&c, "compliance.adapters",
                                "[{name: z, type: csv, options: {delimiter: \";\"}}]", err,
                                sizeof err), 0);
    assert_int_equal(c.compliance.adapters[0].n_options, 1);
    assert_string_equal(c.compliance.adapters[0].options[0].value, ";");
    config_free(&c);
}

static void bad_options_are_errors_with_a_line(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *error;
    } cases[] = {
        { "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options: [1, 2]\n",
          ":5: compliance.adapters[0].options must be a mapping" },
        { "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options:\n        k: 1\n        k: 2\n",
          ":7: duplicate key \"compliance.adapters[0].options.k\"" },
        { "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options:\n        k: {x: 1}\n",
          ":6: compliance.adapters[0].options.k must be a single value" },
        { "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options:\n        \"a b\": 1\n",
          ":6: compliance.adapters[0].options.a b must be 1 to 64 letters" },
        { "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options: {}\n      options: {}\n",
          ":6: duplicate key \"compliance.adapters[0].options\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pchat_config c;
        char err[CONFIG_ERR_LEN] = "";
        assert_int_equal(load(cases[i].yaml, &c, err, sizeof err), -1);
        if (!strstr(err, cases[i].error))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err, cases[i].error);
        config_free(&c);
    }
}

static void at_most_sixteen(void **state)
{
    (void)state;
    char yaml[2048];
    int n = snprintf(yaml, sizeof yaml, "compliance:\n  adapters:\n    - name: a\n      type: xml\n      options:\n");
    for (int i = 0; i <= CONFIG_MAX_ADAPTER_OPTIONS; i++)
        n += snprintf(yaml + n, sizeof yaml - (size_t)n, "        k%d: v\n", i);
    struct pchat_config c;
    char err[CONFIG_ERR_LEN] = "";
    assert_int_equal(load(yaml, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "compliance.adapters[0].options must have at most 16 entries"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_reach_the_adapter_entry),
        cmocka_unit_test(options_through_set),
        cmocka_unit_test(bad_options_are_errors_with_a_line),
        cmocka_unit_test(at_most_sixteen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
