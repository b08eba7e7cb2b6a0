#!/bin/bash
# ops/capture/capture.sh - real metrics from a running gateway, captured.
#
#   bash ops/capture/capture.sh [--secs S] [--build DIR] [--out DIR] [--keep]
#
# Grafana cannot be installed here, so this shows the metrics the
# dashboard (ops/grafana/stirgate.json) is built on another way:
#
#   1. copies the gateway binaries of --build (default build/debug, as
#      `scons -Q` leaves them) into a temporary directory, makes a demo
#      PKI, a second ("rogue") one and a TLS certificate, and writes a
#      config with everything on 127.0.0.1 (ports chosen free): a
#      customer (HTTP API and SIP from 127.0.0.1), an interconnect that
#      must be valid (127.0.0.2, require_identity), one whose failures
#      are stored anyway (127.0.0.3, on_failure continue), two routes (a
#      webhook that fails now and then, a SIP next hop nobody answers);
#   2. starts it with `stirgate run -c`, and a Prometheus server
#      (/usr/bin/prometheus, Debian package `prometheus`) scraping its
#      /metrics every second with honor_labels (our `instance` label);
#   3. drives it for --secs seconds (default 90): bench/sg_load (valid
#      PASSporTs over SIP UDP, with a burst in the middle; bad signatures,
#      an unauthorized originator, an unreachable and a refused x5u),
#      load.py (the HTTP API with some unauthorized senders and some
#      unroutable recipients, SIP over TCP from the customer, SIP without
#      Identity from the strict interconnect); the webhook is down for
#      20 s in the middle, so its route goes down and messages wait;
#   4. captures Prometheus's graph page for the key series with headless
#      Chromium (Debian package `chromium`) into --out (default docs/img)
#      as PNGs, and saves one scrape as ops/capture/scrape.prom (what
#      tests/cli/test_ops_docs.py checks the dashboard against);
#   5. stops everything (--keep leaves the temporary directory).
#
# Installs prometheus and chromium with apt-get when missing (as root).
# Loopback only: nothing listens on or connects to another address.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=90
BUILD=build/debug
OUTDIR=docs/img
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
    --secs) SECS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --out) OUTDIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--secs S] [--build DIR] [--out DIR] [--keep]" >&2
       exit 2 ;;
    esac
done
[ "$SECS" -ge 40 ] || { echo "capture: --secs must be at least 40" >&2; exit 2; }
cd "$ROOT"
case "$BUILD" in /*) B=$BUILD ;; *) B=$ROOT/$BUILD ;; esac
case "$OUTDIR" in /*) OUT=$OUTDIR ;; *) OUT=$ROOT/$OUTDIR ;; esac

log() { echo "capture: $*" >&2; }

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${need[@]}" >/dev/null
fi
for f in cli/stirgate store/stirgate-store ingest/stirgate-ingest \
    deliver/stirgate-deliver bench/sg_load; do
    [ -x "$B/$f" ] || { log "$B/$f is missing: build with scons -Q"; exit 2; }
done

T=$(mktemp -d /tmp/sg-capture.XXXXXX)
PIDS=()
MASTER=
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    if [ -n "$MASTER" ] && kill -0 "$MASTER" 2>/dev/null; then
        kill -TERM "$MASTER"
        wait "$MASTER"
    fi
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    if [ "$KEEP" = 1 ]; then
        log "kept $T"
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

# A private copy: a rebuild in the tree during the run changes nothing.
mkdir -p "$T/bin"
cp "$B/cli/stirgate" "$B/store/stirgate-store" "$B/ingest/stirgate-ingest" \
    "$B/deliver/stirgate-deliver" "$B/bench/sg_load" "$T/bin/"
SG=$T/bin/stirgate

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p = s.getsockname()[1]
t.bind(("127.0.0.1", p)); print(p)'
}

"$SG" pki demo "$T/pki" >/dev/null
"$SG" pki demo "$T/rogue" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/pki/tls.key" -subj /CN=127.0.0.1 2>/dev/null |
    openssl x509 -req -CA "$T/pki/ca.pem" -CAkey "$T/pki/ca.key" -days 2 \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n') \
        -out "$T/pki/tls.pem" 2>/dev/null
chmod 600 "$T/pki/tls.key"
head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$T/customer.token"
chmod 600 "$T/customer.token"

SIP=$(free_port)
HTTP=$(free_port)
HTTPS=$(free_port)
METRICS=$(free_port)
HOOK=$(free_port)
DEAD_SIP=$(free_port)   # nothing listens: the route that goes down
DEAD_X5U=$(free_port)   # nothing listens: x5u_fetch_failed
PROM=$(free_port)
X5U="https://127.0.0.1:$HTTPS/certs/chain.pem"

# verify.max_age is 5 minutes here because sg_load signs each batch
# before it starts sending (a 30 s batch at the default 60 s would
# still pass, a longer one would not); everything else is as shipped
# except for shorter retry and probe times, so that a 90 s run shows
# retries, a route going down and coming back.
cat >"$T/gw.json" <<EOF
{
  "node": {"data_dir": "$T/data", "run_dir": "$T/data/run",
           "log_level": "warn", "default_cc": "1"},
  "sip": {"udp": ["127.0.0.1:$SIP"], "tcp": ["127.0.0.1:$SIP"]},
  "http": {"listen": "127.0.0.1:$HTTP", "tls_listen": "127.0.0.1:$HTTPS",
           "tls_cert": "$T/pki/tls.pem", "tls_key": "$T/pki/tls.key"},
  "metrics": {"listen": "127.0.0.1:$METRICS"},
  "sign": {"key": "$T/pki/signer.key", "x5u": "$X5U",
           "chain": "$T/pki/chain.pem", "publish": true},
  "verify": {"trust": "$T/pki/ca.pem", "max_age": "5m",
             "replay_window": "10m", "defer_deadline": "1m"},
  "x5u": {"allow_loopback": true, "tls_ca": "$T/pki/ca.pem",
          "connect_timeout_ms": 500, "timeout_ms": 1000},
  "store": {"backoff_min": "2s", "backoff_max": "10s"},
  "ingest": {"processes": 1},
  "delivery": {"workers": 2, "sip_t1_ms": 100, "route_down_after": 5,
               "probe_interval": "5s"},
  "routes": [
    {"name": "hub-webhook", "match_prefix": "1202",
     "webhook": "http://127.0.0.1:$HOOK/messages", "concurrency": 32},
    {"name": "partner-sip", "match_prefix": "1303",
     "sip": "udp:127.0.0.1:$DEAD_SIP", "concurrency": 8}
  ],
  "peers": [
    {"name": "acme-sms", "kind": "customer", "sip": ["127.0.0.1/32"],
     "api_token_file": "$T/customer.token",
     "numbers": [{"start": "12025550000", "count": 10000}]},
    {"name": "carrier-a", "kind": "interconnect", "sip": ["127.0.0.2/32"],
     "require_identity": true},
    {"name": "carrier-b", "kind": "interconnect", "sip": ["127.0.0.3/32"],
     "on_failure": "continue", "on_fetch_failure": "defer"}
  ]
}
EOF
"$SG" config check -c "$T/gw.json" >/dev/null

log "gateway: SIP 127.0.0.1:$SIP, API 127.0.0.1:$HTTP, metrics 127.0.0.1:$METRICS"
"$SG" run -c "$T/gw.json" >"$T/gateway.log" 2>&1 &
MASTER=$!
ready=0
for _ in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$METRICS/readyz" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.2
done
if [ $ready = 0 ]; then
    log "the gateway did not become ready; its log:"
    tail -30 "$T/gateway.log" >&2
    exit 1
fi

mkdir -p "$T/prom"
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: stirgate
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:$METRICS']
EOF
promtool check config "$T/prometheus.yml" >/dev/null
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
    --web.listen-address="127.0.0.1:$PROM" --log.level=warn \
    >"$T/prometheus.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PROM/-/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$PROM/-/ready" >/dev/null ||
    { log "prometheus did not start"; tail "$T/prometheus.log" >&2; exit 1; }
log "prometheus on 127.0.0.1:$PROM"

LOAD="python3 $ROOT/ops/capture/load.py"
$LOAD hook --listen "127.0.0.1:$HOOK" --fail 0.08 --reject 0.02 \
    >>"$T/load.log" 2>&1 &
HOOK_PID=$!
PIDS+=($HOOK_PID)
sleep 5 # a baseline before the load

sg() { # ARGS... (sg_load from an interconnect, its summary to load.log)
    "$T/bin/sg_load" --to "127.0.0.1:$SIP" --ports 4 "$@" \
        >>"$T/load.log" 2>&1 || log "sg_load $* exited $?"
}

# Valid PASSporTs from carrier-a: 40/s, a burst of 120/s, 40/s again.
P1=$((SECS / 3))
P2=$((SECS / 4))
P3=$((SECS - P1 - P2 - 5))
(
    A="--src 127.0.0.2 --key $T/pki/signer.key --x5u $X5U"
    sg $A --rate 40 --count $((40 * P1))
    sg $A --rate 120 --count $((120 * P2))
    sg $A --rate 40 --count $((40 * P3))
) &
PIDS+=($!)
# carrier-b (failures stored as TN-Validation-Failed, fetch failures
# deferred): a key that does not match the x5u, an originator outside
# the certificate, an x5u nobody serves, an x5u the policy refuses.
B3="--src 127.0.0.3"
sg $B3 --key "$T/rogue/signer.key" --x5u "$X5U" --rate 3 \
    --count $((3 * (SECS - 10))) &
PIDS+=($!)
sg $B3 --key "$T/pki/signer.key" --x5u "$X5U" --orig 14155550001 --rate 2 \
    --count $((2 * (SECS - 10))) &
PIDS+=($!)
sg $B3 --key "$T/pki/signer.key" --x5u "https://127.0.0.1:$DEAD_X5U/chain.pem" \
    --rate 1 --count $((SECS - 10)) &
PIDS+=($!)
sg $B3 --key "$T/pki/signer.key" --x5u "http://127.0.0.1:$HTTPS/certs/chain.pem" \
    --rate 1 --count $((SECS - 10)) &
PIDS+=($!)
# Valid messages to the SIP route nobody answers.
sg --src 127.0.0.2 --key "$T/pki/signer.key" --x5u "$X5U" \
    --dest 13035550100 --rate 2 --count $((2 * (SECS - 10))) &
PIDS+=($!)
# The customer: HTTP API and SIP over TCP (signed by us); SIP without an
# Identity from carrier-a (428).
$LOAD api --url "http://127.0.0.1:$HTTP" --token-file "$T/customer.token" \
    --rate 15 --secs $((SECS - 5)) --unauthorized 0.05 --unroutable 0.02 \
    >>"$T/load.log" 2>&1 &
PIDS+=($!)
$LOAD sip --to "127.0.0.1:$SIP" --transport tcp --src 127.0.0.1 --rate 8 \
    --secs $((SECS - 5)) >>"$T/load.log" 2>&1 &
PIDS+=($!)
$LOAD sip --to "127.0.0.1:$SIP" --transport udp --src 127.0.0.2 --rate 1 \
    --secs $((SECS - 5)) >>"$T/load.log" 2>&1 &
PIDS+=($!)

# The webhook goes away for 20 s in the middle of the run.
sleep $((SECS / 2 - 10))
log "webhook down for 20 s"
kill "$HOOK_PID"
wait "$HOOK_PID" 2>/dev/null || true
sleep 20
$LOAD hook --listen "127.0.0.1:$HOOK" --fail 0.08 --reject 0.02 \
    >>"$T/load.log" 2>&1 &
PIDS+=($!)
log "webhook back"
sleep $((SECS - SECS / 2 - 10 + 15)) # the rest of the load, then a drain
curl -sf "http://127.0.0.1:$METRICS/metrics" >"$ROOT/ops/capture/scrape.prom"
log "load done: $(grep -c . "$T/load.log") lines in the load log"
grep -E '^(load.py|accepted|sent)' "$T/load.log" >&2 || true

# ---- screenshots ------------------------------------------------------------
# One expression per page (the classic graph page scrolls to the last of
# several); several series in one expression are told apart by a label
# label_replace() adds.  Series that stay 0 are left out ("> 0").
mkdir -p "$OUT"
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
RANGE=$((SECS + 30))s
shot() { # NAME EXPR
    local url="http://127.0.0.1:$PROM/graph?g0.expr=$(urlenc "$2")&g0.tab=0&g0.range_input=$RANGE"
    # A headless run with nothing of its own to fetch: no sync, no
    # component updates, no first-run pages, its own profile.
    chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --hide-scrollbars \
        --user-data-dir="$T/chromium" --window-size=1400,1100 \
        --virtual-time-budget=10000 --screenshot="$OUT/$1.png" "$url" \
        >>"$T/chromium.log" 2>&1 || { log "chromium failed for $1"; \
        tail -5 "$T/chromium.log" >&2; exit 1; }
    log "$OUT/$1.png ($(stat -c %s "$OUT/$1.png") bytes)"
}
shot received-accepted \
    'label_replace(sum by (interface, peer_class) (rate(stirgate_ingest_received_total[10s])) > 0, "series", "received", "", "")
     or label_replace(sum by (peer_class) (rate(stirgate_ingest_accepted_total[10s])) > 0, "series", "accepted (202)", "", "")
     or label_replace(sum by (code) (rate(stirgate_ingest_rejected_total[10s])) > 0, "series", "rejected", "", "")'
shot verifications \
    'sum by (reason) (rate(stirgate_ingest_verifications_total[10s])) > 0'
shot accept-latency \
    'label_replace(histogram_quantile(0.99, sum by (le) (rate(stirgate_ingest_accept_duration_seconds_bucket[10s]))), "quantile", "p99", "", "")
     or label_replace(histogram_quantile(0.5, sum by (le) (rate(stirgate_ingest_accept_duration_seconds_bucket[10s]))), "quantile", "p50", "", "")'
shot store-messages \
    'sum by (state) (stirgate_store_messages{state!="finished"})'
shot oldest-message-age \
    'max(stirgate_store_oldest_message_age_seconds)'
shot delivery-outcomes \
    'sum by (route, outcome) (rate(stirgate_deliver_outcomes_total[10s])) > 0'
shot routes-down \
    'max by (route) (stirgate_deliver_route_down)'
shot x5u-cache \
    'label_replace(sum by (source) (rate(stirgate_x5u_cache_hits_total[10s])) > 0, "series", "hit", "", "")
     or label_replace(sum(rate(stirgate_x5u_cache_misses_total[10s])) > 0, "series", "miss", "", "")
     or label_replace(sum by (kind) (rate(stirgate_x5u_fetch_failures_total[10s])) > 0, "series", "fetch failure", "", "")'
log "done"
