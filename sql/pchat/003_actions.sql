-- 003_actions.sql — the chat actions as single SQL calls: a post, a join and a part each run
-- their checks, take the room's next sequence number, write their rows and their compliance
-- outbox row in ONE statement, so a worker pays one round trip and one commit per action
-- (instead of eight). The rules are those of channel/ and docs/protocol.md.
-- Idempotent: safe to run again.

-- The id of a user, created on first sight.
CREATE OR REPLACE FUNCTION pchat_user_id(p_uri text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT id INTO v_id FROM users WHERE uri = p_uri;
    IF v_id IS NULL THEN
        INSERT INTO users (uri) VALUES (p_uri) ON CONFLICT (uri) DO NOTHING RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            SELECT id INTO v_id FROM users WHERE uri = p_uri;
        END IF;
    END IF;
    RETURN v_id;
END $$;

-- A post. status: 200 stored (or already stored under this request key: republish = true),
-- 403 not joined / not a presenter in an auditorium, 404 no such room.
CREATE OR REPLACE FUNCTION pchat_post(p_guid uuid, p_domain text, p_user text, p_frontend text,
                                      p_session bigint, p_body text, p_key text, p_outbox boolean,
                                      OUT status int, OUT reason text, OUT room_id bigint,
                                      OUT seq bigint, OUT msg_id bigint, OUT created_us bigint,
                                      OUT republish boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_room rooms%ROWTYPE;
    v_user bigint;
BEGIN
    republish := false;
    SELECT * INTO v_room FROM rooms WHERE guid = p_guid;
    IF NOT FOUND OR v_room.disabled THEN
        status := 404; reason := 'no such room'; RETURN;
    END IF;
    room_id := v_room.id;
    SELECT m.id, m.seq, (extract(epoch FROM m.created_at) * 1000000)::bigint
      INTO msg_id, seq, created_us FROM messages m WHERE m.request_key = p_key;
    IF FOUND THEN
        status := 200; republish := true; RETURN;
    END IF;
    PERFORM 1 FROM participants p
      WHERE p.frontend_id = p_frontend AND p.session_id = p_session AND p.room_id = v_room.id;
    IF NOT FOUND THEN
        status := 403; reason := 'you have not joined this room'; RETURN;
    END IF;
    v_user := pchat_user_id(p_user);
    IF v_room.type = 1 AND NOT EXISTS (SELECT 1 FROM room_roles g WHERE g.room_id = v_room.id
                                          AND g.user_id = v_user AND g.role = 2) THEN
        status := 403; reason := 'only presenters can post in this auditorium'; RETURN;
    END IF;
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = v_room.id RETURNING last_seq INTO seq;
    INSERT INTO messages (room_id, seq, author_id, body, request_key)
         VALUES (v_room.id, seq, v_user, p_body, p_key)
      RETURNING id, (extract(epoch FROM messages.created_at) * 1000000)::bigint
           INTO msg_id, created_us;
    IF p_outbox THEN
        INSERT INTO compliance_outbox (event_type, user_uri, room_uri, room_name, message_id, content)
             VALUES ('CHAT', p_user, 'ma-chan://' || p_domain || '/' || v_room.guid, v_room.name,
                     msg_id, p_body);
    END IF;
    status := 200;
END $$;

-- A join. status: 200 joined (already = true when this session was in already: same seq,
-- nothing new), 403 not allowed (closed room without membership, outside the category's
-- scope), 404 no such room (also a secret room the caller may not know about).
CREATE OR REPLACE FUNCTION pchat_join(p_guid uuid, p_domain text, p_user text, p_frontend text,
                                      p_incarnation bigint, p_session bigint, p_limit int,
                                      p_outbox boolean,
                                      OUT status int, OUT reason text, OUT room_id bigint,
                                      OUT seq bigint, OUT already boolean, OUT quiet boolean,
                                      OUT manager boolean, OUT room_name text, OUT room_topic text)
LANGUAGE plpgsql AS $$
DECLARE
    v_room rooms%ROWTYPE;
    v_user bigint;
    v_roles int;
    v_others bigint;
    v_members bigint;
BEGIN
    already := false; quiet := false; manager := false;
    SELECT * INTO v_room FROM rooms WHERE guid = p_guid;
    IF NOT FOUND OR v_room.disabled THEN
        status := 404; reason := 'No such room: ma-chan://' || p_domain || '/' || p_guid; RETURN;
    END IF;
    room_id := v_room.id; room_name := v_room.name; room_topic := v_room.topic;
    v_user := pchat_user_id(p_user);
    SELECT coalesce(bit_or(1 << g.role), 0) INTO v_roles FROM room_roles g
     WHERE g.room_id = v_room.id AND g.user_id = v_user;
    manager := (v_roles & 2) <> 0;
    IF NOT pchat_in_scope(v_room.category_id, p_user) THEN
        -- outside the scope (or denied: the ethical wall) grants are inert: a secret room
        -- does not exist for them, and no other room is named
        IF v_room.privacy = 2 THEN
            status := 404; reason := 'No such room: ma-chan://' || p_domain || '/' || p_guid; RETURN;
        END IF;
        status := 403; reason := 'You are not allowed in this room''s category.'; RETURN;
    END IF;
    IF v_room.privacy <> 0 AND (v_roles & 1) = 0 THEN
        IF v_room.privacy = 2 THEN
            status := 404; reason := 'No such room: ma-chan://' || p_domain || '/' || p_guid; RETURN;
        END IF;
        status := 403; reason := 'You are not a member of the room "' || v_room.name || '".'; RETURN;
    END IF;
    SELECT p.joined_seq INTO seq FROM participants p
     WHERE p.frontend_id = p_frontend AND p.session_id = p_session AND p.room_id = v_room.id;
    IF FOUND THEN
        status := 200; already := true; RETURN;
    END IF;
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = v_room.id RETURNING last_seq INTO seq;
    SELECT count(*) INTO v_others FROM participants p
     WHERE p.room_id = v_room.id AND p.user_id = v_user;
    SELECT count(DISTINCT p.user_id) INTO v_members FROM participants p WHERE p.room_id = v_room.id;
    quiet := v_others > 0 OR v_members > p_limit;
    INSERT INTO room_events (room_id, seq, kind, user_id, frontend_id, session_id, manager, quiet)
         VALUES (v_room.id, seq, 1, v_user, p_frontend, p_session, manager, quiet);
    INSERT INTO participants (room_id, frontend_id, incarnation, session_id, user_id, joined_seq)
         VALUES (v_room.id, p_frontend, p_incarnation, p_session, v_user, seq);
    IF p_outbox THEN
        INSERT INTO compliance_outbox (event_type, user_uri, room_uri, room_name)
             VALUES ('JOIN', p_user, 'ma-chan://' || p_domain || '/' || v_room.guid, v_room.name);
    END IF;
    status := 200;
END $$;

-- A part. status: 200 (seq = 0 when the session was not in the room: nothing happened),
-- 404 no such room.
CREATE OR REPLACE FUNCTION pchat_part(p_guid uuid, p_domain text, p_user text, p_frontend text,
                                      p_session bigint, p_limit int, p_outbox boolean,
                                      OUT status int, OUT room_id bigint, OUT seq bigint,
                                      OUT quiet boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_room rooms%ROWTYPE;
    v_user bigint;
    v_others bigint;
    v_members bigint;
BEGIN
    seq := 0; quiet := false;
    SELECT * INTO v_room FROM rooms WHERE guid = p_guid;
    IF NOT FOUND THEN
        status := 404; RETURN;
    END IF;
    room_id := v_room.id;
    DELETE FROM participants p
     WHERE p.frontend_id = p_frontend AND p.session_id = p_session AND p.room_id = v_room.id
    RETURNING p.user_id INTO v_user;
    IF NOT FOUND THEN
        status := 200; RETURN;
    END IF;
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = v_room.id RETURNING last_seq INTO seq;
    SELECT count(*) INTO v_others FROM participants p
     WHERE p.room_id = v_room.id AND p.user_id = v_user;
    SELECT count(DISTINCT p.user_id) INTO v_members FROM participants p WHERE p.room_id = v_room.id;
    quiet := v_others > 0 OR v_members > p_limit;
    INSERT INTO room_events (room_id, seq, kind, user_id, frontend_id, session_id, quiet)
         VALUES (v_room.id, seq, 2, v_user, p_frontend, p_session, quiet);
    IF p_outbox THEN
        INSERT INTO compliance_outbox (event_type, user_uri, room_uri, room_name)
             VALUES ('PART', p_user, 'ma-chan://' || p_domain || '/' || v_room.guid, v_room.name);
    END IF;
    status := 200;
END $$;

INSERT INTO schema_migrations (version, name) VALUES (3, '003_actions')
    ON CONFLICT (version) DO NOTHING;
