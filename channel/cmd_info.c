/* cmd_info.c — commands answered from configuration alone: requri, getserverinfo, getinv. */
#include "ch.h"

#include <stdio.h>
#include <stdlib.h>

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
    /* invitations not yet seen, marked seen as they are handed out */
    char uid[24];
    const char *p[] = { i64(uid, r->user_id) };
    PGresult *res = db_run(r->ch, "inv_take", 1, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        fail_store(r, "reading invitations");
        return;
    }
    int n = PQntuples(res);
    struct xccos_invitation *inv = xcalloc((size_t)n + 1, sizeof *inv);
    char (*uris)[320] = xcalloc((size_t)n + 1, sizeof *uris);
    char (*ts)[40] = xcalloc((size_t)n + 1, sizeof *ts);
    for (int i = 0; i < n; i++) {
        room_uri(r->ch, PQgetvalue(res, i, 1), uris[i], sizeof uris[i]);
        xccos_format_ts(strtoll(PQgetvalue(res, i, 4), NULL, 10), ts[i], sizeof ts[i]);
        inv[i] = (struct xccos_invitation){ .invite_id = PQgetvalue(res, i, 0), .chan_uri = uris[i],
                                            .chan_name = PQgetvalue(res, i, 2),
                                            .inviter = *PQgetvalue(res, i, 3) ? PQgetvalue(res, i, 3) : NULL,
                                            .ts = ts[i] };
    }
    struct sbuf b;
    sbuf_init(&b, 1u << 20);
    xccos_render_rpl_getinv(&b, envid_new(), r->cmd, inv, n);
    result_doc(r->res, &b);
    sbuf_free(&b);
    free(inv);
    free(uris);
    free(ts);
    PQclear(res);
}
