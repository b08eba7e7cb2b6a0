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
    int verify_crl_unavailable; /* CONF_CRL_* */

    /* store */
    int64_t store_map_size, store_map_max;
    int64_t store_backoff_min, store_backoff_max; /* seconds */
    int64_t store_lifetime, store_dead_keep, store_lease;
    int64_t store_batch;

    /* delivery (the delivery issue) */
    int64_t delivery_workers;
    int64_t delivery_max_age;
    int delivery_on_stale;  /* CONF_STALE_* */
    int64_t delivery_resign_after;
    sg_cfg_list_t routes;   /* conf_route_t */

    /* peers */
    sg_cfg_list_t peers;    /* conf_peer_t */
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

#endif
