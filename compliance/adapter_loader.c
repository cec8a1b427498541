/* adapter_loader.c — finds an adapter's .so by its configured type, dlopen()s it, checks the
 * ABI version, and calls init with the instance's own config section. Any problem is fatal at
 * start-up, with a message naming the config entry, the file and what to change. */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compliance.h"
#include "log.h"

static void host_log(void *ctx, enum pchat_adapter_log_level level, const char *fmt, ...)
{
    const struct loaded_adapter *a = ctx;
    char msg[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    enum log_level l = level <= PCHAT_ADAPTER_LOG_DEBUG ? LOG_LEVEL_DEBUG
                       : level >= PCHAT_ADAPTER_LOG_ERROR ? LOG_LEVEL_ERROR
                                                          : (enum log_level)level;
    if (l >= log_get_level())
        log_write(l, "adapter %s: %s", a->cfg->name, msg);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool plain_type_name(const char *type)
{
    if (!type[0] || strlen(type) > 64)
        return false;
    for (const char *p = type; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || (*p == '.' && p != type)))
            return false;
    return true;
}

/* `type` with a '/' is a path; otherwise <adapter_dir>/<type>.so, then the directory the
 * built-in adapters sit in next to this binary (<exe>/../lib/pchat/adapters), so the service
 * also finds them when started from another working directory. */
static int resolve_path(const struct pchat_config *cfg, const struct config_adapter *ac,
                        char *out, size_t outlen, char *err, size_t errlen)
{
    if (strchr(ac->type, '/')) {
        snprintf(out, outlen, "%s", ac->type);
        return 0;
    }
    if (!plain_type_name(ac->type)) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): type \"%.80s\" must be an adapter "
                 "name such as xml or jsonl, or the path of a .so (with a '/')",
                 (int)(ac - cfg->compliance.adapters), ac->name, ac->type);
        return -1;
    }
    char candidate[PATH_MAX];
    int len = snprintf(candidate, sizeof candidate, "%s/%s.so", cfg->compliance.adapter_dir, ac->type);
    snprintf(out, outlen, "%s", candidate);
    if (len > 0 && (size_t)len < sizeof candidate && is_file(candidate))
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            len = snprintf(candidate, sizeof candidate, "%s/../lib/pchat/adapters/%s.so", exe,
                           ac->type);
            if (len > 0 && (size_t)len < sizeof candidate && is_file(candidate))
                snprintf(out, outlen, "%s", candidate);
        }
    }
    return 0;
}

int adapter_load(struct loaded_adapter *a, const struct pchat_config *cfg, int index, char *err,
                 size_t errlen)
{
    const struct config_adapter *ac = &cfg->compliance.adapters[index];
    memset(a, 0, sizeof *a);
    a->index = index;
    a->cfg = ac;
    if (resolve_path(cfg, ac, a->path, sizeof a->path, err, errlen) < 0)
        return -1;
    a->dl = dlopen(a->path, RTLD_NOW | RTLD_LOCAL);
    if (!a->dl) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): cannot load adapter type \"%s\": %s. "
                 "Set type to xml, jsonl or the path of an adapter .so, or point "
                 "compliance.adapter_dir (now \"%s\") at the folder holding %s.so",
                 index, ac->name, ac->type, dlerror(), cfg->compliance.adapter_dir, ac->type);
        return -1;
    }
    dlerror();
    pchat_adapter_create_fn create;
    *(void **)&create = dlsym(a->dl, PCHAT_ADAPTER_CREATE_SYMBOL);
    if (!create) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): %s exports no %s(), so it is not a "
                 "pchat compliance adapter (see compliance/include/pchat_adapter.h)",
                 index, ac->name, a->path, PCHAT_ADAPTER_CREATE_SYMBOL);
        adapter_unload(a);
        return -1;
    }
    a->api = create();
    if (!a->api) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): %s() of %s returned NULL", index,
                 ac->name, PCHAT_ADAPTER_CREATE_SYMBOL, a->path);
        adapter_unload(a);
        return -1;
    }
    if (a->api->abi_version != PCHAT_ADAPTER_ABI_VERSION) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): %s was built for adapter ABI version "
                 "%u but this pchat-compliance speaks version %u: rebuild the adapter against this "
                 "release's compliance/include/pchat_adapter.h",
                 index, ac->name, a->path, a->api->abi_version, PCHAT_ADAPTER_ABI_VERSION);
        adapter_unload(a);
        return -1;
    }
    if (!a->api->init || !a->api->translate || !a->api->shutdown) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s): %s leaves init, translate or shutdown "
                 "NULL; an adapter must provide all three", index, ac->name, a->path);
        adapter_unload(a);
        return -1;
    }

    a->host.abi_version = PCHAT_ADAPTER_ABI_VERSION;
    a->host.ctx = a;
    a->host.log = host_log;
    int n_options = ac->n_options < CONFIG_MAX_ADAPTER_OPTIONS ? ac->n_options
                                                               : CONFIG_MAX_ADAPTER_OPTIONS;
    for (int i = 0; i < n_options; i++) {
        a->options[i].key = ac->options[i].key;
        a->options[i].value = ac->options[i].value ? ac->options[i].value : "";
    }
    a->adapter_cfg = (struct pchat_adapter_config){
        .instance = ac->name,
        .type = ac->type,
        .output_dir = ac->output_dir ? ac->output_dir : "",
        .one_room_per_file = ac->one_room_per_file,
        .add_room_details = ac->add_room_details,
        .add_user_details = ac->add_user_details,
        .options = a->options,
        .n_options = (size_t)n_options,
        .pool_domain = cfg->pool.domain ? cfg->pool.domain : "",
    };
    char why[512] = "";
    if (a->api->init(&a->host, &a->adapter_cfg, &a->state, why, sizeof why) != 0) {
        snprintf(err, errlen, "compliance.adapters[%d] (%s, type %s): %s", index, ac->name,
                 ac->type, why[0] ? why : "init failed without saying why");
        adapter_unload(a);
        return -1;
    }
    a->initialised = true;
    log_info("adapter %s: loaded %s (%s, ABI %u)", ac->name, a->path, a->api->name,
             a->api->abi_version);
    return 0;
}

void adapter_unload(struct loaded_adapter *a)
{
    if (a->initialised && a->api && a->api->shutdown)
        a->api->shutdown(a->state);
    a->initialised = false;
    a->state = NULL;
    if (a->dl)
        dlclose(a->dl);
    a->dl = NULL;
    a->api = NULL;
}
