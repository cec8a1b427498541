/* cmd_search.c — finding rooms: chansrch (by name or description) and getassociations
 * (the caller's member and manager rooms). Secret and disabled rooms never show to
 * someone who is not a member (the query enforces it). */
#include "ch.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

#define SEARCH_MAX 10000

struct room_list {
    struct xccos_room *rooms;
    char (*uris)[320];
    int n;
};

static void room_list_free(struct room_list *l)
{
    free(l->rooms);
    free(l->uris);
}

void cmd_chansrch(struct ch_req *r)
{
    const struct pchat_config *cfg = r->ch->cfg;
    bool by_desc = r->cmd->qtype && (strcasecmp(r->cmd->qtype, "BYDESC") == 0 ||
                                     strcasecmp(r->cmd->qtype, "BYKEYWORD") == 0);
    char uid[24], limit[24];
    const char *p[] = { i64(uid, r->user_id), r->cmd->criteria ? r->cmd->criteria : "",
                        i64(limit, cfg->chat.search_limit), by_desc ? "true" : "false",
                        r->rq->user_uri };
    PGresult *res = db_run(r->ch, "room_search", 5, p);
    if (!pq_ok_tuples(res)) {
        PQclear(res);
        fail_store(r, "searching rooms");
        return;
    }
    int n = PQntuples(res);
    struct room_list l = { xcalloc((size_t)n + 1, sizeof *l.rooms), xcalloc((size_t)n + 1, sizeof *l.uris), n };
    for (int i = 0; i < n; i++) {
        room_uri(r->ch, PQgetvalue(res, i, 0), l.uris[i], sizeof l.uris[i]);
        l.rooms[i] = (struct xccos_room){
            .uri = l.uris[i],
            .name = PQgetvalue(res, i, 1),
            .description = PQgetvalue(res, i, 2),
            .is_private = atoi(PQgetvalue(res, i, 3)) != 0,
            .logged = PQgetvalue(res, i, 4)[0] == 't',
            .invite = PQgetvalue(res, i, 5)[0] == 't',
            .filepost = PQgetvalue(res, i, 6)[0] == 't',
            .user_count = atoi(PQgetvalue(res, i, 7)),
        };
    }
    struct sbuf b;
    sbuf_init(&b, 4u << 20);
    xccos_render_rpl_chansrch(&b, envid_new(), r->cmd, l.rooms, n);
    result_doc(r->res, &b);
    sbuf_free(&b);
    room_list_free(&l);
    PQclear(res);
}

/* Member rooms, then manager rooms (the Lync client's "my rooms"), then followed rooms. */
void cmd_getassociations(struct ch_req *r)
{
    char uid[24], limit[24];
    const char *p[] = { i64(uid, r->user_id), i64(limit, SEARCH_MAX), r->rq->user_uri };
    PGresult *res = db_run(r->ch, "room_associations", 3, p);
    const char *pf[] = { uid, r->rq->user_uri, limit };
    PGresult *fol = pq_ok_tuples(res) ? db_run(r->ch, "room_followed", 3, pf) : NULL;
    if (!pq_ok_tuples(res) || !fol || !pq_ok_tuples(fol)) {
        PQclear(res);
        PQclear(fol);
        fail_store(r, "listing associations");
        return;
    }
    int n = PQntuples(res), nf = PQntuples(fol);
    struct xccos_association *a = xcalloc((size_t)(n + nf) + 1, sizeof *a);
    char (*uris)[320] = xcalloc((size_t)(n + nf) + 1, sizeof *uris);
    int k = 0;
    for (int i = 0; i < n + nf; i++) {
        PGresult *src = i < n ? res : fol;
        int row = i < n ? i : i - n;
        room_uri(r->ch, PQgetvalue(src, row, 0), uris[k], sizeof uris[k]);
        bool dup = false;
        for (int j = 0; j < k && !dup; j++)
            dup = strcmp(uris[j], uris[k]) == 0;
        if (dup)
            continue;   /* a followed room the user is also a member of is listed once */
        a[k].room = (struct xccos_room){
            .uri = uris[k],
            .name = PQgetvalue(src, row, 1),
            .description = PQgetvalue(src, row, 2),
            .is_private = atoi(PQgetvalue(src, row, 3)) != 0,
            .user_count = -1,
        };
        a[k].manager = i < n && PQgetvalue(src, row, 4)[0] == 't';
        k++;
    }
    struct sbuf b;
    sbuf_init(&b, 4u << 20);
    xccos_render_rpl_getassociations(&b, envid_new(), r->cmd, a, k);
    result_doc(r->res, &b);
    sbuf_free(&b);
    free(a);
    free(uris);
    PQclear(res);
    PQclear(fol);
}
