/* daemon.c — the shared command line of the daemons: config file, overrides, checks. */
#include "daemon.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_SETS 64

static void usage(const struct daemon_info *info, FILE *out)
{
    fprintf(out,
            "usage: %s -c FILE [--set KEY=VALUE]...%s [--log-level LEVEL]\n"
            "       %s -c FILE --print-config | --check-config\n"
            "\n%s\n\n"
            "  -c, --config FILE      the node's YAML config (default: $PCHAT_CONFIG)\n"
            "      --set KEY=VALUE    override one key, e.g. --set frontend.sip_port=5062\n"
            "%s"
            "      --log-level LEVEL  debug, info, warn or error (overrides log.level)\n"
            "      --print-config     print the effective config as YAML and exit\n"
            "      --check-config     check the config, print \"ok\" and exit\n"
            "  -h, --help             this text\n"
            "  -V, --version          the version\n",
            info->program, info->takes_id ? " [--id NAME]" : "", info->program, info->summary,
            info->takes_id ? "      --id NAME          this worker's name in logs and metrics\n" : "");
    if (info->extra_help)
        fprintf(out, "\n%s\n", info->extra_help);
    fprintf(out, "\nKeys and defaults: docs/configuration.md\n");
}

void daemon_init(const struct daemon_info *info, int argc, char **argv,
                 struct pchat_config *cfg, const char **id)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, 's' },
        { "id", required_argument, NULL, 'i' },
        { "log-level", required_argument, NULL, 'l' },
        { "print-config", no_argument, NULL, 'p' },
        { "check-config", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = getenv("PCHAT_CONFIG");
    const char *sets[MAX_SETS];
    int n_sets = 0;
    const char *level = NULL;
    bool print = false, check = false;
    *id = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 's':
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "%s: at most %d --set options\n", info->program, MAX_SETS);
                exit(2);
            }
            sets[n_sets++] = optarg;
            break;
        case 'i':
            if (!info->takes_id)
                goto bad;
            *id = optarg;
            break;
        case 'l': level = optarg; break;
        case 'p': print = true; break;
        case 'k': check = true; break;
        case 'h': usage(info, stdout); exit(0);
        case 'V': printf("%s %s\n", info->program, PCHAT_VERSION); exit(0);
        default:
        bad:
            fprintf(stderr, "%s: unknown or incomplete option \"%s\"\n", info->program,
                    argv[optind - 1]);
            usage(info, stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", info->program, argv[optind]);
        usage(info, stderr);
        exit(2);
    }
    if (!path) {
        fprintf(stderr, "%s: no config file: give -c FILE or set PCHAT_CONFIG\n", info->program);
        usage(info, stderr);
        exit(2);
    }
    char err[CONFIG_ERR_LEN];
    config_defaults(cfg);
    if (config_load(path, cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", info->program, err);
        exit(1);
    }
    for (int i = 0; i < n_sets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i]) {
            fprintf(stderr, "%s: --set needs KEY=VALUE (got \"%s\")\n", info->program, sets[i]);
            exit(2);
        }
        char key[128];
        size_t klen = (size_t)(eq - sets[i]);
        if (klen >= sizeof key)
            klen = sizeof key - 1;
        memcpy(key, sets[i], klen);
        key[klen] = '\0';
        if (config_set(cfg, key, eq + 1, err, sizeof err) < 0) {
            fprintf(stderr, "%s: %s\n", info->program, err);
            exit(1);
        }
    }
    if (n_sets > 0 && config_finish(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", info->program, err);
        exit(1);
    }
    if (level) {
        int l = log_level_parse(level);
        if (l < 0) {
            fprintf(stderr, "%s: --log-level must be debug, info, warn or error (got \"%s\")\n",
                    info->program, level);
            exit(2);
        }
        free(cfg->log.level);
        cfg->log.level = strdup(level);
    }
    if (print) {
        config_dump(cfg, stdout);
        exit(0);
    }
    if (check) {
        printf("ok\n");
        exit(0);
    }
    int l = log_level_parse(cfg->log.level ? cfg->log.level : "info");
    log_init(info->program, l < 0 ? LOG_LEVEL_INFO : (enum log_level)l);
}
