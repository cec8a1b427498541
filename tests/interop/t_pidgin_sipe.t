#!/usr/bin/env bash
# t_pidgin_sipe.t — the real pidgin-sipe 1.25.0 client, driven headlessly by purple-driver, against
# a pool of 1 front end and 2 workers: sign-in, room list, join, members, posts, history, leave,
# and the room model as SIPE shows it (a secret room, an auditorium).
#
# Environment (besides tests/lib/pool.sh's):
#   PCHAT_INTEROP_SERVER    host:port of an already running server: no pool is started
#   PCHAT_INTEROP_DOMAIN    its SIP domain (default example.com; only with PCHAT_INTEROP_SERVER)
# Each client's events are kept in <client>.out and SIPE's debug with full SIP dumps in
# <client>.err, inside the pool's directory (kept when a test fails, or with POOL_KEEP=1).
set -u
trap '' PIPE # a client that died must fail a check, not kill the script while we write to it

# shellcheck source-path=SCRIPTDIR source=../lib/pool.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lib/pool.sh"
driver=$BUILD/tests/interop/purple-driver
shim=$BUILD/tests/interop/libxml2-sax1-shim.so

if [[ ! -e /usr/lib/purple-2/libsipe.so ]]; then
    echo "1..0 # SKIP pidgin-sipe is not installed (deploy/install-deps.sh installs it)"
    exit 0
fi
if [[ ! -x $driver || ! -e $shim ]]; then
    echo "Bail out! $driver or $shim is missing: run 'make interop' first"
    exit 1
fi

tap_plan 35
declare -A client_fd client_pid

# ---- helpers -----------------------------------------------------------------------------------

check() { # DESCRIPTION COMMAND [ARGS...]
    local description=$1
    shift
    "$@"
    tap_ok $? "$description"
}

# Waits until the wall clock has entered a new second (SIPE's rand() seed changes).
next_second() {
    local now
    now=$(date +%s)
    until (($(date +%s) > now)); do sleep 0.05; done
}

# ERE-escape a literal (URIs contain '.', '/', '?' ...).
re() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

client_start() { # NAME
    local name=$1 fd
    mkfifo "$work/$name.in"
    LD_PRELOAD=$shim PCHAT_PURPLE_DEBUG=1 PCHAT_DRIVER_TIMEOUT=110 \
        "$driver" "$name@$domain" "$server" <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &
    client_pid[$name]=$!
    exec {fd}>"$work/$name.in"
    client_fd[$name]=$fd
}

client_send() { # NAME LINE
    printf '%s\n' "$2" 1>&"${client_fd[$1]}" 2>/dev/null || tap_diag "cannot write to $1's driver (did it exit?)"
}

client_wait() { # NAME ERE [SECONDS] — true once a line of NAME's events matches
    local name=$1 pattern=$2 limit=$((SECONDS + ${3:-15}))
    ((limit > deadline)) && limit=$deadline
    until grep -qE -- "$pattern" "$work/$name.out"; do
        if ((SECONDS >= limit)) || ! kill -0 "${client_pid[$name]}" 2>/dev/null; then
            grep -qE -- "$pattern" "$work/$name.out"
            return
        fi
        sleep 0.1
    done
}

# The texts of NAME's MSG lines in Lobby from AUTHOR, with FLAG, ending in TOKEN, in order.
posts_seen() { # NAME AUTHOR FLAG TOKEN
    grep -E "^MSG $lobby_re sip:$(re "$2@$domain") ([a-z]+,)*$3(,[a-z]+)* .*-$4\$" "$work/$1.out" |
        sed 's/.* //' | paste -sd' ' -
}

client_wait_count() { # NAME ERE COUNT [SECONDS] — true once COUNT lines of NAME's events match
    local name=$1 pattern=$2 count=$3 limit=$((SECONDS + ${4:-15}))
    ((limit > deadline)) && limit=$deadline
    until (($(grep -cE -- "$pattern" "$work/$name.out") >= count)); do
        if ((SECONDS >= limit)) || ! kill -0 "${client_pid[$name]}" 2>/dev/null; then
            (($(grep -cE -- "$pattern" "$work/$name.out") >= count))
            return
        fi
        sleep 0.1
    done
}

# The URI of room NAME in the last room list CLIENT received ("" when not listed).
listed_uri() { # CLIENT NAME
    local uri
    uri=$(sed -n "s/^ROOM name=$2 uri=\([^ ]*\) .*/\1/p" "$work/$1.out" | tail -n 1)
    uri=${uri//%20/ }
    echo "${uri//%25/%}"
}

# Closing the command pipes is enough to end the drivers: EOF makes them sign out and exit.
clients_quit() {
    local name fd
    for name in "${!client_fd[@]}"; do
        client_send "$name" quit
        fd=${client_fd[$name]}
        exec {fd}>&-
    done
    client_fd=()
}

show_events() {
    local name
    [[ -n ${work:-} ]] || return 0
    for name in alice bob carol dave erin; do
        [[ -s $work/$name.out ]] && tap_diag "--- $name's events (last 25) ---
$(tail -n 25 "$work/$name.out")"
    done
}

bail_out() {
    show_events
    echo "Bail out! $1"
    exit 1
}

# ---- the pool ----------------------------------------------------------------------------------

if [[ -n ${PCHAT_INTEROP_SERVER:-} ]]; then
    server=$PCHAT_INTEROP_SERVER
    domain=${PCHAT_INTEROP_DOMAIN:-example.com}
    work=$(mktemp -d "${TMPDIR:-/tmp}/pchat-interop.XXXXXX")
    trap 'clients_quit; ((TAP_FAILED == 0)) && [[ -z ${POOL_KEEP:-} ]] && rm -rf -- "$work" || tap_diag "kept $work"' EXIT
else
    pool_init pidgin_sipe || bail_out "could not prepare the pool's databases"
    pool_config || bail_out "could not write the pool's config"
    pool_start --workers 2 || bail_out "the pool (1 front end, 2 workers) did not start"
    # What an administrator does before users can chat: the shipped policy keeps persistent
    # chat off (EnablePersistentChat false: SIPE then asks sip:ocschat@ and gives up), and a
    # category's rooms are visible to nobody until its allowed list names someone.
    admin() {
        "$BUILD/bin/pchatctl" -c "$POOL_CONFIG" "$@" >>"$POOL_DIR/pchatctl.log" 2>&1 ||
            bail_out "pchatctl $* failed: $(tail -n 5 "$POOL_DIR/pchatctl.log")"
    }
    admin policy set --domain "$POOL_DOMAIN" --enable
    admin category set Demo --add-allowed "domain:$POOL_DOMAIN"
    # For the room-model checks at the end: a secret room only bob belongs to, and a closed
    # auditorium where alice presents and bob only listens.
    admin room new Hideout --category Demo --privacy secret
    admin room set Hideout --add-member "sip:bob@$POOL_DOMAIN"
    admin room new Stage --category Demo --privacy closed --type auditorium
    admin room set Stage --add-member "sip:alice@$POOL_DOMAIN" --add-presenter "sip:alice@$POOL_DOMAIN" \
        --add-member "sip:bob@$POOL_DOMAIN"
    server=127.0.0.1:$POOL_SIP_PORT_1
    domain=$POOL_DOMAIN
    work=$POOL_DIR # kept by pool.sh when a test fails
fi
domain_re=$(re "$domain")
token=$$x$RANDOM # makes this run's posts recognisable in a room that keeps history
deadline=$((SECONDS + 100)) # every wait is cut to this, so a broken server ends the run early

# ---- sign-in and the chat service ----------------------------------------------------------------

client_start alice
check "alice signs in (REGISTER 200 with Expires)" client_wait alice '^READY$' 20
# SIPE seeds rand() with the time in seconds: clients started within the same second send
# identical Call-IDs and From tags. Start bob in a later second than alice so the main flow
# does not depend on that; the last section tests it on purpose.
next_second
client_start bob
check "bob signs in" client_wait bob '^READY$' 20
check "alice's SIPE reaches the chat service (provisioning, lookup INVITE, requri, channel INVITE)" \
    client_wait alice '^GROUPCHAT$' 20
check "bob's SIPE reaches the chat service" client_wait bob '^GROUPCHAT$' 20

# ---- room list ---------------------------------------------------------------------------------

client_send alice roomlist
client_wait alice '^ROOMLIST-END$'
! grep -q '^ERROR room list' "$work/alice.out" && grep -q '^ROOMLIST-END$' "$work/alice.out"
tap_ok $? "alice's room list request completes (rpl:chansrch)"
lobby_uri=$(sed -n 's/^ROOM name=Lobby uri=\([^ ]*\) .*/\1/p' "$work/alice.out" | head -n 1)
lobby_uri=${lobby_uri//%20/ }
lobby_uri=${lobby_uri//%25/%}
[[ $lobby_uri == "ma-chan://$domain/"?* ]]
tap_ok $? "the room list has the demo room Lobby with a ma-chan://$domain/ URI (got '$lobby_uri')"
[[ -n $lobby_uri ]] || bail_out "no room named Lobby in the room list: nothing to join"
lobby_re=$(re "$lobby_uri")

# ---- join and members --------------------------------------------------------------------------

client_send alice "join $lobby_uri"
check "alice joins Lobby (rpl:join opens the window)" client_wait alice "^JOINED $lobby_re Lobby\$"
check "alice's member list has alice" client_wait alice "^USERS $lobby_re (.*,)?sip:alice@$domain_re(,.*)?\$"
client_send bob "join $lobby_uri"
check "bob joins Lobby" client_wait bob "^JOINED $lobby_re Lobby\$"
check "bob's member list has alice and bob" \
    client_wait bob "^USERS $lobby_re (.*,)?sip:alice@$domain_re,(.*,)?sip:bob@$domain_re(,.*)?\$"
check "alice sees bob enter (ntc:join)" client_wait alice "^USER-JOIN $lobby_re sip:bob@$domain_re\$"
# SIPE asks for history (cmd:bccontext) right after a join; a post stored before that reply is
# built shows up twice (live, then as history), so let both joins settle first.
client_wait alice '^REPLY rpl:bccontext '
client_wait bob '^REPLY rpl:bccontext '

# ---- posts -------------------------------------------------------------------------------------

for i in 1 2 3; do
    client_send alice "say $lobby_uri alice-$i-$token"
done
client_wait bob "^MSG $lobby_re sip:alice@$domain_re .* alice-3-$token\$"
client_wait alice "^MSG $lobby_re sip:alice@$domain_re .* alice-3-$token\$"
sleep 0.5 # a duplicate would arrive right behind the original
tap_is "$(posts_seen bob alice recv "$token")" "alice-1-$token alice-2-$token alice-3-$token" \
    "bob receives alice's 3 posts in order, each exactly once"
tap_is "$(posts_seen alice alice send "$token")" "alice-1-$token alice-2-$token alice-3-$token" \
    "alice sees her own 3 posts echoed as sent by her, in order, each once"

client_send bob "say $lobby_uri bob-1-$token"
client_wait alice "^MSG $lobby_re sip:bob@$domain_re .* bob-1-$token\$"
client_wait bob "^MSG $lobby_re sip:bob@$domain_re .* bob-1-$token\$"
sleep 0.5
tap_is "$(posts_seen alice bob recv "$token")" "bob-1-$token" "alice receives bob's post exactly once"
tap_is "$(posts_seen bob bob send "$token")" "bob-1-$token" "bob sees his own post echoed once"

# ---- history for a late joiner -------------------------------------------------------------------

client_start carol
check "carol signs in and reaches the chat service" client_wait carol '^GROUPCHAT$' 20
client_send carol "join $lobby_uri"
check "carol joins Lobby" client_wait carol "^JOINED $lobby_re Lobby\$"
client_wait carol '^REPLY rpl:bccontext '
carol_history="$(grep -E "^MSG $lobby_re [^ ]+ [^ ]+ (alice|bob)-[0-9]-$token\$" "$work/carol.out" |
    sed 's/.* //' | paste -sd' ' -)"
tap_is "$carol_history" "alice-1-$token alice-2-$token alice-3-$token bob-1-$token" \
    "carol gets the earlier posts as history (rpl:bccontext), oldest first, each once"
check "carol's member list has alice, bob and carol" \
    client_wait carol "^USERS $lobby_re (.*,)?sip:alice@$domain_re,(.*,)?sip:bob@$domain_re,(.*,)?sip:carol@$domain_re(,.*)?\$"
check "alice sees carol enter" client_wait alice "^USER-JOIN $lobby_re sip:carol@$domain_re\$"

# ---- leave -------------------------------------------------------------------------------------

client_send bob "leave $lobby_uri"
check "alice sees bob leave (ntc:part)" client_wait alice "^USER-LEAVE $lobby_re sip:bob@$domain_re\$"
check "carol sees bob leave" client_wait carol "^USER-LEAVE $lobby_re sip:bob@$domain_re\$"

unexpected=$(grep -h '^\(ERROR\|DISCONNECTED\|TIMEOUT\)' "$work"/{alice,bob,carol}.out)
[[ -n $unexpected ]] && tap_diag "$unexpected"
tap_is "$unexpected" "" "no client reported an error, a disconnection or a time-out"

# ---- two clients signing in within the same second ----------------------------------------------

# They send identical Call-IDs, From tags and CSeqs on two connections (a pool sees this every
# busy sign-in minute); only the connection and the epid tell them apart. A driver seeds about
# 1.0-1.3 s after it starts, so start both 0.3-0.5 s into a second to keep both seeds in one.
until ms=$(($(date +%N | sed 's/^0*//;s/^$/0/') / 1000000)) && ((ms >= 300 && ms < 500)); do
    sleep 0.02
done
client_start dave
client_start erin
client_wait dave '^READY$' 20
client_wait erin '^READY$' 20
first_call_id() { sed -n 's/^Call-ID: //p' "$work/$1.err" | head -n 1; }
if [[ -z $(first_call_id dave) || $(first_call_id dave) != "$(first_call_id erin)" ]]; then
    tap_skip 2 "dave's and erin's SIPE did not pick identical Call-IDs this run (seeded in different seconds)"
else
    tap_diag "dave and erin sent identical Call-IDs ($(first_call_id dave))"
    client_wait dave '^GROUPCHAT$' 20
    client_wait erin '^GROUPCHAT$' 20
    grep -q '^GROUPCHAT$' "$work/dave.out" && grep -q '^GROUPCHAT$' "$work/erin.out"
    tap_ok $? "dave and erin, whose SIPE sent identical Call-IDs and tags, both reach the chat service"
    client_send dave "join $lobby_uri"
    client_send erin "join $lobby_uri"
    client_wait dave "^JOINED $lobby_re Lobby\$" 10
    client_wait erin "^JOINED $lobby_re Lobby\$" 10
    grep -qE "^JOINED $lobby_re Lobby\$" "$work/dave.out" && grep -qE "^JOINED $lobby_re Lobby\$" "$work/erin.out"
    tap_ok $? "dave and erin both join Lobby"
fi

# ---- a room that does not exist ------------------------------------------------------------------

client_send alice "join ma-chan://$domain/00000000-0000-4000-8000-$(printf '%012d' "$RANDOM")"
check "joining a room that does not exist shows 'Error joining chat room' (rpl:join code != 200)" \
    client_wait alice '^ERROR Error joining chat room' 10

# ---- the room model as SIPE shows it -------------------------------------------------------------

if [[ -n ${PCHAT_INTEROP_SERVER:-} ]]; then
    tap_skip 8 "the room-model checks need the rooms this script makes with pchatctl"
else
    # A secret room: its member finds and joins it; anyone else neither sees it nor gets in,
    # and the refusal does not say that it exists.
    client_send bob roomlist
    client_wait bob '^ROOMLIST-END$'
    hideout_uri=$(listed_uri bob Hideout)
    [[ $hideout_uri == "ma-chan://$domain/"?* ]]
    tap_ok $? "bob, a member of the secret room Hideout, sees it in his room list (got '$hideout_uri')"
    client_send carol roomlist
    client_wait carol '^ROOMLIST-END$'
    grep -q '^ROOM name=Lobby ' "$work/carol.out" && ! grep -q '^ROOM name=Hideout ' "$work/carol.out"
    tap_ok $? "carol, not a member, does not see the secret room Hideout in her room list (Lobby is there)"
    client_send carol "join ${hideout_uri:-ma-chan://$domain/none}"
    check "carol joining Hideout by its URI gets 'Error joining chat room: No such room'" \
        client_wait carol '^ERROR Error joining chat room.*No such room' 10
    client_send bob "join $hideout_uri"
    check "bob joins Hideout" client_wait bob "^JOINED $(re "$hideout_uri") Hideout\$"

    # An auditorium: only presenters post; a member's post is refused and SIPE says so.
    stage_uri=$(listed_uri bob Stage)
    stage_re=$(re "$stage_uri")
    bccontexts_alice=$(grep -c '^REPLY rpl:bccontext ' "$work/alice.out")
    bccontexts_bob=$(grep -c '^REPLY rpl:bccontext ' "$work/bob.out")
    client_send alice "join $stage_uri"
    client_send bob "join $stage_uri"
    client_wait alice "^JOINED $stage_re Stage\$" && client_wait bob "^JOINED $stage_re Stage\$"
    tap_ok $? "alice (presenter) and bob (member) join the auditorium Stage ($stage_uri)"
    client_wait_count alice '^REPLY rpl:bccontext ' $((bccontexts_alice + 1))
    client_wait_count bob '^REPLY rpl:bccontext ' $((bccontexts_bob + 1))
    client_send bob "say $stage_uri bob-stage-$token"
    check "bob, a member but no presenter, posting in the auditorium gets 'This message was not delivered'" \
        client_wait bob "^ERROR This message was not delivered to chat room 'Stage': bob-stage-$token\$"
    client_send alice "say $stage_uri alice-stage-$token"
    check "alice's post as the presenter reaches bob" \
        client_wait bob "^MSG $stage_re sip:alice@$domain_re .* alice-stage-$token\$"
    client_wait alice "^MSG $stage_re sip:alice@$domain_re .* alice-stage-$token\$"
    sleep 0.5 # bob's post was refused before alice's was stored; it would have arrived first
    ! grep -q "bob-stage-$token" "$work/alice.out" && ! grep -qE "^MSG .* bob-stage-$token\$" "$work/bob.out"
    tap_ok $? "bob's refused post reached nobody, not even as an echo to bob"
fi

# ---- sign-out ----------------------------------------------------------------------------------

clients_quit
clean_exits=0
for name in alice bob carol dave erin; do
    status=0
    for _ in $(seq 50); do
        kill -0 "${client_pid[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "${client_pid[$name]}" 2>/dev/null; then
        tap_diag "$name's driver still runs 5 s after quit"
        kill -TERM "${client_pid[$name]}"
        continue
    fi
    wait "${client_pid[$name]}" || status=$?
    if ((status == 0)); then clean_exits=$((clean_exits + 1)); else tap_diag "$name's driver exited with $status"; fi
done
tap_is "$clean_exits" 5 "all five clients sign out and exit cleanly"

((TAP_FAILED)) && show_events
((TAP_FAILED == 0))
