/* main.c — pchatctl: global options, noun/verb dispatch, help, error sentences and the
 * exit-code contract. Each command runs in one process with one database connection. */
#include "ctl.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static const struct noun_spec *const nouns[] = {
    &noun_category, &noun_room, &noun_message, &noun_policy, &noun_addin, &noun_group,
    &noun_config, &noun_user, &noun_pool, &noun_compliance,
};

static const char GLOBAL_OPTIONS_HELP[] =
    "global options (before or after NOUN VERB):\n"
    "  -c, --config FILE   the node's YAML configuration (default: $PCHAT_CONFIG)\n"
    "  --json              print one JSON document on stdout instead of text\n"
    "  -v, --verbose       say on stderr what is done (e.g. which front ends were told)\n"
    "  --operator URI      who is acting, recorded in the compliance outbox\n"
    "                      (default sip:pchatctl@<pool.domain>)\n"
    "  -h, --help          help for pchatctl, a noun or a verb\n"
    "  --version           print the version\n";

static const char EXIT_CODES_HELP[] =
    "exit codes:\n"
    "  0  done\n"
    "  1  runtime error (configuration unreadable, database unreachable or failing)\n"
    "  2  usage error (unknown option, bad or missing argument)\n"
    "  3  not found (a named category, room, group, add-in, user, node, option)\n"
    "  4  refused by a rule (category not empty, user outside a category's scope,\n"
    "     duplicate name, group still used by a category)\n";

/* --- messages ------------------------------------------------------------------------------- */

static void vsay_err(struct ctl *c, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", c->program);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ctl_fail(struct ctl *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay_err(c, fmt, ap);
    va_end(ap);
    return code;
}

static void print_usage_line(FILE *out, const struct ctl *c)
{
    if (c->verb_spec)
        fprintf(out, "usage: pchatctl %s %s %s\n", c->noun_spec->name, c->verb_spec->name,
                c->verb_spec->synopsis);
    else if (c->noun_spec)
        fprintf(out, "usage: pchatctl %s VERB [ARGS] [OPTIONS]\n", c->noun_spec->name);
    else
        fprintf(out, "usage: pchatctl [-c FILE] [--json] NOUN VERB [ARGS] [OPTIONS]\n");
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", c->program);
    if (c->verb_spec)
        fprintf(stderr, "%s %s: ", c->noun_spec->name, c->verb_spec->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_usage_line(stderr, c);
    if (c->verb_spec)
        fprintf(stderr, "(pchatctl %s %s --help shows every option and an example)\n",
                c->noun_spec->name, c->verb_spec->name);
    else if (c->noun_spec)
        fprintf(stderr, "(pchatctl %s --help lists its verbs)\n", c->noun_spec->name);
    else
        fprintf(stderr, "(pchatctl --help lists the nouns)\n");
    return EXIT_USAGE;
}

int ctl_db_fail(struct ctl *c, const char *what)
{
    return ctl_fail(c, EXIT_RUNTIME, "cannot %s: %s", what, c->db_error);
}

void ctl_say(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sbuf_puts(&c->human, line);
    sbuf_putc(&c->human, '\n');
}

void ctl_verbose(struct ctl *c, const char *fmt, ...)
{
    if (!c->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsay_err(c, fmt, ap);
    va_end(ap);
}

/* --- help ----------------------------------------------------------------------------------- */

static void print_overview(FILE *out)
{
    fprintf(out,
            "usage: pchatctl [-c FILE] [--json] NOUN VERB [ARGS] [OPTIONS]\n\n"
            "The operator's tool of a pchat Persistent Chat pool: categories, rooms, roles,\n"
            "policies and server options in the Persistent Chat Store (PostgreSQL). Every\n"
            "change runs in one transaction, which also records it in the compliance outbox\n"
            "when compliance.enabled is true. Changes that take people out of a room reach\n"
            "live sessions at once.\n\n"
            "nouns:\n");
    for (size_t i = 0; i < ARRAY_LEN(nouns); i++) {
        char verbs[256] = "";
        size_t len = 0;
        for (const struct verb_spec *v = nouns[i]->verbs; v->name; v++)
            len += (size_t)snprintf(verbs + len, sizeof verbs - len, "%s%s",
                                    v == nouns[i]->verbs ? "" : " ", v->name);
        fprintf(out, "  %-11s %s\n  %-11s (%s)\n", nouns[i]->name, nouns[i]->summary, "", verbs);
    }
    fprintf(out, "\n%s\n%s\n", GLOBAL_OPTIONS_HELP, EXIT_CODES_HELP);
    fprintf(out, "principals (category allowed/denied/creators):\n"
                 "  sip:alice@example.com   a user\n"
                 "  domain:example.com      every user of a SIP domain\n"
                 "  group:traders           every member of a group (pchatctl group ...)\n\n"
                 "pchatctl NOUN --help lists a noun's verbs; pchatctl NOUN VERB --help shows its\n"
                 "options and an example. The operator's guide is docs/operations.md.\n");
}

static void print_noun_help(FILE *out, const struct noun_spec *n)
{
    fprintf(out, "usage: pchatctl %s VERB [ARGS] [OPTIONS]\n\n%s\n", n->name, n->summary);
    if (n->details)
        fprintf(out, "%s", n->details);
    fprintf(out, "\nverbs:\n");
    for (const struct verb_spec *v = n->verbs; v->name; v++)
        fprintf(out, "  %-14s %s\n", v->name, v->summary);
    fprintf(out, "\npchatctl %s VERB --help shows a verb's options and an example.\n", n->name);
}

/* Print text from column `col` on, breaking lines at spaces before column `width`. */
static void print_wrapped(FILE *out, const char *text, int col, int width)
{
    int at = col;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ' ');
        int len = end ? (int)(end - p) : (int)strlen(p);
        if (at > col && at + 1 + len > width) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', out);
            at++;
        }
        fwrite(p, 1, (size_t)len, out);
        at += len;
        p += len;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void print_verb_help(FILE *out, const struct noun_spec *n, const struct verb_spec *v)
{
    fprintf(out, "usage: pchatctl %s %s %s\n\n%s\n", n->name, v->name, v->synopsis, v->summary);
    if (v->details)
        fprintf(out, "%s", v->details);
    if (v->opts && v->opts[0].name) {
        fprintf(out, "\noptions:\n");
        for (const struct opt_spec *o = v->opts; o->name; o++) {
            char head[64];
            snprintf(head, sizeof head, "%s%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "",
                     o->kind == OPT_LIST ? " ..." : "");
            if (strlen(head) > 26)
                fprintf(out, "  %s\n  %-26s ", head, "");
            else
                fprintf(out, "  %-26s ", head);
            print_wrapped(out, o->help, 29, 79);
        }
    }
    fprintf(out, "\n%s", GLOBAL_OPTIONS_HELP);
    fprintf(out, "\nexample:\n%s\n", v->example);
}

/* --- argument parsing ----------------------------------------------------------------------- */

const char *arg_value(const struct args *a, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < a->n_occ; i++)
        if (strcmp(a->occ[i].opt->name, name) == 0)
            v = a->occ[i].value;
    return v;
}

bool arg_flag(const struct args *a, const char *name)
{
    return arg_count(a, name) > 0;
}

int arg_count(const struct args *a, const char *name)
{
    int n = 0;
    for (int i = 0; i < a->n_occ; i++)
        if (strcmp(a->occ[i].opt->name, name) == 0)
            n++;
    return n;
}

int arg_list(const struct args *a, const char *name, const char **out, int max)
{
    int n = 0;
    for (int i = 0; i < a->n_occ && n < max; i++)
        if (strcmp(a->occ[i].opt->name, name) == 0)
            out[n++] = a->occ[i].value;
    return n;
}

const char *opt_key(const char *opt, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", opt + strspn(opt, "-"));
    for (char *p = out; *p; p++)
        if (*p == '-')
            *p = '_';
    return out;
}

enum { GLOBAL_NONE, GLOBAL_TAKEN, GLOBAL_HELP, GLOBAL_VERSION, GLOBAL_ERROR };

/* A global option at argv[*i]: applied to c, *i advanced past its value. */
static int take_global(struct ctl *c, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    const char **slot = NULL;
    static const char *operator_arg;
    if ((len == 2 && strncmp(arg, "-c", 2) == 0) || (len == 8 && strncmp(arg, "--config", 8) == 0))
        slot = &c->config_path;
    else if (len == 10 && strncmp(arg, "--operator", 10) == 0)
        slot = &operator_arg;
    if (slot) {
        const char *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (!value) {
            ctl_usage(c, "option %.*s needs a value", (int)len, arg);
            return GLOBAL_ERROR;
        }
        *slot = value;
        if (slot == &operator_arg) {
            const char *why = parse_user_uri(value, c->operator_uri, sizeof c->operator_uri);
            if (why) {
                ctl_usage(c, "--operator %s: %s", value, why);
                return GLOBAL_ERROR;
            }
        }
        return GLOBAL_TAKEN;
    }
    if (eq)
        return GLOBAL_NONE;
    if (strcmp(arg, "--json") == 0) {
        c->json = true;
        return GLOBAL_TAKEN;
    }
    if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
        c->verbose = true;
        return GLOBAL_TAKEN;
    }
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
        return GLOBAL_HELP;
    if (strcmp(arg, "--version") == 0)
        return GLOBAL_VERSION;
    return GLOBAL_NONE;
}

static const struct opt_spec *find_opt(const struct verb_spec *v, const char *name, size_t len)
{
    for (const struct opt_spec *o = v->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

/* Returns 0, EXIT_USAGE (printed), or -1 when --help was asked for. */
static int parse_verb_args(struct ctl *c, int argc, char **argv, int first, struct args *a)
{
    bool only_positional = false;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (!only_positional && arg[0] == '-' && arg[1] != '\0') {
            int g = take_global(c, argc, argv, &i);
            if (g == GLOBAL_TAKEN)
                continue;
            if (g == GLOBAL_ERROR)
                return EXIT_USAGE;
            if (g == GLOBAL_HELP)
                return -1;
            if (g == GLOBAL_VERSION)
                return ctl_usage(c, "--version goes before the noun (pchatctl --version)");
            const char *eq = strchr(arg, '=');
            size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
            const struct opt_spec *o = strncmp(arg, "--", 2) == 0 ? find_opt(a->verb, arg, len) : NULL;
            if (!o)
                return ctl_usage(c, "unknown option %.*s", (int)len, arg);
            const char *value = NULL;
            if (o->kind == OPT_FLAG) {
                if (eq)
                    return ctl_usage(c, "option %s takes no value", o->name);
            } else {
                value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!value)
                    return ctl_usage(c, "option %s needs a value (%s)", o->name, o->arg);
                if (o->kind == OPT_VALUE && arg_value(a, o->name))
                    return ctl_usage(c, "option %s is given twice", o->name);
            }
            if (a->n_occ >= CTL_MAX_ARGS)
                return ctl_usage(c, "too many options (at most %d)", CTL_MAX_ARGS);
            a->occ[a->n_occ].opt = o;
            a->occ[a->n_occ].value = value;
            a->n_occ++;
            continue;
        }
        if (a->n_pos >= CTL_MAX_ARGS)
            return ctl_usage(c, "too many arguments (at most %d)", CTL_MAX_ARGS);
        a->pos[a->n_pos++] = arg;
    }
    if (a->n_pos < a->verb->min_pos)
        return ctl_usage(c, "missing argument%s", a->verb->min_pos - a->n_pos > 1 ? "s" : "");
    if (a->n_pos > a->verb->max_pos)
        return ctl_usage(c, "unexpected argument \"%s\"", a->pos[a->verb->max_pos]);
    return 0;
}

/* --- main ----------------------------------------------------------------------------------- */

static int load_config(struct ctl *c)
{
    if (!c->config_path || !*c->config_path)
        c->config_path = getenv("PCHAT_CONFIG");
    if (!c->config_path || !*c->config_path)
        return ctl_usage(c, "no configuration: pass -c FILE (the node's YAML) or set PCHAT_CONFIG");
    config_defaults(&c->cfg);
    c->cfg_loaded = true;
    char err[CONFIG_ERR_LEN];
    if (config_load(c->config_path, &c->cfg, err, sizeof err) < 0)
        return ctl_fail(c, EXIT_RUNTIME, "%s", err);
    if (!c->cfg.database.pchat || !*c->cfg.database.pchat)
        return ctl_fail(c, EXIT_RUNTIME, "%s: database.pchat is empty: set the chat store's "
                                         "libpq conninfo", c->config_path);
    if (!c->operator_uri[0]) {
        const char *domain = c->cfg.pool.domain && *c->cfg.pool.domain ? c->cfg.pool.domain : "localhost";
        snprintf(c->operator_uri, sizeof c->operator_uri, "sip:pchatctl@%s", domain);
    }
    const char *login = getenv("USER");
    if (!login || !*login) {
        struct passwd *pw = getpwuid(getuid());
        login = pw ? pw->pw_name : "";
    }
    snprintf(c->operator_name, sizeof c->operator_name, "%s", login);
    return 0;
}

static const struct noun_spec *find_noun(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(nouns); i++)
        if (strcmp(nouns[i]->name, name) == 0)
            return nouns[i];
    return NULL;
}

static const struct verb_spec *find_verb(const struct noun_spec *n, const char *name)
{
    for (const struct verb_spec *v = n->verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

static void list_verbs(const struct noun_spec *n, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (const struct verb_spec *v = n->verbs; v->name && len < outlen; v++)
        len += (size_t)snprintf(out + len, outlen - len, "%s%s", v == n->verbs ? "" : ", ", v->name);
}

static int run(struct ctl *c, int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        int g = take_global(c, argc, argv, &i);
        if (g == GLOBAL_ERROR)
            return EXIT_USAGE;
        if (g == GLOBAL_HELP) {
            print_overview(stdout);
            return EXIT_OK;
        }
        if (g == GLOBAL_VERSION) {
            printf("pchatctl %s\n", PCHAT_VERSION);
            return EXIT_OK;
        }
        if (g == GLOBAL_NONE)
            return ctl_usage(c, "unknown option %s", argv[i]);
    }
    if (i >= argc) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        const struct noun_spec *n = i + 1 < argc ? find_noun(argv[i + 1]) : NULL;
        const struct verb_spec *v = n && i + 2 < argc ? find_verb(n, argv[i + 2]) : NULL;
        if (v)
            print_verb_help(stdout, n, v);
        else if (n)
            print_noun_help(stdout, n);
        else
            print_overview(stdout);
        return EXIT_OK;
    }
    c->noun = argv[i];
    c->noun_spec = find_noun(argv[i]);
    if (!c->noun_spec) {
        char names[256];
        size_t len = 0;
        for (size_t k = 0; k < ARRAY_LEN(nouns); k++)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? ", " : "", nouns[k]->name);
        return ctl_usage(c, "unknown noun \"%s\" (nouns: %s)", argv[i], names);
    }
    i++;
    if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
                     strcmp(argv[i], "help") == 0)) {
        print_noun_help(stdout, c->noun_spec);
        return EXIT_OK;
    }
    /* global options may sit between the noun and the verb */
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        int g = take_global(c, argc, argv, &i);
        if (g == GLOBAL_ERROR)
            return EXIT_USAGE;
        if (g == GLOBAL_HELP) {
            print_noun_help(stdout, c->noun_spec);
            return EXIT_OK;
        }
        if (g != GLOBAL_TAKEN)
            break;
    }
    char verbs[256];
    list_verbs(c->noun_spec, verbs, sizeof verbs);
    if (i >= argc || argv[i][0] == '-')
        return ctl_usage(c, "which verb? (%s %s: %s)", c->noun_spec->name, "verbs", verbs);
    c->verb = argv[i];
    c->verb_spec = find_verb(c->noun_spec, argv[i]);
    if (!c->verb_spec)
        return ctl_usage(c, "unknown verb \"%s\" (verbs: %s)", argv[i], verbs);
    i++;

    struct args a;
    memset(&a, 0, sizeof a);
    a.verb = c->verb_spec;
    int rc = parse_verb_args(c, argc, argv, i, &a);
    if (rc < 0) {
        print_verb_help(stdout, c->noun_spec, c->verb_spec);
        return EXIT_OK;
    }
    if (rc)
        return rc;
    if ((rc = load_config(c)) != 0)
        return rc;
    if (c->verb_spec->needs_db && (rc = db_open(c)) != 0)
        return rc;
    c->out = jv_obj();
    rc = c->verb_spec->run(c, &a);
    if (c->in_tx)
        db_rollback(c);
    if (rc == EXIT_OK)
        render_output(c);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c;
    memset(&c, 0, sizeof c);
    c.program = "pchatctl";
    sbuf_init(&c.human, 1u << 24);
    log_init("pchatctl", LOG_LEVEL_WARN);
    int rc = run(&c, argc, argv);
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = ctl_fail(&c, EXIT_RUNTIME, "cannot write the output (stdout)");
    db_close(&c);
    jv_free(c.out);
    sbuf_free(&c.human);
    while (c.notices) {
        struct notice *next = c.notices->next;
        free(c.notices->evict);
        free(c.notices->room_name);
        free(c.notices);
        c.notices = next;
    }
    if (c.cfg_loaded)
        config_free(&c.cfg);
    return rc;
}
