/*
 * tests/tools/store_client.c - a test client of stirgate-store for the
 * system tests (tests/system/test_store.py) and nothing else.
 *
 *   store_client -e EP burst N [-w WINDOW] [-b BODYLEN] [-m MARKER]
 *                [-i IDHEX] [-x EXPIRES_MS] [-t TIMEOUT_MS]
 *       STORE N messages keeping WINDOW outstanding; one line per reply:
 *       "STORED <id>" or "REFUSED <id> <code>", flushed at once, so a
 *       reader sees every acknowledgement before a kill.  -i repeats one
 *       id (idempotency); -m puts MARKER at the start of each body.
 *   store_client -e EP worker [-c CREDIT] [-o OUTCOME] [-r RETRY_MS]
 *                [-n JOBS] [-t TIMEOUT_MS]
 *       READY(CREDIT), then for each JOB print "JOB <id> <attempt>
 *       <wall ms>" and answer DONE(OUTCOME) (delivered, retry, failed,
 *       expired) or, with "die", exit at once holding the lease.  Exits
 *       after JOBS jobs (0: until the timeout).
 *   store_client -e EP put --from F --to T [--body-file F] [--ctype T]
 *                [--identity V]... [--iat S] [--gateway-signed]
 *                [--deferred] [--verstat none|passed|failed]
 *                [--reason NAME] [--expires-ms MS] [--received-ms MS]
 *                [--peer P] [--status-url U] [--id IDHEX]
 *       STORE one envelope built from the arguments (the delivery
 *       tests); prints "STORED <id>" or "REFUSED <id> <code>".
 *   store_client -e EP replay KEYHEX WINDOW_S
 *       CHECK_REPLAY; prints SEEN or NEW.
 *   store_client -e EP raw HEX_VERSION HEX_HEADER HEX_BODY
 *       Send three raw frames (malformed-input tests); prints nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "lib/sg.h"
#include "lib/sg_clock.h"
#include "lib/sg_rand.h"
#include "proto/proto_msg.h"
#include "proto/proto_wire.h"

static void *s_sock;

static void
s_send(proto_cmd cmd, uint64_t corr, const void *body, size_t len)
{
    uint8_t vf[PROTO_WIRE_VFRAME_LEN], hdr[PROTO_WIRE_HDR_LEN];

    proto_wire_version_frame(vf);
    proto_wire_header(hdr, cmd, corr, (uint32_t)len);
    if (zmq_send(s_sock, vf, sizeof(vf), ZMQ_SNDMORE) < 0 ||
        zmq_send(s_sock, hdr, sizeof(hdr), ZMQ_SNDMORE) < 0 ||
        zmq_send(s_sock, body, len, 0) < 0) {
        fprintf(stderr, "zmq_send: %s\n", zmq_strerror(errno));
        exit(3);
    }
}

/* Wait for one message; 0 on timeout.  `buf` receives the body. */
static int
s_recv(int timeout_ms, proto_wire_msg *m, zmq_msg_t parts[3])
{
    zmq_pollitem_t it = {s_sock, 0, ZMQ_POLLIN, 0};
    proto_wire_frame f[3];
    int n = 0;
    const char *why;

    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    for (;;) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        if (zmq_msg_recv(&x, s_sock, 0) < 0) {
            fprintf(stderr, "zmq_msg_recv: %s\n", zmq_strerror(errno));
            exit(3);
        }
        int more = zmq_msg_more(&x);
        if (n < 3)
            parts[n++] = x;
        else
            zmq_msg_close(&x);
        if (!more)
            break;
    }
    if (n != 3) {
        fprintf(stderr, "reply with %d frames\n", n);
        exit(3);
    }
    for (int i = 0; i < 3; i++) {
        f[i].p = zmq_msg_data(&parts[i]);
        f[i].len = zmq_msg_size(&parts[i]);
    }
    if ((why = proto_wire_decode(f, 3, PROTO_DIR_FROM_STORE, m)) != NULL) {
        fprintf(stderr, "bad reply: %s\n", why);
        exit(3);
    }
    return 1;
}

static void
s_close(zmq_msg_t parts[3])
{
    for (int i = 0; i < 3; i++)
        zmq_msg_close(&parts[i]);
}

static int
s_burst(int argc, char **argv)
{
    long n = atol(argv[0]), window = 64, blen = 200, sent = 0, got = 0;
    long timeout = 10000;
    const char *marker = "", *idhex = NULL;
    uint64_t expires = 0;
    uint8_t fixed_id[PROTO_MSG_ID_LEN];
    uint8_t *body;
    int opt;

    optind = 0;
    while ((opt = getopt(argc, argv, "w:b:m:i:x:t:")) != -1) {
        switch (opt) {
        case 'w': window = atol(optarg); break;
        case 'b': blen = atol(optarg); break;
        case 'm': marker = optarg; break;
        case 'i': idhex = optarg; break;
        case 'x': expires = strtoull(optarg, NULL, 10); break;
        case 't': timeout = atol(optarg); break;
        default: return 2;
        }
    }
    if (idhex && proto_msg_id_parse(idhex, fixed_id) != NULL)
        return 2;
    if ((size_t)blen < strlen(marker))
        blen = (long)strlen(marker);
    body = sg_malloc((size_t)blen);
    while (got < n) {
        while (sent < n && sent - got < window) {
            proto_msg m;
            uint8_t rnd[10], *env;
            size_t len;
            memset(&m, 0, sizeof(m));
            sg_rand_bytes(rnd, sizeof(rnd));
            if (idhex)
                memcpy(m.id, fixed_id, sizeof(m.id));
            else
                proto_msg_id_make(m.id, sg_clock_wall_ms(), rnd);
            for (long i = 0; i < blen; i++)
                body[i] = (uint8_t)('a' + (i + sent) % 26);
            memcpy(body, marker, strlen(marker));
            m.from.p = (const uint8_t *)"+12025550100";
            m.from.len = 12;
            m.to.p = (const uint8_t *)"+12025550111";
            m.to.len = 12;
            m.content_type.p = (const uint8_t *)"text/plain";
            m.content_type.len = 10;
            m.body.p = body;
            m.body.len = (size_t)blen;
            m.received_ms = sg_clock_wall_ms();
            m.expires_ms = expires;
            env = proto_msg_encode_new(&m, &len);
            if (env == NULL)
                return 2;
            s_send(PROTO_CMD_STORE, (uint64_t)sent, env, len);
            sg_free(env);
            sent++;
        }
        proto_wire_msg r;
        zmq_msg_t parts[3];
        char hex[PROTO_MSG_ID_HEX];
        if (!s_recv((int)timeout, &r, parts)) {
            fprintf(stderr, "timeout: %ld of %ld answered\n", got, n);
            sg_free(body);
            return 1;
        }
        if (r.cmd == PROTO_CMD_STORED) {
            printf("STORED %s\n", proto_msg_id_hex(r.body, hex));
            got++;
        } else if (r.cmd == PROTO_CMD_REFUSED) {
            proto_refused ref;
            if (proto_wire_refused_decode(r.body, r.body_len, &ref) == NULL)
                printf("REFUSED %s %u\n", proto_msg_id_hex(ref.id, hex),
                       ref.code);
            got++;
        }
        fflush(stdout);
        s_close(parts);
    }
    sg_free(body);
    return 0;
}

static int
s_worker(int argc, char **argv)
{
    long credit = 1, jobs = 0, timeout = 10000, retry = 0, seen = 0;
    const char *outcome = "delivered";
    uint32_t oc;
    uint8_t b[4];
    int opt;

    optind = 0;
    while ((opt = getopt(argc, argv, "c:o:r:n:t:")) != -1) {
        switch (opt) {
        case 'c': credit = atol(optarg); break;
        case 'o': outcome = optarg; break;
        case 'r': retry = atol(optarg); break;
        case 'n': jobs = atol(optarg); break;
        case 't': timeout = atol(optarg); break;
        default: return 2;
        }
    }
    oc = strcmp(outcome, "delivered") == 0 ? PROTO_OUTCOME_DELIVERED
         : strcmp(outcome, "retry") == 0   ? PROTO_OUTCOME_RETRY
         : strcmp(outcome, "failed") == 0  ? PROTO_OUTCOME_FAILED
         : strcmp(outcome, "expired") == 0 ? PROTO_OUTCOME_EXPIRED
                                           : 0;
    if (oc == 0 && strcmp(outcome, "die") != 0)
        return 2;
    proto_wire_u32_encode((uint32_t)credit, b);
    s_send(PROTO_CMD_READY, 0, b, 4);
    uint64_t deadline = sg_clock_mono_ms() + (uint64_t)timeout;
    uint64_t hb = sg_clock_mono_ms();
    while (jobs == 0 || seen < jobs) {
        uint64_t now = sg_clock_mono_ms();
        proto_wire_msg r;
        zmq_msg_t parts[3];
        if (now >= deadline)
            break;
        if (now - hb >= 500) {
            /* Liveness: the store forgets silent workers. */
            proto_wire_u32_encode(0, b);
            s_send(PROTO_CMD_HEARTBEAT, 0, b, 4);
            hb = now;
        }
        if (!s_recv(200, &r, parts))
            continue;
        if (r.cmd == PROTO_CMD_JOB) {
            proto_job j;
            proto_msg m;
            char hex[PROTO_MSG_ID_HEX];
            if (proto_wire_job_decode(r.body, r.body_len, &j) != NULL ||
                proto_msg_decode(j.env, j.env_len, &m) != NULL) {
                fprintf(stderr, "bad JOB\n");
                return 3;
            }
            printf("JOB %s %u %llu\n", proto_msg_id_hex(m.id, hex), j.attempt,
                   (unsigned long long)sg_clock_wall_ms());
            fflush(stdout);
            seen++;
            if (oc == 0)
                _exit(0); /* die holding the lease */
            proto_done d = {.attempt = j.attempt,
                            .outcome = oc,
                            .retry_after_ms = (uint32_t)retry,
                            .error = {(const uint8_t *)"test outcome", 12}};
            uint8_t db[64];
            memcpy(d.id, m.id, sizeof(d.id));
            size_t dl = proto_wire_done_encode(&d, db, sizeof(db));
            s_send(PROTO_CMD_DONE, 0, db, dl);
            /* Credit back only for jobs this worker will still take. */
            if (jobs == 0 || seen + credit <= jobs) {
                proto_wire_u32_encode(1, b);
                s_send(PROTO_CMD_READY, 0, b, 4);
            }
        }
        s_close(parts);
    }
    return 0;
}

static uint8_t *
s_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = NULL;
    size_t cap = 0;

    *n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4096;
            b = sg_realloc(b, cap);
        }
        size_t k = fread(b + *n, 1, cap - *n, f);
        if (k == 0)
            break;
        *n += k;
    }
    fclose(f);
    return b;
}

static int
s_put(int argc, char **argv)
{
    static const struct option lo[] = {
        {"from", 1, 0, 'f'},        {"to", 1, 0, 't'},
        {"body-file", 1, 0, 'b'},   {"ctype", 1, 0, 'c'},
        {"identity", 1, 0, 'I'},    {"iat", 1, 0, 'a'},
        {"gateway-signed", 0, 0, 'g'}, {"deferred", 0, 0, 'd'},
        {"verstat", 1, 0, 'v'},     {"reason", 1, 0, 'r'},
        {"expires-ms", 1, 0, 'x'},  {"received-ms", 1, 0, 'R'},
        {"peer", 1, 0, 'p'},        {"status-url", 1, 0, 'u'},
        {"id", 1, 0, 'i'},          {0, 0, 0, 0},
    };
    proto_msg m;
    uint8_t rnd[10], *body = NULL, *env;
    size_t blen = 0, len;
    const char *idhex = NULL;
    int opt, rc = 1;

    memset(&m, 0, sizeof(m));
    m.received_ms = sg_clock_wall_ms();
    m.verstat = PROTO_MSG_VERSTAT_NONE;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 'f':
            m.from.p = (const uint8_t *)optarg;
            m.from.len = strlen(optarg);
            break;
        case 't':
            m.to.p = (const uint8_t *)optarg;
            m.to.len = strlen(optarg);
            break;
        case 'b':
            if ((body = s_slurp(optarg, &blen)) == NULL && errno) {
                fprintf(stderr, "%s: %s\n", optarg, strerror(errno));
                return 2;
            }
            break;
        case 'c':
            m.content_type.p = (const uint8_t *)optarg;
            m.content_type.len = strlen(optarg);
            break;
        case 'I':
            if (m.n_identity == PROTO_MSG_IDENTITY_N)
                return 2;
            m.identity[m.n_identity].p = (const uint8_t *)optarg;
            m.identity[m.n_identity++].len = strlen(optarg);
            break;
        case 'a': m.iat = strtoull(optarg, NULL, 10); break;
        case 'g': m.flags |= PROTO_MSG_F_GATEWAY_SIGNED; break;
        case 'd': m.flags |= PROTO_MSG_F_DEFERRED; break;
        case 'v':
            m.verstat = PROTO_MSG_VERSTAT_NONE;
            if (strcmp(optarg, "passed") == 0)
                m.verstat = PROTO_MSG_VERSTAT_PASSED;
            else if (strcmp(optarg, "failed") == 0)
                m.verstat = PROTO_MSG_VERSTAT_FAILED;
            break;
        case 'r': {
            int r = proto_reason_from_name(optarg);
            if (r < 0)
                return 2;
            m.reason = (uint8_t)r;
            break;
        }
        case 'x': m.expires_ms = strtoull(optarg, NULL, 10); break;
        case 'R': m.received_ms = strtoull(optarg, NULL, 10); break;
        case 'p':
            m.peer.p = (const uint8_t *)optarg;
            m.peer.len = strlen(optarg);
            break;
        case 'u':
            m.flags |= PROTO_MSG_F_STATUS_URL;
            m.status_url.p = (const uint8_t *)optarg;
            m.status_url.len = strlen(optarg);
            break;
        case 'i': idhex = optarg; break;
        default: return 2;
        }
    }
    m.body.p = body;
    m.body.len = blen;
    if (idhex) {
        if (proto_msg_id_parse(idhex, m.id) != NULL)
            return 2;
    } else {
        sg_rand_bytes(rnd, sizeof(rnd));
        proto_msg_id_make(m.id, sg_clock_wall_ms(), rnd);
    }
    if ((env = proto_msg_encode_new(&m, &len)) == NULL) {
        fprintf(stderr, "envelope refused: %s\n", proto_msg_check(&m));
        sg_free(body);
        return 2;
    }
    s_send(PROTO_CMD_STORE, 1, env, len);
    sg_free(env);
    {
        proto_wire_msg r;
        zmq_msg_t parts[3];
        char hex[PROTO_MSG_ID_HEX];
        if (s_recv(5000, &r, parts)) {
            if (r.cmd == PROTO_CMD_STORED) {
                printf("STORED %s\n", proto_msg_id_hex(r.body, hex));
                rc = 0;
            } else if (r.cmd == PROTO_CMD_REFUSED) {
                proto_refused ref;
                if (proto_wire_refused_decode(r.body, r.body_len, &ref) ==
                    NULL)
                    printf("REFUSED %s %u\n", proto_msg_id_hex(ref.id, hex),
                           ref.code);
            }
            s_close(parts);
        }
    }
    sg_free(body);
    return rc;
}

static int
s_replay(int argc, char **argv)
{
    proto_check_replay c;
    uint8_t b[40];
    proto_wire_msg r;
    zmq_msg_t parts[3];

    if (argc < 2 || strlen(argv[0]) != 64)
        return 2;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(argv[0] + 2 * i, "%2x", &v) != 1)
            return 2;
        c.key[i] = (uint8_t)v;
    }
    c.window_s = (uint32_t)atol(argv[1]);
    proto_wire_check_replay_encode(&c, b);
    s_send(PROTO_CMD_CHECK_REPLAY, 7, b, sizeof(b));
    if (!s_recv(5000, &r, parts))
        return 1;
    puts(r.cmd == PROTO_CMD_SEEN ? "SEEN" : r.cmd == PROTO_CMD_NEW ? "NEW"
                                                                    : "?");
    s_close(parts);
    return 0;
}

static size_t
s_unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;

    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        if (sscanf(h + 2 * i, "%2x", &v) != 1)
            break;
        out[i] = (uint8_t)v;
    }
    return n;
}

static int
s_raw(int argc, char **argv)
{
    uint8_t b[3][4096];
    size_t n[3];

    if (argc < 3)
        return 2;
    for (int i = 0; i < 3; i++)
        n[i] = s_unhex(argv[i], b[i], sizeof(b[i]));
    zmq_send(s_sock, b[0], n[0], ZMQ_SNDMORE);
    zmq_send(s_sock, b[1], n[1], ZMQ_SNDMORE);
    zmq_send(s_sock, b[2], n[2], 0);
    return 0;
}

int main(int argc, char **argv);

int
main(int argc, char **argv)
{
    const char *ep = NULL;
    void *ctx;
    int rc, linger = 2000;

    if (argc >= 4 && strcmp(argv[1], "-e") == 0)
        ep = argv[2];
    if (ep == NULL) {
        fputs("usage: store_client -e ENDPOINT burst|worker|put|replay|raw "
              "...\n",
              stderr);
        return 2;
    }
    ctx = zmq_ctx_new();
    s_sock = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s_sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(s_sock, ep) != 0) {
        fprintf(stderr, "zmq_connect: %s\n", zmq_strerror(errno));
        return 2;
    }
    if (strcmp(argv[3], "burst") == 0 && argc >= 5)
        rc = s_burst(argc - 4, argv + 4);
    else if (strcmp(argv[3], "worker") == 0)
        rc = s_worker(argc - 3, argv + 3);
    else if (strcmp(argv[3], "put") == 0)
        rc = s_put(argc - 3, argv + 3);
    else if (strcmp(argv[3], "replay") == 0)
        rc = s_replay(argc - 4, argv + 4);
    else if (strcmp(argv[3], "raw") == 0)
        rc = s_raw(argc - 4, argv + 4);
    else
        rc = 2;
    zmq_close(s_sock);
    zmq_ctx_term(ctx);
    return rc;
}
