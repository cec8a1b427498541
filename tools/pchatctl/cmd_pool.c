/* cmd_pool.c — pchatctl pool status|drain|activate: the pool's nodes as they report themselves
 * in pool_nodes, and the state operators give them (Set-CsPersistentChatActiveServer). A
 * draining front end keeps its sessions but takes no new ones; it reads its state from the
 * store with each status report. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

#define NODE_DOWN_AFTER_S 15   /* a node that has not reported for this long is shown down */

static int pool_status(struct ctl *c, const struct args *a)
{
    (void)a;
    char down[16];
    snprintf(down, sizeof down, "%d", NODE_DOWN_AFTER_S);
    const char *p[] = { down };
    PGresult *r = db_exec(c, "SELECT node_id, role, address, state, sessions, workers,"
                             "       " SQL_ISO("last_seen") ","
                             "       greatest(extract(epoch FROM now() - last_seen), 0)::bigint,"
                             "       now() - last_seen > make_interval(secs => $1::int)"
                             "  FROM pool_nodes ORDER BY role, node_id", 1, p);
    if (!r)
        return ctl_db_fail(c, "read the pool's nodes");
    struct jv *list = jv_set(c->out, "nodes", jv_arr());
    for (int i = 0; i < PQntuples(r); i++) {
        struct jv *o = jv_push(list, jv_obj());
        bool is_down = cell_bool(r, i, 8);
        jv_set_str(o, "node", cell(r, i, 0));
        jv_set_str(o, "role", cell(r, i, 1));
        jv_set_str(o, "address", cell(r, i, 2));
        jv_set_str(o, "state", is_down ? "down" : cell(r, i, 3));
        jv_set_str(o, "set_state", cell(r, i, 3));
        jv_set_int(o, "sessions", cell_i64(r, i, 4));
        jv_set_int(o, "workers", cell_i64(r, i, 5));
        jv_set_str(o, "last_seen", cell(r, i, 6));
        jv_set_int(o, "age_s", cell_i64(r, i, 7));
    }
    PQclear(r);
    return 0;
}

static int set_state(struct ctl *c, const struct args *a, const char *state, const char *what)
{
    const char *node = a->pos[0];
    if (strlen(node) > 128 || check_name(node))
        return ctl_usage(c, "node \"%s\": a node id is 1-128 printable characters", node);
    if (db_begin(c) < 0)
        return ctl_db_fail(c, "start a transaction");
    const char *p[] = { node, state };
    PGresult *r = db_exec(c, "UPDATE pool_nodes n SET state = $2 FROM pool_nodes o"
                             " WHERE n.node_id = $1 AND o.node_id = n.node_id RETURNING o.state", 2, p);
    if (!r)
        return ctl_db_fail(c, "change the node's state");
    if (PQntuples(r) == 0) {
        PQclear(r);
        return ctl_fail(c, EXIT_NOT_FOUND, "node \"%s\" not found; list the pool's nodes with: "
                        "pchatctl pool status", node);
    }
    char before[32];
    snprintf(before, sizeof before, "%s", cell(r, 0, 0));
    PQclear(r);
    struct jv *record = jv_obj();
    jv_set_str(record, "action", strcmp(state, "draining") == 0 ? "pool drain" : "pool activate");
    jv_set_str(record, "node", node);
    jv_set_str(record, "state", state);
    jv_set_str(record, "was", before);
    int rc = db_finish_change(c, what, strcmp(before, state) != 0, record);
    if (rc)
        return rc;
    if (strcmp(before, state) == 0)
        ctl_say(c, "node \"%s\" already is %s", node, state);
    else
        ctl_say(c, "node \"%s\" is now %s (it picks this up with its next status report)", node, state);
    return 0;
}

static int pool_drain(struct ctl *c, const struct args *a) { return set_state(c, a, "draining", "NODE_DRAINED"); }
static int pool_activate(struct ctl *c, const struct args *a) { return set_state(c, a, "active", "NODE_ACTIVATED"); }

static const struct opt_spec no_opts[] = { { NULL, 0, NULL, NULL } };

static const struct verb_spec pool_verbs[] = {
    { "status", "", 0, 0, "List the pool's nodes: role, address, state, sessions, workers, last "
      "report.", "\nA node that has not reported for 15 s is shown as \"down\" (set_state keeps the\n"
      "state an operator gave it).\n", "  pchatctl pool status", no_opts, pool_status, true },
    { "drain", "NODE", 1, 1, "Stop sending new sessions to a node; its current sessions stay.", NULL,
      "  pchatctl pool drain fe2", no_opts, pool_drain, true },
    { "activate", "NODE", 1, 1, "Let a node take new sessions again.", NULL,
      "  pchatctl pool activate fe2", no_opts, pool_activate, true },
    { NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, false },
};

const struct noun_spec noun_pool = {
    "pool", "The pool's nodes and which of them take new sessions.", NULL, pool_verbs,
};
