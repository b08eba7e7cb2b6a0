/*
 * conf/conf.h - the stirgate configuration: one JSON file (STYLE.md
 * "Config"), loaded through the typed tables of lib/sg_config.h into the
 * struct below.  conf/conf.c holds the tables (keys, types, bounds,
 * defaults, docs); CONFIG.md is generated from them and checked by a test.
 *
 * Every stage that needs more than a handful of settings reads the same
 * file with conf_load(); the master passes the store its settings on the
 * command line (store/store_main.c keeps its own bounded option table).
 * Secrets appear only as file paths.
 */
#ifndef CONF_H
#define CONF_H

#include "lib/sg.h"
#include "lib/sg_config.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* peers[].kind */
enum { CONF_PEER_CUSTOMER = 0, CONF_PEER_INTERCONNECT = 1 };
/* peers[].on_failure: what a failed verification does */
enum { CONF_FAIL_REJECT = 0, CONF_FAIL_CONTINUE = 1 };
/* peers[].on_fetch_failure: x5u_fetch_failed (transient) */
enum {
    CONF_FETCH_REJECT = 0,
    CONF_FETCH_CONTINUE = 1,
    CONF_FETCH_DEFER = 2
};
/* peers[].unauthorized: a customer's orig outside our authority */
enum { CONF_UNAUTH_REJECT = 0, CONF_UNAUTH_PASS_UNSIGNED = 1 };
/* delivery.on_stale */
enum { CONF_STALE_DELIVER_UNVERIFIED = 0, CONF_STALE_REJECT = 1 };
/* verify.crl_unavailable */
enum { CONF_CRL_ACCEPT = 0, CONF_CRL_REJECT = 1 };

/* One TN range a customer may send from: start, count. */
typedef struct {
    char *start;
    int64_t count;
} conf_range_t;

typedef struct {
    char *name;           /* used in logs and metrics labels */
    int kind;             /* CONF_PEER_* */
    sg_cfg_strlist_t sip; /* source addresses or CIDRs ("127.0.0.1/32") */
    char *api_token_file; /* bearer token for the HTTP API (a secret) */
    char *api_token;      /* its contents, read by conf_load (not a key) */
    bool trust_pai;       /* originator from P-Asserted-Identity */
    bool require_identity; /* interconnect: no Identity -> 428 */
    int on_failure;       /* CONF_FAIL_* */
    int on_fetch_failure; /* CONF_FETCH_* */
    int unauthorized;     /* CONF_UNAUTH_* */
    sg_cfg_list_t numbers; /* conf_range_t: extra numbers we sign for */
    /* Not keys: the `sip` entries parsed by conf_load for
     * conf_peer_by_addr (conf_net_t, see below). */
    struct conf_net *nets;
    size_t n_nets;
} conf_peer_t;

/* deliver routes (the delivery issue); kept here so one file covers all */
typedef struct {
    char *name;
    char *match_prefix; /* TN prefix, "" = any */
    char *match_domain; /* URI domain, "" = any */
    char *sip;          /* "udp:HOST:PORT" / "tcp:HOST:PORT" next hop */
    char *webhook;      /* "http(s)://…" */
    int64_t concurrency;
} conf_route_t;

typedef struct {
    /* node */
    char *data_dir;  /* LMDB store, x5u cache, demo PKI */
    char *run_dir;   /* ipc sockets (0700) */
    int log_level;   /* debug|info|warn|error */
    sg_cfg_strlist_t log_debug; /* places whose debug lines are written */
    char *default_cc; /* country code for national numbers, "" = none */

    /* sip */
    sg_cfg_strlist_t sip_udp; /* "127.0.0.1:5060" */
    sg_cfg_strlist_t sip_tcp;
    int64_t sip_max_message;   /* bytes */
    int64_t sip_max_headers;
    int64_t sip_max_identity;
    int64_t sip_max_recipients;
    int64_t sip_max_connections;
    int64_t sip_max_conn_per_peer;
    int64_t sip_tcp_idle;      /* seconds */
    int64_t sip_retry_after;   /* seconds, in 503 */
    char *sip_content_types;   /* reserved */
    sg_cfg_strlist_t sip_accept_types; /* accepted Content-Types */

    /* http */
    char *http_listen;         /* "127.0.0.1:8080" */
    int64_t http_max_body;
    int64_t http_max_connections;
    int64_t http_max_conn_per_peer;
    int64_t http_timeout;      /* seconds per connection */

    /* metrics (operations issue) */
    char *metrics_listen;

    /* sign: the gateway as authentication service */
    char *sign_key;         /* PEM private key file (0600) */
    char *sign_x5u;         /* the URL put in every PASSporT we sign */
    char *sign_chain;       /* PEM chain served at the x5u path */
    bool sign_publish;      /* serve sign_chain on the HTTP listener */
    int64_t sign_publish_max_age; /* Cache-Control max-age */

    /* verify: the gateway as verification service */
    char *verify_trust;     /* PEM trust anchors (required when verifying) */
    char *verify_crl;       /* optional CRL file */
    char *verify_spc_map;   /* optional SPC->TN map */
    int64_t verify_max_age;
    int64_t verify_max_future;
    int64_t verify_defer_deadline;
    int64_t verify_replay_window;
    int64_t x5u_connect_timeout_ms;
    int64_t x5u_timeout_ms;
    int64_t x5u_max_size;
    bool x5u_allow_loopback; /* relaxation: logged at start */
    char *x5u_tls_ca;        /* relaxation: logged at start */
    int64_t x5u_cache_entries;
    int64_t verify_key_tables;      /* verify/verify_ktab.h */
    int64_t verify_key_table_after;
    bool x5u_warm;
    int verify_crl_unavailable; /* CONF_CRL_* */

    /* store */
    int64_t store_map_size, store_map_max;
    int64_t store_backoff_min, store_backoff_max; /* seconds */
    int64_t store_lifetime, store_dead_keep, store_lease;
    int64_t store_batch;
    int64_t store_commit_delay_us;

    /* ingest (processes sharing the listen sockets) */
    int64_t ingest_processes;

    /* delivery (the delivery issue) */
    int64_t delivery_workers;
    int64_t delivery_max_age;
    int delivery_on_stale;  /* CONF_STALE_* */
    int64_t delivery_resign_after;
    sg_cfg_list_t routes;   /* conf_route_t */

    /* peers */
    sg_cfg_list_t peers;    /* conf_peer_t */

    /* http over TLS: the listener that publishes sign.chain at the path
     * of sign.x5u (x5u URLs are https only) */
    char *http_tls_listen;  /* "127.0.0.1:8443" */
    char *http_tls_cert;    /* PEM certificate chain of that listener */
    char *http_tls_key;     /* its PEM private key (0600) */

    int64_t store_done_keep; /* seconds a delivered message is kept */

    /* Not a key: with CONF_LOAD_MISSING_OK, "KEY: PATH" of every file a
     * key names that does not exist (conf_load_flags). */
    sg_cfg_strlist_t missing;

    /* delivery: dead destinations, SIP timers, HTTP (the delivery issue) */
    int64_t delivery_route_down_after;  /* consecutive failures */
    int64_t delivery_probe_interval;    /* seconds between probes */
    int64_t delivery_sip_t1_ms;         /* RFC 3261 T1 */
    int64_t delivery_sip_timeout_ms;    /* Timer F; 0 = 64 * T1 */
    int64_t delivery_http_timeout_ms;   /* one webhook request */
} conf_t;

/* The table of the whole file. */
const sg_cfg_table_t *conf_table(void);

/*
 * Load `path` into `c` (zeroed first) and check what the table cannot:
 * cross-key rules (a customer peer needs sign.key and sign.x5u; an
 * interconnect needs verify.trust; listen addresses parse; peer names are
 * unique; secret files are not readable by others).  SG_OK, or SG_REFUSED /
 * SG_ERR with err->text filled (FILE:LINE:COL: KEY: what).
 */
sg_rc conf_load(const char *path, conf_t *c, sg_config_err_t *err) SG_WUR;
sg_rc conf_load_buf(const char *name, const char *buf, size_t n, conf_t *c,
                    sg_config_err_t *err) SG_WUR;
void conf_free(conf_t *c);

/* Find the peer a SIP source address belongs to; NULL = unknown peer. */
const conf_peer_t *conf_peer_by_addr(const conf_t *c,
                                     const struct sockaddr *sa);
/* Find the API client whose token matches (constant-time); NULL = none. */
const conf_peer_t *conf_peer_by_token(const conf_t *c, const char *token,
                                      size_t len);

/*
 * The cross-key rules conf_load applies after the table (each error
 * points at the key at fault, FILE:LINE:COL: KEY: what):
 *
 *   - listen addresses (sip.udp[], sip.tcp[], http.listen,
 *     http.tls_listen, metrics.listen) are "IPv4:PORT" or "[IPv6]:PORT",
 *     port 1..65535, and no TCP address is used twice;
 *   - node.default_cc is "" or 1..3 digits; node.run_dir leaves room for
 *     the ipc socket names under it;
 *   - sip.max_connections_per_peer <= sip.max_connections;
 *     http.max_connections_per_peer <= http.max_connections;
 *     x5u.connect_timeout_ms <= x5u.timeout_ms; store.map_size <=
 *     store.map_max; store.backoff_min <= store.backoff_max;
 *   - verify.replay_window >= verify.max_age + verify.max_future (a token
 *     still fresh must still be remembered), delivery.resign_after <=
 *     verify.max_age (what we deliver must pass a verifier like us);
 *   - sign.x5u is an https URL; sign.publish needs sign.chain, sign.x5u and
 *     http.tls_listen; http.tls_listen needs http.tls_cert and
 *     http.tls_key;
 *   - peers: unique names of [A-Za-z0-9._-]; sip entries parse as an
 *     address or CIDR with no host bits set, and no two peers claim the
 *     same network; a peer has a sip source or an api_token_file; a
 *     customer needs sign.key and sign.x5u; an interconnect needs
 *     verify.trust; numbers[] are digit ranges that keep their length;
 *     API tokens are 16..256 visible ASCII characters and unique;
 *   - routes: unique names, exactly one of sip ("udp:HOST:PORT" or
 *     "tcp:HOST:PORT") and webhook (http:// or https://), match_prefix
 *     digits only;
 *   - files: every key naming a file must name an existing one; sign.key,
 *     http.tls_key and peers[].api_token_file must also be inaccessible to
 *     group and others (sg_config_check_secret_file).
 */

/* conf_load_flags: a missing file is listed in c->missing, not an error
 * (`config check` of a file written for another machine).  A file that
 * exists is still checked. */
#define CONF_LOAD_MISSING_OK 1u

sg_rc conf_load_flags(const char *path, unsigned flags, conf_t *c,
                      sg_config_err_t *err) SG_WUR;
sg_rc conf_load_buf_flags(const char *name, const char *buf, size_t n,
                          unsigned flags, conf_t *c,
                          sg_config_err_t *err) SG_WUR;

/* node.log_level's choices, indexed like sg_log_level; NULL-terminated. */
extern const char *const conf_log_levels[];

/*
 * Parse a listen address, "IPv4:PORT" or "[IPv6]:PORT" with a literal
 * address (no names: a listener must not depend on DNS at start) and a
 * port 1..65535.  NULL and *out filled, or a static why.
 */
const char *conf_parse_listen(const char *s, struct sockaddr_storage *out,
                              socklen_t *len);

/* One parsed peers[].sip entry: an IPv4 or IPv6 network. */
typedef struct conf_net {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, host bits zero */
    int prefix;       /* 0..32 or 0..128 */
} conf_net_t;

/* Parse "ADDR" or "ADDR/LEN" into `out`; NULL or a static why. */
const char *conf_parse_net(const char *s, conf_net_t *out);

#endif
