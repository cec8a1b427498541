/* daemon.h — what every pchat daemon does before its loop: parse the command line, load and
 * check the YAML config (with --set overrides), set up logging. */
#ifndef PCHAT_DAEMON_H
#define PCHAT_DAEMON_H

#include "config.h"

struct daemon_info {
    const char *program;      /* "pchat-frontend" */
    const char *summary;      /* one sentence for --help */
    bool takes_id;            /* accepts --id NAME (channel, compliance workers) */
    const char *extra_help;   /* more lines for --help, may be NULL */
};

/* Parses -c/--config FILE (or $PCHAT_CONFIG), --set KEY=VALUE (repeatable), --id NAME,
 * --print-config, --check-config, --log-level LEVEL, --help, --version. Exits the process for
 * --help/--version/--print-config/--check-config and on any error (status 2 for usage, 1 for
 * a bad config), printing a precise message. On return cfg is loaded and *id is the --id
 * value or NULL. */
void daemon_init(const struct daemon_info *info, int argc, char **argv,
                 struct pchat_config *cfg, const char **id);

#define PCHAT_VERSION "0.1.0"

#endif
