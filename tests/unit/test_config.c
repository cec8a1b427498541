/* test_config.c — the YAML configuration loader: defaults, every error naming file, line and key,
 * --set overrides, lists and records, derived URIs, and --print-config loading back. */
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

static char tmp_dir[] = "/tmp/pchat-test-config-XXXXXX";
static char fixture_path[sizeof tmp_dir + 32];

static int make_tmp_dir(void **state)
{
    (void)state;
    if (!mkdtemp(tmp_dir))
        return -1;
    snprintf(fixture_path, sizeof fixture_path, "%s/dev.yaml", tmp_dir);
    return 0;
}

static int remove_tmp_dir(void **state)
{
    (void)state;
    char dump_path[sizeof tmp_dir + 32];
    snprintf(dump_path, sizeof dump_path, "%s/dump.yaml", tmp_dir);
    unlink(fixture_path);
    unlink(dump_path);
    return rmdir(tmp_dir);
}

static void write_fixture(const char *text)
{
    FILE *f = fopen(fixture_path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Load `text` from dev.yaml over the defaults; returns config_load's result. */
static int load_text(const char *text, struct pchat_config *cfg, char *err)
{
    write_fixture(text);
    config_defaults(cfg);
    return config_load(fixture_path, cfg, err, CONFIG_ERR_LEN);
}

/* The load must fail with exactly "<fixture path>:<expected>". */
static void expect_load_error(const char *text, const char *expected)
{
    struct pchat_config cfg;
    char err[CONFIG_ERR_LEN], want[CONFIG_ERR_LEN];
    assert_int_equal(load_text(text, &cfg, err), -1);
    snprintf(want, sizeof want, "%s:%s", fixture_path, expected);
    assert_string_equal(err, want);
    config_free(&cfg);
}

static void expect_set_error(const char *key, const char *value, const char *expected)
{
    struct pchat_config cfg;
    char err[CONFIG_ERR_LEN];
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, key, value, err, sizeof err), -1);
    assert_string_equal(err, expected);
    config_free(&cfg);
}

static char *dump_to_string(const struct pchat_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_dump(cfg, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* ---- defaults ---------------------------------------------------------------------------------- */

static void test_defaults_are_those_documented(void **state)
{
    (void)state;
    struct pchat_config c;
    config_defaults(&c);
    assert_null(c.path);
    assert_string_equal(c.pool.domain, "example.com");
    assert_string_equal(c.pool.lookup_uri, "");
    assert_string_equal(c.log.level, "info");
    assert_string_equal(c.database.pchat, "host=127.0.0.1 port=55432 dbname=pchat user=pchat");
    assert_string_equal(c.database.mgccomp, "host=127.0.0.1 port=55432 dbname=mgccomp user=pchat");
    assert_int_equal(c.database.connect_timeout_s, 5);
    assert_int_equal(c.database.statement_timeout_ms, 5000);
    assert_string_equal(c.auth.mode, "none");
    assert_string_equal(c.frontend.id, "fe1");
    assert_string_equal(c.frontend.sip_address, "127.0.0.1");
    assert_int_equal(c.frontend.sip_port, 5060);
    assert_true(c.frontend.sip_udp);
    assert_string_equal(c.frontend.router, "tcp://127.0.0.1:5570");
    assert_string_equal(c.frontend.events, "tcp://127.0.0.1:5571");
    assert_int_equal(c.frontend.register_expires_s, 3600);
    assert_int_equal(c.frontend.session_expires_s, 300);
    assert_int_equal(c.frontend.keepalive_s, 300);
    assert_int_equal(c.frontend.max_sessions, 50000);
    assert_int_equal(c.frontend.max_body_bytes, 65536);
    assert_int_equal(c.frontend.queue_max, 2000);
    assert_int_equal(c.frontend.request_timeout_ms, 5000);
    assert_int_equal(c.frontend.retry_after_min_s, 2);
    assert_int_equal(c.frontend.retry_after_max_s, 10);
    assert_int_equal(c.frontend.n_non_retrying_agents, 1);
    assert_string_equal(c.frontend.non_retrying_agents[0], "Sipe/");
    assert_int_equal(c.frontend.session_queue_max, 1000);
    assert_int_equal(c.frontend.heartbeat_ms, 1000);
    assert_int_equal(c.frontend.worker_timeout_ms, 3000);
    assert_int_equal(c.frontend.metrics_port, 0);
    assert_int_equal(c.channel.n_frontends, 1);
    assert_string_equal(c.channel.frontends[0].id, "fe1");
    assert_string_equal(c.channel.frontends[0].router, "tcp://127.0.0.1:5570");
    assert_string_equal(c.channel.frontends[0].events, "tcp://127.0.0.1:5571");
    assert_int_equal(c.channel.credit, 16);
    assert_int_equal(c.channel.heartbeat_ms, 1000);
    assert_int_equal(c.channel.frontend_timeout_ms, 3000);
    assert_int_equal(c.channel.metrics_port, 0);
    assert_int_equal(c.chat.history_on_join, 30);
    assert_int_equal(c.chat.max_message_bytes, 8192);
    assert_int_equal(c.chat.search_limit, 999);
    assert_int_equal(c.chat.participant_update_limit, 75);
    assert_string_equal(c.chat.demo_room, "Lobby");
    assert_false(c.compliance.enabled);
    assert_int_equal(c.compliance.run_interval_s, 900);
    assert_int_equal(c.compliance.batch_size, 500);
    assert_string_equal(c.compliance.adapter_dir, "build/lib/pchat/adapters");
    assert_int_equal(c.compliance.n_adapters, 0);
    assert_int_equal(c.compliance.metrics_port, 0);

    char err[CONFIG_ERR_LEN];
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_string_equal(c.pool.lookup_uri, "sip:pchat@example.com");
    assert_string_equal(c.pool.channel_uri, "sip:pchat-chan@example.com");
    config_free(&c);
}

static void test_empty_files_mean_all_defaults(void **state)
{
    (void)state;
    static const char *const empties[] = { "", "# only a comment\n\n", "---\n", "~\n", "pool:\nlog: ~\n" };
    struct pchat_config defaults;
    char err[CONFIG_ERR_LEN];
    config_defaults(&defaults);
    assert_int_equal(config_finish(&defaults, err, sizeof err), 0);
    char *want = dump_to_string(&defaults);
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        struct pchat_config c;
        assert_int_equal(load_text(empties[i], &c, err), 0);
        assert_string_equal(c.path, fixture_path);
        char *got = dump_to_string(&c);
        assert_string_equal(got, want);
        free(got);
        config_free(&c);
    }
    free(want);
    config_free(&defaults);
}

/* ---- a complete file --------------------------------------------------------------------------- */

static const char full_file[] =
    "# a node running every role\n"
    "pool:\n"
    "  domain: chat.example.org\n"
    "  channel_uri: \"sip:rooms@chat.example.org\"\n"
    "log:\n"
    "  level: debug\n"
    "database:\n"
    "  pchat: \"host=db1 dbname=pchat\"\n"
    "  mgccomp: 'host=db2 dbname=mgccomp'\n"
    "  connect_timeout_s: 10\n"
    "  statement_timeout_ms: 2500\n"
    "auth:\n"
    "  mode: none\n"
    "frontend:\n"
    "  id: fe-2\n"
    "  sip_address: 0.0.0.0\n"
    "  sip_port: 5062\n"
    "  sip_udp: no\n"
    "  router: tcp://*:6570\n"
    "  events: ipc:///run/pchat/events\n"
    "  register_expires_s: 600\n"
    "  session_expires_s: 120\n"
    "  keepalive_s: 30\n"
    "  max_sessions: 100\n"
    "  max_body_bytes: 2048\n"
    "  queue_max: 50\n"
    "  request_timeout_ms: 800\n"
    "  retry_after_min_s: 3\n"
    "  retry_after_max_s: 3\n"
    "  non_retrying_agents:\n"
    "    - Sipe/\n"
    "    - \"UCCAPI/15\"\n"
    "  session_queue_max: 64\n"
    "  heartbeat_ms: 200\n"
    "  worker_timeout_ms: 700\n"
    "  metrics_port: 9101\n"
    "channel:\n"
    "  frontends:\n"
    "    - id: fe-1\n"
    "      router: tcp://10.0.0.1:5570\n"
    "      events: tcp://10.0.0.1:5571\n"
    "    - {id: fe-2, router: \"tcp://10.0.0.2:5570\", events: \"tcp://10.0.0.2:5571\"}\n"
    "  credit: 4\n"
    "  heartbeat_ms: 250\n"
    "  frontend_timeout_ms: 900\n"
    "  metrics_port: 9102\n"
    "chat:\n"
    "  history_on_join: 10\n"
    "  max_message_bytes: 1000\n"
    "  search_limit: 50\n"
    "  participant_update_limit: 0\n"
    "  demo_room: \"\"\n"
    "compliance:\n"
    "  enabled: On\n"
    "  run_interval_s: 60\n"
    "  batch_size: 20\n"
    "  adapter_dir: /usr/lib/pchat/adapters\n"
    "  adapters:\n"
    "    - name: archive\n"
    "      type: xml\n"
    "      output_dir: /var/lib/pchat/xml\n"
    "      one_room_per_file: true\n"
    "      add_room_details: yes\n"
    "    - name: stream\n"
    "      type: /opt/adapters/kafka.so\n"
    "  metrics_port: 9103\n";

static void test_full_file_sets_every_key(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text(full_file, &c, err), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.pool.domain, "chat.example.org");
    assert_string_equal(c.pool.lookup_uri, "sip:pchat@chat.example.org");
    assert_string_equal(c.pool.channel_uri, "sip:rooms@chat.example.org");
    assert_string_equal(c.log.level, "debug");
    assert_string_equal(c.database.pchat, "host=db1 dbname=pchat");
    assert_string_equal(c.database.mgccomp, "host=db2 dbname=mgccomp");
    assert_int_equal(c.database.connect_timeout_s, 10);
    assert_int_equal(c.database.statement_timeout_ms, 2500);
    assert_string_equal(c.frontend.id, "fe-2");
    assert_string_equal(c.frontend.sip_address, "0.0.0.0");
    assert_int_equal(c.frontend.sip_port, 5062);
    assert_false(c.frontend.sip_udp);
    assert_string_equal(c.frontend.router, "tcp://*:6570");
    assert_string_equal(c.frontend.events, "ipc:///run/pchat/events");
    assert_int_equal(c.frontend.register_expires_s, 600);
    assert_int_equal(c.frontend.session_expires_s, 120);
    assert_int_equal(c.frontend.keepalive_s, 30);
    assert_int_equal(c.frontend.max_sessions, 100);
    assert_int_equal(c.frontend.max_body_bytes, 2048);
    assert_int_equal(c.frontend.queue_max, 50);
    assert_int_equal(c.frontend.request_timeout_ms, 800);
    assert_int_equal(c.frontend.retry_after_min_s, 3);
    assert_int_equal(c.frontend.retry_after_max_s, 3);
    assert_int_equal(c.frontend.n_non_retrying_agents, 2);
    assert_string_equal(c.frontend.non_retrying_agents[0], "Sipe/");
    assert_string_equal(c.frontend.non_retrying_agents[1], "UCCAPI/15");
    assert_int_equal(c.frontend.session_queue_max, 64);
    assert_int_equal(c.frontend.heartbeat_ms, 200);
    assert_int_equal(c.frontend.worker_timeout_ms, 700);
    assert_int_equal(c.frontend.metrics_port, 9101);
    assert_int_equal(c.channel.n_frontends, 2);
    assert_string_equal(c.channel.frontends[0].id, "fe-1");
    assert_string_equal(c.channel.frontends[0].router, "tcp://10.0.0.1:5570");
    assert_string_equal(c.channel.frontends[0].events, "tcp://10.0.0.1:5571");
    assert_string_equal(c.channel.frontends[1].id, "fe-2");
    assert_string_equal(c.channel.frontends[1].router, "tcp://10.0.0.2:5570");
    assert_string_equal(c.channel.frontends[1].events, "tcp://10.0.0.2:5571");
    assert_int_equal(c.channel.credit, 4);
    assert_int_equal(c.channel.heartbeat_ms, 250);
    assert_int_equal(c.channel.frontend_timeout_ms, 900);
    assert_int_equal(c.channel.metrics_port, 9102);
    assert_int_equal(c.chat.history_on_join, 10);
    assert_int_equal(c.chat.max_message_bytes, 1000);
    assert_int_equal(c.chat.search_limit, 50);
    assert_int_equal(c.chat.participant_update_limit, 0);
    assert_string_equal(c.chat.demo_room, "");
    assert_true(c.compliance.enabled);
    assert_int_equal(c.compliance.run_interval_s, 60);
    assert_int_equal(c.compliance.batch_size, 20);
    assert_string_equal(c.compliance.adapter_dir, "/usr/lib/pchat/adapters");
    assert_int_equal(c.compliance.n_adapters, 2);
    assert_string_equal(c.compliance.adapters[0].name, "archive");
    assert_string_equal(c.compliance.adapters[0].type, "xml");
    assert_string_equal(c.compliance.adapters[0].output_dir, "/var/lib/pchat/xml");
    assert_true(c.compliance.adapters[0].one_room_per_file);
    assert_true(c.compliance.adapters[0].add_room_details);
    assert_false(c.compliance.adapters[0].add_user_details);
    assert_string_equal(c.compliance.adapters[1].name, "stream");
    assert_string_equal(c.compliance.adapters[1].type, "/opt/adapters/kafka.so");
    assert_string_equal(c.compliance.adapters[1].output_dir, "var/compliance");
    assert_false(c.compliance.adapters[1].one_room_per_file);
    assert_int_equal(c.compliance.metrics_port, 9103);
    config_free(&c);
}

static void test_bool_spellings(void **state)
{
    (void)state;
    static const struct { const char *text; bool want; } cases[] = {
        { "true", true }, { "TRUE", true }, { "yes", true }, { "On", true },
        { "false", false }, { "No", false }, { "off", false }, { "FALSE", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pchat_config c;
        char text[64], err[CONFIG_ERR_LEN];
        snprintf(text, sizeof text, "compliance:\n  enabled: %s\n", cases[i].text);
        assert_int_equal(load_text(text, &c, err), 0);
        assert_int_equal(c.compliance.enabled, cases[i].want);
        config_free(&c);
    }
}

/* ---- errors name the file, the line and the key ------------------------------------------------ */

static void test_error_out_of_range(void **state)
{
    (void)state;
    expect_load_error("# comment 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n# 10\n# 11\n"
                      "frontend:\n  id: fe1\n  sip_port: 70000\n",
                      "14: frontend.sip_port must be between 1 and 65535 (got 70000)");
    expect_load_error("chat:\n  search_limit: 0\n", "2: chat.search_limit must be between 1 and 10000 (got 0)");
    expect_load_error("frontend:\n  queue_max: -1\n",
                      "2: frontend.queue_max must be between 1 and 1000000 (got -1)");
    expect_load_error("frontend:\n  metrics_port: 65536\n",
                      "2: frontend.metrics_port must be between 0 and 65535 (got 65536)");
}

static void test_error_int_forms(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  sip_port: 50x\n",
                      "2: frontend.sip_port must be a whole number between 1 and 65535 (got \"50x\")");
    expect_load_error("frontend:\n  sip_port: 0x10\n",
                      "2: frontend.sip_port must be a whole number between 1 and 65535 (got \"0x10\")");
    expect_load_error("frontend:\n  sip_port: 5.5\n",
                      "2: frontend.sip_port must be a whole number between 1 and 65535 (got \"5.5\")");
    expect_load_error("frontend:\n  sip_port:\n",
                      "2: frontend.sip_port must be a whole number between 1 and 65535 (got \"\")");
    expect_load_error("frontend:\n  sip_port: 99999999999999999999999\n",
                      "2: frontend.sip_port must be between 1 and 65535 (got 99999999999999999999999)");
    expect_load_error("frontend:\n  sip_port: 4294972356\n",
                      "2: frontend.sip_port must be between 1 and 65535 (got 4294972356)");
}

static void test_error_bool(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  id: fe1\n\n  sip_udp: maybe\n",
                      "4: frontend.sip_udp must be true or false (got \"maybe\")");
    expect_load_error("frontend:\n  sip_udp: 1\n", "2: frontend.sip_udp must be true or false (got \"1\")");
}

static void test_error_unknown_key(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  sip_port: 5060\n  sip_prot: 5061\n",
                      "3: unknown key \"frontend.sip_prot\" (did you mean \"frontend.sip_port\"?)");
    expect_load_error("log: {}\nfronted:\n  sip_port: 5060\n",
                      "2: unknown key \"fronted\" (did you mean \"frontend\"?)");
    /* the right key under the wrong heading */
    expect_load_error("channel:\n  sip_port: 5060\n",
                      "2: unknown key \"channel.sip_port\" (did you mean \"frontend.sip_port\"?)");
    expect_load_error("chat:\n  colour: blue\n", "2: unknown key \"chat.colour\"");
    expect_load_error("frontend.sip_port: 5062\n",
                      "1: unknown key \"frontend.sip_port\" (write it nested: \"frontend:\" with "
                      "\"sip_port:\" indented under it)");
    expect_load_error("database:\n  connect_timeout: 5\n",
                      "2: unknown key \"database.connect_timeout\" (did you mean \"database.connect_timeout_s\"?)");
}

static void test_error_duplicate_key(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  sip_port: 5060\n  queue_max: 5\n  sip_port: 5061\n",
                      "4: duplicate key \"frontend.sip_port\" (first set on line 2)");
    expect_load_error("chat:\n  search_limit: 5\nlog: {}\nchat:\n  history_on_join: 5\n",
                      "4: duplicate key \"chat\" (first set on line 1)");
}

static void test_error_wrong_shape(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  sip_port:\n    value: 5060\n",
                      "3: frontend.sip_port must be a single value, not a mapping");
    expect_load_error("frontend:\n  id: [fe1, fe2]\n", "2: frontend.id must be a single value, not a list");
    expect_load_error("log:\n  level: info\nfrontend: 5060\n",
                      "3: frontend must be a mapping of indented \"key: value\" lines, not a single value");
    expect_load_error("frontend:\n  - sip_port: 5060\n",
                      "2: frontend must be a mapping of indented \"key: value\" lines, not a list");
    expect_load_error("- frontend\n", "1: the file must be a mapping of sections such as \"frontend:\", not a list");
    expect_load_error("# x\nfrontend\n",
                      "2: the file must be a mapping of sections such as \"frontend:\", not a single value");
    expect_load_error("frontend:\n  ? [a, b]\n  : 1\n", "2: keys under frontend: must be plain names, not a list");
    expect_load_error("frontend:\n  non_retrying_agents: Sipe/\n",
                      "2: frontend.non_retrying_agents must be a list, not a single value");
}

static void test_error_yaml_syntax(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  sip_port: 5060\n  id: fe1\n bad: x\n",
                      "4: YAML syntax error: did not find expected key (while parsing a block mapping on line 1)");
    expect_load_error("log:\n  level: \"info\n",
                      "3: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar on line 2)");
    expect_load_error("log:\n  level: *nowhere\n", "2: YAML syntax error: found undefined alias");
    expect_load_error("log:\n  level: info\n---\nchat: {}\n",
                      "3: a second YAML document starts here; a configuration is one document (remove the extra \"---\")");
}

static void test_error_cannot_open(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN], path[sizeof tmp_dir + 32];
    config_defaults(&c);
    snprintf(path, sizeof path, "%s/missing.yaml", tmp_dir);
    assert_int_equal(config_load(path, &c, err, sizeof err), -1);
    char want[CONFIG_ERR_LEN];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);
    assert_int_equal(config_load(tmp_dir, &c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", tmp_dir);
    assert_string_equal(err, want);
    config_free(&c);
}

static void test_error_formats(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  router: http://127.0.0.1:5570\n",
                      "2: frontend.router must be a ZeroMQ endpoint: tcp://host:port, ipc://path or "
                      "inproc://name (got \"http://127.0.0.1:5570\")");
    expect_load_error("frontend:\n  events: tcp://127.0.0.1\n",
                      "2: frontend.events must be a ZeroMQ endpoint: tcp://host:port, ipc://path or "
                      "inproc://name (got \"tcp://127.0.0.1\")");
    expect_load_error("pool:\n  lookup_uri: pchat@example.com\n",
                      "2: pool.lookup_uri must be a SIP URI such as sip:pchat@example.com, or empty "
                      "(got \"pchat@example.com\")");
    expect_load_error("pool:\n  channel_uri: sip:example.com\n",
                      "2: pool.channel_uri must be a SIP URI such as sip:pchat@example.com, or empty "
                      "(got \"sip:example.com\")");
    expect_load_error("pool:\n  domain: exa mple.com\n",
                      "2: pool.domain must be a host name such as example.com (got \"exa mple.com\")");
    expect_load_error("pool:\n  domain: -example.com\n",
                      "2: pool.domain must be a host name such as example.com (got \"-example.com\")");
    expect_load_error("pool:\n  domain: example..com\n",
                      "2: pool.domain must be a host name such as example.com (got \"example..com\")");
    expect_load_error("log:\n  level: verbose\n",
                      "2: log.level must be one of debug, info, warn, error (got \"verbose\")");
    expect_load_error("auth:\n  mode: digest\n", "2: auth.mode \"digest\" is not supported yet; use \"none\"");
    expect_load_error("frontend:\n  id: \"fe 1\"\n",
                      "2: frontend.id must be 1 to 64 letters, digits, '-', '_' or '.' (got \"fe 1\")");
    expect_load_error("compliance:\n  adapter_dir: \"\"\n", "2: compliance.adapter_dir must not be empty");
    expect_load_error("chat:\n  demo_room: \"a\\tb\"\n",
                      "2: chat.demo_room must be one line of UTF-8 text without control characters (got \"a?b\")");
    expect_load_error("chat:\n  demo_room: \"a\\0b\"\n", "2: chat.demo_room must not contain a NUL character");
}

static void test_cross_key_checks(void **state)
{
    (void)state;
    expect_load_error("frontend:\n  retry_after_max_s: 5\n  queue_max: 10\n  retry_after_min_s: 6\n",
                      "4: frontend.retry_after_min_s (6) must not be greater than frontend.retry_after_max_s (5): "
                      "Retry-After is drawn between the two");
    expect_load_error("frontend:\n  worker_timeout_ms: 1000\n",
                      "2: frontend.worker_timeout_ms (1000) must be greater than frontend.heartbeat_ms (1000), "
                      "or a live worker is declared dead between two heartbeats");
    expect_load_error("chat: {}\nchannel:\n  heartbeat_ms: 4000\n",
                      "3: channel.frontend_timeout_ms (3000) must be greater than channel.heartbeat_ms (4000), "
                      "or a live front end is declared dead between two heartbeats");

    /* the same rules after --set overrides, reported against the file */
    struct pchat_config c;
    char err[CONFIG_ERR_LEN], want[CONFIG_ERR_LEN];
    assert_int_equal(load_text("frontend:\n  retry_after_min_s: 4\n", &c, err), 0);
    assert_int_equal(config_set(&c, "frontend.retry_after_max_s", "3", err, sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: frontend.retry_after_min_s (4) must not be greater than "
             "frontend.retry_after_max_s (3): Retry-After is drawn between the two", fixture_path);
    assert_string_equal(err, want);
    config_free(&c);
}

/* ---- lists ------------------------------------------------------------------------------------- */

static void test_lists_block_flow_and_empty(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text("frontend:\n  non_retrying_agents:\n    - A/1\n    - \"B, with comma\"\n", &c, err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, 2);
    assert_string_equal(c.frontend.non_retrying_agents[0], "A/1");
    assert_string_equal(c.frontend.non_retrying_agents[1], "B, with comma");
    config_free(&c);

    assert_int_equal(load_text("frontend:\n  non_retrying_agents: [X/, 'Y/']\n", &c, err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, 2);
    assert_string_equal(c.frontend.non_retrying_agents[0], "X/");
    assert_string_equal(c.frontend.non_retrying_agents[1], "Y/");
    config_free(&c);

    static const char *const empties[] = { "frontend:\n  non_retrying_agents: []\n",
                                           "frontend:\n  non_retrying_agents:\n" };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(load_text(empties[i], &c, err), 0);
        assert_int_equal(c.frontend.n_non_retrying_agents, 0);
        config_free(&c);
    }
}

static void test_lists_too_many_or_bad_items(void **state)
{
    (void)state;
    char text[2048];
    int o = snprintf(text, sizeof text, "frontend:\n  non_retrying_agents:\n");
    for (int i = 0; i < CONFIG_MAX_AGENTS + 1; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, "    - agent%d/\n", i);
    char want[128];
    /* the first entry past the limit is on line 3 + CONFIG_MAX_AGENTS */
    snprintf(want, sizeof want, "%d: frontend.non_retrying_agents must have at most %d entries (got %d)",
             3 + CONFIG_MAX_AGENTS, CONFIG_MAX_AGENTS, CONFIG_MAX_AGENTS + 1);
    expect_load_error(text, want);

    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    text[strlen(text) - strlen("    - agent16/\n")] = '\0';
    assert_int_equal(load_text(text, &c, err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, CONFIG_MAX_AGENTS);
    assert_string_equal(c.frontend.non_retrying_agents[CONFIG_MAX_AGENTS - 1], "agent15/");
    config_free(&c);

    expect_load_error("frontend:\n  non_retrying_agents:\n    - A/\n    - \"\"\n",
                      "4: frontend.non_retrying_agents[1] must not be empty");
    expect_load_error("frontend:\n  non_retrying_agents:\n    - A/\n    - {ua: B}\n",
                      "4: frontend.non_retrying_agents[1] must be a single value, not a mapping");
}

/* ---- lists of records -------------------------------------------------------------------------- */

static void test_frontend_records_errors(void **state)
{
    (void)state;
    expect_load_error("channel:\n  frontends:\n    - id: fe1\n      rooter: tcp://a:1\n",
                      "4: unknown key \"channel.frontends[0].rooter\" (did you mean \"channel.frontends[0].router\"?)");
    expect_load_error("channel:\n  frontends:\n    - id: fe1\n      router: tcp://a:1\n",
                      "3: channel.frontends[0] is missing \"events:\" (every entry needs one)");
    expect_load_error("channel:\n  frontends:\n    - router: tcp://a:1\n      events: tcp://a:2\n"
                      "    - router: tcp://b:1\n      events: udp://b:2\n",
                      "6: channel.frontends[1].events must be a ZeroMQ endpoint: tcp://host:port, ipc://path "
                      "or inproc://name (got \"udp://b:2\")");
    expect_load_error("channel:\n  frontends:\n    - router: tcp://a:1\n      events: tcp://a:2\n"
                      "    - events: tcp://a:3\n      router: tcp://a:1\n",
                      "6: channel.frontends[1].router \"tcp://a:1\" is already used by channel.frontends[0]");
    expect_load_error("channel:\n  frontends:\n    - tcp://a:1\n",
                      "3: channel.frontends[0] must be a mapping with keys such as id: and router:, not a single value");
    expect_load_error("channel:\n  frontends:\n    - router: tcp://a:1\n      events: tcp://a:2\n      router: tcp://a:3\n",
                      "5: duplicate key \"channel.frontends[0].router\" (first set on line 3)");
    expect_load_error("channel:\n  frontends: {router: tcp://a:1}\n",
                      "2: channel.frontends must be a list, not a mapping");

    char text[8192];
    int o = snprintf(text, sizeof text, "channel:\n  frontends:\n");
    for (int i = 0; i < CONFIG_MAX_FRONTENDS + 1; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, "    - {router: \"tcp://h:%d\", events: \"tcp://h:%d\"}\n",
                      1000 + i, 2000 + i);
    char want[128];
    snprintf(want, sizeof want, "%d: channel.frontends must have at most %d entries (got %d)",
             3 + CONFIG_MAX_FRONTENDS, CONFIG_MAX_FRONTENDS, CONFIG_MAX_FRONTENDS + 1);
    expect_load_error(text, want);
}

static void test_adapter_records(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text("compliance:\n  adapters:\n    - {name: a, type: jsonl, add_user_details: true}\n",
                               &c, err), 0);
    assert_int_equal(c.compliance.n_adapters, 1);
    assert_string_equal(c.compliance.adapters[0].type, "jsonl");
    assert_string_equal(c.compliance.adapters[0].output_dir, "var/compliance");
    assert_true(c.compliance.adapters[0].add_user_details);
    assert_false(c.compliance.adapters[0].one_room_per_file);
    config_free(&c);

    expect_load_error("compliance:\n  adapters:\n    - name: a\n      type: xml\n    - name: b\n      type: xml\n"
                      "    - type: jsonl\n      name: a\n",
                      "8: compliance.adapters[2].name \"a\" is already used by compliance.adapters[0]");
    expect_load_error("compliance:\n  adapters:\n    - name: a\n      typ: xml\n",
                      "4: unknown key \"compliance.adapters[0].typ\" (did you mean \"compliance.adapters[0].type\"?)");
    expect_load_error("compliance:\n  adapters:\n    - type: xml\n",
                      "3: compliance.adapters[0] is missing \"name:\" (every entry needs one)");
    expect_load_error("compliance:\n  adapters:\n    - name: a\n      type: xml\n      add_room_details: sure\n",
                      "5: compliance.adapters[0].add_room_details must be true or false (got \"sure\")");
    expect_load_error("compliance:\n  adapters:\n    - name: a/b\n      type: xml\n",
                      "3: compliance.adapters[0].name must be 1 to 64 letters, digits, '-', '_' or '.' (got \"a/b\")");

    /* config_finish catches duplicates however they got there */
    config_defaults(&c);
    assert_int_equal(config_set(&c, "compliance.adapters", "[{name: a, type: xml}, {name: b, type: xml}]",
                                err, sizeof err), 0);
    free(c.compliance.adapters[1].name);
    c.compliance.adapters[1].name = strdup("a");
    assert_int_equal(config_finish(&c, err, sizeof err), -1);
    assert_string_equal(err, "compliance.adapters[1].name \"a\" is already used by compliance.adapters[0]");
    config_free(&c);
}

/* ---- --set ------------------------------------------------------------------------------------- */

static void test_set_overrides(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text("frontend:\n  sip_port: 5061\n", &c, err), 0);
    assert_int_equal(config_set(&c, "frontend.sip_port", "5062", err, sizeof err), 0);
    assert_int_equal(c.frontend.sip_port, 5062);
    assert_int_equal(config_set(&c, "frontend.sip_udp", "off", err, sizeof err), 0);
    assert_false(c.frontend.sip_udp);
    assert_int_equal(config_set(&c, "chat.demo_room", "Trading floor", err, sizeof err), 0);
    assert_string_equal(c.chat.demo_room, "Trading floor");
    assert_int_equal(config_set(&c, "chat.demo_room", "", err, sizeof err), 0);
    assert_string_equal(c.chat.demo_room, "");

    assert_int_equal(config_set(&c, "frontend.non_retrying_agents", "Sipe/, Pidgin ,UCCAPI", err, sizeof err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, 3);
    assert_string_equal(c.frontend.non_retrying_agents[0], "Sipe/");
    assert_string_equal(c.frontend.non_retrying_agents[1], "Pidgin");
    assert_string_equal(c.frontend.non_retrying_agents[2], "UCCAPI");
    assert_int_equal(config_set(&c, "frontend.non_retrying_agents", "[\"a,b\"]", err, sizeof err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, 1);
    assert_string_equal(c.frontend.non_retrying_agents[0], "a,b");
    assert_int_equal(config_set(&c, "frontend.non_retrying_agents", "", err, sizeof err), 0);
    assert_int_equal(c.frontend.n_non_retrying_agents, 0);

    assert_int_equal(config_set(&c, "channel.frontends",
                                "[{id: fe7, router: \"tcp://h:1\", events: \"tcp://h:2\"}, "
                                "{router: \"ipc:///tmp/r\", events: \"ipc:///tmp/e\"}]", err, sizeof err), 0);
    assert_int_equal(c.channel.n_frontends, 2);
    assert_string_equal(c.channel.frontends[0].id, "fe7");
    assert_string_equal(c.channel.frontends[1].id, "");
    assert_string_equal(c.channel.frontends[1].events, "ipc:///tmp/e");
    assert_int_equal(config_set(&c, "channel.frontends", "[]", err, sizeof err), 0);
    assert_int_equal(c.channel.n_frontends, 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    config_free(&c);
}

static void test_set_errors(void **state)
{
    (void)state;
    expect_set_error("frontend.sip_port", "0", "--set frontend.sip_port: must be between 1 and 65535 (got 0)");
    expect_set_error("frontend.sip_port", "80 ", "--set frontend.sip_port: must be a whole number between 1 and 65535 (got \"80 \")");
    expect_set_error("frontend.sip_prot", "5062", "--set frontend.sip_prot: unknown key (did you mean \"frontend.sip_port\"?)");
    expect_set_error("frontend", "5062", "--set frontend: unknown key");
    expect_set_error("sip_port", "5062", "--set sip_port: unknown key (did you mean \"frontend.sip_port\"?)");
    expect_set_error("frontend.sip_udp", "maybe", "--set frontend.sip_udp: must be true or false (got \"maybe\")");
    expect_set_error("auth.mode", "digest", "--set auth.mode: \"digest\" is not supported yet; use \"none\"");
    expect_set_error("frontend.non_retrying_agents", "a,,b", "--set frontend.non_retrying_agents[1]: must not be empty");
    expect_set_error("frontend.non_retrying_agents", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
                     "--set frontend.non_retrying_agents: must have at most 16 entries (got 17)");
    expect_set_error("channel.frontends", "[{router: \"tcp://h:1\"",
                     "--set channel.frontends: YAML syntax error: did not find expected ',' or '}' "
                     "(while parsing a flow mapping on line 1)");
    expect_set_error("channel.frontends", "[{router: \"tcp://h:1\", evnets: \"tcp://h:2\"}]",
                     "--set channel.frontends[0].evnets: unknown key (did you mean \"channel.frontends[0].events\"?)");
    expect_set_error("channel.frontends", "tcp://h:1", "--set channel.frontends: must be a list, not a single value");
    expect_set_error("frontend.sip_port", NULL, "--set frontend.sip_port: needs the form key=value");
    /* messages stay valid one-line UTF-8 whatever the value held */
    expect_set_error("chat.demo_room", "Caf\xc3\xa9\xff\n",
                     "--set chat.demo_room: must be one line of UTF-8 text without control characters "
                     "(got \"Caf\xc3\xa9??\")");

    /* a refused value leaves the old one in place */
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "frontend.non_retrying_agents", "A/,B/", err, sizeof err), 0);
    assert_int_equal(config_set(&c, "frontend.non_retrying_agents", "C/,", err, sizeof err), -1);
    assert_int_equal(c.frontend.n_non_retrying_agents, 2);
    assert_string_equal(c.frontend.non_retrying_agents[1], "B/");
    assert_int_equal(config_set(&c, "pool.domain", "bad domain", err, sizeof err), -1);
    assert_string_equal(c.pool.domain, "example.com");
    assert_int_equal(config_set(&c, "channel.frontends", "[{router: \"tcp://h:1\"}]", err, sizeof err), -1);
    assert_string_equal(err, "--set channel.frontends[0]: is missing \"events:\" (every entry needs one)");
    assert_int_equal(c.channel.n_frontends, 1);
    assert_string_equal(c.channel.frontends[0].router, "tcp://127.0.0.1:5570");
    config_free(&c);
}

/* ---- derived URIs ------------------------------------------------------------------------------ */

static void test_derived_uris(void **state)
{
    (void)state;
    struct pchat_config c;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text("pool:\n  domain: contoso.com\n", &c, err), 0);
    assert_string_equal(c.pool.lookup_uri, "sip:pchat@contoso.com");
    assert_string_equal(c.pool.channel_uri, "sip:pchat-chan@contoso.com");

    /* --set pool.domain after the load moves the URIs that followed the old domain */
    assert_int_equal(config_set(&c, "pool.channel_uri", "sip:rooms@contoso.com", err, sizeof err), 0);
    assert_int_equal(config_set(&c, "pool.domain", "fabrikam.com", err, sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_string_equal(c.pool.lookup_uri, "sip:pchat@fabrikam.com");
    assert_string_equal(c.pool.channel_uri, "sip:rooms@contoso.com");

    /* an emptied URI is derived again */
    assert_int_equal(config_set(&c, "pool.channel_uri", "", err, sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_string_equal(c.pool.channel_uri, "sip:pchat-chan@fabrikam.com");
    config_free(&c);
}

/* ---- --print-config ---------------------------------------------------------------------------- */

static void test_dump_loads_back_to_the_same_values(void **state)
{
    (void)state;
    struct pchat_config a, b;
    char err[CONFIG_ERR_LEN];
    assert_int_equal(load_text(full_file, &a, err), 0);
    /* values that need quoting in YAML */
    assert_int_equal(config_set(&a, "chat.demo_room", "Café \"Lobby\" #1: a\\b", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "database.pchat", "host='db' password=x:y", err, sizeof err), 0);
    assert_int_equal(config_set(&a, "frontend.non_retrying_agents", "[\"- dash\", \"yes\", \"[x]\", \"123\"]",
                                err, sizeof err), 0);
    char *first = dump_to_string(&a);

    char dump_path[sizeof tmp_dir + 32];
    snprintf(dump_path, sizeof dump_path, "%s/dump.yaml", tmp_dir);
    FILE *f = fopen(dump_path, "w");
    assert_non_null(f);
    config_dump(&a, f);
    assert_int_equal(fclose(f), 0);
    config_defaults(&b);
    assert_int_equal(config_load(dump_path, &b, err, sizeof err), 0);
    char *second = dump_to_string(&b);
    assert_string_equal(second, first);

    assert_string_equal(b.chat.demo_room, "Café \"Lobby\" #1: a\\b");
    assert_string_equal(b.database.pchat, "host='db' password=x:y");
    assert_int_equal(b.frontend.n_non_retrying_agents, 4);
    assert_string_equal(b.frontend.non_retrying_agents[1], "yes");
    assert_string_equal(b.frontend.non_retrying_agents[3], "123");
    assert_int_equal(b.frontend.sip_port, 5062);
    assert_false(b.frontend.sip_udp);
    assert_int_equal(b.channel.n_frontends, 2);
    assert_string_equal(b.channel.frontends[1].router, "tcp://10.0.0.2:5570");
    assert_int_equal(b.compliance.n_adapters, 2);
    assert_true(b.compliance.adapters[0].one_room_per_file);
    assert_string_equal(b.pool.channel_uri, "sip:rooms@chat.example.org");

    free(first);
    free(second);
    config_free(&a);
    config_free(&b);
}

/* Shell scripts read --print-config with awk: "section:" lines and "  key: value" scalars. */
static void test_dump_layout_for_scripts(void **state)
{
    (void)state;
    struct pchat_config c;
    config_defaults(&c);
    char *text = dump_to_string(&c);
    assert_non_null(strstr(text, "\nfrontend:\n"));
    assert_non_null(strstr(text, "\n  sip_port: 5060\n"));
    assert_non_null(strstr(text, "\n  sip_udp: true\n"));
    assert_non_null(strstr(text, "\n  demo_room: \"Lobby\"\n"));
    assert_non_null(strstr(text, "\n  non_retrying_agents:\n    - \"Sipe/\"\n"));
    assert_non_null(strstr(text, "\n  frontends:\n    - id: \"fe1\"\n      router: \"tcp://127.0.0.1:5570\"\n"));
    assert_non_null(strstr(text, "\n  adapters: []\n"));
    assert_int_equal(strncmp(text, "pool:\n", 6), 0);
    /* every line is a section, an indented key, or a list entry */
    for (char *line = text; *line; line = strchr(line, '\n') + 1) {
        bool section = line[0] >= 'a' && line[0] <= 'z' && strchr(line, ':') < strchr(line, '\n') &&
                       strchr(line, ':')[1] == '\n';
        assert_true(section || strncmp(line, "  ", 2) == 0);
    }
    free(text);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_those_documented),
        cmocka_unit_test(test_empty_files_mean_all_defaults),
        cmocka_unit_test(test_full_file_sets_every_key),
        cmocka_unit_test(test_bool_spellings),
        cmocka_unit_test(test_error_out_of_range),
        cmocka_unit_test(test_error_int_forms),
        cmocka_unit_test(test_error_bool),
        cmocka_unit_test(test_error_unknown_key),
        cmocka_unit_test(test_error_duplicate_key),
        cmocka_unit_test(test_error_wrong_shape),
        cmocka_unit_test(test_error_yaml_syntax),
        cmocka_unit_test(test_error_cannot_open),
        cmocka_unit_test(test_error_formats),
        cmocka_unit_test(test_cross_key_checks),
        cmocka_unit_test(test_lists_block_flow_and_empty),
        cmocka_unit_test(test_lists_too_many_or_bad_items),
        cmocka_unit_test(test_frontend_records_errors),
        cmocka_unit_test(test_adapter_records),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_derived_uris),
        cmocka_unit_test(test_dump_loads_back_to_the_same_values),
        cmocka_unit_test(test_dump_layout_for_scripts),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
