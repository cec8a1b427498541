/* provision.c — reading the in-band provisioning document the way SIPE does
 * (sipe-notify.c sipe_process_provisioning_v2) and choosing the first chat INVITE target the way
 * sipe_groupchat_init does (PROTOCOL §2.4). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sc_internal.h"

int sc_provisioning_read(const char *body, size_t len, struct sc_provisioning *p, char *err,
                         size_t errlen)
{
    struct xdoc_limits lim = xdoc_default_limits;
    struct xdoc *doc = NULL;
    char perr[200];

    memset(p, 0, sizeof(*p));
    if (xdoc_parse(body, len, &lim, &doc, perr, sizeof(perr)) != XDOC_OK) {
        snprintf(err, errlen, "the provisioning document is not well-formed XML (%s): SIPE reads nothing", perr);
        return -1;
    }
    const struct xnode *root = xdoc_root(doc);
    /* children named provisionGroup (not provisioningGroup, the request's name) */
    for (const struct xnode *g = xnode_child(root, "provisionGroup"); g; g = xnode_next(g, "provisionGroup")) {
        const char *name = xnode_attr(g, "name");
        if (!name || strcmp(name, "persistentChatConfiguration") != 0)
            continue;
        p->found_group = true;
        const struct xnode *list = xnode_child(g, "propertyEntryList");
        for (const struct xnode *pr = list ? xnode_child(list, "property") : NULL; pr;
             pr = xnode_next(pr, "property")) {
            const char *pn = xnode_attr(pr, "name");
            const char *text = pr->text ? pr->text : "";
            if (!pn)
                continue;
            if (strcmp(pn, "EnablePersistentChat") == 0) {
                snprintf(p->enable_text, sizeof(p->enable_text), "%s", text);
                p->enabled = strcmp(text, "true") == 0;
            } else if (strcmp(pn, "DefaultPersistentChatPoolUri") == 0) {
                snprintf(p->pool, sizeof(p->pool), "%s", text);
                p->has_pool = true;
            }
        }
        break;
    }
    xdoc_free(doc);
    if (!p->found_group)
        snprintf(err, errlen, "%s", "no provisionGroup name=\"persistentChatConfiguration\" under the root");
    return 0;
}

void sc_groupchat_target(const char *setting, const struct sc_provisioning *p, const char *username,
                         char *out, size_t outlen, char *domain_out, size_t domain_len)
{
    const char *src;
    bool configured = true;
    char buf[300];

    if (setting && setting[0])
        src = setting;
    else if (p && p->enabled && p->has_pool && p->pool[0])
        src = p->pool;
    else {
        src = username;
        configured = false;
    }
    if (strncasecmp(src, "sip:", 4) == 0)
        src += 4;
    snprintf(buf, sizeof(buf), "%s", src);
    char *at = strchr(buf, '@');
    const char *user = "ocschat";
    const char *domain = buf;
    if (at) {
        *at = '\0';
        if (at[1]) {
            domain = at + 1;
            if (configured && buf[0])
                user = buf;
        }
    }
    snprintf(out, outlen, "sip:%s@%s", user, domain);
    snprintf(domain_out, domain_len, "%s", domain);
}
