/*
 * conf/conf.c - the tables of the stirgate configuration file and the
 * rules that span several keys (conf/conf.h lists them).
 *
 * The tables are the single source of the keys: the loader, `stirgate
 * config check` (the effective config), `stirgate config reference` and
 * CONFIG.md (generated from the reference, checked by a test) all read
 * them, so a key documented nowhere cannot exist.
 */
#include "conf/conf.h"

#include "proto/proto_msg.h"
#include "proto/proto_sip.h"
#include "proto/proto_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FILE_MAX (1 << 20) /* as lib/sg_config.c: a bigger file is a slip */
#define S_TOKEN_MIN 16       /* a bearer token shorter is guessable */
#define S_TOKEN_MAX 256
#define S_LISTEN_MAX 64 /* "[v6]:port" fits with room to spare */
/* sun_path is 108 bytes; the stages put "/store.sock" and the like under
 * node.run_dir, so leave them room. */
#define S_RUN_DIR_MAX 80

#define S_OFF(f) offsetof(conf_t, f)

const char *const conf_log_levels[] = {"debug", "info", "warn", "error", NULL};

static const char *const s_kinds[] = {"customer", "interconnect", NULL};
static const char *const s_on_failure[] = {"reject", "continue", NULL};
static const char *const s_on_fetch[] = {"reject", "continue", "defer", NULL};
static const char *const s_unauth[] = {"reject", "pass_unsigned", NULL};
static const char *const s_on_stale[] = {"deliver_unverified", "reject", NULL};
static const char *const s_crl_unavail[] = {"accept", "reject", NULL};

/* What sip.accept_types holds when the key is absent (a list row has no
 * default in the engine, so conf_load fills it). */
static const char *const s_accept_default[] = {
    "text/plain",
    "message/cpim",
    "multipart/mixed",
    "multipart/related",
    "application/vnd.3gpp.sms",
    "message/imdn+xml",
    "application/im-iscomposing+xml",
};

/* ---- the tables ----------------------------------------------------------*/

static const sg_cfg_key_t s_range_keys[] = {
    {.path = "start",
     .type = SG_CFG_STRING,
     .offset = offsetof(conf_range_t, start),
     .required = true,
     .maxlen = 15,
     .doc = "first number of the range, E.164 digits without \"+\""},
    {.path = "count",
     .type = SG_CFG_INT,
     .offset = offsetof(conf_range_t, count),
     .required = true,
     .min = 1,
     .max = INT64_C(1000000000000000),
     .doc = "how many consecutive numbers; the range may not grow the "
            "number of digits"},
};

static const sg_cfg_table_t s_range_table = {
    s_range_keys, SG_NELEM(s_range_keys), sizeof(conf_range_t)};

#define P_OFF(f) offsetof(conf_peer_t, f)

static const sg_cfg_key_t s_peer_keys[] = {
    {.path = "name",
     .type = SG_CFG_STRING,
     .offset = P_OFF(name),
     .required = true,
     .maxlen = PROTO_MSG_PEER_MAX,
     .doc = "unique name of [A-Za-z0-9._-], used in logs, metrics labels and "
            "stored messages"},
    {.path = "kind",
     .type = SG_CFG_ENUM,
     .offset = P_OFF(kind),
     .required = true,
     .choices = s_kinds,
     .doc = "customer: we sign what it sends (needs sign.key, sign.x5u); "
            "interconnect: we verify what it sends (needs verify.trust)"},
    {.path = "sip",
     .type = SG_CFG_STRLIST,
     .offset = P_OFF(sip),
     .min = 0,
     .max = 64,
     .maxlen = 64,
     .doc = "SIP source addresses or CIDRs (\"192.0.2.10\", \"10.1.0.0/16\", "
            "\"2001:db8::/32\"); the longest match wins"},
    {.path = "api_token_file",
     .type = SG_CFG_PATH,
     .offset = P_OFF(api_token_file),
     .doc = "file holding the peer's HTTP API bearer token (16..256 visible "
            "characters, mode 0600)"},
    {.path = "trust_pai",
     .type = SG_CFG_BOOL,
     .offset = P_OFF(trust_pai),
     .def = "false",
     .doc = "take the originator from P-Asserted-Identity instead of From"},
    {.path = "require_identity",
     .type = SG_CFG_BOOL,
     .offset = P_OFF(require_identity),
     .def = "false",
     .doc = "interconnect: a MESSAGE without Identity is refused with 428 "
            "(false: stored with verstat No-TN-Validation)"},
    {.path = "on_failure",
     .type = SG_CFG_ENUM,
     .offset = P_OFF(on_failure),
     .choices = s_on_failure,
     .def = "reject",
     .doc = "a failed verification: reject with its STIR code, or continue "
            "with verstat TN-Validation-Failed"},
    {.path = "on_fetch_failure",
     .type = SG_CFG_ENUM,
     .offset = P_OFF(on_fetch_failure),
     .choices = s_on_fetch,
     .def = "defer",
     .doc = "x5u_fetch_failed (transient): reject (436), continue as failed, "
            "or defer: store and verify again at delivery"},
    {.path = "unauthorized",
     .type = SG_CFG_ENUM,
     .offset = P_OFF(unauthorized),
     .choices = s_unauth,
     .def = "reject",
     .doc = "customer: an originator we may not sign for: reject (403), or "
            "pass it on unsigned"},
    {.path = "numbers",
     .type = SG_CFG_OBJLIST,
     .offset = P_OFF(numbers),
     .min = 0,
     .max = 1024,
     .sub = &s_range_table,
     .doc = "customer: the originator ranges it may use; empty = any number "
            "our certificate covers"},
};

#undef P_OFF

static const sg_cfg_table_t s_peer_table = {s_peer_keys, SG_NELEM(s_peer_keys),
                                            sizeof(conf_peer_t)};

#define R_OFF(f) offsetof(conf_route_t, f)

static const sg_cfg_key_t s_route_keys[] = {
    {.path = "name",
     .type = SG_CFG_STRING,
     .offset = R_OFF(name),
     .required = true,
     .maxlen = 64,
     .doc = "unique route name, used in logs and metrics labels"},
    {.path = "match_prefix",
     .type = SG_CFG_STRING,
     .offset = R_OFF(match_prefix),
     .maxlen = 15,
     .def = "",
     .doc = "destination TN prefix (digits); \"\" matches any"},
    {.path = "match_domain",
     .type = SG_CFG_STRING,
     .offset = R_OFF(match_domain),
     .maxlen = 253,
     .def = "",
     .doc = "destination URI domain; \"\" matches any"},
    {.path = "sip",
     .type = SG_CFG_STRING,
     .offset = R_OFF(sip),
     .maxlen = 300,
     .doc = "SIP next hop \"udp:HOST:PORT\" or \"tcp:HOST:PORT\" (one of sip "
            "and webhook)"},
    {.path = "webhook",
     .type = SG_CFG_STRING,
     .offset = R_OFF(webhook),
     .maxlen = 2048,
     .doc = "HTTP webhook URL, http:// or https:// (one of sip and webhook)"},
    {.path = "concurrency",
     .type = SG_CFG_INT,
     .offset = R_OFF(concurrency),
     .min = 1,
     .max = 1024,
     .def = "16",
     .doc = "messages in flight on this route at once"},
};

#undef R_OFF

static const sg_cfg_table_t s_route_table = {
    s_route_keys, SG_NELEM(s_route_keys), sizeof(conf_route_t)};

static const sg_cfg_key_t s_keys[] = {
    /* node */
    {.path = "node.data_dir",
     .type = SG_CFG_PATH,
     .offset = S_OFF(data_dir),
     .def = "/var/lib/stirgate",
     .doc = "durable data: the message store (DATA/store), the x5u cache"},
    {.path = "node.run_dir",
     .type = SG_CFG_PATH,
     .offset = S_OFF(run_dir),
     .maxlen = S_RUN_DIR_MAX,
     .def = "/run/stirgate",
     .doc = "private directory (made 0700) for the stages' ipc sockets and "
            "pid files"},
    {.path = "node.log_level",
     .type = SG_CFG_ENUM,
     .offset = S_OFF(log_level),
     .choices = conf_log_levels,
     .def = "info",
     .doc = "least severe log line written, by every stage"},
    {.path = "node.log_debug",
     .type = SG_CFG_STRLIST,
     .offset = S_OFF(log_debug),
     .min = 0,
     .max = 4,
     .maxlen = 64,
     .doc = "log places (e.g. \"deliver\", \"store.db\"; a place covers "
            "those under it) whose debug lines are written even when "
            "node.log_level is above debug"},
    {.path = "node.default_cc",
     .type = SG_CFG_STRING,
     .offset = S_OFF(default_cc),
     .maxlen = 3,
     .def = "",
     .doc = "country code (1..3 digits) that turns national numbers into "
            "E.164; \"\" = none"},

    /* sip */
    {.path = "sip.udp",
     .type = SG_CFG_STRLIST,
     .offset = S_OFF(sip_udp),
     .min = 0,
     .max = 16,
     .maxlen = S_LISTEN_MAX,
     .doc = "SIP UDP listen addresses, \"IPv4:PORT\" or \"[IPv6]:PORT\"; "
            "none = no UDP"},
    {.path = "sip.tcp",
     .type = SG_CFG_STRLIST,
     .offset = S_OFF(sip_tcp),
     .min = 0,
     .max = 16,
     .maxlen = S_LISTEN_MAX,
     .doc = "SIP TCP listen addresses; none = no TCP"},
    {.path = "sip.max_message",
     .type = SG_CFG_SIZE,
     .offset = S_OFF(sip_max_message),
     .min = 1024,
     .max = 1 << 20,
     .def = "64KiB",
     .doc = "largest SIP request, header and body (413 above; UDP datagrams "
            "stop at 64KiB anyway)"},
    {.path = "sip.max_headers",
     .type = SG_CFG_INT,
     .offset = S_OFF(sip_max_headers),
     .min = 8,
     .max = 1024,
     .def = "64",
     .doc = "most header fields in one request (400 above)"},
    {.path = "sip.max_identity",
     .type = SG_CFG_INT,
     .offset = S_OFF(sip_max_identity),
     .min = 1,
     .max = PROTO_SIP_IDENTITY_CAP,
     .def = "8",
     .doc = "most Identity header fields in one request"},
    {.path = "sip.max_recipients",
     .type = SG_CFG_INT,
     .offset = S_OFF(sip_max_recipients),
     .min = 1,
     .max = 1000,
     .def = "100",
     .doc = "most recipients of one message (API \"to\" list, PASSporT dest)"},
    {.path = "sip.max_connections",
     .type = SG_CFG_INT,
     .offset = S_OFF(sip_max_connections),
     .min = 1,
     .max = 65536,
     .def = "1024",
     .doc = "open SIP TCP connections per ingest process"},
    {.path = "sip.max_connections_per_peer",
     .type = SG_CFG_INT,
     .offset = S_OFF(sip_max_conn_per_peer),
     .min = 1,
     .max = 65536,
     .def = "64",
     .doc = "open SIP TCP connections from one source address"},
    {.path = "sip.tcp_idle",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(sip_tcp_idle),
     .min = 1,
     .max = 86400,
     .def = "5m",
     .doc = "an idle SIP TCP connection, or one whose request is still "
            "incomplete this long after its first byte, is closed"},
    {.path = "sip.retry_after",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(sip_retry_after),
     .min = 1,
     .max = 3600,
     .def = "5s",
     .doc = "Retry-After of a 503 sent when the store pushes back"},
    {.path = "sip.accept_types",
     .type = SG_CFG_STRLIST,
     .offset = S_OFF(sip_accept_types),
     .min = 1,
     .max = 64,
     .maxlen = 128,
     .doc = "accepted body media types (415 otherwise); absent = text/plain, "
            "message/cpim, multipart/mixed, multipart/related, "
            "application/vnd.3gpp.sms, message/imdn+xml, "
            "application/im-iscomposing+xml"},

    /* http */
    {.path = "http.listen",
     .type = SG_CFG_STRING,
     .offset = S_OFF(http_listen),
     .maxlen = S_LISTEN_MAX,
     .doc = "HTTP API listen address (plain HTTP: keep it on a private "
            "network); absent = no API"},
    {.path = "http.max_body",
     .type = SG_CFG_SIZE,
     .offset = S_OFF(http_max_body),
     .min = 1024,
     .max = 1 << 20,
     .def = "64KiB",
     .doc = "largest decoded message body the API accepts (413 above)"},
    {.path = "http.max_connections",
     .type = SG_CFG_INT,
     .offset = S_OFF(http_max_connections),
     .min = 1,
     .max = 65536,
     .def = "256",
     .doc = "open HTTP connections per ingest process"},
    {.path = "http.max_connections_per_peer",
     .type = SG_CFG_INT,
     .offset = S_OFF(http_max_conn_per_peer),
     .min = 1,
     .max = 65536,
     .def = "64",
     .doc = "open HTTP connections from one client address (one more is "
            "closed at once)"},
    {.path = "http.timeout",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(http_timeout),
     .min = 1,
     .max = 600,
     .def = "30s",
     .doc = "an HTTP connection idle this long is closed"},
    {.path = "http.tls_listen",
     .type = SG_CFG_STRING,
     .offset = S_OFF(http_tls_listen),
     .maxlen = S_LISTEN_MAX,
     .doc = "HTTPS listen address: the API again, and sign.chain at the path "
            "of sign.x5u when sign.publish; absent = no HTTPS"},
    {.path = "http.tls_cert",
     .type = SG_CFG_PATH,
     .offset = S_OFF(http_tls_cert),
     .doc = "PEM certificate chain of the HTTPS listener"},
    {.path = "http.tls_key",
     .type = SG_CFG_PATH,
     .offset = S_OFF(http_tls_key),
     .doc = "PEM private key of the HTTPS listener (mode 0600)"},

    /* metrics */
    {.path = "metrics.listen",
     .type = SG_CFG_STRING,
     .offset = S_OFF(metrics_listen),
     .maxlen = S_LISTEN_MAX,
     .doc = "Prometheus /metrics and /healthz listen address (served by the "
            "master once metrics exist); absent = none"},

    /* sign */
    {.path = "sign.key",
     .type = SG_CFG_PATH,
     .offset = S_OFF(sign_key),
     .doc = "P-256 private key (PEM, mode 0600) we sign customers' messages "
            "with"},
    {.path = "sign.x5u",
     .type = SG_CFG_STRING,
     .offset = S_OFF(sign_x5u),
     .maxlen = 2048,
     .doc = "https URL of our certificate chain, put in every PASSporT we "
            "sign"},
    {.path = "sign.chain",
     .type = SG_CFG_PATH,
     .offset = S_OFF(sign_chain),
     .doc = "PEM chain (signer, then intermediates) served at sign.x5u"},
    {.path = "sign.publish",
     .type = SG_CFG_BOOL,
     .offset = S_OFF(sign_publish),
     .def = "false",
     .doc = "serve sign.chain ourselves on http.tls_listen at the path of "
            "sign.x5u"},
    {.path = "sign.publish_max_age",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(sign_publish_max_age),
     .min = 0,
     .max = 365 * 86400,
     .def = "1d",
     .doc = "Cache-Control max-age of the published chain"},

    /* verify */
    {.path = "verify.trust",
     .type = SG_CFG_PATH,
     .offset = S_OFF(verify_trust),
     .doc = "PEM trust anchors; needed as soon as a peer is an interconnect"},
    {.path = "verify.crl",
     .type = SG_CFG_PATH,
     .offset = S_OFF(verify_crl),
     .doc = "a CRL (PEM or DER) checked besides the chains' distribution "
            "points"},
    {.path = "verify.spc_map",
     .type = SG_CFG_PATH,
     .offset = S_OFF(verify_spc_map),
     .doc = "SPC to TN ranges map (JSON); without it an SPC covers any TN"},
    {.path = "verify.max_age",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(verify_max_age),
     .min = 1,
     .max = 86400,
     .def = "60s",
     .doc = "oldest iat accepted at ingest (403 stale above)"},
    {.path = "verify.key_tables",
     .type = SG_CFG_INT,
     .offset = S_OFF(verify_key_tables),
     .min = 0,
     .max = 100000,
     .def = "512",
     .doc = "peer keys per process that get a precomputed table (~150 KiB "
            "each; a verify with one costs a third to a half of one "
            "without); 0: none"},
    {.path = "verify.key_table_after",
     .type = SG_CFG_INT,
     .offset = S_OFF(verify_key_table_after),
     .min = 1,
     .max = 100000000,
     .def = "256",
     .doc = "verifies with a key (per process) before its table is built "
            "on a thread of its own (~30 ms of CPU, repaid after ~700 "
            "verifies)"},
    {.path = "verify.max_future",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(verify_max_future),
     .min = 0,
     .max = 3600,
     .def = "10s",
     .doc = "how far ahead of our clock an iat may be (403 future_iat above)"},
    {.path = "verify.defer_deadline",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(verify_defer_deadline),
     .min = 60,
     .max = 7 * 86400,
     .def = "1h",
     .doc = "a deferred verification gives up this long after receipt"},
    {.path = "verify.replay_window",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(verify_replay_window),
     .min = 1,
     .max = PROTO_REPLAY_WINDOW_MAX,
     .def = "5m",
     .doc = "how long a signed token is remembered to refuse its replay "
            "(at least max_age + max_future)"},
    {.path = "verify.crl_unavailable",
     .type = SG_CFG_ENUM,
     .offset = S_OFF(verify_crl_unavailable),
     .choices = s_crl_unavail,
     .def = "accept",
     .doc = "a stale or unreachable CRL: accept (logged) or reject as "
            "x5u_fetch_failed"},

    /* x5u */
    {.path = "x5u.connect_timeout_ms",
     .type = SG_CFG_INT,
     .offset = S_OFF(x5u_connect_timeout_ms),
     .min = 100,
     .max = 60000,
     .def = "2000",
     .doc = "x5u fetch connect timeout, milliseconds"},
    {.path = "x5u.timeout_ms",
     .type = SG_CFG_INT,
     .offset = S_OFF(x5u_timeout_ms),
     .min = 100,
     .max = 120000,
     .def = "5000",
     .doc = "x5u fetch total timeout, milliseconds"},
    {.path = "x5u.max_size",
     .type = SG_CFG_SIZE,
     .offset = S_OFF(x5u_max_size),
     .min = 1024,
     .max = 1 << 20,
     .def = "64KiB",
     .doc = "largest x5u response accepted"},
    {.path = "x5u.allow_loopback",
     .type = SG_CFG_BOOL,
     .offset = S_OFF(x5u_allow_loopback),
     .def = "false",
     .doc = "relaxation (logged at start): x5u on 127/8 and ::1, any port; "
            "https still required"},
    {.path = "x5u.tls_ca",
     .type = SG_CFG_PATH,
     .offset = S_OFF(x5u_tls_ca),
     .doc = "relaxation (logged at start): CA bundle for x5u servers' TLS "
            "instead of the system bundle"},
    {.path = "x5u.cache_entries",
     .type = SG_CFG_INT,
     .offset = S_OFF(x5u_cache_entries),
     .min = 100,
     .max = 10000000,
     .def = "200000",
     .doc = "x5u cache entries held in memory by each process (chains, "
            "CRLs, failures); beyond it the least recently used go (they "
            "stay on disk)"},
    {.path = "x5u.warm",
     .type = SG_CFG_BOOL,
     .offset = S_OFF(x5u_warm),
     .def = "true",
     .doc = "each ingest process loads the cached chains from "
            "DATA_DIR/x5u when idle after a start, so first messages do "
            "not pay for it"},

    /* store: defaults equal stirgate-store's own (store/store_main.c) */
    {.path = "store.map_size",
     .type = SG_CFG_SIZE,
     .offset = S_OFF(store_map_size),
     .min = 1 << 20,
     .max = INT64_C(1) << 40,
     .def = "64MiB",
     .doc = "initial LMDB map size; doubled up to map_max when full"},
    {.path = "store.map_max",
     .type = SG_CFG_SIZE,
     .offset = S_OFF(store_map_max),
     .min = 1 << 20,
     .max = INT64_C(1) << 40,
     .def = "4GiB",
     .doc = "largest LMDB map; above it new messages get 503 (a reserve lets "
            "the store drain)"},
    {.path = "store.backoff_min",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_backoff_min),
     .min = 1,
     .max = 86400,
     .def = "30s",
     .doc = "first delivery retry delay (doubles, with jitter)"},
    {.path = "store.backoff_max",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_backoff_max),
     .min = 1,
     .max = 7 * 86400,
     .def = "1h",
     .doc = "longest delivery retry delay"},
    {.path = "store.lifetime",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_lifetime),
     .min = 1,
     .max = 30 * 86400,
     .def = "3d",
     .doc = "an undelivered message expires this long after receipt"},
    {.path = "store.dead_keep",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_dead_keep),
     .min = 0,
     .max = 365 * 86400,
     .def = "7d",
     .doc = "expired and failed messages are kept this long for inspection"},
    {.path = "store.done_keep",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_done_keep),
     .min = 0,
     .max = 30 * 86400,
     .def = "1h",
     .doc = "delivered messages are kept this long (GET /v1/messages/{id})"},
    {.path = "store.lease",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(store_lease),
     .min = 1,
     .max = 86400,
     .def = "60s",
     .doc = "a job a worker has not finished within this is handed out "
            "again"},
    {.path = "store.batch",
     .type = SG_CFG_INT,
     .offset = S_OFF(store_batch),
     .min = 1,
     .max = 65536,
     .def = "1024",
     .doc = "most requests committed in one transaction"},
    {.path = "store.commit_delay_us",
     .type = SG_CFG_INT,
     .offset = S_OFF(store_commit_delay_us),
     .min = 0,
     .max = 100000,
     .def = "1000",
     .doc = "a batch smaller than store.batch waits until its oldest "
            "request is this old (microseconds) before it commits: fewer, "
            "larger commits under moderate load, for at most this much "
            "latency (1 ms cut the commits at 5,000 messages/s by about "
            "three quarters on the reference machine); 0 commits at once"},

    /* ingest */
    {.path = "ingest.processes",
     .type = SG_CFG_INT,
     .offset = S_OFF(ingest_processes),
     .min = 1,
     .max = 64,
     .def = "1",
     .doc = "ingest processes sharing the SIP and HTTP listen addresses "
            "(SO_REUSEPORT: the kernel spreads sources over them); about one "
            "per core verifies the most"},

    /* delivery */
    {.path = "delivery.workers",
     .type = SG_CFG_INT,
     .offset = S_OFF(delivery_workers),
     .min = 1,
     .max = 64,
     .def = "4",
     .doc = "deliver worker processes"},
    {.path = "delivery.max_age",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(delivery_max_age),
     .min = 1,
     .max = 30 * 86400,
     .def = "1h",
     .doc = "a verified message older than this (by iat) at delivery follows "
            "on_stale"},
    {.path = "delivery.on_stale",
     .type = SG_CFG_ENUM,
     .offset = S_OFF(delivery_on_stale),
     .choices = s_on_stale,
     .def = "deliver_unverified",
     .doc = "deliver_unverified (verstat No-TN-Validation, reason "
            "stale_at_delivery) or reject (expire and report)"},
    {.path = "delivery.resign_after",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(delivery_resign_after),
     .min = 1,
     .max = 86400,
     .def = "30s",
     .doc = "a message we signed is signed again with a fresh iat when older "
            "than this at delivery"},
    {.path = "delivery.route_down_after",
     .type = SG_CFG_INT,
     .offset = S_OFF(delivery_route_down_after),
     .min = 1,
     .max = 1000,
     .def = "5",
     .doc = "consecutive transient failures after which a route is down: "
            "its messages wait without using attempts while one probe at a "
            "time tests it"},
    {.path = "delivery.probe_interval",
     .type = SG_CFG_DURATION,
     .offset = S_OFF(delivery_probe_interval),
     .min = 1,
     .max = 3600,
     .def = "30s",
     .doc = "time between probes of a route that is down"},
    {.path = "delivery.sip_t1_ms",
     .type = SG_CFG_INT,
     .offset = S_OFF(delivery_sip_t1_ms),
     .min = 10,
     .max = 10000,
     .def = "500",
     .doc = "SIP T1 in ms (RFC 3261): first UDP retransmission, doubling to "
            "4 s"},
    {.path = "delivery.sip_timeout_ms",
     .type = SG_CFG_INT,
     .offset = S_OFF(delivery_sip_timeout_ms),
     .min = 0,
     .max = 600000,
     .def = "0",
     .doc = "SIP transaction timeout (Timer F) in ms; 0 = 64 * T1"},
    {.path = "delivery.http_timeout_ms",
     .type = SG_CFG_INT,
     .offset = S_OFF(delivery_http_timeout_ms),
     .min = 100,
     .max = 600000,
     .def = "10000",
     .doc = "one webhook or status callback request, in ms"},
    {.path = "routes",
     .type = SG_CFG_OBJLIST,
     .offset = S_OFF(routes),
     .min = 0,
     .max = 1024,
     .sub = &s_route_table,
     .doc = "delivery routes, first match wins"},

    /* peers */
    {.path = "peers",
     .type = SG_CFG_OBJLIST,
     .offset = S_OFF(peers),
     .min = 0,
     .max = 4096,
     .sub = &s_peer_table,
     .doc = "who may send to us; an unknown SIP source gets 403"},
};

static const sg_cfg_table_t s_table = {s_keys, SG_NELEM(s_keys),
                                       sizeof(conf_t)};

const sg_cfg_table_t *
conf_table(void)
{
    return &s_table;
}

typedef struct {
    const char *name, *buf;
    size_t n;
    unsigned flags;
    conf_t *c;
    sg_config_err_t *err;
} s_ctx_t;

static sg_rc s_fail(s_ctx_t *x, const char *key, const char *fmt, ...)
    SG_PRINTF(3, 4);

static sg_rc
s_fail(s_ctx_t *x, const char *key, const char *fmt, ...)
{
    sg_config_err_t *err = x->err;
    char what[512];
    int line, col;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sg_config_position(x->buf, x->n, key, &line, &col);
    err->line = line;
    err->column = col;
    snprintf(err->key, sizeof(err->key), "%s", key);
    snprintf(err->text, sizeof(err->text), "%s:%d:%d: %s: %s", x->name, line,
             col, key, what);
    return SG_REFUSED;
}

/* ---- addresses -----------------------------------------------------------*/

static int
s_port(const char *s, int *out)
{
    long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *out = (int)v;
    return 0;
}

const char *
conf_parse_listen(const char *s, struct sockaddr_storage *out, socklen_t *len)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    size_t hl;
    int port, bracket = s[0] == '[';

    memset(out, 0, sizeof(*out));
    if (bracket) {
        const char *close = strchr(s, ']');

        if (close == NULL || close[1] != ':')
            return "want \"[IPv6]:PORT\"";
        hl = (size_t)(close - s - 1);
        colon = close + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return "want \"IPv4:PORT\" or \"[IPv6]:PORT\"";
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof(host))
        return "not an IP address";
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (s_port(colon + 1, &port) != 0)
        return "the port is not 1..65535";
    if (bracket || strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;

        if (!bracket || inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return "not an IPv6 address (write it as \"[ADDR]:PORT\")";
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)out;

        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return "not an IPv4 address (names are not resolved)";
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *len = sizeof(*a);
    }
    return NULL;
}

const char *
conf_parse_net(const char *s, conf_net_t *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s), nbytes;
    int max;

    memset(out, 0, sizeof(*out));
    if (hl == 0 || hl >= sizeof(host))
        return "not an IP address";
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return "not an IPv4 or IPv6 address (names are not resolved)";
    }
    out->prefix = max;
    if (slash) {
        const char *d = slash + 1;
        int v = 0;

        /* Digits only, no sign, no leading zero: "/08" is a typo. */
        if (*d == '\0' || (d[0] == '0' && d[1] != '\0'))
            return "bad prefix length";
        for (; *d; d++) {
            if (*d < '0' || *d > '9' || (v = v * 10 + (*d - '0')) > max)
                return "bad prefix length";
        }
        out->prefix = v;
    }
    /*
     * Host bits set ("10.0.0.1/8") is refused rather than masked: it is
     * usually a typo for a narrower network, and masking it silently
     * would admit far more sources than the operator meant.
     */
    nbytes = (size_t)max / 8;
    for (size_t bit = (size_t)out->prefix; bit < nbytes * 8; bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
            return "host bits set beyond the prefix length";
    return NULL;
}

/* Does `net` contain the address `a` of family `fam`? */
static int
s_net_has(const conf_net_t *net, int fam, const uint8_t *a)
{
    int full = net->prefix / 8, rest = net->prefix % 8;

    if (net->family != fam || memcmp(net->addr, a, (size_t)full) != 0)
        return 0;
    return rest == 0 ||
           ((net->addr[full] ^ a[full]) & (0xff00 >> rest) & 0xff) == 0;
}

const conf_peer_t *
conf_peer_by_addr(const conf_t *c, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                       0, 0, 0, 0, 0xff, 0xff};
    const conf_peer_t *best = NULL;
    const uint8_t *a;
    int fam, best_len = -1;

    if (sa == NULL)
        return NULL;
    if (sa->sa_family == AF_INET) {
        fam = AF_INET;
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)
                ->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        fam = AF_INET6;
        a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        /* A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; they
         * must match the IPv4 entries operators write. */
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            fam = AF_INET;
            a += 12;
        }
    } else {
        return NULL;
    }
    for (size_t i = 0; i < c->peers.n; i++) {
        const conf_peer_t *p = (const conf_peer_t *)c->peers.items + i;

        for (size_t k = 0; k < p->n_nets; k++)
            if (p->nets[k].prefix > best_len &&
                s_net_has(&p->nets[k], fam, a)) {
                best = p;
                best_len = p->nets[k].prefix;
            }
    }
    return best;
}

const conf_peer_t *
conf_peer_by_token(const conf_t *c, const char *token, size_t len)
{
    const conf_peer_t *found = NULL;

    if (token == NULL || len == 0)
        return NULL;
    /*
     * Every peer is compared, with no early exit and CRYPTO_memcmp over
     * equal lengths, so the time taken says nothing about how much of a
     * guess was right.  Only the length of a token can leak, and every
     * token is at least S_TOKEN_MIN random characters.
     */
    for (size_t i = 0; i < c->peers.n; i++) {
        const conf_peer_t *p = (const conf_peer_t *)c->peers.items + i;

        if (p->api_token && strlen(p->api_token) == len &&
            CRYPTO_memcmp(p->api_token, token, len) == 0)
            found = p;
    }
    return found;
}

/* ---- files ---------------------------------------------------------------*/

/*
 * A key naming a file: it must exist (or, with CONF_LOAD_MISSING_OK, be
 * listed as missing) and be readable; a secret must also be closed to
 * group and others.  Returns 1 when the file is there, 0 when missing and
 * tolerated, -1 after filling the error.
 */
static int
s_check_file(s_ctx_t *x, const char *key, const char *path, int secret)
{
    const char *why = NULL;
    struct stat st;

    if (path == NULL)
        return 0;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        if (x->flags & CONF_LOAD_MISSING_OK) {
            sg_cfg_strlist_t *m = &x->c->missing;
            size_t sz = strlen(key) + strlen(path) + 3;

            m->v = sg_realloc(m->v, (m->n + 1) * sizeof(char *));
            m->v[m->n] = sg_malloc(sz);
            snprintf(m->v[m->n++], sz, "%s: %s", key, path);
            return 0;
        }
        s_fail(x, key, "%s: does not exist", path);
        return -1;
    }
    if (secret && sg_config_check_secret_file(path, &why) != SG_OK) {
        s_fail(x, key, "%s: %s", path, why);
        return -1;
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        access(path, R_OK) != 0) {
        s_fail(x, key, "%s: %s", path,
               errno == EACCES ? "not readable by this user"
                               : "not a readable regular file");
        return -1;
    }
    return 1;
}

/* Read an API token file into p->api_token (trailing white space cut). */
static sg_rc
s_read_token(s_ctx_t *x, const char *key, conf_peer_t *p)
{
    char buf[S_TOKEN_MAX + 64];
    ssize_t k;
    size_t n = 0;
    int fd, r;

    r = s_check_file(x, key, p->api_token_file, 1);
    if (r <= 0)
        return r < 0 ? SG_REFUSED : SG_OK;
    fd = open(p->api_token_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return s_fail(x, key, "%s: open: %s", p->api_token_file,
                      strerror(errno));
    while (n < sizeof(buf) && ((k = read(fd, buf + n, sizeof(buf) - n)) > 0 ||
                               (k < 0 && errno == EINTR)))
        if (k > 0)
            n += (size_t)k;
    close(fd);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) && buf[n - 1] != '\0')
        n--;
    for (size_t i = 0; i < n; i++)
        if (buf[i] <= ' ' || buf[i] > '~')
            n = 0;
    if (n < S_TOKEN_MIN || n > S_TOKEN_MAX) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return s_fail(x, key,
                      "%s: want one token of %d..%d visible ASCII characters",
                      p->api_token_file, S_TOKEN_MIN, S_TOKEN_MAX);
    }
    p->api_token = sg_strndup(buf, n);
    OPENSSL_cleanse(buf, sizeof(buf));
    return SG_OK;
}

/* ---- cross-key rules -----------------------------------------------------*/

static int
s_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);

    if (n < min || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* One listen address, remembered to catch the same one used twice. */
typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
    const char *label; /* static: the key family, for the message */
} s_bound_t;

static sg_rc
s_listen(s_ctx_t *x, const char *key, const char *label, const char *addr,
         s_bound_t *seen, size_t *nseen)
{
    s_bound_t b;
    const char *why;

    if (addr == NULL)
        return SG_OK;
    b.label = label;
    if ((why = conf_parse_listen(addr, &b.ss, &b.len)) != NULL)
        return s_fail(x, key, "\"%s\": %s", addr, why);
    for (size_t i = 0; i < *nseen; i++)
        if (seen[i].len == b.len && memcmp(&seen[i].ss, &b.ss, b.len) == 0)
            return s_fail(x, key, "\"%s\" is also used by %s", addr,
                          seen[i].label);
    seen[(*nseen)++] = b;
    return SG_OK;
}

static sg_rc
s_check_listeners(s_ctx_t *x)
{
    conf_t *c = x->c;
    /* UDP and TCP are separate port spaces: 5060 may serve both. */
    s_bound_t tcp[16 + 3], udp[16];
    size_t ntcp = 0, nudp = 0;
    char key[64];

    for (size_t i = 0; i < c->sip_udp.n; i++) {
        snprintf(key, sizeof(key), "sip.udp[%zu]", i);
        if (s_listen(x, key, "sip.udp", c->sip_udp.v[i], udp, &nudp) != SG_OK)
            return SG_REFUSED;
    }
    for (size_t i = 0; i < c->sip_tcp.n; i++) {
        snprintf(key, sizeof(key), "sip.tcp[%zu]", i);
        if (s_listen(x, key, "sip.tcp", c->sip_tcp.v[i], tcp, &ntcp) != SG_OK)
            return SG_REFUSED;
    }
    if (s_listen(x, "http.listen", "http.listen", c->http_listen, tcp, &ntcp) !=
            SG_OK ||
        s_listen(x, "http.tls_listen", "http.tls_listen", c->http_tls_listen,
                 tcp, &ntcp) != SG_OK ||
        s_listen(x, "metrics.listen", "metrics.listen", c->metrics_listen, tcp,
                 &ntcp) != SG_OK)
        return SG_REFUSED;
    return SG_OK;
}

static sg_rc
s_check_scalars(s_ctx_t *x)
{
    conf_t *c = x->c;

    if (!s_digits(c->default_cc, 0, 3))
        return s_fail(x, "node.default_cc", "want \"\" or 1..3 digits");
    if (c->sip_max_conn_per_peer > c->sip_max_connections)
        return s_fail(x, "sip.max_connections_per_peer",
                      "%" PRId64 " exceeds sip.max_connections (%" PRId64 ")",
                      c->sip_max_conn_per_peer, c->sip_max_connections);
    if (c->http_max_conn_per_peer > c->http_max_connections)
        return s_fail(x, "http.max_connections_per_peer",
                      "%" PRId64 " exceeds http.max_connections (%" PRId64 ")",
                      c->http_max_conn_per_peer, c->http_max_connections);
    if (c->x5u_connect_timeout_ms > c->x5u_timeout_ms)
        return s_fail(x, "x5u.connect_timeout_ms",
                      "%" PRId64 " exceeds x5u.timeout_ms (%" PRId64 ")",
                      c->x5u_connect_timeout_ms, c->x5u_timeout_ms);
    if (c->store_map_size > c->store_map_max)
        return s_fail(x, "store.map_size", "exceeds store.map_max");
    if (c->store_backoff_min > c->store_backoff_max)
        return s_fail(x, "store.backoff_min", "exceeds store.backoff_max");
    if (c->verify_replay_window < c->verify_max_age + c->verify_max_future)
        return s_fail(x, "verify.replay_window",
                      "%" PRId64 "s is shorter than verify.max_age + "
                      "verify.max_future (%" PRId64 "s): a replay could still "
                      "be fresh when forgotten",
                      c->verify_replay_window,
                      c->verify_max_age + c->verify_max_future);
    if (c->delivery_resign_after > c->verify_max_age)
        return s_fail(x, "delivery.resign_after",
                      "%" PRId64 "s exceeds verify.max_age (%" PRId64 "s): a "
                      "verifier configured like us would refuse what we "
                      "deliver",
                      c->delivery_resign_after, c->verify_max_age);
    for (size_t i = 0; i < c->sip_accept_types.n; i++) {
        const char *t = c->sip_accept_types.v[i], *slash = strchr(t, '/');
        char key[64];

        snprintf(key, sizeof(key), "sip.accept_types[%zu]", i);
        if (slash == NULL || slash == t || slash[1] == '\0' ||
            strchr(slash + 1, '/') || strpbrk(t, " \t;,"))
            return s_fail(x, key, "\"%s\": want a media type \"type/subtype\"",
                          t);
    }
    return SG_OK;
}

static sg_rc
s_check_sign(s_ctx_t *x)
{
    conf_t *c = x->c;

    if (c->sign_x5u && strncmp(c->sign_x5u, "https://", 8) != 0)
        return s_fail(
            x, "sign.x5u",
            "\"%s\": x5u URLs are https only (RFC 8224, ATIS-1000074)",
            c->sign_x5u);
    if (c->sign_x5u && c->sign_x5u[8] == '\0')
        return s_fail(x, "sign.x5u", "no host");
    if (c->sign_publish) {
        if (c->sign_chain == NULL)
            return s_fail(x, "sign.publish", "needs sign.chain");
        if (c->sign_x5u == NULL)
            return s_fail(x, "sign.publish", "needs sign.x5u");
        if (c->http_tls_listen == NULL)
            return s_fail(x, "sign.publish",
                          "needs http.tls_listen (x5u is https only)");
    }
    if (c->http_tls_listen &&
        (c->http_tls_cert == NULL || c->http_tls_key == NULL))
        return s_fail(x, "http.tls_listen",
                      "needs http.tls_cert and http.tls_key");
    return SG_OK;
}

static sg_rc
s_check_files(s_ctx_t *x)
{
    conf_t *c = x->c;
    static const struct {
        const char *key;
        size_t off;
        int secret;
    } files[] = {
        {"sign.key", S_OFF(sign_key), 1},
        {"sign.chain", S_OFF(sign_chain), 0},
        {"verify.trust", S_OFF(verify_trust), 0},
        {"verify.crl", S_OFF(verify_crl), 0},
        {"verify.spc_map", S_OFF(verify_spc_map), 0},
        {"x5u.tls_ca", S_OFF(x5u_tls_ca), 0},
        {"http.tls_cert", S_OFF(http_tls_cert), 0},
        {"http.tls_key", S_OFF(http_tls_key), 1},
    };

    for (size_t i = 0; i < SG_NELEM(files); i++) {
        const char *path;

        memcpy(&path, (const char *)c + files[i].off, sizeof(path));
        if (s_check_file(x, files[i].key, path, files[i].secret) < 0)
            return SG_REFUSED;
    }
    return SG_OK;
}

static sg_rc
s_check_peer(s_ctx_t *x, size_t idx)
{
    conf_t *c = x->c;
    conf_peer_t *p = (conf_peer_t *)c->peers.items + idx;
    char key[96];

    snprintf(key, sizeof(key), "peers[%zu].name", idx);
    if (strspn(p->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789._-") != strlen(p->name) ||
        p->name[0] == '\0')
        return s_fail(x, key, "\"%s\": want 1..%d of [A-Za-z0-9._-]", p->name,
                      PROTO_MSG_PEER_MAX);
    for (size_t j = 0; j < idx; j++)
        if (strcmp(((conf_peer_t *)c->peers.items)[j].name, p->name) == 0)
            return s_fail(x, key, "\"%s\" is also peers[%zu].name", p->name, j);
    if (p->sip.n == 0 && p->api_token_file == NULL) {
        snprintf(key, sizeof(key), "peers[%zu]", idx);
        return s_fail(x, key,
                      "peer \"%s\" has neither sip sources nor an "
                      "api_token_file: nothing can reach us as it",
                      p->name);
    }
    snprintf(key, sizeof(key), "peers[%zu].kind", idx);
    if (p->kind == CONF_PEER_CUSTOMER &&
        (c->sign_key == NULL || c->sign_x5u == NULL))
        return s_fail(x, key, "a customer peer needs sign.key and sign.x5u");
    if (p->kind == CONF_PEER_INTERCONNECT && c->verify_trust == NULL)
        return s_fail(x, key, "an interconnect peer needs verify.trust");

    p->nets = p->sip.n ? sg_calloc(p->sip.n, sizeof(conf_net_t)) : NULL;
    for (size_t k = 0; k < p->sip.n; k++) {
        const char *why = conf_parse_net(p->sip.v[k], &p->nets[k]);

        snprintf(key, sizeof(key), "peers[%zu].sip[%zu]", idx, k);
        p->n_nets = k + 1;
        if (why)
            return s_fail(x, key, "\"%s\": %s", p->sip.v[k], why);
        /* The same network under two peers: which one speaks for a source
         * would depend on the order of the file. */
        for (size_t j = 0; j < idx; j++) {
            const conf_peer_t *o = (const conf_peer_t *)c->peers.items + j;

            for (size_t m = 0; m < o->n_nets; m++)
                if (o->nets[m].family == p->nets[k].family &&
                    o->nets[m].prefix == p->nets[k].prefix &&
                    memcmp(o->nets[m].addr, p->nets[k].addr, 16) == 0)
                    return s_fail(x, key,
                                  "\"%s\" is also a source of peer "
                                  "\"%s\"",
                                  p->sip.v[k], o->name);
        }
    }
    for (size_t k = 0; k < p->numbers.n; k++) {
        const conf_range_t *r = (const conf_range_t *)p->numbers.items + k;
        size_t len = strlen(r->start);
        uint64_t first, limit = 1;

        snprintf(key, sizeof(key), "peers[%zu].numbers[%zu].start", idx, k);
        if (!s_digits(r->start, 1, 15))
            return s_fail(x, key, "\"%s\": want 1..15 digits", r->start);
        first = strtoull(r->start, NULL, 10);
        for (size_t d = 0; d < len; d++)
            limit *= 10;
        if (first + (uint64_t)r->count > limit) {
            snprintf(key, sizeof(key), "peers[%zu].numbers[%zu].count", idx, k);
            return s_fail(x, key, "the range leaves %zu-digit numbers", len);
        }
    }
    snprintf(key, sizeof(key), "peers[%zu].api_token_file", idx);
    if (s_read_token(x, key, p) != SG_OK)
        return SG_REFUSED;
    for (size_t j = 0; j < idx && p->api_token; j++) {
        const conf_peer_t *o = (const conf_peer_t *)c->peers.items + j;

        if (o->api_token && strcmp(o->api_token, p->api_token) == 0)
            return s_fail(x, key, "holds the same token as peer \"%s\"",
                          o->name);
    }
    return SG_OK;
}

static sg_rc
s_check_route(s_ctx_t *x, size_t idx)
{
    const conf_route_t *r = (const conf_route_t *)x->c->routes.items + idx;
    char key[64];

    snprintf(key, sizeof(key), "routes[%zu].name", idx);
    for (size_t j = 0; j < idx; j++)
        if (strcmp(((const conf_route_t *)x->c->routes.items)[j].name,
                   r->name) == 0)
            return s_fail(x, key, "\"%s\" is also routes[%zu].name", r->name,
                          j);
    snprintf(key, sizeof(key), "routes[%zu].match_prefix", idx);
    if (!s_digits(r->match_prefix, 0, 15))
        return s_fail(x, key, "\"%s\": want digits", r->match_prefix);
    if ((r->sip == NULL) == (r->webhook == NULL)) {
        snprintf(key, sizeof(key), "routes[%zu]", idx);
        return s_fail(x, key, "want exactly one of sip and webhook");
    }
    if (r->sip) {
        const char *colon = strrchr(r->sip, ':');
        int port;

        snprintf(key, sizeof(key), "routes[%zu].sip", idx);
        if ((strncmp(r->sip, "udp:", 4) != 0 &&
             strncmp(r->sip, "tcp:", 4) != 0) ||
            colon == NULL || colon <= r->sip + 4 || s_port(colon + 1, &port))
            return s_fail(x, key,
                          "\"%s\": want \"udp:HOST:PORT\" or "
                          "\"tcp:HOST:PORT\"",
                          r->sip);
    } else {
        const char *w = r->webhook;
        size_t skip = strncmp(w, "https://", 8) == 0  ? 8
                      : strncmp(w, "http://", 7) == 0 ? 7
                                                      : 0;

        snprintf(key, sizeof(key), "routes[%zu].webhook", idx);
        if (skip == 0 || w[skip] == '\0' || w[skip] == '/')
            return s_fail(x, key, "\"%s\": want an http:// or https:// URL", w);
    }
    return SG_OK;
}

/* sip.accept_types absent: the default list (see s_accept_default). */
static void
s_default_accept(conf_t *c)
{
    sg_cfg_strlist_t *l = &c->sip_accept_types;

    if (l->n != 0)
        return;
    sg_free(l->v);
    l->v = sg_calloc(SG_NELEM(s_accept_default), sizeof(char *));
    for (size_t i = 0; i < SG_NELEM(s_accept_default); i++)
        l->v[i] = sg_strdup(s_accept_default[i]);
    l->n = SG_NELEM(s_accept_default);
}

/* ---- loading -------------------------------------------------------------*/

sg_rc
conf_load_buf_flags(const char *name, const char *buf, size_t n, unsigned flags,
                    conf_t *c, sg_config_err_t *err)
{
    s_ctx_t x = {name, buf, n, flags, c, err};
    sg_rc rc;

    memset(c, 0, sizeof(*c));
    rc = sg_config_load_buf(&s_table, name, buf, n, c, err);
    if (rc != SG_OK)
        return rc;
    s_default_accept(c);
    if ((rc = s_check_listeners(&x)) != SG_OK ||
        (rc = s_check_scalars(&x)) != SG_OK ||
        (rc = s_check_sign(&x)) != SG_OK || (rc = s_check_files(&x)) != SG_OK)
        goto fail;
    for (size_t i = 0; i < c->peers.n; i++)
        if ((rc = s_check_peer(&x, i)) != SG_OK)
            goto fail;
    for (size_t i = 0; i < c->routes.n; i++)
        if ((rc = s_check_route(&x, i)) != SG_OK)
            goto fail;
    return SG_OK;
fail:
    conf_free(c);
    return rc;
}

sg_rc
conf_load_buf(const char *name, const char *buf, size_t n, conf_t *c,
              sg_config_err_t *err)
{
    return conf_load_buf_flags(name, buf, n, 0, c, err);
}

sg_rc
conf_load_flags(const char *path, unsigned flags, conf_t *c,
                sg_config_err_t *err)
{
    char *buf;
    size_t n;
    sg_rc rc;

    memset(c, 0, sizeof(*c));
    if (sg_config_read_file(path, &buf, &n, err) != SG_OK)
        return SG_ERR;
    rc = conf_load_buf_flags(path, buf, n, flags, c, err);
    sg_free(buf);
    return rc;
}

sg_rc
conf_load(const char *path, conf_t *c, sg_config_err_t *err)
{
    return conf_load_flags(path, 0, c, err);
}

void
conf_free(conf_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->peers.n; i++) {
        conf_peer_t *p = (conf_peer_t *)c->peers.items + i;

        if (p->api_token) {
            OPENSSL_cleanse(p->api_token, strlen(p->api_token));
            sg_free(p->api_token);
        }
        sg_free(p->nets);
        p->api_token = NULL;
        p->nets = NULL;
        p->n_nets = 0;
    }
    for (size_t i = 0; i < c->missing.n; i++)
        sg_free(c->missing.v[i]);
    sg_free(c->missing.v);
    c->missing.v = NULL;
    c->missing.n = 0;
    sg_config_free(&s_table, c);
}
