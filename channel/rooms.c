/* rooms.c — rooms and users as the handlers need them: lookup by URI, the caller's roles,
 * the per-room event sequence, user ids, and the compliance outbox row of an action. */
#include "ch.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

void room_uri(const struct ch *ch, const char *guid, char *out, size_t outlen)
{
    snprintf(out, outlen, "ma-chan://%s/%s", ch->cfg->pool.domain, guid);
}

static bool is_guid(const char *s)
{
    /* 8-4-4-4-12 hex digits: checked here so malformed input never reaches the uuid cast */
    static const int dash[] = { 8, 13, 18, 23 };
    if (strlen(s) != 36)
        return false;
    for (int i = 0, d = 0; i < 36; i++) {
        if (d < 4 && i == dash[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool truthy(const char *v) { return v && v[0] == 't'; }

static void fill_row(struct ch *ch, PGresult *res, struct room_row *out)
{
    memset(out, 0, sizeof *out);
    out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    snprintf(out->guid, sizeof out->guid, "%s", PQgetvalue(res, 0, 1));
    room_uri(ch, out->guid, out->uri, sizeof out->uri);
    out->name = xstrdup(PQgetvalue(res, 0, 2));
    out->description = xstrdup(PQgetvalue(res, 0, 3));
    out->topic = xstrdup(PQgetvalue(res, 0, 4));
    out->privacy = atoi(PQgetvalue(res, 0, 5));
    out->type = atoi(PQgetvalue(res, 0, 6));
    out->disabled = truthy(PQgetvalue(res, 0, 7));
    out->chat_history = truthy(PQgetvalue(res, 0, 8));
    out->file_upload = truthy(PQgetvalue(res, 0, 9));
    out->invitations = truthy(PQgetvalue(res, 0, 10));
    out->category_id = strtoll(PQgetvalue(res, 0, 11), NULL, 10);
}

static int room_lookup(struct ch_req *r, const char *stmt, const char *key, struct room_row *out)
{
    const char *p[] = { key };
    PGresult *res = db_run(r->ch, stmt, 1, p);
    int rc = -1;
    if (pq_ok_tuples(res))
        rc = PQntuples(res) == 1 ? 0 : 1;
    if (rc == 0)
        fill_row(r->ch, res, out);
    PQclear(res);
    return rc;
}

int room_guid(const struct ch *ch, const char *domain, const char *path, char guid[40])
{
    if (!domain || strcasecmp(domain, ch->cfg->pool.domain) != 0 || !path || strlen(path) != 36)
        return -1;
    snprintf(guid, 40, "%s", path);
    for (char *p = guid; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return is_guid(guid) ? 0 : -1;
}

int room_guid_of_uri(const struct ch *ch, const char *uri, char guid[40])
{
    const char *domain, *path;
    size_t dlen;
    if (!uri || xccos_split_room_uri(uri, &domain, &dlen, &path) < 0)
        return -1;
    char d[256];
    if (dlen >= sizeof d)
        return -1;
    memcpy(d, domain, dlen);
    d[dlen] = '\0';
    return room_guid(ch, d, path, guid);
}

int room_by_path(struct ch_req *r, const char *domain, const char *path, struct room_row *out)
{
    char guid[40];
    if (room_guid(r->ch, domain, path, guid) < 0)
        return 1;
    return room_lookup(r, "room_by_guid", guid, out);
}

int room_by_uri(struct ch_req *r, const char *uri, struct room_row *out)
{
    char guid[40];
    if (room_guid_of_uri(r->ch, uri, guid) < 0)
        return 1;
    return room_lookup(r, "room_by_guid", guid, out);
}

int room_by_id(struct ch_req *r, int64_t id, struct room_row *out)
{
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    return room_lookup(r, "room_by_id", key, out);
}

void room_row_free(struct room_row *row)
{
    free(row->name);
    free(row->description);
    free(row->topic);
    memset(row, 0, sizeof *row);
}

int64_t user_id(struct ch_req *r, const char *uri)
{
    uint64_t h = hmap_hash_bytes(uri, strlen(uri));
    void *cached = hmap_get(&r->ch->user_ids, h);
    if (cached)
        return (int64_t)(intptr_t)cached;
    const char *p[] = { uri };
    int64_t id = -1;
    PGresult *res = db_run(r->ch, "user_get", 1, p);
    if (pq_ok_tuples(res) && PQntuples(res) == 1)
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    if (id < 0) {
        res = db_run(r->ch, "user_add", 1, p);
        if (pq_ok_tuples(res) && PQntuples(res) == 1)
            id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    if (id < 0) {   /* added concurrently by another worker */
        res = db_run(r->ch, "user_get", 1, p);
        if (pq_ok_tuples(res) && PQntuples(res) == 1)
            id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    /* cache only ids that are certainly committed: a user added inside a transaction that
       later rolls back must not be remembered */
    if (id > 0 && PQtransactionStatus(r->ch->db) == PQTRANS_IDLE) {
        if (r->ch->user_ids.count > 200000)
            hmap_free(&r->ch->user_ids);
        hmap_put(&r->ch->user_ids, h, (void *)(intptr_t)id);
    }
    return id;
}

int room_rights(struct ch_req *r, const struct room_row *room, bool *in_scope)
{
    *in_scope = false;
    if (r->user_id <= 0)
        return -1;
    char cid[24], rid[24], uid[24];
    snprintf(cid, sizeof cid, "%" PRId64, room->category_id);
    snprintf(rid, sizeof rid, "%" PRId64, room->id);
    snprintf(uid, sizeof uid, "%" PRId64, r->user_id);
    const char *p[] = { cid, r->rq->user_uri, rid, uid };
    PGresult *res = db_run(r->ch, "room_rights", 4, p);
    int roles = -1;
    if (pq_ok_tuples(res) && PQntuples(res) == 1) {
        *in_scope = truthy(PQgetvalue(res, 0, 0));
        roles = atoi(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return roles;
}

int64_t room_next_seq(struct ch_req *r, int64_t room_id)
{
    char rid[24];
    snprintf(rid, sizeof rid, "%" PRId64, room_id);
    const char *p[] = { rid };
    PGresult *res = db_run(r->ch, "room_next_seq", 1, p);
    int64_t seq = -1;
    if (pq_ok_tuples(res) && PQntuples(res) == 1)
        seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return seq;
}

int outbox(struct ch_req *r, const char *type, const char *user_uri, const struct room_row *room,
           int64_t message_id, const char *content)
{
    /* compliance off: no outbox rows pile up (nobody drains them) */
    if (!r->ch->cfg->compliance.enabled)
        return 0;
    char mid[24];
    snprintf(mid, sizeof mid, "%" PRId64, message_id);
    const char *p[] = { type, user_uri, room ? room->uri : NULL, room ? room->name : NULL, mid,
                        content };
    PGresult *res = db_run(r->ch, "outbox_add", 6, p);
    int rc = pq_ok(res) ? 0 : -1;
    PQclear(res);
    return rc;
}
