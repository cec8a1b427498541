/* db.c — the worker's one connection to the Persistent Chat Store and every SQL statement it
 * runs, prepared once per connection. Parameters only; no SQL is ever built from input. */
#include "ch.h"

#include <stdio.h>

#include "log.h"
#include "pq.h"
#include "util.h"

static const struct pq_stmt statements[] = {
    /* users */
    { "user_get", "SELECT id FROM users WHERE uri = $1" },
    { "user_uri", "SELECT uri FROM users WHERE id = $1" },
    { "user_add", "INSERT INTO users (uri) VALUES ($1) ON CONFLICT (uri) DO NOTHING RETURNING id" },

    /* rooms */
    { "room_by_guid",
      "SELECT r.id, r.guid, r.name, r.description, r.topic, r.privacy, r.type, r.disabled,"
      "       c.chat_history, c.file_upload, (c.invitations AND r.invitations = 0), r.category_id"
      "  FROM rooms r JOIN categories c ON c.id = r.category_id WHERE r.guid = $1::uuid" },
    { "room_by_id",
      "SELECT r.id, r.guid, r.name, r.description, r.topic, r.privacy, r.type, r.disabled,"
      "       c.chat_history, c.file_upload, (c.invitations AND r.invitations = 0), r.category_id"
      "  FROM rooms r JOIN categories c ON c.id = r.category_id WHERE r.id = $1" },
    /* the caller's standing in a room: in the category's scope?, roles as bits */
    { "room_rights",
      "SELECT pchat_in_scope($1, $2),"
      "       coalesce((SELECT bit_or(1 << role) FROM room_roles WHERE room_id = $3 AND user_id = $4), 0)" },
    { "room_next_seq", "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq" },
    /* visible rooms for a search: secret rooms only for their members, never disabled ones */
    { "room_search",
      "SELECT r.guid, r.name, r.description, r.privacy, c.chat_history,"
      "       (r.privacy > 0 AND c.invitations AND r.invitations = 0), c.file_upload,"
      "       (SELECT count(DISTINCT p.user_id) FROM participants p WHERE p.room_id = r.id)"
      "  FROM rooms r JOIN categories c ON c.id = r.category_id"
      " WHERE NOT r.disabled AND pchat_in_scope(r.category_id, $5)"
      "   AND (r.privacy < 2 OR EXISTS (SELECT 1 FROM room_roles g WHERE g.room_id = r.id"
      "                                 AND g.user_id = $1 AND g.role = 0))"
      "   AND ($2 = '' OR strpos(lower(r.name), lower($2)) > 0"
      "        OR ($4 AND strpos(lower(r.description), lower($2)) > 0))"
      " ORDER BY lower(r.name) LIMIT $3" },
    { "room_associations",
      "SELECT r.guid, r.name, r.description, r.privacy, bool_or(g.role = 1)"
      "  FROM room_roles g JOIN rooms r ON r.id = g.room_id"
      " WHERE g.user_id = $1 AND NOT r.disabled AND g.role IN (0, 1)"
      "   AND pchat_in_scope(r.category_id, $3)"
      " GROUP BY r.id ORDER BY bool_or(g.role = 1), lower(r.name) LIMIT $2" },
    { "room_followed",
      "SELECT r.guid, r.name, r.description, r.privacy"
      "  FROM followed_rooms f JOIN rooms r ON r.id = f.room_id"
      " WHERE f.user_id = $1 AND NOT r.disabled AND pchat_in_scope(r.category_id, $2)"
      " ORDER BY lower(r.name) LIMIT $3" },
    { "follow_add",
      "INSERT INTO followed_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING" },
    { "follow_del", "DELETE FROM followed_rooms WHERE user_id = $1 AND room_id = $2" },

    /* policies, invitations, preferences, pool state */
    { "chat_enabled", "SELECT pchat_chat_enabled($1)" },
    { "inv_take",
      "UPDATE invitations i SET seen_at = now() FROM rooms r"
      " WHERE i.user_id = $1 AND i.seen_at IS NULL AND r.id = i.room_id AND NOT r.disabled"
      " RETURNING i.id, r.guid, r.name, coalesce(i.invited_by, ''),"
      "           (extract(epoch FROM i.created_at) * 1000000)::bigint" },
    { "pref_get", "SELECT label, content, seqid FROM user_prefs WHERE user_id = $1 AND label = $2" },
    { "pref_set",
      "INSERT INTO user_prefs (user_id, label, content) VALUES ($1, $2, $3)"
      " ON CONFLICT (user_id, label) DO UPDATE SET content = EXCLUDED.content,"
      "   seqid = user_prefs.seqid + 1, updated_at = now() RETURNING seqid" },
    { "node_report",
      "INSERT INTO pool_nodes (node_id, role, address, incarnation, sessions, workers, last_seen)"
      " VALUES ($1, 'frontend', $2, $3, $4, $5, now())"
      " ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address,"
      "   incarnation = EXCLUDED.incarnation, sessions = EXCLUDED.sessions,"
      "   workers = EXCLUDED.workers, last_seen = now()"
      " RETURNING state" },

    /* participants */
    { "part_get",
      "SELECT joined_seq FROM participants"
      " WHERE frontend_id = $1 AND session_id = $2 AND room_id = $3" },
    { "part_del_session",
      "DELETE FROM participants WHERE frontend_id = $1 AND session_id = $2"
      " RETURNING room_id, user_id, session_id" },
    { "part_del_frontend",
      "DELETE FROM participants WHERE frontend_id = $1 AND incarnation <> $2"
      " RETURNING room_id, user_id, session_id" },
    { "part_del_frontend_all",
      "DELETE FROM participants WHERE frontend_id = $1 RETURNING room_id, user_id, session_id" },
    /* front ends with members in rooms that stopped reporting (pool_nodes.last_seen) */
    { "frontends_stale",
      "SELECT DISTINCT p.frontend_id FROM participants p"
      "  LEFT JOIN pool_nodes n ON n.node_id = p.frontend_id"
      " WHERE n.node_id IS NULL OR n.last_seen < now() - make_interval(secs => $1)"
      " LIMIT 16" },
    /* other sessions of the same user still in the room (then a join/part is not news) */
    { "part_user_count",
      "SELECT count(*) FROM participants WHERE room_id = $1 AND user_id = $2" },
    { "part_room_count",
      "SELECT count(DISTINCT user_id) FROM participants WHERE room_id = $1" },
    { "part_is_in",
      "SELECT 1 FROM participants WHERE room_id = $1 AND user_id = $2 LIMIT 1" },
    /* the roster of a join reply: everyone in the room, managers flagged */
    { "room_roster",
      "SELECT u.uri, u.display_name,"
      "       EXISTS (SELECT 1 FROM room_roles g WHERE g.room_id = $1 AND g.user_id = u.id AND g.role = 1)"
      "  FROM (SELECT DISTINCT user_id FROM participants WHERE room_id = $1) p"
      "  JOIN users u ON u.id = p.user_id ORDER BY (u.id = $2) DESC, u.uri LIMIT $3" },

    /* room events (join/part) */
    { "event_add",
      "INSERT INTO room_events (room_id, seq, kind, user_id, frontend_id, session_id, manager, quiet)"
      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)" },

    /* messages */
    /* history up to the reader's join: later posts reach it live, not twice */
    { "msg_last",
      "SELECT * FROM (SELECT m.id, m.seq, u.uri, m.body,"
      "               (extract(epoch FROM m.created_at) * 1000000)::bigint"
      "          FROM messages m JOIN users u ON u.id = m.author_id"
      "         WHERE m.room_id = $1 AND m.seq <= $3 ORDER BY m.seq DESC LIMIT $2) t ORDER BY seq" },
    { "msg_before",
      "SELECT * FROM (SELECT m.id, m.seq, u.uri, m.body,"
      "               (extract(epoch FROM m.created_at) * 1000000)::bigint"
      "          FROM messages m JOIN users u ON u.id = m.author_id"
      "         WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.seq DESC LIMIT $3) t ORDER BY seq" },
    { "msg_after",
      "SELECT m.id, m.seq, u.uri, m.body, (extract(epoch FROM m.created_at) * 1000000)::bigint"
      "  FROM messages m JOIN users u ON u.id = m.author_id"
      " WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.seq LIMIT $3" },
    /* every event of a room in a sequence range, for gap repair */
    { "events_range",
      "SELECT seq, 0, u.uri, m.body, (extract(epoch FROM m.created_at) * 1000000)::bigint, m.id,"
      "       '', 0, false, false"
      "  FROM messages m JOIN users u ON u.id = m.author_id"
      " WHERE m.room_id = $1 AND m.seq BETWEEN $2 AND $3"
      " UNION ALL "
      "SELECT e.seq, e.kind, coalesce(u.uri, ''), e.detail,"
      "       (extract(epoch FROM e.created_at) * 1000000)::bigint, 0,"
      "       e.frontend_id, e.session_id, e.manager, e.quiet"
      "  FROM room_events e LEFT JOIN users u ON u.id = e.user_id"
      " WHERE e.room_id = $1 AND e.seq BETWEEN $2 AND $3"
      " ORDER BY 1 LIMIT $4" },

    /* the actions, one round trip each (sql/pchat/003_actions.sql) */
    { "act_post", "SELECT * FROM pchat_post($1::uuid, $2, $3, $4, $5, $6, $7, $8)" },
    { "act_join", "SELECT * FROM pchat_join($1::uuid, $2, $3, $4, $5, $6, $7, $8)" },
    { "act_part", "SELECT * FROM pchat_part($1::uuid, $2, $3, $4, $5, $6, $7)" },

    /* compliance outbox (DESIGN.md §5: same transaction as the action) */
    { "outbox_add",
      "INSERT INTO compliance_outbox (event_type, user_uri, room_uri, room_name, message_id, content)"
      " VALUES ($1, $2, $3, $4, NULLIF($5, '0')::bigint, $6)" },
};

int db_ensure(struct ch *ch)
{
    if (ch->db && !pq_broken(ch->db))
        return 0;
    int64_t now = mono_us();
    if (now < ch->db_retry_at)
        return -1;
    db_drop(ch);
    char err[512];
    const struct pchat_config *cfg = ch->cfg;
    ch->db = pq_connect(cfg->database.pchat, cfg->database.connect_timeout_s,
                        cfg->database.statement_timeout_ms, err, sizeof err);
    if (ch->db && pq_check_schema(ch->db, CH_SCHEMA_VERSION, "sql/pchat", err, sizeof err) < 0) {
        PQfinish(ch->db);
        ch->db = NULL;
    }
    if (ch->db && pq_prepare(ch->db, statements, ARRAY_LEN(statements), err, sizeof err) < 0) {
        PQfinish(ch->db);
        ch->db = NULL;
    }
    if (!ch->db) {
        ch->db_retry_at = now + 1000000;
        log_warn("chat store unavailable: %s (retrying every second)", err);
        return -1;
    }
    ch->stats.reconnects++;
    log_info("connected to the chat store");
    return 0;
}

void db_drop(struct ch *ch)
{
    if (ch->db)
        PQfinish(ch->db);
    ch->db = NULL;
}

PGresult *db_run(struct ch *ch, const char *stmt, int n, const char *const *params)
{
    return pq_run(ch->db, stmt, n, params);
}

bool store_unavailable(struct ch *ch)
{
    return !ch->db || pq_broken(ch->db);
}
