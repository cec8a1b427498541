/* cmd_info.c — commands answered from configuration alone: requri, getserverinfo, getinv. */
#include "ch.h"

#include <stdio.h>

#include "util.h"

void cmd_requri(struct ch_req *r)
{
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_requri(&b, envid_new(), r->cmd, r->ch->cfg->pool.channel_uri);
    result_doc(r->res, &b);
    sbuf_free(&b);
}

void cmd_getserverinfo(struct ch_req *r)
{
    const struct pchat_config *cfg = r->ch->cfg;
    char now[40], root[320];
    xccos_format_ts(now_us(), now, sizeof now);
    /* one flat level of categories (anchors.md §1.2): the root is a fixed, well-known id */
    snprintf(root, sizeof root, "ma-cat://%s/00000000-0000-0000-0000-000000000000", cfg->pool.domain);
    char dbv[40];
    snprintf(dbv, sizeof dbv, "00000000-0000-0000-0000-%012d", CH_SCHEMA_VERSION);
    struct xccos_server_info info = {
        .domain = cfg->pool.domain,
        .server_time = now,
        .root_uri = root,
        .db_version = dbv,
        .display_name = "pchat",
        .search_limit = cfg->chat.search_limit,
        .message_size_limit = cfg->chat.max_message_bytes,
        .story_size_limit = cfg->chat.max_message_bytes,
    };
    struct sbuf b;
    sbuf_init(&b, 8192);
    xccos_render_rpl_getserverinfo(&b, envid_new(), r->cmd, &info);
    result_doc(r->res, &b);
    sbuf_free(&b);
}

void cmd_getinv(struct ch_req *r)
{
    /* invitations arrive with the room model; until then there are none to return */
    struct sbuf b;
    sbuf_init(&b, 4096);
    xccos_render_rpl_getinv(&b, envid_new(), r->cmd, NULL, 0);
    result_doc(r->res, &b);
    sbuf_free(&b);
}
