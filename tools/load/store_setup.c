/* store_setup.c — --setup-rooms: the rooms a run needs, written straight into the chat store
 * (Persistent Chat enabled for the domain, a category whose allowed list holds the domain,
 * open rooms PREFIX-SIZE-NNNN), idempotently, then their URIs read back. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"
#include "sbuf.h"

#define LOAD_CATEGORY "pchat-load"

static int exec_ok(PGconn *c, const char *what, const char *sql, int n, const char *const *p,
                   PGresult **out, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    if (!r || !pq_ok(r)) {
        snprintf(err, errlen, "--setup-rooms: %s failed: %s", what,
                 r ? PQresultErrorMessage(r) : PQerrorMessage(c));
        size_t len = strlen(err);
        while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
            err[--len] = '\0';
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

/* The room names as a PostgreSQL array literal (names are letters, digits, '.', '_', '-'). */
static char *names_array(const struct load *L)
{
    struct sbuf b;
    sbuf_init(&b, (size_t)L->n_rooms * 100 + 16);
    sbuf_putc(&b, '{');
    for (int i = 0; i < L->n_rooms; i++) {
        if (i)
            sbuf_putc(&b, ',');
        sbuf_puts(&b, L->rooms[i].name);
    }
    sbuf_putc(&b, '}');
    if (b.overflow) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_steal(&b, NULL);
}

int store_setup_rooms(struct load *L, char *err, size_t errlen)
{
    PGconn *c = pq_connect(L->o.setup_conninfo, 10, 120000, err, errlen);
    if (!c)
        return -1;
    char *names = names_array(L);
    char probe_user[300];
    user_name(L, 0, probe_user + 4, sizeof probe_user - 4);
    memcpy(probe_user, "sip:", 4);
    PGresult *res = NULL;
    int rc = -1;
    if (!names) {
        snprintf(err, errlen, "out of memory for the room names");
        goto out;
    }
    const char *dom[] = { L->o.domain };
    const char *cat[] = { LOAD_CATEGORY, "Rooms created by pchat-load" };
    if (exec_ok(c, "BEGIN", "BEGIN", 0, NULL, NULL, err, errlen) < 0
        || exec_ok(c, "enabling Persistent Chat for the domain (chat_policies)",
                   "INSERT INTO chat_policies (scope_kind, scope, enabled) VALUES (1, lower($1), true)"
                   " ON CONFLICT (scope_kind, scope) DO UPDATE SET enabled = true, updated_at = now()",
                   1, dom, NULL, err, errlen) < 0
        || exec_ok(c, "creating category " LOAD_CATEGORY,
                   "INSERT INTO categories (name, description) VALUES ($1, $2)"
                   " ON CONFLICT (lower(name)) DO NOTHING", 2, cat, NULL, err, errlen) < 0
        || exec_ok(c, "finding category " LOAD_CATEGORY,
                   "SELECT id FROM categories WHERE lower(name) = lower($1)", 1, cat, &res, err, errlen) < 0)
        goto out;
    if (PQntuples(res) != 1) {
        snprintf(err, errlen, "--setup-rooms: category %s is missing after creating it", LOAD_CATEGORY);
        goto out;
    }
    char cat_id[32];
    snprintf(cat_id, sizeof cat_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = NULL;
    const char *allow[] = { cat_id, L->o.domain };
    const char *rooms[] = { names, cat_id };
    if (exec_ok(c, "allowing the domain in the category (category_principals)",
                "INSERT INTO category_principals (category_id, list, kind, value) VALUES ($1, 0, 1, lower($2))"
                " ON CONFLICT DO NOTHING", 2, allow, NULL, err, errlen) < 0
        || exec_ok(c, "creating the rooms",
                   "INSERT INTO rooms (name, description, category_id, privacy, type)"
                   " SELECT n, 'pchat-load room', $2, 0, 0 FROM unnest($1::text[]) AS n"
                   " ON CONFLICT (lower(name)) DO NOTHING", 2, rooms, NULL, err, errlen) < 0
        || exec_ok(c, "COMMIT", "COMMIT", 0, NULL, NULL, err, errlen) < 0)
        goto out;

    /* read them back, and refuse rooms of the same name that the users could not join */
    const char *look[] = { names, probe_user };
    if (exec_ok(c, "reading the rooms back",
                "SELECT r.name, r.guid, r.privacy, r.disabled, pchat_in_scope(r.category_id, $2)"
                "  FROM rooms r WHERE lower(r.name) = ANY (SELECT lower(n) FROM unnest($1::text[]) AS n)",
                2, look, &res, err, errlen) < 0)
        goto out;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        const char *name = PQgetvalue(res, i, 0);
        int idx = -1;
        for (int k = 0; k < L->n_rooms && idx < 0; k++)
            if (strcasecmp(L->rooms[k].name, name) == 0)
                idx = k;
        if (idx < 0)
            continue;
        if (atoi(PQgetvalue(res, i, 2)) != 0 || PQgetvalue(res, i, 3)[0] == 't'
            || PQgetvalue(res, i, 4)[0] != 't') {
            snprintf(err, errlen,
                     "room %s already exists but is not an open, enabled room in a category that admits %s: "
                     "change it with pchatctl or use another --room-prefix", name, probe_user);
            goto out;
        }
        size_t len = strlen(L->o.domain) + strlen(PQgetvalue(res, i, 1)) + 16;
        L->rooms[idx].uri = malloc(len);
        if (!L->rooms[idx].uri) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        snprintf(L->rooms[idx].uri, len, "ma-chan://%s/%s", L->o.domain, PQgetvalue(res, i, 1));
        L->rooms_found++;
    }
    for (int k = 0; k < L->n_rooms; k++)
        if (!L->rooms[k].uri) {
            snprintf(err, errlen, "--setup-rooms: room %s is missing after creating it", L->rooms[k].name);
            goto out;
        }
    rc = 0;
out:
    if (rc < 0)
        PQexec(c, "ROLLBACK");     /* harmless outside a transaction */
    PQclear(res);
    free(names);
    PQfinish(c);
    return rc;
}
