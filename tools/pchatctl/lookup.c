/* lookup.c — finding the things operators name: rooms (by name, ma-chan:// URI or GUID),
 * categories, add-ins and groups, with the "not found; list them with ..." sentence. */
#include "ctl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void room_uri(const struct ctl *c, const char *guid, char *out, size_t outlen)
{
    snprintf(out, outlen, "ma-chan://%s/%s", c->cfg.pool.domain ? c->cfg.pool.domain : "", guid);
}

static bool is_guid(const char *s)
{
    static const char form[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof form - 1)
        return false;
    for (size_t i = 0; form[i]; i++)
        if (form[i] == '-' ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

int lookup_room(struct ctl *c, const char *name, bool lock, struct room_ref *out)
{
    memset(out, 0, sizeof *out);
    char guid[40] = "";
    const char *path = name;
    if (strncasecmp(name, "ma-chan://", 10) == 0) {
        const char *slash = strchr(name + 10, '/');
        path = slash ? slash + 1 : "";
    }
    if (is_guid(path)) {
        for (size_t i = 0; path[i]; i++)
            guid[i] = (char)tolower((unsigned char)path[i]);
        guid[36] = '\0';
    }
    const char *p[] = { name, guid };
    const char *sql = lock
        ? "SELECT r.id, r.name, r.guid, r.category_id, c.name, r.privacy, r.type, r.disabled"
          "  FROM rooms r JOIN categories c ON c.id = r.category_id"
          " WHERE lower(r.name) = lower($1) OR r.guid::text = $2 ORDER BY r.id LIMIT 1 FOR UPDATE OF r"
        : "SELECT r.id, r.name, r.guid, r.category_id, c.name, r.privacy, r.type, r.disabled"
          "  FROM rooms r JOIN categories c ON c.id = r.category_id"
          " WHERE lower(r.name) = lower($1) OR r.guid::text = $2 ORDER BY r.id LIMIT 1";
    PGresult *r = db_exec(c, sql, 2, p);
    if (!r)
        return ctl_db_fail(c, "look the room up");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "room \"%s\" not found; list rooms with: pchatctl room get",
                        name);
    }
    out->id = cell_i64(r, 0, 0);
    snprintf(out->name, sizeof out->name, "%s", cell(r, 0, 1));
    snprintf(out->guid, sizeof out->guid, "%s", cell(r, 0, 2));
    out->category_id = cell_i64(r, 0, 3);
    snprintf(out->category, sizeof out->category, "%s", cell(r, 0, 4));
    out->privacy = (int)cell_i64(r, 0, 5);
    out->type = (int)cell_i64(r, 0, 6);
    out->disabled = cell_bool(r, 0, 7);
    room_uri(c, out->guid, out->uri, sizeof out->uri);
    PQclear(r);
    return 0;
}

/* One "SELECT id, name FROM <table> WHERE lower(name) = lower($1)" lookup. */
static int lookup_named(struct ctl *c, const char *sql, const char *name, const char *noun,
                        const char *hint, int64_t *id, char *canon, size_t canonlen)
{
    const char *p[] = { name };
    PGresult *r = db_exec(c, sql, 1, p);
    if (!r) {
        char what[64];
        snprintf(what, sizeof what, "look the %s up", noun);
        return ctl_db_fail(c, what);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "%s \"%s\" not found; %s", noun, name, hint);
    }
    *id = cell_i64(r, 0, 0);
    if (canon)
        snprintf(canon, canonlen, "%s", cell(r, 0, 1));
    PQclear(r);
    return 0;
}

int lookup_category(struct ctl *c, const char *name, bool lock, int64_t *id, char *canon,
                    size_t canonlen)
{
    return lookup_named(c, lock ? "SELECT id, name FROM categories WHERE lower(name) = lower($1) FOR UPDATE"
                                : "SELECT id, name FROM categories WHERE lower(name) = lower($1)",
                        name, "category", "list categories with: pchatctl category get", id, canon,
                        canonlen);
}

int lookup_addin(struct ctl *c, const char *name, int64_t *id, char *canon, size_t canonlen)
{
    return lookup_named(c, "SELECT id, name FROM addins WHERE lower(name) = lower($1)", name,
                        "add-in", "list add-ins with: pchatctl addin get", id, canon, canonlen);
}

int lookup_group(struct ctl *c, const char *name, bool lock, int64_t *id, char *canon,
                 size_t canonlen)
{
    return lookup_named(c, lock ? "SELECT id, name FROM groups WHERE lower(name) = lower($1) FOR UPDATE"
                                : "SELECT id, name FROM groups WHERE lower(name) = lower($1)",
                        name, "group", "list groups with: pchatctl group get", id, canon, canonlen);
}
