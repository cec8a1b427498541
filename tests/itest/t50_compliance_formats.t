#!/usr/bin/env bash
# t50_compliance_formats.t — every event type, written to the outbox as a channel worker does,
# comes out of pchat-compliance --once in the xml adapter (valid against compliance/xsd, right
# Sender/Channel/time fields, one file per room on request) and the jsonl adapter, exactly once;
# then the stores are empty and --status says so. compliance.enabled=false leaves the outbox alone.
source "$(dirname "$0")/compliance/common.sh"

plan 45
[[ -x $COMPLIANCE_BIN ]] || bail "$COMPLIANCE_BIN is not built (make all)"
t5x_databases t50_compliance

ROOM=ma-chan://example.com/7e1f0a52-3c1d-4f3e-9d2a-0123456789ab
OTHER=ma-chan://example.com/0b9d6c1e-5a4f-4c2b-8e77-1f2e3d4c5b6a
CHAT_TEXT=$'multi-line <b>&amp;</b> "quotes" \'single\'\nsecond line\ttab ünïcödé'
T0_US=1714558502797123        # 2024-05-01T10:15:02.797123Z

chat_sql "INSERT INTO users (uri, display_name) VALUES ('sip:alice@example.com', 'Alice Example'),
                 ('sip:bob@example.com', NULL), ('sip:admin@example.com', 'Operator')
              ON CONFLICT (uri) DO UPDATE SET display_name = EXCLUDED.display_name;
          INSERT INTO categories (name, description) VALUES ('Compliance Test', 'for t50');
          INSERT INTO rooms (guid, name, description, category_id, privacy, type)
               SELECT '7e1f0a52-3c1d-4f3e-9d2a-0123456789ab', 'General', 'General talk', id, 0, 1
                 FROM categories WHERE name = 'Compliance Test';" >/dev/null ||
    bail "seeding users and rooms failed"
ALICE_ID=$(chat_sql "SELECT id FROM users WHERE uri = 'sip:alice@example.com'")

# One transaction, like a worker's: the actions' outbox rows and the test's record of them.
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$CHAT_DB" \
    -v room="$ROOM" -v other="$OTHER" -v text="$CHAT_TEXT" <<'EOF' || bail "writing the outbox failed"
BEGIN;
WITH ins AS (
  INSERT INTO compliance_outbox (event_type, occurred_at, user_uri, user_name, room_uri, room_name, message_id, content)
  SELECT t, timestamptz '2024-05-01 10:15:02.797123+00' + (n - 1) * interval '1 second', u, un, r, rn, m, c
    FROM (VALUES
      (1, 'JOIN', 'sip:alice@example.com', NULL, :'room', 'General', NULL::bigint, NULL),
      (2, 'CHAT', 'sip:alice@example.com', NULL, :'room', 'General', 101, :'text'),
      (3, 'BACKCHAT', 'sip:bob@example.com', NULL, :'room', 'General', NULL, 'last 25 messages'),
      (4, 'FILEUPLOAD', 'sip:carol@fabrikam.com', 'Carol Federated', :'room', 'General', NULL, 'report.pdf'),
      (5, 'FILEDOWNLOAD', 'sip:bob@example.com', NULL, :'room', 'General', NULL, 'report.pdf'),
      (6, 'ADMIN_MESSAGE_REPLACED', 'sip:admin@example.com', NULL, :'room', 'General', 101, 'replacement text'),
      (7, 'ADMIN_MESSAGE_REMOVED', 'sip:admin@example.com', NULL, :'room', 'General', 101, NULL),
      (8, 'ADMIN_ROOM_CLEARED', 'sip:admin@example.com', NULL, :'other', 'Other', NULL, NULL),
      (9, 'ADMIN_MEMBERSHIP_CHANGED', 'sip:admin@example.com', NULL, NULL, NULL, NULL, 'category Demo: added sip:bob@example.com as member'),
      (10, 'PART', 'sip:alice@example.com', NULL, :'room', 'General', NULL, NULL)
    ) AS v(n, t, u, un, r, rn, m, c)
  RETURNING event_id)
INSERT INTO test_ledger SELECT event_id FROM ins;
COMMIT;
EOF

CONFIG=$T5X_TMP/t50.yaml
write_config "$CONFIG" 60 100 "    - name: \"archive\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/xml\"
      add_room_details: true
      add_user_details: true
    - name: \"per-room\"
      type: \"xml\"
      output_dir: \"$T5X_TMP/rooms\"
      one_room_per_file: true
    - name: \"pipeline\"
      type: \"jsonl\"
      output_dir: \"$T5X_TMP/jsonl\"
      add_room_details: true
      add_user_details: true"

"$COMPLIANCE_BIN" -c "$CONFIG" --once >"$T5X_TMP/once.log" 2>&1
ok $? "pchat-compliance --once delivers everything and exits 0" || diag "$(tail -n 20 "$T5X_TMP/once.log")"
is "$(chat_sql 'SELECT count(*) FROM compliance_outbox')" 0 "the outbox is empty"
is "$(comp_sql 'SELECT count(*) FROM events')" 0 "mgccomp is empty once all three adapters have the events"

# ---- xml ------------------------------------------------------------------------------------
XML=$(ls "$T5X_TMP"/xml/*.xml 2>/dev/null)
is "$(echo "$XML" | grep -c .)" 1 "the xml adapter wrote one file for the batch"
check "the xml file validates against compliance/xsd/pchat-compliance.xsd" \
    xmllint --noout --schema compliance/xsd/pchat-compliance.xsd $XML
for type in JOIN PART CHAT BACKCHAT FILEUPLOAD FILEDOWNLOAD ADMIN_ROOM_CLEARED ADMIN_MESSAGE_REMOVED \
            ADMIN_MESSAGE_REPLACED ADMIN_MEMBERSHIP_CHANGED; do
    is "$(grep -c "<Message type=\"$type\"" $XML)" 1 "xml: one $type message"
done
xpath() { xmllint --xpath "$1" $XML 2>/dev/null; }
is "$(xpath 'string(//Message[@type="CHAT"]/@content)')" "$CHAT_TEXT" \
    "xml: the post's text comes back byte for byte (markup, quotes, newline, tab, UTF-8)"
is "$(xpath 'string(//Message[@type="CHAT"]/@id)')" 101 "xml: CHAT carries the post id"
is "$(xpath 'string(//Message[@type="FILEUPLOAD"]/@content)')" "report.pdf" "xml: file events carry the file name"
is "$(xpath 'concat(//Message[@type="JOIN"]/Sender/@UserName, "|", //Message[@type="JOIN"]/Sender/@id, "|", //Message[@type="JOIN"]/Sender/@email, "|", //Message[@type="JOIN"]/Sender/@internal, "|", //Message[@type="JOIN"]/Sender/@uri)')" \
    "Alice Example|$ALICE_ID|alice@example.com|true|sip:alice@example.com" \
    "xml: Sender has the display name, chat store id, e-mail, internal flag and URI"
is "$(xpath 'string(//Message[@type="FILEUPLOAD"]/Sender/@internal)')" false "xml: a federated user is internal=false"
is "$(xpath "concat(//Channel[@uri='$ROOM']/@name, '|', //Channel[@uri='$ROOM']/@category, '|', //Channel[@uri='$ROOM']/@description, '|', //Channel[@uri='$ROOM']/@privacy, '|', //Channel[@uri='$ROOM']/@type)")" \
    "General|Compliance Test|General talk|open|auditorium" "xml: add_room_details puts the room's category, description, privacy and type on Channel"

# The three timestamp forms of the JOIN, from the time the outbox row recorded.
ms=$((T0_US / 1000))
ticks=$((T0_US * 10 + 621355968000000000))
iso="$(date -u -d "@$((T0_US / 1000000))" +%Y-%m-%dT%H:%M:%S).$(printf '%07d' $(((T0_US % 1000000) * 10)))Z"
is "$(xpath 'concat(//Message[@type="JOIN"]/DateTimeUTC/@since1970, " ", //Message[@type="JOIN"]/DateTimeUTC/@string, " ", //Message[@type="JOIN"]/DateTimeUTC/@long)')" \
    "$ms $iso $ticks" "xml: DateTimeUTC in epoch ms, ISO-8601 with 7 decimals and .NET ticks"
is "$((ticks - (ms * 10000 + 621355968000000000)))" 1230 "xml: ticks = ms * 10000 + 621355968000000000 + the sub-millisecond part"
is "$(xpath "concat(//Conversation[Channel/@uri='$ROOM']/StartTimeUTC/@since1970, ' ', //Conversation[Channel/@uri='$ROOM']/EndTimeUTC/@since1970)")" \
    "$ms $((ms + 9000))" "xml: StartTimeUTC and EndTimeUTC are the room's first and last event"
is "$(xpath "string(//Conversation[Channel/@uri='$ROOM']/FirstMessage/@type)")" JOIN "xml: FirstMessage repeats the room's first message"
is "$(xpath 'count(//Conversation)')" 3 "xml: one conversation per room (two rooms and the pool-wide event)"

# ---- one room per file ------------------------------------------------------------------------
ROOM_FILES=$(ls "$T5X_TMP"/rooms/*.xml 2>/dev/null)
is "$(echo "$ROOM_FILES" | grep -c .)" 3 "one_room_per_file: one file per room"
check "one_room_per_file: every file validates" xmllint --noout --schema compliance/xsd/pchat-compliance.xsd $ROOM_FILES
is "$(cat $ROOM_FILES | grep -c '<Conversation>')" 3 "one_room_per_file: each file holds one conversation"
is "$(cat $ROOM_FILES | grep -c 'email=')" 0 "without add_user_details there is no email"

# ---- jsonl ----------------------------------------------------------------------------------
JSONL=$(ls "$T5X_TMP"/jsonl/*.jsonl 2>/dev/null)
is "$(cat $JSONL | wc -l)" 10 "jsonl: one line per event"
chat_line=$(perl -MJSON::PP -ne '
    my $o = JSON::PP->new->decode($_);
    next unless $o->{type} eq "CHAT";
    print join("|", $o->{user}{uri}, $o->{user}{name}, $o->{user}{id}, $o->{user}{internal} ? "true" : "false",
               $o->{user}{email}, $o->{room}{uri}, $o->{room}{name}, $o->{room}{category},
               $o->{room}{privacy}, $o->{message_id}, $o->{time_ms}, $o->{time_ticks}, $o->{time});' $JSONL)
is "$chat_line" "sip:alice@example.com|Alice Example|$ALICE_ID|true|alice@example.com|$ROOM|General|Compliance Test|open|101|$((ms + 1000))|$((ticks + 10000000))|${iso/02.7971230Z/03.7971230Z}" \
    "jsonl: the CHAT object has user, room (with details), post id and the three time forms"
is "$(perl -MJSON::PP -ne 'my $o = JSON::PP->new->decode($_); print $o->{content} if $o->{type} eq "CHAT"' $JSONL)" \
    "$CHAT_TEXT" "jsonl: the post's text comes back byte for byte"
is "$(perl -MJSON::PP -ne 'my $o = JSON::PP->new->decode($_); print defined $o->{content} ? "text" : "null" if $o->{type} eq "JOIN"' $JSONL)" \
    null "jsonl: JOIN has content null"

# ---- exactly once, status ---------------------------------------------------------------------
xml_ids "$T5X_TMP/xml" >"$T5X_TMP/xml.ids"
exactly_once "xml" "$T5X_TMP/xml.ids"
jsonl_ids "$T5X_TMP/jsonl" >"$T5X_TMP/jsonl.ids"
exactly_once "jsonl" "$T5X_TMP/jsonl.ids"
is "$(status_value "$CONFIG" pending_events archive)" 0 "--status: nothing pending for the xml adapter"
check "--status: the xml adapter's last success is recorded" \
    bash -c "[[ '$(status_value "$CONFIG" last_success archive)' == 20*'(batch archive-000000000001)' ]]"
is "$(status_value "$CONFIG" last_failure pipeline)" never "--status: the jsonl adapter never failed"

# ---- compliance off -------------------------------------------------------------------------
gen_events 5 5
"$COMPLIANCE_BIN" -c "$CONFIG" --set compliance.enabled=false --once >"$T5X_TMP/off.log" 2>&1
ok $? "compliance.enabled=false: pchat-compliance exits 0"
is "$(chat_sql 'SELECT count(*) FROM compliance_outbox')" 5 "compliance.enabled=false: it touches nothing"
