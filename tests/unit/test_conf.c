/* Unit tests: the stirgate config (conf/conf.h): defaults, the cross-key
 * rules, peer lookup by source address and by API token. */
#include "conf/conf.h"
#include "tests/unit/tu.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TOKEN_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define TOKEN_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"

static void
s_write(const char *name, const char *data, mode_t mode)
{
    char path[512];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", tu_tmpdir(), name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
        perror(path);
        exit(2);
    }
    close(fd);
    chmod(path, mode);
}

/* The files the configs below name, made once. */
static void
s_files(void)
{
    static int done;

    if (done)
        return;
    done = 1;
    s_write("signer.key", "not checked beyond its mode\n", 0600);
    s_write("ca.pem", "not parsed here\n", 0644);
    s_write("a.token", TOKEN_A "\n", 0600);
    s_write("b.token", TOKEN_B, 0400);
    s_write("a-again.token", TOKEN_A "\r\n", 0600);
    s_write("open.token", TOKEN_A "\n", 0644);
    s_write("short.token", "abc\n", 0600);
    s_write("space.token", "aaaaaaaa aaaaaaaaaaaaa\n", 0600);
}

/* Replace every "@D@" in `fmt` with the test directory. */
static char *
s_text(const char *fmt)
{
    const char *d = tu_tmpdir();
    size_t cap = strlen(fmt) * 2 + 64 * strlen(d), n = 0;
    char *out = malloc(cap);

    for (const char *p = fmt; *p;) {
        if (strncmp(p, "@D@", 3) == 0) {
            n += (size_t)snprintf(out + n, cap - n, "%s", d);
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

static sg_rc
s_load_flags(const char *fmt, unsigned flags, conf_t *c, sg_config_err_t *err)
{
    char *text;
    sg_rc rc;

    s_files();
    text = s_text(fmt);
    rc = conf_load_buf_flags("t.json", text, strlen(text), flags, c, err);
    free(text);
    return rc;
}

static sg_rc
s_load(const char *fmt, conf_t *c, sg_config_err_t *err)
{
    return s_load_flags(fmt, 0, c, err);
}

TU_TEST(conf_table_is_consistent)
{
    char *ref;

    TU_CHECK(sg_config_table_check(conf_table()) == NULL);
    ref = sg_config_reference(conf_table());
    TU_REQUIRE(ref != NULL);
    TU_CHECK(strstr(ref, "| peers[].numbers[].start |") != NULL);
    TU_CHECK(strstr(ref, "| http.tls_listen |") != NULL);
    free(ref);
}

TU_TEST(conf_defaults)
{
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load("{}", &c, &err) == SG_OK);
    TU_STREQ(c.data_dir, "/var/lib/stirgate");
    TU_STREQ(c.run_dir, "/run/stirgate");
    TU_INTEQ(c.log_level, 1);
    TU_STREQ(conf_log_levels[c.log_level], "info");
    TU_STREQ(c.default_cc, "");
    TU_INTEQ(c.sip_udp.n, 0);
    TU_INTEQ(c.sip_max_message, 65536);
    TU_INTEQ(c.sip_max_headers, 64);
    TU_INTEQ(c.sip_max_identity, 8);
    TU_INTEQ(c.sip_max_recipients, 100);
    TU_INTEQ(c.sip_max_conn_per_peer, 64);
    TU_INTEQ(c.http_max_connections, 256);
    TU_INTEQ(c.http_max_conn_per_peer, 64);
    TU_INTEQ(c.sip_tcp_idle, 300);
    TU_INTEQ(c.sip_retry_after, 5);
    TU_REQUIRE(c.sip_accept_types.n == 7);
    TU_STREQ(c.sip_accept_types.v[0], "text/plain");
    TU_STREQ(c.sip_accept_types.v[1], "message/cpim");
    TU_STREQ(c.sip_accept_types.v[2], "multipart/mixed");
    TU_STREQ(c.sip_accept_types.v[4], "application/vnd.3gpp.sms");
    TU_CHECK(c.http_listen == NULL);
    TU_INTEQ(c.http_max_body, 65536);
    TU_INTEQ(c.http_timeout, 30);
    TU_CHECK(!c.sign_publish);
    TU_INTEQ(c.sign_publish_max_age, 86400);
    TU_INTEQ(c.verify_max_age, 60);
    TU_INTEQ(c.verify_max_future, 10);
    TU_INTEQ(c.verify_defer_deadline, 3600);
    TU_INTEQ(c.verify_replay_window, 300);
    TU_INTEQ(c.verify_crl_unavailable, CONF_CRL_ACCEPT);
    TU_INTEQ(c.x5u_connect_timeout_ms, 2000);
    TU_INTEQ(c.x5u_timeout_ms, 5000);
    TU_INTEQ(c.x5u_max_size, 65536);
    TU_CHECK(!c.x5u_allow_loopback);
    /* The store's own defaults (store/store_main.c s_num_opts). */
    TU_INTEQ(c.store_map_size, 64 << 20);
    TU_INTEQ(c.store_map_max, INT64_C(4) << 30);
    TU_INTEQ(c.store_backoff_min, 30);
    TU_INTEQ(c.store_backoff_max, 3600);
    TU_INTEQ(c.store_lifetime, 3 * 86400);
    TU_INTEQ(c.store_dead_keep, 7 * 86400);
    TU_INTEQ(c.store_done_keep, 3600);
    TU_INTEQ(c.store_lease, 60);
    TU_INTEQ(c.store_batch, 1024);
    TU_INTEQ(c.delivery_max_age, 3600);
    TU_INTEQ(c.delivery_on_stale, CONF_STALE_DELIVER_UNVERIFIED);
    TU_INTEQ(c.delivery_resign_after, 30);
    TU_INTEQ(c.peers.n, 0);
    TU_INTEQ(c.routes.n, 0);
    conf_free(&c);
    conf_free(&c); /* freeing twice is harmless: fields are zeroed */
}

TU_TEST(conf_peer_defaults_and_dump_round_trip)
{
    static const char text[] =
        "{\"sign\": {\"key\": \"@D@/signer.key\", "
        "\"x5u\": \"https://cert.example.net/c.pem\"},"
        " \"peers\": [{\"name\": \"c1\", \"kind\": \"customer\", "
        "\"sip\": [\"192.0.2.1\"]}]}";
    sg_config_err_t err;
    conf_t c, again;
    char *dump, *dump2;
    const conf_peer_t *p;

    TU_REQUIRE(s_load(text, &c, &err) == SG_OK);
    TU_REQUIRE(c.peers.n == 1);
    p = c.peers.items;
    TU_INTEQ(p->kind, CONF_PEER_CUSTOMER);
    TU_CHECK(!p->trust_pai);
    TU_CHECK(!p->require_identity);
    TU_INTEQ(p->on_failure, CONF_FAIL_REJECT);
    TU_INTEQ(p->on_fetch_failure, CONF_FETCH_DEFER);
    TU_INTEQ(p->unauthorized, CONF_UNAUTH_REJECT);
    TU_CHECK(p->api_token == NULL);
    TU_INTEQ(p->n_nets, 1);
    /* The effective config loads back to itself. */
    dump = sg_config_dump(conf_table(), &c);
    TU_REQUIRE(conf_load_buf("dump", dump, strlen(dump), &again, &err) ==
               SG_OK);
    dump2 = sg_config_dump(conf_table(), &again);
    TU_STREQ(dump, dump2);
    free(dump);
    free(dump2);
    conf_free(&again);
    conf_free(&c);
}

TU_TEST(conf_unknown_key_position)
{
    static const char text[] = "{\n"
                               "  \"node\": {\n"
                               "    \"log_level\": \"debug\",\n"
                               "      \"bogus\": 1\n"
                               "  }\n"
                               "}\n";
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load(text, &c, &err) == SG_REFUSED);
    TU_INTEQ(err.line, 4);
    TU_INTEQ(err.column, 7);
    TU_STREQ(err.key, "node.bogus");
    TU_CHECK(strncmp(err.text, "t.json:4:7: node.bogus: unknown key", 35) == 0);
    TU_CHECK(c.data_dir == NULL); /* freed back to zeros */
}

TU_TEST(conf_cross_key_position)
{
    /* The second peer's name repeats the first: reported at its value. */
    static const char text[] =
        "{\"verify\": {\"trust\": \"@D@/ca.pem\"},\n"
        " \"peers\": [\n"
        "  {\"name\": \"p\", \"kind\": \"interconnect\", \"sip\": "
        "[\"192.0.2.1\"]},\n"
        "  {\"kind\": \"interconnect\",   \"name\": \"p\", \"sip\": "
        "[\"192.0.2.2\"]}\n"
        " ]}\n";
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load(text, &c, &err) == SG_REFUSED);
    TU_STREQ(err.key, "peers[1].name");
    TU_INTEQ(err.line, 4);
    TU_INTEQ(err.column, 38);
    TU_CHECK(strstr(err.text, "t.json:4:38: peers[1].name: \"p\" is also "
                              "peers[0].name") != NULL);
    TU_CHECK(c.peers.n == 0);
}

/* One rule: a config, the key the error names and a piece of its text. */
typedef struct {
    const char *json;
    const char *key; /* NULL: must load */
    const char *why;
} rule_case_t;

#define SIGN                                                                   \
    "\"sign\": {\"key\": \"@D@/signer.key\", "                                 \
    "\"x5u\": \"https://c.example.net/c.pem\"}"
#define TRUST "\"verify\": {\"trust\": \"@D@/ca.pem\"}"
#define PEER(extra)                                                            \
    "\"peers\": [{\"name\": \"p\", \"kind\": \"interconnect\", " extra "}]"

static const rule_case_t s_rules[] = {
    /* listeners */
    {"{\"sip\": {\"tcp\": [\"localhost:5060\"]}}", "sip.tcp[0]",
     "not an IPv4 address"},
    {"{\"sip\": {\"udp\": [\"127.0.0.1:0\"]}}", "sip.udp[0]", "port"},
    {"{\"sip\": {\"udp\": [\"::1:5060\"]}}", "sip.udp[0]", "[ADDR]:PORT"},
    {"{\"sip\": {\"udp\": [\"[::1]:5060\", \"[::1]:5060\"]}}", "sip.udp[1]",
     "also used by sip.udp"},
    {"{\"sip\": {\"udp\": [\"127.0.0.1:5060\"], \"tcp\": [\"127.0.0.1:5060\"]},"
     " \"http\": {\"listen\": \"127.0.0.1:5060\"}}",
     "http.listen", "also used by sip.tcp"},
    {"{\"sip\": {\"udp\": [\"127.0.0.1:5060\"], \"tcp\": [\"127.0.0.1:5060\"]},"
     " \"http\": {\"listen\": \"[::1]:8080\"},"
     " \"metrics\": {\"listen\": \"127.0.0.1:9090\"}}",
     NULL, NULL},
    {"{\"metrics\": {\"listen\": \"127.0.0.1:99999\"}}", "metrics.listen",
     "port"},
    /* scalars */
    {"{\"node\": {\"default_cc\": \"4a\"}}", "node.default_cc", "digits"},
    {"{\"node\": {\"default_cc\": \"44\"}}", NULL, NULL},
    {"{\"sip\": {\"max_connections\": 10, \"max_connections_per_peer\": 11}}",
     "sip.max_connections_per_peer", "exceeds"},
    {"{\"http\": {\"max_connections\": 8, \"max_connections_per_peer\": 9}}",
     "http.max_connections_per_peer", "exceeds http.max_connections"},
    {"{\"http\": {\"max_connections\": 8, \"max_connections_per_peer\": 8}}",
     NULL, NULL},
    {"{\"x5u\": {\"connect_timeout_ms\": 6000}}", "x5u.connect_timeout_ms",
     "exceeds x5u.timeout_ms"},
    {"{\"store\": {\"map_size\": \"8GiB\"}}", "store.map_size", "map_max"},
    {"{\"store\": {\"backoff_min\": \"2h\"}}", "store.backoff_min",
     "backoff_max"},
    {"{\"verify\": {\"replay_window\": \"69s\"}}", "verify.replay_window",
     "max_future"},
    {"{\"verify\": {\"replay_window\": \"70s\"}}", NULL, NULL},
    {"{\"delivery\": {\"resign_after\": \"61s\"}}", "delivery.resign_after",
     "verify.max_age"},
    {"{\"sip\": {\"accept_types\": [\"text/plain\", \"textplain\"]}}",
     "sip.accept_types[1]", "type/subtype"},
    {"{\"sip\": {\"accept_types\": []}}", "sip.accept_types", "list of"},
    /* sign and https */
    {"{\"sign\": {\"x5u\": \"http://c.example.net/c.pem\"}}", "sign.x5u",
     "https only"},
    {"{\"sign\": {\"publish\": true, \"x5u\": \"https://h/c.pem\"}}",
     "sign.publish", "sign.chain"},
    {"{\"sign\": {\"publish\": true, \"chain\": \"@D@/ca.pem\"}}",
     "sign.publish", "sign.x5u"},
    {"{\"sign\": {\"publish\": true, \"chain\": \"@D@/ca.pem\", "
     "\"x5u\": \"https://h/c.pem\"}}",
     "sign.publish", "http.tls_listen"},
    {"{\"http\": {\"tls_listen\": \"127.0.0.1:8443\", "
     "\"tls_cert\": \"@D@/ca.pem\"}}",
     "http.tls_listen", "tls_key"},
    {"{\"http\": {\"tls_listen\": \"127.0.0.1:8443\", "
     "\"tls_cert\": \"@D@/ca.pem\", \"tls_key\": \"@D@/ca.pem\"}}",
     "http.tls_key", "group or others"},
    {"{\"http\": {\"tls_listen\": \"127.0.0.1:8443\", "
     "\"tls_cert\": \"@D@/ca.pem\", \"tls_key\": \"@D@/signer.key\"},"
     " \"sign\": {\"publish\": true, \"chain\": \"@D@/ca.pem\", "
     "\"x5u\": \"https://127.0.0.1:8443/c.pem\"}}",
     NULL, NULL},
    /* files */
    {"{\"sign\": {\"key\": \"@D@/ca.pem\"}}", "sign.key", "group or others"},
    {"{\"verify\": {\"trust\": \"@D@/nope.pem\"}}", "verify.trust",
     "does not exist"},
    {"{\"verify\": {\"crl\": \"@D@\"}}", "verify.crl", "regular file"},
    /* peers */
    {"{" TRUST ", \"peers\": [{\"name\": \"a b\", \"kind\": \"interconnect\","
     " \"sip\": [\"192.0.2.1\"]}]}",
     "peers[0].name", "[A-Za-z0-9._-]"},
    {"{" TRUST ", " PEER("\"trust_pai\": true") "}", "peers[0]",
     "neither sip sources nor an api_token_file"},
    {"{" PEER("\"sip\": [\"192.0.2.1\"]") "}", "peers[0].kind", "verify.trust"},
    {"{" TRUST ", \"peers\": [{\"name\": \"c\", \"kind\": \"customer\", "
     "\"sip\": [\"192.0.2.1\"]}]}",
     "peers[0].kind", "sign.key and sign.x5u"},
    {"{" TRUST ", \"peers\": [{\"name\": \"c\", \"sip\": [\"192.0.2.1\"]}]}",
     "peers[0].kind", "missing required key"},
    {"{" TRUST ", " PEER("\"sip\": [\"10.0.0.1/8\"]") "}", "peers[0].sip[0]",
     "host bits"},
    {"{" TRUST ", " PEER("\"sip\": [\"10.0.0.0/33\"]") "}", "peers[0].sip[0]",
     "prefix length"},
    {"{" TRUST ", " PEER("\"sip\": [\"10.0.0.0/08\"]") "}", "peers[0].sip[0]",
     "prefix length"},
    {"{" TRUST ", " PEER("\"sip\": [\"10.0.0.0/\"]") "}", "peers[0].sip[0]",
     "prefix length"},
    {"{" TRUST ", " PEER("\"sip\": [\"10.0.0.0/-1\"]") "}", "peers[0].sip[0]",
     "prefix length"},
    {"{" TRUST ", " PEER("\"sip\": [\"::1/129\"]") "}", "peers[0].sip[0]",
     "prefix length"},
    {"{" TRUST ", " PEER("\"sip\": [\"2001:db8::1/32\"]") "}",
     "peers[0].sip[0]", "host bits"},
    {"{" TRUST ", " PEER("\"sip\": [\"sbc.example.net\"]") "}",
     "peers[0].sip[0]", "not an IPv4 or IPv6"},
    {"{" TRUST ", " PEER("\"sip\": [\"0.0.0.0/0\", \"::/0\", \"::1/128\", "
                         "\"192.0.2.1/32\"]") "}",
     NULL, NULL},
    {"{" TRUST ", \"peers\": ["
     "{\"name\": \"a\", \"kind\": \"interconnect\", \"sip\": [\"10.0.0.0/8\"]},"
     "{\"name\": \"b\", \"kind\": \"interconnect\", \"sip\": [\"10.1.0.0/16\","
     " \"10.0.0.0/8\"]}]}",
     "peers[1].sip[1]", "also a source of peer \"a\""},
    {"{" SIGN ", \"peers\": [{\"name\": \"c\", \"kind\": \"customer\", "
     "\"sip\": [\"192.0.2.1\"], \"numbers\": [{\"start\": \"1202x\", "
     "\"count\": 2}]}]}",
     "peers[0].numbers[0].start", "digits"},
    {"{" SIGN ", \"peers\": [{\"name\": \"c\", \"kind\": \"customer\", "
     "\"sip\": [\"192.0.2.1\"], \"numbers\": [{\"start\": \"99\", "
     "\"count\": 2}]}]}",
     "peers[0].numbers[0].count", "leaves 2-digit"},
    {"{" SIGN ", \"peers\": [{\"name\": \"c\", \"kind\": \"customer\", "
     "\"sip\": [\"192.0.2.1\"], \"numbers\": [{\"start\": \"98\", "
     "\"count\": 2}]}]}",
     NULL, NULL},
    {"{" TRUST ", " PEER("\"api_token_file\": \"@D@/open.token\"") "}",
     "peers[0].api_token_file", "group or others"},
    {"{" TRUST ", " PEER("\"api_token_file\": \"@D@/short.token\"") "}",
     "peers[0].api_token_file", "16..256"},
    {"{" TRUST ", " PEER("\"api_token_file\": \"@D@/space.token\"") "}",
     "peers[0].api_token_file", "16..256"},
    {"{" TRUST ", " PEER("\"api_token_file\": \"@D@/none.token\"") "}",
     "peers[0].api_token_file", "does not exist"},
    {"{" TRUST ", \"peers\": ["
     "{\"name\": \"a\", \"kind\": \"interconnect\", "
     "\"api_token_file\": \"@D@/a.token\"},"
     "{\"name\": \"b\", \"kind\": \"interconnect\", "
     "\"api_token_file\": \"@D@/a-again.token\"}]}",
     "peers[1].api_token_file", "same token as peer \"a\""},
    /* routes */
    {"{\"routes\": [{\"name\": \"r\", \"webhook\": \"http://h/x\"}, "
     "{\"name\": \"r\", \"sip\": \"udp:h:5060\"}]}",
     "routes[1].name", "also routes[0].name"},
    {"{\"routes\": [{\"name\": \"r\"}]}", "routes[0]", "exactly one"},
    {"{\"routes\": [{\"name\": \"r\", \"webhook\": \"http://h/x\", "
     "\"sip\": \"udp:h:5060\"}]}",
     "routes[0]", "exactly one"},
    {"{\"routes\": [{\"name\": \"r\", \"sip\": \"sctp:h:5060\"}]}",
     "routes[0].sip", "udp:HOST:PORT"},
    {"{\"routes\": [{\"name\": \"r\", \"sip\": \"tcp:h:0\"}]}", "routes[0].sip",
     "udp:HOST:PORT"},
    {"{\"routes\": [{\"name\": \"r\", \"webhook\": \"ftp://h/x\"}]}",
     "routes[0].webhook", "http://"},
    {"{\"routes\": [{\"name\": \"r\", \"webhook\": \"https://h/x\", "
     "\"match_prefix\": \"1+\"}]}",
     "routes[0].match_prefix", "digits"},
    {"{\"routes\": [{\"name\": \"r\", \"webhook\": \"https://h/x\", "
     "\"match_prefix\": \"1202\"}, {\"name\": \"s\", "
     "\"sip\": \"tcp:[2001:db8::1]:5061\"}]}",
     NULL, NULL},
    /* the table's own checks, through conf_load */
    {"{\"delivery\": {\"on_stale\": \"drop\"}}", "delivery.on_stale",
     "one of \"deliver_unverified\", \"reject\""},
    {"{\"verify\": {\"max_age\": \"2d\"}}", "verify.max_age", "1s..1d"},
    {"{\"sip\": {\"max_message\": \"2MiB\"}}", "sip.max_message", "size"},
};

TU_TEST(conf_cross_key_rules)
{
    for (size_t i = 0; i < sizeof(s_rules) / sizeof(s_rules[0]); i++) {
        const rule_case_t *r = &s_rules[i];
        sg_config_err_t err;
        conf_t c;
        sg_rc rc = s_load(r->json, &c, &err);

        if (r->key == NULL) {
            if (rc != SG_OK) {
                tu_fail(__FILE__, __LINE__, "should load");
                tu_note("  case %zu: %s", i, err.text);
            }
            conf_free(&c);
            continue;
        }
        if (rc != SG_REFUSED || strcmp(err.key, r->key) != 0 ||
            strstr(err.text, r->why) == NULL || err.line < 1) {
            tu_fail(__FILE__, __LINE__, "should be refused");
            tu_note("  case %zu: rc %d, want key %s with \"%s\", got: %s", i,
                    rc, r->key, r->why, rc == SG_OK ? "(loaded)" : err.text);
            if (rc == SG_OK)
                conf_free(&c);
        }
    }
}

TU_TEST(conf_missing_files_tolerated_on_request)
{
    static const char text[] = "{\"verify\": {\"trust\": \"@D@/gone/ca.pem\"}, "
                               "\"sign\": {\"key\": \"@D@/ca.pem\"}}";
    static const char text_ok[] =
        "{\"verify\": {\"trust\": \"@D@/gone/ca.pem\"}, "
        "\"peers\": [{\"name\": \"p\", \"kind\": \"interconnect\", "
        "\"api_token_file\": \"@D@/gone.token\"}]}";
    sg_config_err_t err;
    conf_t c;

    /* Missing is tolerated, a file open to others still is not. */
    TU_CHECK(s_load_flags(text, CONF_LOAD_MISSING_OK, &c, &err) == SG_REFUSED);
    TU_STREQ(err.key, "sign.key");
    TU_REQUIRE(s_load_flags(text_ok, CONF_LOAD_MISSING_OK, &c, &err) == SG_OK);
    TU_REQUIRE(c.missing.n == 2);
    TU_CHECK(strncmp(c.missing.v[0], "verify.trust: ", 14) == 0);
    TU_CHECK(strncmp(c.missing.v[1], "peers[0].api_token_file: ", 25) == 0);
    TU_CHECK(((conf_peer_t *)c.peers.items)->api_token == NULL);
    conf_free(&c);
    TU_CHECK(s_load(text_ok, &c, &err) == SG_REFUSED);
}

TU_TEST(conf_parse_net_masks)
{
    static const struct {
        const char *s;
        int ok, prefix;
    } cases[] = {
        {"192.0.2.1", 1, 32},   {"192.0.2.1/32", 1, 32},
        {"0.0.0.0/0", 1, 0},    {"10.0.0.0/8", 1, 8},
        {"10.128.0.0/9", 1, 9}, {"10.64.0.0/9", 0, 0},
        {"::1", 1, 128},        {"::1/128", 1, 128},
        {"::/0", 1, 0},         {"2001:db8::/32", 1, 32},
        {"fe80::/10", 1, 10},   {"fe80::/8", 0, 0},
        {"1.2.3.4/33", 0, 0},   {"::/129", 0, 0},
        {"1.2.3.4/", 0, 0},     {"1.2.3.4/3x", 0, 0},
        {"1.2.3.4/ 32", 0, 0},  {"1.2.3.4/+32", 0, 0},
        {"/8", 0, 0},           {"1.2.3", 0, 0},
        {"[::1]", 0, 0},        {"1.2.3.4/032", 0, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        conf_net_t n;
        const char *why = conf_parse_net(cases[i].s, &n);

        if ((why == NULL) != cases[i].ok ||
            (why == NULL && n.prefix != cases[i].prefix)) {
            tu_fail(__FILE__, __LINE__, "conf_parse_net");
            tu_note("  \"%s\": %s", cases[i].s, why ? why : "accepted");
        }
    }
}

TU_TEST(conf_parse_listen_forms)
{
    struct sockaddr_storage ss;
    socklen_t len;

    TU_CHECK(conf_parse_listen("127.0.0.1:5060", &ss, &len) == NULL);
    TU_INTEQ(ss.ss_family, AF_INET);
    TU_INTEQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5060);
    TU_CHECK(conf_parse_listen("[::1]:65535", &ss, &len) == NULL);
    TU_INTEQ(ss.ss_family, AF_INET6);
    TU_INTEQ(len, sizeof(struct sockaddr_in6));
    TU_CHECK(conf_parse_listen("127.0.0.1", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen("127.0.0.1:65536", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen("127.0.0.1:", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen(":5060", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen("[::1]5060", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen("[127.0.0.1]:5060", &ss, &len) != NULL);
    TU_CHECK(conf_parse_listen("host:5060", &ss, &len) != NULL);
}

static const conf_peer_t *
s_by4(const conf_t *c, const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};

    inet_pton(AF_INET, ip, &a.sin_addr);
    return conf_peer_by_addr(c, (struct sockaddr *)&a);
}

static const conf_peer_t *
s_by6(const conf_t *c, const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};

    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return conf_peer_by_addr(c, (struct sockaddr *)&a);
}

static const char *
s_name(const conf_peer_t *p)
{
    return p ? p->name : "(none)";
}

TU_TEST(conf_peer_by_addr_longest_match)
{
    static const char text[] =
        "{" TRUST ", \"peers\": ["
        "{\"name\": \"wide\", \"kind\": \"interconnect\", "
        "\"sip\": [\"10.0.0.0/8\"]},"
        "{\"name\": \"narrow\", \"kind\": \"interconnect\", "
        "\"sip\": [\"10.1.0.0/16\", \"2001:db8::/32\"]},"
        "{\"name\": \"host\", \"kind\": \"interconnect\", "
        "\"sip\": [\"10.1.2.3\", \"::1/128\"]},"
        "{\"name\": \"odd\", \"kind\": \"interconnect\", "
        "\"sip\": [\"172.16.0.0/12\", \"2001:db8:8000::/33\"]},"
        "{\"name\": \"any4\", \"kind\": \"interconnect\", "
        "\"sip\": [\"0.0.0.0/0\"]}]}";
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load(text, &c, &err) == SG_OK);
    TU_STREQ(s_name(s_by4(&c, "10.1.2.3")), "host");
    TU_STREQ(s_name(s_by4(&c, "10.1.2.4")), "narrow");
    TU_STREQ(s_name(s_by4(&c, "10.1.255.255")), "narrow");
    TU_STREQ(s_name(s_by4(&c, "10.2.0.1")), "wide");
    TU_STREQ(s_name(s_by4(&c, "10.255.255.255")), "wide");
    TU_STREQ(s_name(s_by4(&c, "172.31.255.1")), "odd"); /* /12 edge */
    TU_STREQ(s_name(s_by4(&c, "172.32.0.1")), "any4");
    TU_STREQ(s_name(s_by4(&c, "11.0.0.1")), "any4");
    TU_STREQ(s_name(s_by6(&c, "::1")), "host");
    TU_STREQ(s_name(s_by6(&c, "::2")), "(none)"); /* 0.0.0.0/0 is v4 only */
    TU_STREQ(s_name(s_by6(&c, "2001:db8:1::5")), "narrow");
    TU_STREQ(s_name(s_by6(&c, "2001:db8:8000::5")), "odd");
    TU_STREQ(s_name(s_by6(&c, "2001:db9::1")), "(none)");
    /* IPv4 seen through a dual-stack socket */
    TU_STREQ(s_name(s_by6(&c, "::ffff:10.1.2.3")), "host");
    TU_STREQ(s_name(s_by6(&c, "::ffff:10.9.0.1")), "wide");
    TU_CHECK(conf_peer_by_addr(&c, (struct sockaddr *)&un) == NULL);
    TU_CHECK(conf_peer_by_addr(&c, NULL) == NULL);
    conf_free(&c);
}

TU_TEST(conf_peer_by_addr_v6_any)
{
    static const char text[] = "{" TRUST ", " PEER("\"sip\": [\"::/0\"]") "}";
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load(text, &c, &err) == SG_OK);
    TU_STREQ(s_name(s_by6(&c, "2001:db8::1")), "p");
    TU_STREQ(s_name(s_by4(&c, "192.0.2.1")), "(none)");
    conf_free(&c);
}

TU_TEST(conf_peer_by_token_lookup)
{
    static const char text[] =
        "{" TRUST ", \"peers\": ["
        "{\"name\": \"a\", \"kind\": \"interconnect\", "
        "\"api_token_file\": \"@D@/a.token\"},"
        "{\"name\": \"nosip\", \"kind\": \"interconnect\", "
        "\"sip\": [\"192.0.2.1\"]},"
        "{\"name\": \"b\", \"kind\": \"interconnect\", "
        "\"api_token_file\": \"@D@/b.token\"}]}";
    static const char tok_a[] = TOKEN_A, tok_b[] = TOKEN_B;
    char wrong[sizeof(tok_a)];
    sg_config_err_t err;
    conf_t c;

    TU_REQUIRE(s_load(text, &c, &err) == SG_OK);
    /* Trailing new line (and CRLF) cut; a 0400 file is fine. */
    TU_STREQ(((conf_peer_t *)c.peers.items)[0].api_token, TOKEN_A);
    TU_STREQ(s_name(conf_peer_by_token(&c, tok_a, strlen(tok_a))), "a");
    TU_STREQ(s_name(conf_peer_by_token(&c, tok_b, strlen(tok_b))), "b");
    memcpy(wrong, tok_a, sizeof(wrong));
    wrong[5] ^= 1;
    TU_CHECK(conf_peer_by_token(&c, wrong, strlen(wrong)) == NULL);
    TU_CHECK(conf_peer_by_token(&c, tok_a, strlen(tok_a) - 1) == NULL);
    TU_CHECK(conf_peer_by_token(&c, TOKEN_A "x", strlen(tok_a) + 1) == NULL);
    TU_CHECK(conf_peer_by_token(&c, "", 0) == NULL);
    TU_CHECK(conf_peer_by_token(&c, NULL, 0) == NULL);
    conf_free(&c);
}
