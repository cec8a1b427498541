#!/usr/bin/env bash
# t40_pchatctl.t — pchatctl, the operator's CLI, against a real chat store: every noun and
# verb, its --json document, the exit-code contract (2 usage, 3 not found, 4 refused), the
# compliance outbox rows of changes, one transaction per change, and the live effects
# (room_events kind 3, participants removed, notices to the front ends).
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PCHATCTL=${BUILD:-build}/bin/pchatctl
[[ $PCHATCTL == /* ]] || PCHATCTL=$ROOT/$PCHATCTL
[[ -x $PCHATCTL ]] || { echo "1..0 # SKIP $PCHATCTL is not built (make $PCHATCTL)"; exit 0; }

# shellcheck source=tests/lib/pool.sh
source tests/lib/pool.sh
tap_plan 171

pool_init t40_pchatctl || { echo "Bail out! could not create the test databases"; exit 1; }
STUB=$BUILD/tests/itest/stub_frontend

# --- configs -------------------------------------------------------------------------------------
# write_config FILE COMPLIANCE [FRONTEND-ENDPOINT...]: a node config for pchatctl; no front
# ends unless named (so changes do not wait for absent ones).
write_config() {
    local file=$1 compliance=$2 k=1 ep
    shift 2
    {
        echo "pool:"
        echo "  domain: \"example.com\""
        echo "database:"
        echo "  pchat: \"$POOL_DB_CONNINFO\""
        echo "  mgccomp: \"$POOL_COMP_CONNINFO\""
        echo "chat:"
        echo "  history_on_join: 25"
        echo "compliance:"
        echo "  enabled: $compliance"
        echo "channel:"
        if (($# == 0)); then
            echo "  frontends: []"
        else
            echo "  frontends:"
            for ep in "$@"; do
                echo "    - id: \"fe$k\""
                echo "      router: \"$ep\""
                echo "      events: \"tcp://127.0.0.1:1\""
                k=$((k + 1))
            done
        fi
    } >"$file"
}
CFG_ON=$POOL_DIR/ctl-compliance.yaml
CFG_OFF=$POOL_DIR/ctl-no-compliance.yaml
write_config "$CFG_ON" true
write_config "$CFG_OFF" false
CFG=$CFG_ON

# --- helpers -------------------------------------------------------------------------------------
# ctl ARGS...: pchatctl --json with $CFG; OUT = stdout, ERR = stderr, RC = exit status.
# Every successful run's stdout must be one JSON document: checked here for all of them
# (JSON_BAD), and which noun/verb pairs ran is kept (JSON_SEEN) for the summary test.
declare -A JSON_SEEN=()
JSON_BAD=""
ctl() {
    OUT=$("$PCHATCTL" -c "$CFG" --json "$@" 2>"$POOL_DIR/ctl.err")
    RC=$?
    ERR=$(<"$POOL_DIR/ctl.err")
    local words=() a
    for a in "$@"; do [[ $a == -* ]] || words+=("$a"); done
    if ((RC == 0)); then
        JSON_SEEN["${words[0]:-} ${words[1]:-}"]=1
        [[ $(jget "") != "INVALID JSON" ]] || JSON_BAD+=" [$*]"
    fi
}
# ctl_text ARGS...: the same without --json.
ctl_text() {
    OUT=$("$PCHATCTL" -c "$CFG" "$@" 2>"$POOL_DIR/ctl.err")
    RC=$?
    ERR=$(<"$POOL_DIR/ctl.err")
}
# jget PATH: a value of the JSON document in $OUT ("room.members", "rooms.0.name"); arrays
# of scalars are joined with ",", booleans are true/false, null is null; "INVALID JSON"
# when $OUT is not exactly one JSON object.
jget() {
    perl -MJSON::PP -e '
        my $text = do { local $/; <STDIN> };
        my $d = eval { JSON::PP->new->decode($text) };
        if (!defined $d || ref $d ne "HASH") { print "INVALID JSON"; exit 0 }
        for my $k (split /\./, $ARGV[0]) {
            $d = ref $d eq "ARRAY" ? $d->[$k] : ref $d eq "HASH" ? $d->{$k} : undef;
        }
        sub show {
            my ($v) = @_;
            return "null" unless defined $v;
            return $v ? "true" : "false" if JSON::PP::is_bool($v);
            return join ",", map { show($_) } @$v if ref $v eq "ARRAY";
            return "{" . join(",", sort keys %$v) . "}" if ref $v eq "HASH";
            return $v;
        }
        print show($d);' "$1" <<<"$OUT"
}
# json_ok MSG: $OUT is one JSON document (an object).
json_ok() {
    [[ $(jget "") != "INVALID JSON" ]]
    tap_ok $? "$1"
    [[ $(jget "") != "INVALID JSON" ]] || tap_diag "stdout: $OUT" "stderr: $ERR"
}
# rc_is WANT MSG: the last command's exit status; shows its stderr when it differs.
rc_is() {
    tap_is "$RC" "$1" "$2"
    [[ $RC == "$1" ]] || tap_diag "stderr: $ERR"
}
outbox() { pool_psql "SELECT count(*) FROM compliance_outbox"; }
last_event_type() { pool_psql "SELECT event_type FROM compliance_outbox ORDER BY id DESC LIMIT 1"; }
room_id() { pool_psql "SELECT id FROM rooms WHERE name = '$1'"; }
# join_fake ROOM URI SESSION: a live participant as a front end would have recorded it.
join_fake() {
    pool_psql "INSERT INTO users (uri) VALUES ('$2') ON CONFLICT DO NOTHING" >/dev/null
    pool_psql "INSERT INTO participants (room_id, frontend_id, incarnation, session_id, user_id, joined_seq)
               SELECT r.id, 'fe1', 1, $3, u.id, r.last_seq FROM rooms r, users u
                WHERE r.name = '$1' AND u.uri = '$2'" >/dev/null
}
present() { pool_psql "SELECT count(*) FROM participants p JOIN users u ON u.id = p.user_id
                        JOIN rooms r ON r.id = p.room_id WHERE r.name = '$1' AND u.uri = '$2'"; }
last_change() { pool_psql "SELECT e.kind || '|' || coalesce(e.user_id::text, 'null') || '|' || e.detail
                             || '|' || CASE WHEN e.seq = r.last_seq THEN 'last' ELSE 'old' END
                             FROM room_events e JOIN rooms r ON r.id = e.room_id
                            WHERE r.name = '$1' ORDER BY e.seq DESC LIMIT 1"; }

# --- help and usage (no database needed) ---------------------------------------------------------
OUT=$("$PCHATCTL" --help 2>&1); RC=$?
[[ $RC == 0 && $OUT == *"usage: pchatctl"* && $OUT == *"exit codes:"* ]]
tap_ok $? "pchatctl --help prints the usage, nouns and exit codes"

bad_help=""
for noun in category room message policy addin group config user pool compliance; do
    OUT=$("$PCHATCTL" "$noun" --help 2>&1) || bad_help+=" $noun"
    verbs=$(sed -n '/^verbs:/,/^$/p' <<<"$OUT" | awk 'NR > 1 && NF { print $1 }')
    [[ -n $verbs ]] || bad_help+=" $noun(no verbs listed)"
    for verb in $verbs; do
        OUT=$("$PCHATCTL" "$noun" "$verb" --help 2>&1)
        [[ $? == 0 && $OUT == *"usage: pchatctl $noun $verb"* && $OUT == *"example:"* ]] ||
            bad_help+=" $noun/$verb"
    done
done
tap_is "$bad_help" "" "every noun and verb answers --help with its usage line and an example"

ctl frobnicate get
[[ $RC == 2 && $ERR == *'unknown noun "frobnicate"'* && $ERR == *"usage: pchatctl"* ]]
tap_ok $? "an unknown noun is a usage error (exit 2) with the usage line"
ctl room new Ops --category Trading --colour blue
[[ $RC == 2 && $ERR == *"unknown option --colour"* && $ERR == *"usage: pchatctl room new NAME --category CATEGORY"* ]]
tap_ok $? "an unknown option is exit 2 with the verb's usage line on stderr"
tap_is "$OUT" "" "a usage error prints nothing on stdout"
ctl room new
[[ $RC == 2 && $ERR == *"missing argument"* ]]; tap_ok $? "a missing argument is exit 2"
ctl room
[[ $RC == 2 && $ERR == *"which verb?"* ]]; tap_ok $? "a noun without a verb is exit 2 and lists the verbs"
ctl category new Wall --allow bob
[[ $RC == 2 && $ERR == *"principal is sip:"* ]]; tap_ok $? "a malformed principal is exit 2 and says how to write one"
ctl room new Ops --category Trading --privacy hidden
[[ $RC == 2 && $ERR == *"open, closed or secret"* ]]; tap_ok $? "a bad --privacy value is exit 2"
ctl room clear Ops --before 2024-02-30
[[ $RC == 2 && $ERR == *"does not exist"* ]]; tap_ok $? "an impossible date is exit 2"
ctl room set Ops --privacy open --privacy closed
[[ $RC == 2 && $ERR == *"given twice"* ]]; tap_ok $? "a single-value option given twice is exit 2"
OUT=$(env -u PCHAT_CONFIG "$PCHATCTL" category get 2>&1); RC=$?
[[ $RC == 2 && $OUT == *"no configuration"* ]]; tap_ok $? "no -c and no PCHAT_CONFIG is exit 2"
OUT=$(PCHAT_CONFIG=$CFG_ON "$PCHATCTL" --json category get 2>&1); RC=$?
[[ $RC == 0 && $(jget categories.0.name) == Demo ]]; tap_ok $? "PCHAT_CONFIG names the config when -c is absent"
write_config "$POOL_DIR/ctl-bad-db.yaml" false
sed -i "s/port=$POOL_PG_PORT/port=1/" "$POOL_DIR/ctl-bad-db.yaml"
CFG=$POOL_DIR/ctl-bad-db.yaml ctl category get
[[ $RC == 1 && $ERR == *"cannot connect to PostgreSQL"* ]]; tap_ok $? "an unreachable chat store is exit 1 with a sentence"
CFG=$CFG_ON

# --- groups and categories -----------------------------------------------------------------------
base=$(outbox)
ctl group new analysts --description "Equity research" --member sip:Ann@example.com
rc_is 0 "group new"
json_ok "group new --json is one JSON document"
tap_is "$(jget result.members)" "sip:ann@example.com" "group members are stored lower-case"
ctl group new Analysts
rc_is 4 "a duplicate group name (any case) is refused (exit 4)"

ctl category new Trading --description "Trading desks" --allow domain:example.com \
    --deny group:analysts --creator sip:lead@example.com --file-upload on --history off
rc_is 0 "category new with allowed, denied and creators"
tap_is "$(jget category.allowed)|$(jget category.denied)|$(jget category.creators)" \
    "domain:example.com|group:analysts|sip:lead@example.com" "the category's three lists are as given"
tap_is "$(jget category.file_upload)|$(jget category.invitations)|$(jget category.history)" \
    "true|true|false" "the category's switches (invitations default on)"
ctl category new TRADING
[[ $RC == 4 && $ERR == *"already exists"* ]]; tap_ok $? "a duplicate category name (any case) is refused (exit 4)"
ctl category new Wall --deny group:nosuchgroup
rc_is 3 "a principal naming a group that does not exist is not found (exit 3)"
tap_is "$(pool_psql "SELECT count(*) FROM categories WHERE name = 'Wall'")" 0 \
    "the refused category new left no category behind"
ctl category get
json_ok "category get --json is one JSON document"
tap_is "$(jget categories.1.name)|$(jget categories.1.rooms)" "Trading|0" "category get lists the categories with room counts"
ctl category get nosuch
[[ $RC == 3 && $ERR == *"category \"nosuch\" not found"* && $ERR == *"pchatctl category get"* ]]
tap_ok $? "category get of an unknown name is exit 3 and says how to list them"
tap_is "$(( $(outbox) - base ))" 2 "group new and category new each wrote one compliance_outbox row"
tap_is "$(last_event_type)" "ADMIN_CATEGORY_CREATED" "the category's outbox row is ADMIN_CATEGORY_CREATED"
tap_is "$(pool_psql "SELECT user_uri || '|' || (content::json ->> 'category')
                       FROM compliance_outbox ORDER BY id DESC LIMIT 1")" \
    "sip:pchatctl@example.com|Trading" "the outbox row names the operator and holds a JSON description"

# JSON escaping: quotes, backslashes, control characters and non-ASCII text survive the trip.
tricky=$'say "hi" \\ C:\\path\ttab\nnew line – Zürich 東京'
ctl category set Trading --description "$tricky" --operator sip:Ops.Admin@example.com
rc_is 0 "category set --description with quotes, backslashes, tab, new line and UTF-8"
tap_is "$(jget category.description)" "$tricky" "the --json document carries the text exactly"
tap_is "$(pool_psql "SELECT user_uri FROM compliance_outbox ORDER BY id DESC LIMIT 1")" \
    "sip:ops.admin@example.com" "--operator names who acted in the compliance outbox"
tap_is "$(pool_psql "SELECT content::json ->> 'description' FROM compliance_outbox ORDER BY id DESC LIMIT 1")" \
    "$tricky" "the outbox content is valid JSON holding the same text"
ctl category set Trading --description $'bell\a'
rc_is 2 "a description with other control characters is exit 2"

# --- rooms ---------------------------------------------------------------------------------------
ctl room new "Equity desk" --category trading --description "Equity traders" --topic "Open 9:00"
rc_is 0 "room new"
json_ok "room new --json is one JSON document"
guid=$(jget room.guid)
tap_is "$(jget room.uri)" "ma-chan://example.com/$guid" "a room's URI is ma-chan://<domain>/<guid>"
tap_is "$(jget room.privacy)|$(jget room.type)|$(jget room.disabled)|$(jget room.category)" \
    "closed|normal|false|Trading" "a new room is closed, normal and enabled by default"
tap_is "$(jget room.members)" "" "a new room has no members"
ctl room new "EQUITY DESK" --category Trading
[[ $RC == 4 && $ERR == *"already exists"* ]]; tap_ok $? "a duplicate room name (any case) is refused (exit 4)"
ctl room new Lost --category NoSuchCategory
rc_is 3 "room new in an unknown category is not found (exit 3)"
ctl room new Orphan
[[ $RC == 2 && $ERR == *"--category is required"* ]]; tap_ok $? "room new without --category is exit 2"

ctl room set "Equity desk" --add-member sip:alice@example.com --add-member sip:carol@example.com \
    --add-manager sip:lead@example.com
rc_is 0 "room set grants members and a manager"
tap_is "$(jget room.members)|$(jget room.managers)" \
    "sip:alice@example.com,sip:carol@example.com|sip:lead@example.com" "the grants show in room get"
tap_is "$(jget result.invited)" "sip:alice@example.com,sip:carol@example.com" "new members of a room with invitations on are invited"
tap_is "$(pool_psql "SELECT count(*) FROM invitations i JOIN users u ON u.id = i.user_id
                      WHERE u.uri = 'sip:alice@example.com' AND i.seen_at IS NULL")" 1 \
    "an invitations row is stored for the new member"
tap_is "$(last_event_type)" "ADMIN_MEMBERSHIP_CHANGED" "role grants are recorded as ADMIN_MEMBERSHIP_CHANGED"

ctl room set "Equity desk" --add-member sip:ann@example.com
[[ $RC == 4 && $ERR == *"denies them"* && $ERR == *"group:analysts"* ]]
tap_ok $? "granting a user the category denies is refused (exit 4) naming the rule"
ctl room set "Equity desk" --add-member sip:zed@partner.example
[[ $RC == 4 && $ERR == *"does not allow them"* ]]
tap_ok $? "granting a user outside the allowed list is refused (exit 4)"

# One transaction per change: a refused part leaves the other parts undone.
base=$(outbox)
ctl room set "Equity desk" --description "changed" --add-member sip:bob@example.com \
    --add-presenter sip:ann@example.com
rc_is 4 "a change with one refused grant is refused as a whole"
tap_is "$(pool_psql "SELECT r.description || '|' || (SELECT count(*) FROM room_roles g JOIN users u
                       ON u.id = g.user_id WHERE g.room_id = r.id AND u.uri = 'sip:bob@example.com')
                       FROM rooms r WHERE r.name = 'Equity desk'")" "Equity traders|0" \
    "the refused change left neither the description nor bob's membership behind"
tap_is "$(( $(outbox) - base ))" 0 "the refused change wrote no compliance_outbox row"
ctl room set "Equity desk" --remove-member sip:nobody@example.com
rc_is 3 "taking a role the user does not hold is not found (exit 3)"

ctl room new "Town hall" --category Trading --type auditorium --privacy open --invitations off
rc_is 0 "room new auditorium, open, invitations off"
ctl room set "town hall" --add-presenter sip:lead@example.com --add-member sip:alice@example.com
rc_is 0 "presenters and members of an auditorium"
tap_is "$(jget room.presenters)|$(jget room.type)|$(jget room.invitations_effective)" \
    "sip:lead@example.com|auditorium|false" "the auditorium shows its presenter; its invitations are off"
tap_is "$(pool_psql "SELECT count(*) FROM invitations i JOIN rooms r ON r.id = i.room_id WHERE r.name = 'Town hall'")" \
    0 "no invitation is made when the room's invitations are off"

ctl room get "$guid"
[[ $RC == 0 && $(jget room.name) == "Equity desk" ]]; tap_ok $? "room get by GUID"
ctl room get "ma-chan://example.com/$guid"
[[ $RC == 0 && $(jget room.name) == "Equity desk" && $(jget room.topic) == "Open 9:00" ]]
tap_ok $? "room get by ma-chan:// URI shows the details"
ctl room get "No such room"
[[ $RC == 3 && $ERR == *'room "No such room" not found; list rooms with: pchatctl room get'* ]]
tap_ok $? "room get of an unknown room is exit 3 with the sentence that says what to do"

ctl room get --category Trading
tap_is "$(jget rooms.0.name),$(jget rooms.1.name)|$(jget rooms.2.name)" "Equity desk,Town hall|null" "room get --category lists that category's rooms"
ctl room get --member sip:alice@example.com --type auditorium
tap_is "$(jget rooms.0.name)|$(jget rooms.1.name)" "Town hall|null" "room get --member --type filters"
ctl room get --manager sip:lead@example.com
tap_is "$(jget rooms.0.name)|$(jget rooms.1.name)" "Equity desk|null" "room get --manager filters"
ctl room get --name-like "*HALL"
tap_is "$(jget rooms.0.name)|$(jget rooms.1.name)" "Town hall|null" "room get --name-like with a wildcard, any case"
ctl room get --privacy open --limit 1
tap_is "$(jget rooms.1.name)|$(jget truncated)" "null|true" "room get --limit caps the list and says it is truncated"
ctl room get --member bob
rc_is 2 "a filter with a malformed URI is exit 2"
ctl_text room get --category Trading
[[ $RC == 0 && $(head -n 1 <<<"$OUT") == NAME*CATEGORY*PRIVACY* && $OUT == *"Town hall"*"Trading"*"open"* ]]
tap_ok $? "without --json, room get prints an aligned table with a header"

ctl room set "Equity desk" --name "Equities" --privacy secret --topic "Closed at 17:30"
rc_is 0 "room set renames and changes privacy"
tap_is "$(jget room.name)|$(jget room.privacy)|$(jget room.topic)" "Equities|secret|Closed at 17:30" "the room shows the new name, privacy and topic"
tap_is "$(last_event_type)" "ADMIN_ROOM_CHANGED" "property changes are recorded as ADMIN_ROOM_CHANGED"
ctl room set Equities --name "Town Hall"
rc_is 4 "renaming a room onto another room's name is refused (exit 4)"
ctl room set Equities
rc_is 2 "room set without any change is exit 2"

# --- live effects --------------------------------------------------------------------------------
join_fake Equities sip:alice@example.com 101
join_fake Equities sip:carol@example.com 102
seq_before=$(pool_psql "SELECT last_seq FROM rooms WHERE name = 'Equities'")
ctl room set Equities --remove-member sip:alice@example.com
rc_is 0 "room set --remove-member"
tap_is "$(last_change Equities)" "3|null|sip:alice@example.com|last" \
    "removing a member of a secret room writes a kind-3 room event with her URI at the room's last seq"
tap_is "$(pool_psql "SELECT last_seq FROM rooms WHERE name = 'Equities'")" "$((seq_before + 1))" \
    "the change took the room's next sequence number"
tap_is "$(present Equities sip:alice@example.com)|$(present Equities sip:carol@example.com)" "0|1" \
    "her participants row is gone; the others' stay"
tap_is "$(jget evicted.0.room)|$(jget evicted.0.users)" "Equities|sip:alice@example.com" "the --json document lists who was taken out"

# The ethical wall grows through a group: carol joins a denied group and leaves the room.
ctl group add-member analysts sip:carol@example.com
rc_is 0 "group add-member"
tap_is "$(last_change Equities)|$(present Equities sip:carol@example.com)" "3|null|sip:carol@example.com|last|0" \
    "a new member of a denied group is taken out of the category's rooms at once"
tap_is "$(last_event_type)" "ADMIN_GROUP_CHANGED" "group membership changes are recorded"

# ... and through the category's denied list.
join_fake "Town hall" sip:dave@example.com 103
join_fake "Town hall" sip:erin@example.com 104
ctl category set Trading --add-denied sip:dave@example.com
rc_is 0 "category set --add-denied"
tap_is "$(last_change "Town hall")|$(present "Town hall" sip:dave@example.com)|$(present "Town hall" sip:erin@example.com)" \
    "3|null|sip:dave@example.com|last|0|1" "a user the denied list now names leaves the open room; others stay"
tap_is "$(jget category.denied)" "sip:dave@example.com,group:analysts" "category set shows the grown denied list"
tap_is "$(last_event_type)" "ADMIN_CATEGORY_CHANGED" "category changes are recorded"
ctl category set Trading --remove-denied sip:nobody@example.com
rc_is 3 "removing a principal the list does not hold is not found (exit 3)"
ctl category set Trading --add-allowed group:nosuch
rc_is 3 "adding a group that does not exist is not found (exit 3)"

# Disabling takes everyone out.
join_fake "Town hall" sip:alice@example.com 105
ctl room disable "Town hall"
rc_is 0 "room disable"
tap_is "$(last_change "Town hall")" "3|null|sip:alice@example.com,sip:erin@example.com|last" \
    "disabling writes a kind-3 event naming everyone who was in the room"
tap_is "$(pool_psql "SELECT count(*) FROM participants p JOIN rooms r ON r.id = p.room_id WHERE r.name = 'Town hall'")|$(pool_psql "SELECT disabled FROM rooms WHERE name = 'Town hall'")" \
    "0|t" "nobody is left in the disabled room and it is disabled"
tap_is "$(last_event_type)" "ADMIN_ROOM_DISABLED" "disabling is recorded as ADMIN_ROOM_DISABLED"
seq_before=$(pool_psql "SELECT last_seq FROM rooms WHERE name = 'Town hall'"); base=$(outbox)
ctl room disable "Town hall"
tap_is "$RC|$(jget result)|$(pool_psql "SELECT last_seq FROM rooms WHERE name = 'Town hall'")|$(( $(outbox) - base ))" \
    "0|unchanged|$seq_before|0" "disabling a disabled room changes nothing and records nothing"
ctl room get --disabled
tap_is "$(jget rooms.0.name)|$(jget rooms.1.name)" "Town hall|null" "room get --disabled lists disabled rooms"
ctl room enable "Town hall"
tap_is "$RC|$(pool_psql "SELECT disabled FROM rooms WHERE name = 'Town hall'")|$(last_event_type)" \
    "0|f|ADMIN_ROOM_ENABLED" "room enable"

# Moving a room drops the grants its new category does not allow.
ctl category new Research --allow group:analysts --allow sip:lead@example.com
rc_is 0 "a second category (allowed: a group and a user)"
ctl room new Quiet --category Trading
ctl room set Quiet --add-member sip:erin@example.com --add-manager sip:lead@example.com
join_fake Quiet sip:erin@example.com 106
ctl room set Quiet --category Research
rc_is 0 "room set --category moves the room"
tap_is "$(jget result.dropped.0.user)|$(jget result.dropped.0.role)|$(jget result.dropped.1.user)" \
    "sip:erin@example.com|member|null" "the grant the new category does not allow is dropped and reported"
tap_is "$(jget room.category)|$(jget room.members)|$(jget room.managers)" "Research||sip:lead@example.com" \
    "the moved room keeps the grants the new category allows"
tap_is "$(last_change Quiet)|$(present Quiet sip:erin@example.com)" "3|null|sip:erin@example.com|last|0" \
    "the dropped member is taken out of the room at once"
ctl room set Quiet --add-member sip:erin@example.com
rc_is 4 "after the move, the new category's rule applies to grants"

# The notice reaches the front ends listed in channel.frontends.
if [[ -x $STUB ]]; then
    read -r stub_port dead_port <<<"$(pool_free_ports 2)"
    write_config "$POOL_DIR/ctl-stub.yaml" true "tcp://127.0.0.1:$stub_port" "tcp://127.0.0.1:$dead_port"
    "$STUB" "tcp://127.0.0.1:$stub_port" 1 15 >"$POOL_DIR/stub.out" 2>&1 &
    stub_pid=$!
    for _ in $(seq 50); do grep -q ready "$POOL_DIR/stub.out" && break; sleep 0.1; done
    join_fake "Town hall" sip:erin@example.com 107
    CFG=$POOL_DIR/ctl-stub.yaml ctl -v room disable "Town hall"
    rc_is 0 "room disable with front ends configured"
    wait "$stub_pid"; stub_status=$?
    tap_is "$stub_status|$(sed -n 2p "$POOL_DIR/stub.out")" \
        "0|notice room=$(room_id "Town hall") seq=$(pool_psql "SELECT last_seq FROM rooms WHERE name = 'Town hall'") kind=3 evict=sip:erin@example.com" \
        "the front end got one NOTICE: the room, its new seq, kind CHANGE and the evicted URI"
    [[ $ERR == *"told front end fe1"* && $ERR == *"front end fe2 did not answer"* ]]
    tap_ok $? "--verbose says which front ends were told and which did not answer"
    tap_is "$(jget frontends_told)" 1 "an unreachable front end is not an error"
    ctl room enable "Town hall" >/dev/null
else
    tap_skip 4 "$STUB is not built"
fi

# --- messages ------------------------------------------------------------------------------------
pool_psql "INSERT INTO users (uri) VALUES ('sip:bob@example.com') ON CONFLICT DO NOTHING" >/dev/null
post() {   # post ROOM AUTHOR BODY AGE
    pool_psql "INSERT INTO messages (room_id, seq, author_id, body, created_at)
               SELECT r.id, r.last_seq + 1, u.id, '$3', now() - interval '$4'
                 FROM rooms r, users u WHERE r.name = '$1' AND u.uri = '$2';
               UPDATE rooms SET last_seq = last_seq + 1 WHERE name = '$1'" >/dev/null
}
post "Town hall" sip:bob@example.com "Buy ACME now, inside tip" "10 days"
post "Town hall" sip:lead@example.com "acme results at noon" "5 days"
post "Town hall" sip:bob@example.com "lunch?" "4 days"
post "Town hall" sip:lead@example.com "Lunch?" "3 days"
post "Town hall" sip:bob@example.com "see you" "1 hour"
base=$(outbox)
base_id=$(pool_psql "SELECT coalesce(max(id), 0) FROM compliance_outbox")
ctl message replace --room "Town hall" --keyword acme --keyword TIP
tap_is "$RC|$(jget result.count)" "0|1" "message replace with two keywords (all must match, any case)"
tap_is "$(pool_psql "SELECT body FROM messages WHERE body LIKE 'This message%'")" \
    "This message was replaced by the Persistent Chat administrator." "the post now holds the default replacement text"
tap_is "$(pool_psql "SELECT count(*) || '|' || min(event_type) || '|' || count(message_id)
                       FROM compliance_outbox WHERE id > $base_id")" \
    "1|ADMIN_MESSAGE_REPLACED|1" "each replaced post has its ADMIN_MESSAGE_REPLACED row naming it"
ctl message replace --room "Town hall" --keyword acme --keyword nothing --match any --text "[moderated]"
tap_is "$RC|$(jget result.count)" "0|1" "--match any"
ctl message remove --room "Town hall" --keyword lunch? --match exact --case-sensitive
tap_is "$RC|$(jget result.count)" "0|1" "--match exact --case-sensitive removes only the exact post"
ctl message remove --room "Town hall" --user sip:bob@example.com --from "$(date -u -d '5 days ago' +%Y-%m-%dT%H:%M:%SZ)" --to "$(date -u -d '2 days ago' +%Y-%m-%d)"
tap_is "$RC|$(jget result.count)|$(pool_psql "SELECT string_agg(body, ';' ORDER BY id) FROM messages")" \
    "0|0|This message was replaced by the Persistent Chat administrator.;[moderated];Lunch?;see you" "--user with --from/--to matches nothing outside the window"
ctl message remove --room "Town hall" --user sip:bob@example.com --from "$(date -u -d '2 days ago' +%Y-%m-%d)"
tap_is "$RC|$(jget result.count)|$(pool_psql "SELECT count(*) FROM messages")" "0|1|3" "--user with --from removes the recent post"
tap_is "$(( $(outbox) - base ))" 4 "every changed post wrote its compliance_outbox row"
ctl message remove --keyword x
rc_is 2 "message remove without --room is exit 2"
ctl message remove --room "Town hall" --match any
rc_is 2 "--match without --keyword is exit 2"
ctl message remove --room Nowhere
rc_is 3 "message remove in an unknown room is exit 3"
ctl room clear "Town hall" --before "$(date -u -d '4 days ago' +%Y-%m-%dT%H:%M:%S)"
tap_is "$RC|$(jget result.removed)|$(pool_psql "SELECT count(*) FROM messages")|$(last_event_type)" \
    "0|2|1|ADMIN_ROOM_CLEARED" "room clear --before deletes the older posts and keeps the newer"
ctl room get "Town hall"
tap_is "$(jget room.messages)|$([[ $(jget room.last_post) == 20*Z ]] && echo iso)" "1|iso" "room get counts the posts and shows the last post's time"

# --- policies ------------------------------------------------------------------------------------
ctl policy get
tap_is "$RC|$(jget policies.0.scope)|$(jget policies.0.enabled)" "0|global|false" "the shipped global policy is disabled"
ctl policy set --global --enable
rc_is 0 "policy set --global --enable"
ctl policy set --domain Example.COM --disable
rc_is 0 "policy set --domain --disable"
ctl policy grant sip:Alice@example.com --enable
rc_is 0 "policy grant --enable"
tap_is "$(last_event_type)" "ADMIN_POLICY_GRANTED" "a grant is recorded"
ctl policy get --user sip:alice@example.com
tap_is "$(jget policy.enabled)|$(jget policy.source)" "true|user" "a user's own row wins"
ctl policy get --user sip:bob@example.com
tap_is "$(jget policy.enabled)|$(jget policy.source)|$(jget policy.scope)" "false|domain|domain:example.com" "else the domain's row"
ctl policy get --user sip:guest@elsewhere.org
tap_is "$(jget policy.enabled)|$(jget policy.source)" "true|global" "else the global row"
ctl policy grant sip:alice@example.com --inherit
ctl policy get --user sip:alice@example.com
tap_is "$(jget policy.source)" "domain" "policy grant --inherit removes the user's row"
ctl policy set --global --inherit
rc_is 2 "the global policy cannot inherit (exit 2)"
ctl policy grant sip:alice@example.com --enable --disable
rc_is 2 "contradicting switches are exit 2"

# --- add-ins -------------------------------------------------------------------------------------
ctl addin new Quotes --url https://quotes.example.com/pane
rc_is 0 "addin new"
ctl addin new Files --url file:///etc/passwd
[[ $RC == 2 && $ERR == *"http:// and https://"* ]]; tap_ok $? "an add-in URL other than http(s) is exit 2"
ctl addin new QUOTES --url https://x.example.com
rc_is 4 "a duplicate add-in name is refused (exit 4)"
ctl room set Equities --addin quotes
tap_is "$RC|$(jget room.addin)" "0|Quotes" "room set --addin attaches it"
ctl addin set Quotes --url http://quotes2.example.com --rename Prices
rc_is 0 "addin set"
ctl addin get Prices
tap_is "$(jget addin.url)|$(jget addin.rooms)" "http://quotes2.example.com|Equities" "addin get shows its URL and rooms"
ctl room get --addin Prices
tap_is "$(jget rooms.0.name)" "Equities" "room get --addin filters"
ctl addin remove Prices
tap_is "$RC|$(jget result.rooms)|$(pool_psql "SELECT addin_id IS NULL FROM rooms WHERE name = 'Equities'")|$(last_event_type)" \
    "0|1|t|ADMIN_ADDIN_REMOVED" "addin remove detaches it from its rooms"
ctl addin get Prices
rc_is 3 "addin get of a removed add-in is exit 3"

# --- server options ------------------------------------------------------------------------------
ctl config get history_on_join
tap_is "$RC|$(jget option.value)|$(jget option.source)" "0|25|config" "an option the store lacks comes from the config file"
ctl config set history_on_join 50
rc_is 0 "config set"
ctl config get
tap_is "$(jget options.0.name)|$(jget options.0.value)|$(jget options.0.source)" "history_on_join|50|store" "config get shows the stored value and its source"
tap_is "$(pool_psql "SELECT value FROM server_options WHERE name = 'history_on_join'")|$(last_event_type)" \
    "50|ADMIN_OPTION_CHANGED" "the value is in server_options and the change recorded"
ctl config set history_on_join 501
[[ $RC == 2 && $ERR == *"from 1 to 500"* ]]; tap_ok $? "a value out of range is exit 2 naming the range"
ctl config set participant_update_limit 10x
rc_is 2 "a value that is not a number is exit 2"
ctl config set no_such_option 1
rc_is 3 "an unknown option name is exit 3"
ctl config set room_management_url https://rooms.example.com/manage
rc_is 0 "room_management_url takes an https URL"
ctl config set room_management_url gopher://x
rc_is 2 "room_management_url refuses other schemes"
ctl config set history_on_join --reset
ctl config get history_on_join
tap_is "$(jget option.value)|$(jget option.source)" "25|config" "config set --reset falls back to the config file"
ctl config get max_file_kb
tap_is "$(jget option.value)|$(jget option.source)" "20000|default" "max_file_kb defaults to 20000"

# --- users ---------------------------------------------------------------------------------------
join_fake Equities sip:carol@example.com 108 2>/dev/null
ctl user get sip:carol@example.com
tap_is "$RC|$(jget user.groups)|$(jget user.member_of)|$(jget user.in_rooms.0.room)|$(jget user.in_rooms.0.session)" \
    "0|analysts|Equities|Equities|108" "user get shows groups, roles and where the user is now"
[[ $(jget user.invitations.0.room)/$(jget user.policy.source) == Equities/domain &&
   ,$(jget user.categories), == *,Research,* && ,$(jget user.categories), != *,Trading,* ]]
tap_ok $? "user get shows unseen invitations, the policy source and the categories in scope"
ctl user get sip:nobody@example.com
rc_is 3 "user get of a user the store does not know is exit 3"

# --- pool ----------------------------------------------------------------------------------------
pool_psql "INSERT INTO pool_nodes (node_id, role, address, sessions, workers, last_seen)
           VALUES ('fe-a', 'frontend', '127.0.0.1:5060', 12, 2, now()),
                  ('fe-b', 'frontend', '127.0.0.1:5062', 0, 0, now() - interval '1 minute')" >/dev/null
ctl pool status
tap_is "$RC|$(jget nodes.0.node):$(jget nodes.0.state):$(jget nodes.0.sessions)|$(jget nodes.1.node):$(jget nodes.1.state)" \
    "0|fe-a:active:12|fe-b:down" "pool status shows each node; one not seen for 15 s is down"
ctl pool drain fe-a
tap_is "$RC|$(pool_psql "SELECT state FROM pool_nodes WHERE node_id = 'fe-a'")" "0|draining" "pool drain"
ctl pool activate fe-a
tap_is "$RC|$(pool_psql "SELECT state FROM pool_nodes WHERE node_id = 'fe-a'")" "0|active" "pool activate"
ctl pool drain fe-z
rc_is 3 "pool drain of an unknown node is exit 3"

# --- compliance ----------------------------------------------------------------------------------
ctl compliance status
tap_is "$RC|$(jget compliance.enabled)|$(jget compliance.outbox_events)|$(jget compliance.store_reachable)" \
    "0|true|$(outbox)|true" "compliance status reports the outbox backlog and reads the compliance store"

# --- compliance disabled: no outbox rows ---------------------------------------------------------
CFG=$CFG_OFF
base=$(outbox)
ctl category new Off --allow domain:example.com;            off_rcs=$RC
ctl room new "Off room" --category Off;                     off_rcs+=$RC
ctl room set "Off room" --add-member sip:alice@example.com; off_rcs+=$RC
ctl room disable "Off room";                                off_rcs+=$RC
ctl config set search_limit 100;                            off_rcs+=$RC
ctl policy set --domain example.com --enable;               off_rcs+=$RC
ctl group new offgroup;                                     off_rcs+=$RC
ctl pool drain fe-b;                                        off_rcs+=$RC
tap_is "$off_rcs|$(( $(outbox) - base ))" "00000000|0" "with compliance.enabled false, changes write no outbox row"
CFG=$CFG_ON

# --- removals ------------------------------------------------------------------------------------
ctl category remove Trading
[[ $RC == 4 && $ERR == *"still has"* ]]; tap_ok $? "removing a category that has rooms is refused (exit 4)"
ctl group remove analysts
[[ $RC == 4 && $ERR == *"named by categor"* ]]; tap_ok $? "removing a group a category names is refused (exit 4)"
ctl group remove offgroup
tap_is "$RC|$(last_event_type)" "0|ADMIN_GROUP_REMOVED" "group remove"
ctl group get analysts
tap_is "$(jget group.members)|$(jget group.categories)" "sip:ann@example.com,sip:carol@example.com|Research (allowed),Trading (denied)" \
    "group get shows members and the categories that name it"
ctl group remove-member analysts sip:ann@example.com
rc_is 0 "group remove-member"
ctl group remove-member analysts sip:ann@example.com
rc_is 3 "removing a user who is not a member is exit 3"

rid=$(room_id Equities)
join_fake Equities sip:lead@example.com 110
ctl room remove Equities
tap_is "$RC|$(jget evicted.0.users)|$(last_event_type)" "0|sip:lead@example.com|ADMIN_ROOM_REMOVED" \
    "room remove takes whoever is in it out and is recorded"
tap_is "$(pool_psql "SELECT (SELECT count(*) FROM rooms WHERE id = $rid) + (SELECT count(*) FROM participants WHERE room_id = $rid)
                            + (SELECT count(*) FROM room_roles WHERE room_id = $rid) + (SELECT count(*) FROM invitations WHERE room_id = $rid)")" \
    0 "the room and everything in it are gone"
ctl room get Equities
rc_is 3 "the removed room is not found"
ctl room remove "Town hall"
ctl room remove Quiet
ctl room remove "Off room"
ctl category remove trading
tap_is "$RC|$(last_event_type)" "0|ADMIN_CATEGORY_REMOVED" "an empty category is removed"

# --- every verb ran with --json and printed one JSON document -----------------------------------
missing=""
for noun in category room message policy addin group config user pool compliance; do
    for verb in $("$PCHATCTL" "$noun" --help | sed -n '/^verbs:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
        [[ -n ${JSON_SEEN["$noun $verb"]:-} ]] || missing+=" $noun/$verb"
    done
done
tap_is "$missing" "" "every noun/verb pair succeeded at least once with --json"
tap_is "$JSON_BAD" "" "every successful --json run printed exactly one JSON document"

# --- the real front end takes the notice --------------------------------------------------------
if [[ -x $BUILD/bin/pchat-frontend ]]; then
    pool_config --frontends 1 >/dev/null
    if pool_start_frontend 1; then
        ctl room new Live --category Research
        join_fake Live sip:lead@example.com 109
        OUT=$("$PCHATCTL" -c "$POOL_CONFIG" -v room disable Live 2>&1); RC=$?
        [[ $RC == 0 && $OUT == *"told front end fe1"* ]]
        tap_ok $? "a running pchat-frontend accepts the notice (pchatctl -v: told front end fe1)"
        sleep 0.5
        kill -0 "$(pool_pid fe1)" 2>/dev/null
        tap_ok $? "the front end is still running after the notice"
    else
        tap_ok 1 "pchat-frontend started"
        tap_skip 1 "no front end"
    fi
else
    tap_skip 2 "pchat-frontend is not built"
fi
