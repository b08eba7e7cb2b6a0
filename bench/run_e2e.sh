#!/bin/bash
# bench/run_e2e.sh - the gateway's speed on this machine, in one command.
# Not a test: it prints figures and writes them as JSON; it asserts
# nothing about speed.
#
#   bash bench/run_e2e.sh [--ingest N] [--workers N] [--count N]
#                         [--rate R] [--secs S] [--build DIR]
#
# Builds the release mode, makes a demo PKI and a TLS certificate for the
# x5u in a temporary directory, writes a config (everything on 127.0.0.1,
# ports chosen free, ingest.processes = --ingest, delivery.workers =
# --workers, one SIP route to bench/sg_load's UAS) and starts the gateway
# with `stirgate run -c`.  Then, with bench/sg_load (SIP MESSAGEs over
# UDP from 127.0.0.2, an interconnect: every PASSporT is verified):
#
#   1. ingest, as fast as it goes: the deliver workers are stopped
#      (SIGSTOP) so the figure is ingest + store; accepted msg/s;
#   2. ingest at a fixed --rate for --secs: time to 202 (p50..p99.9);
#   3. end to end, as fast as it goes, on a fresh gateway: SIP in,
#      verified, stored, delivered over SIP to sg_load's UAS: delivered
#      msg/s, loss and duplicates;
#   4. end to end at the fixed --rate: send -> delivery latency;
#   5. the cost of /metrics: end to end as fast as it goes, alternately
#      without and with a scraper fetching the master's /metrics every
#      second (off, on, on, off on the same gateway), and the ratio.
#
# Each prints the CPU every gateway process used per message and the raw
# OpenSSL verify rate of one core measured in the same run (a busy
# machine shows in both).  JSON: build/bench/e2e-*.json.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
INGEST=2
WORKERS=2
COUNT=60000
RATE=5000
SECS=10
BUILD=build/release
while [ $# -gt 0 ]; do
    case "$1" in
    --ingest) INGEST=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    *) echo "usage: $0 [--ingest N] [--workers N] [--count N] [--rate R]" \
            "[--secs S] [--build DIR]" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
scons -Q -j2 mode=release builddir="$BUILD" >/dev/null
B="$ROOT/$BUILD"
OUT="$ROOT/build/bench"
mkdir -p "$OUT"
T=$(mktemp -d /tmp/sg-e2e.XXXXXX)
MASTER=
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
METRICS=$(free_port)
X5U="https://127.0.0.1:$HTTPS/certs/chain.pem"

write_config() { # DATA
    cat >"$T/gw.json" <<EOF
{
  "node": {"data_dir": "$1", "run_dir": "$1/run", "log_level": "info",
           "default_cc": "1"},
  "sip": {"udp": ["127.0.0.1:$SIP"]},
  "metrics": {"listen": "127.0.0.1:$METRICS"},
  "http": {"listen": "127.0.0.1:$HTTP", "tls_listen": "127.0.0.1:$HTTPS",
           "tls_cert": "$T/pki/tls.pem", "tls_key": "$T/pki/tls.key"},
  "sign": {"key": "$T/pki/signer.key", "x5u": "$X5U",
           "chain": "$T/pki/chain.pem", "publish": true},
  "verify": {"trust": "$T/pki/ca.pem"},
  "x5u": {"allow_loopback": true, "tls_ca": "$T/pki/ca.pem"},
  "ingest": {"processes": $INGEST},
  "delivery": {"workers": $WORKERS, "sip_t1_ms": 500},
  "routes": [{"name": "uas", "sip": "udp:127.0.0.1:$UAS",
              "concurrency": 512}],
  "peers": [{"name": "bench-interconnect", "kind": "interconnect",
             "sip": ["127.0.0.2/32"]}]
}
EOF
}

start_gateway() { # DATA
    write_config "$1"
    "$B/cli/stirgate" run -c "$T/gw.json" >"$1.log" 2>&1 &
    MASTER=$!
    for _ in $(seq 1 150); do
        n=$( (ls "$1/run"/stage-deliver-*.pid 2>/dev/null || true) | wc -l)
        if [ "$n" -ge "$WORKERS" ] &&
            python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $HTTP), 0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "run_e2e: the gateway did not start; its log:" >&2
    tail -20 "$1.log" >&2
    exit 1
}

stop_gateway() {
    if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
        for f in "$T"/*/run/stage-deliver-*.pid; do
            [ -f "$f" ] && kill -CONT "$(cat "$f")" 2>/dev/null || true
        done
        kill -TERM "$MASTER"
        wait "$MASTER" || true
    fi
    MASTER=
}

load() { # NAME ARGS...
    local name=$1
    shift
    echo
    "$B/bench/sg_load" --to "127.0.0.1:$SIP" --src 127.0.0.2 \
        --key "$T/pki/signer.key" --x5u "$X5U" --label "$name" \
        --json "$OUT/e2e-$name.json" "$@" 2>&1 | grep -v '^sg_load: prepared'
}

echo "stirgate bench: $(nproc) cores, ingest.processes $INGEST," \
    "delivery.workers $WORKERS, $(uname -r)"

start_gateway "$T/a"
for f in "$T"/a/run/stage-deliver-*.pid; do
    kill -STOP "$(cat "$f")"
done
load ingest-max --count "$COUNT" --window 300 --run-dir "$T/a/run"
load ingest-fixed --count $((RATE * SECS)) --rate "$RATE" --run-dir "$T/a/run"
stop_gateway

start_gateway "$T/b"
load e2e-max --count "$COUNT" --window 300 --sink "127.0.0.1:$UAS" \
    --run-dir "$T/b/run"
load e2e-fixed --count $((RATE * SECS)) --rate "$RATE" \
    --sink "127.0.0.1:$UAS" --run-dir "$T/b/run"
# 5. Off, on, on, off: the store grows with every run (delivered records
#    are kept for status), so the order is mirrored to cancel that drift.
scrape_run() { # NAME on|off
    local scraper=
    if [ "$2" = on ]; then
        (while :; do
            curl -s -o /dev/null "http://127.0.0.1:$METRICS/metrics" || true
            sleep 1
        done) &
        scraper=$!
    fi
    load "$1" --count "$COUNT" --window 300 --sink "127.0.0.1:$UAS" \
        --run-dir "$T/b/run"
    if [ -n "$scraper" ]; then
        kill "$scraper" 2>/dev/null || true
        wait "$scraper" 2>/dev/null || true
    fi
}
scrape_run scrape-off-1 off
scrape_run scrape-on-1 on
scrape_run scrape-on-2 on
scrape_run scrape-off-2 off
python3 - "$OUT" <<'PY'
import json, sys
def rate(n):
    with open('%s/e2e-%s.json' % (sys.argv[1], n)) as f:
        return json.load(f)['delivered_per_s']
off = [rate('scrape-off-1'), rate('scrape-off-2')]
on = [rate('scrape-on-1'), rate('scrape-on-2')]
print('\n/metrics scraped every 1 s: %s delivered/s, without: %s; '
      'ratio %.3f (target: the scrape costs < 1%%)'
      % (on, off, sum(on) / sum(off)))
PY
stop_gateway
echo
echo "JSON in $OUT/e2e-*.json"
