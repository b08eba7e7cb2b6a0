#!/bin/bash
# bench/report.sh - the benchmark suite in one command, and its report.
# Not a test: it measures and writes figures; it asserts nothing.
#
#   bash bench/report.sh [--quick] [--build DIR] [--out DIR] [--only LIST]
#
# --only refs,verified,signed,mix,queue,certs runs those sections again
# and keeps the other sections' JSON from the last run (the report is
# written from all of it).
#
# Builds the release mode, then, all on 127.0.0.1 with ports chosen free:
#
#   1. references of this machine, now: raw OpenSSL ECDSA P-256 verify and
#      sign per core and stirgate's PASSporT verify/sign (bench_stir), the
#      durable LMDB commit rate and STORE->STORED (bench_store);
#   2. offered-load sweeps end to end (SIP UDP in, verified with cached
#      certificates or signed for a customer, durable store, SIP out to
#      bench/sg_load's UAS): throughput, time to 202 and send -> delivery
#      percentiles, CPU per message by stage;
#   3. the realistic mix (300 certificates, 20% customer messages, 4%
#      invalid, bodies 160..4096 B) over SIP UDP, SIP TCP and the HTTP API
#      (delivered to the SIP UAS, or to sg_load's webhook sink for the API);
#   4. downstream down: messages queued to a route whose peer refuses
#      connections; resident memory per process and the store's bytes per
#      queued 160-byte message, and the cost per delivered message with
#      0 / Q1 / Q2 messages queued;
#   5. cost per message against the number of distinct cached chains.
#
# Writes OUT/REPORT.md (default docs/perf), the PNG plots (gnuplot) and the
# JSON of every run under OUT/json/.  The load average and the raw verify
# rate of the same run are printed in the report so that figures from a
# shared machine can be read as ratios.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=build/release
OUT=docs/perf
QUICK=0
ONLY=
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--quick] [--build DIR] [--out DIR] [--only LIST]" >&2
       exit 2 ;;
    esac
done

cd "$ROOT"
echo "report: building $BUILD (release)"
scons -Q -j2 mode=release builddir="$BUILD" >/dev/null
B="$ROOT/$BUILD"
mkdir -p "$OUT/json"
OUT=$(cd "$OUT" && pwd)
J="$OUT/json"
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
[ -n "$ONLY" ] || rm -f "$J"/*.json
T=$(mktemp -d /tmp/sg-report.XXXXXX)
MASTER=
T_START=$(date +%s)

if [ "$QUICK" = 1 ]; then
    SECS=2; RATES="2000 8000"; SIGNED_RATES="5000"; Q1=2000; Q2=10000
    CERTS="10 1000"; MAXN=20000
else
    SECS=5; RATES="1000 2000 5000 8000 12000"; SIGNED_RATES="2000 5000 12000"
    Q1=100000; Q2=1000000; CERTS="10 1000 10000 100000"; MAXN=40000
fi

cleanup() {
    stop_gateway
    rm -rf "$T"
}
trap cleanup EXIT

# free_port, make_pki
. "$ROOT/bench/common.sh"

make_pki "$T/pki"

SIP=$(free_port)
HTTP=$(free_port)
HTTPS=$(free_port)
UAS=$(free_port)
HOOK=$(free_port)
DEAD=$(free_port)
X5U="https://127.0.0.1:$HTTPS/certs/chain.pem"
X5U_BASE="https://127.0.0.1:$HTTPS/peer/"

# Routes by destination: 1202555999x nowhere (a port nobody listens on:
# the connection is refused at once, and the retry is an hour away, so
# those messages stay queued), 1202555888x to the webhook sink, the rest
# to the SIP UAS.
# Key tables (verify/verify_ktab.h): built here after 16 verifies of a key
# in a process instead of 256, and warm_tables sends enough traffic before
# the measured runs that every key in use has its table, as in a gateway
# that has been running.  KTAB='"key_tables": 0' measures without them.
KTAB='"key_table_after": 16'
start_gateway() { # DATA
    cat >"$T/gw.json" <<JSON
{
  "node": {"data_dir": "$1", "run_dir": "$1/run", "log_level": "info",
           "default_cc": "1"},
  "sip": {"udp": ["127.0.0.1:$SIP"], "tcp": ["127.0.0.1:$SIP"]},
  "http": {"listen": "127.0.0.1:$HTTP", "tls_listen": "127.0.0.1:$HTTPS",
           "tls_cert": "$T/pki/tls.pem", "tls_key": "$T/pki/tls.key"},
  "sign": {"key": "$T/pki/signer.key", "x5u": "$X5U",
           "chain": "$T/pki/chain.pem", "publish": true},
  "verify": {"trust": "$T/pki/ca.pem", $KTAB},
  "x5u": {"allow_loopback": true, "tls_ca": "$T/pki/ca.pem"},
  "ingest": {"processes": 2},
  "store": {"backoff_min": "1h", "backoff_max": "1h"},
  "delivery": {"workers": 2, "sip_t1_ms": 500},
  "routes": [{"name": "down", "match_prefix": "1202555999",
              "sip": "tcp:127.0.0.1:$DEAD"},
             {"name": "hook", "match_prefix": "1202555888",
              "webhook": "http://127.0.0.1:$HOOK/messages",
              "concurrency": 256},
             {"name": "uas", "sip": "udp:127.0.0.1:$UAS",
              "concurrency": 512}],
  "peers": [{"name": "bench-interconnect", "kind": "interconnect",
             "sip": ["127.0.0.2/32"]},
            {"name": "bench-customer", "kind": "customer",
             "sip": ["127.0.0.3/32"]}]
}
JSON
    mkdir -p "$1"
    "$B/cli/stirgate" run -c "$T/gw.json" >"$1.log" 2>&1 &
    MASTER=$!
    GW_DATA=$1
    for _ in $(seq 1 200); do
        n=$( (ls "$1/run"/stage-deliver-*.pid 2>/dev/null || true) | wc -l)
        if [ "$n" -ge 2 ] &&
            python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $HTTP), 0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "report: the gateway did not start; its log:" >&2
    tail -20 "$1.log" >&2
    exit 1
}

stop_gateway() {
    if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
        kill -TERM "$MASTER"
        wait "$MASTER" || true
    fi
    MASTER=
}

# load NAME ARGS...: one sg_load run against the running gateway.  With
# SG_PERF=DIR in the environment, the "max" runs are profiled: perf
# record -g on every stage for SG_PERF_SECS (default 6) seconds, into
# DIR/NAME-STAGE.data (perf report -i FILE --no-children); with
# SG_PERF_ALL=1 as well, one system-wide record (perf record -a: every
# process, sg_load and the kernel included) into DIR/NAME-all.data.
load() {
    local name=$1
    shift
    mkdir -p "$GW_DATA/x5u"
    if [ -n "${SG_PERF:-}" ] && [ "${name%-0}" != "$name" ]; then
        mkdir -p "$SG_PERF"
        (sleep 4
         if [ -n "${SG_PERF_ALL:-}" ]; then
             perf record -q -a -g -o "$SG_PERF/$name-all.data" \
                 -- sleep "${SG_PERF_SECS:-6}" >/dev/null 2>&1
             exit 0
         fi
         for f in "$GW_DATA"/run/stage-*.pid; do
             st=$(basename "$f" .pid)
             perf record -q -g -p "$(cat "$f")" \
                 -o "$SG_PERF/$name-${st#stage-}.data" \
                 -- sleep "${SG_PERF_SECS:-6}" >/dev/null 2>&1 &
         done
         wait) &
    fi
    "$B/bench/sg_load" --to "127.0.0.1:$SIP" --src 127.0.0.2 \
        --label "$name" --run-dir "$GW_DATA/run" --json "$J/$name.json" \
        "$@" 2>&1 | grep -v '^sg_load: prepared' |
        sed -n '1,3p;/^offered/,$p' | sed 's/^/  /' || true
    # Answers nobody expected (a valid message refused, an invalid one
    # accepted): keep the gateway's log so far beside the run's JSON, since
    # the temporary directory goes at the end.
    if python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])).get('unexpected', 0) == 0)" \
        "$J/$name.json" 2>/dev/null; then
        cp "$GW_DATA.log" "$J/$name.gateway.log" 2>/dev/null || true
        echo "  unexpected answers: the gateway's log is in $J/$name.gateway.log"
    fi
}

# The leaves of N certificates are made once per report (sg_load --pki)
# and seeded into a gateway's x5u cache directory before it starts, so
# every ingest process loads them ahead (x5u.warm), as after a restart
# of a gateway that has been running: the runs measure cached chains.
certs_args() { # N
    echo --certs "$1" --ca "$T/pki" --x5u-base "$X5U_BASE" \
        --seed-x5u "$GW_DATA/x5u" --pki "$T/leaves-$1.pem"
}

# warm_tables N: 64 messages per certificate (so each ingest process sees
# each key more than 16 times), then wait until every ingest process has
# built the tables it asked for (its stirgate_verify_key_tables_built_total
# reaches N, at most 2 min).
warm_tables() { # N
    "$B/bench/sg_load" --to "127.0.0.1:$SIP" --src 127.0.0.2 \
        --count $(($1 * 64)) --window 400 --sink "127.0.0.1:$UAS" \
        $(certs_args "$1") >/dev/null 2>&1 || true
    if wait_ingest_metric stirgate_verify_key_tables_built_total "$1" 120
    then
        echo "  key tables built: $1 in every ingest process"
    else
        echo "report: key tables not all built within 2 minutes" >&2
    fi
}

prepare_pki() { # N DATA
    mkdir -p "$2/x5u"
    "$B/bench/sg_load" --to 127.0.0.1:9 --src 127.0.0.2 --count 2 \
        --certs "$1" --ca "$T/pki" --x5u-base "$X5U_BASE" \
        --seed-x5u "$2/x5u" --pki "$T/leaves-$1.pem" --prepare-only \
        >/dev/null
}

# wait_ingest_metric NAME N SECS: wait until the counter NAME of every
# ingest process (RUN_DIR/metrics/ingest-*.prom) is at least N; 1 when
# SECS pass first.
wait_ingest_metric() { # NAME N SECS
    local deadline=$(($(date +%s) + $3))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if python3 - "$GW_DATA/run/metrics" "$1" "$2" <<'PY'
import glob, sys
files = glob.glob(sys.argv[1] + '/ingest-*.prom')
def value(f):
    for line in open(f):
        if line.startswith(sys.argv[2] + ' '):
            return float(line.split()[-1])
    return 0
sys.exit(0 if files and all(value(f) >= int(sys.argv[3]) for f in files)
         else 1)
PY
        then
            return 0
        fi
        sleep 1
    done
    return 1
}

# Wait until every ingest process has loaded N chains ahead (its
# stirgate_x5u_cache_warmed_total), at most 10 min.
wait_warm() { # N
    wait_ingest_metric stirgate_x5u_cache_warmed_total "$1" 600 ||
        echo "report: chains not loaded ahead within 10 minutes" >&2
}

echo "report: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
cut -d' ' -f1-3 /proc/loadavg >"$T/load0"

# ---- 1. references -------------------------------------------------------
if want refs; then
echo "report: references (bench_stir, bench_store)"
"$B/bench/bench_stir" --json --seconds 1 --rounds 2 >"$J/ref-stir.json"
"$B/bench/bench_store" --json --n 2000 >"$J/ref-store.json" 2>/dev/null ||
    echo '{}' >"$J/ref-store.json"

fi
# ---- 2. sweeps -----------------------------------------------------------
if want verified; then
echo "report: verified sweep (SIP UDP in and out, 300 certificates)"
prepare_pki 300 "$T/sweep"
start_gateway "$T/sweep"
wait_warm 300
warm_tables 300
for r in $RATES 0; do
    n=$((r * SECS)); [ "$r" = 0 ] && n=$MAXN
    load "verified-$r" --rate "$r" --count "$n" --window 400 \
        --sink "127.0.0.1:$UAS" $(certs_args 300)
done
# The ceiling: 2,000 outstanding, past the point where the time to 202
# stays low (deliver's SIP retransmissions at T1 = 500 ms show up as
# duplicates at the UAS; the report prints their count).
load "verified-deep-0" --rate 0 --count "$MAXN" --window 2000 \
    --sink "127.0.0.1:$UAS" $(certs_args 300)
stop_gateway
# The same "max" run without key tables, for comparison.
KTAB='"key_tables": 0'
start_gateway "$T/sweep"
wait_warm 300
load "verified-notab-0" --rate 0 --count "$MAXN" --window 400 \
    --sink "127.0.0.1:$UAS" $(certs_args 300)
stop_gateway
KTAB='"key_table_after": 16'
fi
if want signed; then
echo "report: signed sweep (customer over SIP UDP, SIP out)"
start_gateway "$T/signed"
for r in $SIGNED_RATES 0; do
    n=$((r * SECS)); [ "$r" = 0 ] && n=$MAXN
    load "signed-$r" --rate "$r" --count "$n" --window 400 \
        --customer-src 127.0.0.3 --customer-pct 100 \
        --key "$T/pki/signer.key" --x5u "$X5U" --sink "127.0.0.1:$UAS"
done
load "signed-deep-0" --rate 0 --count "$MAXN" --window 2000 \
    --customer-src 127.0.0.3 --customer-pct 100 \
    --key "$T/pki/signer.key" --x5u "$X5U" --sink "127.0.0.1:$UAS"
stop_gateway

fi
# ---- 3. the realistic mix over each transport ----------------------------
if want mix; then
echo "report: the mix over SIP UDP, SIP TCP and the HTTP API"
prepare_pki 300 "$T/mix"
start_gateway "$T/mix"
wait_warm 300
warm_tables 300
MIX="--customer-src 127.0.0.3 --customer-pct 20 --invalid-pct 4 --bodymin 160 --bodymax 4096"
load mix-udp --rate 3000 --count $((3000 * SECS)) --window 400 $MIX \
    --sink "127.0.0.1:$UAS" $(certs_args 300)
load mix-tcp --transport tcp --ports 8 --rate 3000 --count $((3000 * SECS)) \
    --window 400 $MIX --sink "127.0.0.1:$UAS" $(certs_args 300)
load mix-http --to "127.0.0.1:$HTTP" --transport http --ports 64 \
    --rate 2000 --count $((2000 * SECS)) $MIX --dest 12025558881 \
    --http-sink "127.0.0.1:$HOOK" $(certs_args 300)
stop_gateway

fi
# ---- 4. downstream down: memory, disk, cost against queued ----------------
if want queue; then
echo "report: downstream down ($Q2 messages queued)"
prepare_pki 10 "$T/queue"
start_gateway "$T/queue"
wait_warm 10
warm_tables 10
du_store() { du -b "$GW_DATA/store/data.mdb" | cut -f1; }
load queued-0 --count 20000 --window 400 --sink "127.0.0.1:$UAS" \
    $(certs_args 10)
d0=$(du_store)
# fill NAME COUNT: messages to the dead route, in runs of at most 200,000
# (sg_load signs a run's PASSporTs before it starts sending, and a run must
# end within verify.max_age or its last messages would be stale).
fill() {
    local left=$2 k=0 n
    while [ "$left" -gt 0 ]; do
        n=$((left > 200000 ? 200000 : left))
        load "$1-$k" --count "$n" --window 400 --dest 12025559991 \
            $(certs_args 10)
        left=$((left - n))
        k=$((k + 1))
    done
}
fill fill-1 "$Q1"
load queued-$Q1 --count 20000 --window 400 --sink "127.0.0.1:$UAS" \
    $(certs_args 10)
d1=$(du_store)
fill fill-2 $((Q2 - Q1))
d2=$(du_store)
load queued-$Q2 --count 20000 --window 400 --sink "127.0.0.1:$UAS" \
    $(certs_args 10)
"$B/cli/stirgate" queue list --run-dir "$GW_DATA/run" 2>/dev/null |
    wc -l >"$T/qlen" || echo 0 >"$T/qlen"
echo "{\"q1\": $Q1, \"q2\": $Q2, \"du_0\": $d0, \"du_q1\": $d1, \"du_before_fill2\": $d1, \"du_q2\": $d2}" >"$J/queue-disk.json"
stop_gateway

fi
# ---- 5. distinct cached chains -------------------------------------------
if want certs; then
echo "report: cost against distinct cached chains ($CERTS)"
# Without key tables: this curve is the cost of finding a chain among N.
KTAB='"key_tables": 0'
for c in $CERTS; do
    echo "report:   $c certificates: making and seeding them"
    prepare_pki "$c" "$T/certs-$c"
    start_gateway "$T/certs-$c"
    wait_warm "$c"
    load "certs-$c" --count 20000 --window 400 --sink "127.0.0.1:$UAS" \
        $(certs_args "$c")
    stop_gateway
done

fi
cut -d' ' -f1-3 /proc/loadavg >"$T/load1"
echo "report: writing $OUT/REPORT.md and plots"
python3 "$ROOT/bench/report_md.py" "$OUT" "$(cat "$T/load0")" \
    "$(cat "$T/load1")" "$(nproc)" "$(uname -r)" \
    "$(($(date +%s) - T_START))" "$RATES" "$SIGNED_RATES" "$Q1" "$Q2" \
    "$CERTS"
echo "report: done in $(($(date +%s) - T_START)) s: $OUT/REPORT.md"
