#!/usr/bin/env bash
# compliance-bench.sh — events/s of the compliance pipeline: outbox -> mgccomp (the drain), and
# mgccomp -> the xml adapter (delivery, with the purge after it), then both together with xml
# and jsonl. Uses the PostgreSQL at PCHAT_TEST_PGPORT, or starts a private one and removes it.
#
#   tests/bench/compliance-bench.sh [EVENTS]       (default 200000; BATCH=500 sets batch_size)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BUILD=${BUILD:-build}
BIN=$BUILD/bin/pchat-compliance
N=${1:-200000}
BATCH=${BATCH:-500}
[[ -x $BIN ]] || { echo "compliance-bench: build first: make $BIN $BUILD/lib/pchat/adapters/xml.so" >&2; exit 1; }
TMP=$(mktemp -d /tmp/pchat-cbench.XXXXXX)
chmod 755 "$TMP"
STARTED=""
cleanup() {
    [[ -z $STARTED ]] || deploy/pg.sh stop "$TMP/pg" "$PORT" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -n ${PCHAT_TEST_PGPORT:-} ]]; then
    PORT=$PCHAT_TEST_PGPORT
    DATA=${PCHAT_TEST_PGDATA:-$TMP/pg}
else
    PORT=$((20000 + RANDOM % 30000))
    DATA=$TMP/pg
    deploy/pg.sh init "$DATA" "$PORT" >/dev/null
    deploy/pg.sh start "$DATA" "$PORT" >/dev/null
    STARTED=1
fi
for db in cbench cbench_comp; do
    deploy/pg.sh dropdb "$DATA" "$PORT" "$db" >/dev/null 2>&1 || true
    deploy/pg.sh createdb "$DATA" "$PORT" "$db" >/dev/null
done
CHAT="host=127.0.0.1 port=$PORT dbname=cbench user=pchat"
COMP="host=127.0.0.1 port=$PORT dbname=cbench_comp user=pchat"
sql/migrate.sh "$CHAT" sql/pchat >/dev/null
sql/migrate.sh "$COMP" sql/mgccomp >/dev/null

# N outbox rows shaped like chat traffic: mostly posts of ~60 bytes, 200 rooms, 2000 users.
fill() {
    psql -X -q -v ON_ERROR_STOP=1 -d "$CHAT" -c "
        INSERT INTO compliance_outbox (event_type, user_uri, user_name, room_uri, room_name, message_id, content)
        SELECT (ARRAY['CHAT','CHAT','CHAT','CHAT','CHAT','CHAT','JOIN','PART','BACKCHAT','FILEDOWNLOAD'])[1 + g % 10],
               'sip:user' || (g % 2000) || '@example.com', 'User ' || (g % 2000),
               'ma-chan://example.com/' || md5((g % 200)::text)::uuid, 'Room ' || (g % 200),
               g, 'message number ' || g || ' with a typical amount of text in it, about sixty bytes'
          FROM generate_series(1, $1) g"
}
config() {   # config FILE ADAPTERS_YAML
    cat >"$1" <<YAML
pool:
  domain: "example.com"
database:
  pchat: "$CHAT"
  mgccomp: "$COMP"
compliance:
  enabled: true
  batch_size: $BATCH
  adapter_dir: "$BUILD/lib/pchat/adapters"
  adapters: $2
YAML
}
rate() { grep -o "$1.*" "$TMP/$2.log" | head -n 1; }

echo "compliance-bench: $N events, batch_size $BATCH, PostgreSQL 127.0.0.1:$PORT, $(nproc) CPUs"
fill "$N"
config "$TMP/drain.yaml" "[]"
"$BIN" -c "$TMP/drain.yaml" --once >"$TMP/drain.log" 2>&1
echo "  drain   outbox -> mgccomp:      $(rate 'drained' drain)"

config "$TMP/xml.yaml" "
    - name: \"xml\"
      type: \"xml\"
      output_dir: \"$TMP/xml\""
start=$(date +%s%N)
"$BIN" -c "$TMP/xml.yaml" --once >"$TMP/xml.log" 2>&1
ms=$((($(date +%s%N) - start) / 1000000))
echo "  deliver mgccomp -> xml adapter: $(rate 'adapter xml: delivered [0-9]* events in [0-9]* batches' xml | sed 's/adapter xml: //')"
echo "          with the purge, whole run: $N events in $ms ms ($((N * 1000 / (ms > 0 ? ms : 1))) events/s)"
echo "          xml written: $(du -sh "$TMP/xml" | cut -f1) in $(ls "$TMP/xml" | wc -l) files"

# "xml" is registered and would hold every new event back: retire it, as an operator would.
"$BIN" -c "$TMP/xml.yaml" --retire-adapter xml >/dev/null
fill "$N"
config "$TMP/both.yaml" "
    - name: \"xml2\"
      type: \"xml\"
      output_dir: \"$TMP/xml2\"
    - name: \"jsonl\"
      type: \"jsonl\"
      output_dir: \"$TMP/jsonl\""
start=$(date +%s%N)
"$BIN" -c "$TMP/both.yaml" --once >"$TMP/both.log" 2>&1
ms=$((($(date +%s%N) - start) / 1000000))
echo "  end to end, outbox -> xml + jsonl, purged: $N events in $ms ms ($((N * 1000 / (ms > 0 ? ms : 1))) events/s)"
left=$(psql -X -At -d "$COMP" -c 'SELECT count(*) FROM events')
[[ $left == 0 ]] || { echo "compliance-bench: $left events left in mgccomp; see the logs" >&2; exit 1; }
