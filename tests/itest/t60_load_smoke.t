#!/usr/bin/env bash
# t60_load_smoke.t — pchat-load against a real pool (one front end, two workers): 50 users in
# rooms of 10 post at a modest rate for a few seconds; everything accepted must reach every
# other member exactly once and in order, and come back to its author.
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
LOAD=${BUILD:-build}/bin/pchat-load
[[ -x $LOAD ]] || { echo "1..0 # SKIP $LOAD is not built (make $LOAD)"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed to read the --json report"; exit 0; }

# shellcheck source=tests/lib/pool.sh
source tests/lib/pool.sh
pool_init t60_load_smoke || { echo "Bail out! could not create the test databases"; exit 1; }
pool_config --frontends 1 || { echo "Bail out! could not write the pool config"; exit 1; }
pool_start --workers 2 || { echo "Bail out! the pool did not start"; exit 1; }

tap_plan 15

# pchat-load --setup-rooms enables Persistent Chat for the domain and makes the rooms itself.
json=$POOL_DIR/load.json
out=$POOL_DIR/load.out
# The front end's open descriptors, idle and at their highest while the users are signed in:
# a client costs one (its connection); the relay to the SIP stack is a few shared legs.
fe_pid=$(pool_pid fe1)
fds() { find /proc/"$fe_pid"/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
fds_idle=$(fds)
( max=0; while kill -0 "$fe_pid" 2>/dev/null; do n=$(fds); ((n > max)) && { max=$n; echo "$max" >"$POOL_DIR/fds.max"; }; sleep 0.2; done ) &
sampler=$!
"$LOAD" --frontend "127.0.0.1:$POOL_SIP_PORT_1" --domain "$POOL_DOMAIN" --setup-rooms "$POOL_DB_CONNINFO" \
        --users 50 --rooms 10x5 --duration 4 --post-rate 25 --history-rate 2 --search-rate 1 \
        --drain 5 --timeout 5000 --seed 60 --progress off \
        --pids "$(pool_pid fe1),$(pool_pid w1),$(pool_pid w2)" --json "$json" >"$out" 2>&1
status=$?
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
tap_is "$status" 0 "pchat-load completes the run (exit 0)"
((status == 0)) || tap_diag "$(tail -n 40 "$out")"

# One line of "name value" per figure the assertions need.
figures=$(python3 - "$json" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
p, post, ra = d["posts"], d["requests"]["post"], d["retry_after"]
print("ready", d["setup"]["ready"])
print("accepted", post["accepted"])
print("failed", post["failed"] + post["timeouts"] + post["gave_up"])
print("deliveries", p["deliveries"])
print("expected", p["expected"])
print("owed", post["accepted"] * 9)
print("lost", p["lost"] + p["echo_lost"])
print("duplicates", p["duplicates"])
print("reordered", p["reordered"])
print("echoes", p["echoes"])
print("not_owed", p["not_owed"] + p["after_part"] + p["to_non_members"] + p["after_503"] + p["mismatched"])
print("r503", ra["responses_503"])
print("with_ra", ra["with_retry_after"])
print("per_second_accepted", sum(s["accepted"] for s in d["per_second"]))
print("run_accepted", sum(d["requests"][k]["accepted"] for k in ("post", "join", "history", "search", "part")))
print("history_replies", d["requests"]["history"]["replies_ok"])
print("fe_rss", d["memory"]["pool"][0]["end"]["rss_kb"] or 0)
EOF
)
declare -A F=()
while read -r name value; do
    [[ -n $name ]] && F[$name]=$value
done <<<"$figures"
[[ -n ${F[accepted]:-} ]] || tap_diag "the --json report could not be read: $figures"

tap_is "${F[ready]:-}" 50 "all 50 users signed in and joined their room"
[[ ${F[accepted]:-0} -gt 0 ]]; tap_ok $? "posts were accepted (${F[accepted]:-0})"
tap_is "${F[lost]:-}" 0 "no post answered 200 was lost (to other members or as the echo)"
tap_is "${F[duplicates]:-}" 0 "no post arrived twice at the same member"
tap_is "${F[reordered]:-}" 0 "every member saw each author's posts in the order they were sent"
# With no joins or parts during the run, every accepted post is owed to the 9 other members.
tap_is "${F[deliveries]:-}" "${F[owed]:-x}" "deliveries = accepted posts × (members − 1)"
tap_is "${F[echoes]:-}" "${F[accepted]:-x}" "every accepted post came back to its author once (the echo)"
tap_is "${F[not_owed]:-}" 0 "nothing arrived that was not owed (non-members, after a 503, wrong room)"
# A 503 is allowed under load, but never without Retry-After (DESIGN.md §3).
tap_is "${F[with_ra]:-}" "${F[r503]:-x}" "every 503 carried Retry-After (${F[r503]:-?} 503s)"
tap_is "${F[per_second_accepted]:-}" "${F[run_accepted]:-x}" "the per-second series adds up to the requests accepted during the run"
[[ ${F[history_replies]:-0} -gt 0 && ${F[fe_rss]:-0} -gt 0 ]]
tap_ok $? "history reads got their replies and the front end's memory was read"
fds_max=$(cat "$POOL_DIR/fds.max" 2>/dev/null || echo 0)
# 50 clients, the 8 shared relay legs on both ends (16), a little slack for the workers' and
# metrics connections; three descriptors per client (a relay leg each) would be 150 more
((fds_max >= fds_idle + 50 && fds_max <= fds_idle + 50 + 16 + 10))
tap_ok $? "the front end holds one descriptor per client (idle $fds_idle, highest $fds_max with 50 users)"

# Clients that leave while their rooms are being fanned out to: users re-join (part + join)
# all the time and every loader exits a second after its schedule, with posts still in
# flight. A send to a client that is gone ends its session in the middle of a room's fan-out;
# the room must neither skip the member moved into its slot nor be used after it is freed
# (it was: a use-after-free in rooms.c's deliver, found by make bench, shown by ASan).
churn_ok=0
for i in 1 2 3; do
    "$LOAD" --frontend "127.0.0.1:$POOL_SIP_PORT_1" --domain "$POOL_DOMAIN" --setup-rooms "$POOL_DB_CONNINFO" \
            --users 150 --rooms 10x30 --duration 3 --post-rate 600 --join-rate 30 --drain 1 \
            --timeout 5000 --first-user $((1000 * i)) --room-prefix churn --seed $((60 + i)) \
            --progress off >"$POOL_DIR/churn-$i.out" 2>&1 && churn_ok=$((churn_ok + 1))
done
kill -0 "$fe_pid" 2>/dev/null
tap_ok $? "the front end survives clients leaving in the middle of fan-out (3 runs)"
tap_is "$churn_ok" 3 "every churn run completed against it"
