/* principal.c — who a category is for: principals as operators write them (sip:, domain:,
 * group:) and the scope rule (some allowed principal matches, no denied one; denied wins),
 * explained in words when it refuses someone. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char PRINCIPAL_FORMS[] =
    "a principal is sip:alice@example.com (a user), domain:example.com or group:NAME";

const char *principal_parse(const char *s, struct principal *p)
{
    memset(p, 0, sizeof *p);
    if (strncasecmp(s, "sip:", 4) == 0) {
        p->kind = 0;
        const char *why = parse_user_uri(s, p->value, sizeof p->value);
        return why ? why : NULL;
    }
    if (strncasecmp(s, "domain:", 7) == 0) {
        p->kind = 1;
        return parse_domain(s + 7, p->value, sizeof p->value);
    }
    if (strncasecmp(s, "group:", 6) == 0) {
        p->kind = 2;
        const char *why = check_name(s + 6);
        if (why)
            return why;
        size_t i = 0;
        for (const char *q = s + 6; *q && i + 1 < sizeof p->value; q++)
            p->value[i++] = (char)((*q >= 'A' && *q <= 'Z') ? *q + 32 : *q);
        p->value[i] = '\0';
        return NULL;
    }
    return PRINCIPAL_FORMS;
}

void principal_format(int kind, const char *value, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s", kind == 1 ? "domain:" : kind == 2 ? "group:" : "", value);
}

int principal_scope_check(struct ctl *c, int64_t category_id, const char *category_name,
                          const char *uri, char *why, size_t whylen)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)category_id);
    const char *p[] = { id, uri };
    PGresult *r = db_exec(c,
        "SELECT p.list, p.kind, p.value FROM category_principals p"
        " WHERE p.category_id = $1 AND p.list IN (0, 1)"
        "   AND pchat_principal_matches(p.kind, p.value, lower($2))"
        " ORDER BY p.list DESC, p.kind, p.value", 2, p);
    if (!r)
        return -1;
    int denied_row = -1, allowed_row = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cell_i64(r, i, 0) == 1 && denied_row < 0)
            denied_row = i;
        if (cell_i64(r, i, 0) == 0 && allowed_row < 0)
            allowed_row = i;
    }
    char principal[600];
    if (denied_row >= 0) {
        principal_format((int)cell_i64(r, denied_row, 1), cell(r, denied_row, 2), principal, sizeof principal);
        snprintf(why, whylen, "category \"%s\" denies them: its denied list names %s "
                              "(denied wins over allowed)", category_name, principal);
        PQclear(r);
        return 0;
    }
    PQclear(r);
    if (allowed_row >= 0)
        return 1;
    r = db_exec(c, "SELECT count(*) FROM category_principals WHERE category_id = $1 AND list = 0", 1, p);
    if (!r)
        return -1;
    int64_t n_allowed = cell_i64(r, 0, 0);
    PQclear(r);
    const char *at = strchr(uri, '@');
    if (n_allowed == 0)
        snprintf(why, whylen, "category \"%s\" allows nobody yet (its allowed list is empty); "
                              "add principals with: pchatctl category set \"%s\" --add-allowed "
                              "domain:%s", category_name, category_name, at ? at + 1 : "example.com");
    else
        snprintf(why, whylen, "category \"%s\" does not allow them: its allowed list names "
                              "neither %s, domain:%s nor a group of theirs; add one with: "
                              "pchatctl category set \"%s\" --add-allowed %s", category_name,
                 uri, at ? at + 1 : "", category_name, uri);
    return 0;
}
