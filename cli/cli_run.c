/*
 * cli/cli_run.c - stirgate run: the master (DESIGN.md section 1).
 *
 *   stirgate run [-c FILE]
 *
 * Reads one config, spawns the stages as child processes and supervises
 * them, as Postfix's master does:
 *
 *   1. stirgate-store, then a wait (with a deadline) until its socket
 *      RUN/store.sock accepts: ingest must not take a message it cannot
 *      commit;
 *   2. stirgate-ingest and, once it exists, stirgate-deliver;
 *   3. a poll loop on a self-pipe the signal handlers write to: a stage
 *      that exits is restarted after a throttle (1 s doubling to 60 s, back
 *      to 1 s once a run lasted 60 s), each exit logged with its status or
 *      signal;
 *   4. SIGTERM or SIGINT: stop in pipeline order, each stage given a
 *      deadline and then SIGKILL: ingest first (it stops accepting and
 *      finishes what is in flight, which still needs the store), then
 *      deliver (its outcomes go to the store), the store last.  Exit 0.
 *      SIGHUP is reserved for reload.
 *
 * Stages run in their own process group, so a terminal's Ctrl-C reaches
 * only the master and the stop keeps its order; PR_SET_PDEATHSIG stops
 * them if the master itself is killed.  Each stage's pid is in
 * RUN/stage-NAME.pid while it runs, the master's in RUN/stirgate.pid
 * (locked: one master per run directory).
 *
 * Without -c, the embedded default: a data directory ($STIRGATE_DATA or
 * ./stirgate-data) with a demo PKI, a TLS certificate for the x5u served
 * on 127.0.0.1:8443, API tokens and the config DATA/stirgate.json, all on
 * loopback; see s_default_template.
 */
#include "cli/cli_int.h"
#include "conf/conf.h"
#include "lib/sg_clock.h"
#include "lib/sg_log.h"
#include "lib/sg_metrics.h"
#include "verify/verify_pki.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_PLACE "master"
#define S_CMD "run"
#define S_READY_MS 15000 /* store socket / ingest ports at start */
#define S_STOP_MS 10000  /* per stage, then SIGKILL */
#define S_KILL_MS 5000   /* after SIGKILL, before giving up on it */
#define S_BACKOFF_MIN_MS 1000
#define S_BACKOFF_MAX_MS 60000
#define S_STABLE_MS 60000 /* a run this long resets the throttle */
#define S_ARGV_MAX 40

/*
 * Stage slots: the store, then one slot per ingest process
 * (ingest.processes of them: "ingest" when there is one, else "ingest-1"
 * …; they share the listen addresses through SO_REUSEPORT), then one slot
 * per deliver worker (delivery.workers of them, "deliver-1" …), then,
 * in the embedded default only, the demo sink (m->sink).  The ingest
 * slots start at S_INGEST, the deliver slots at m->deliver0; m->nst says
 * how many are in use.
 */
#define S_INGEST_MAX 64
#define S_DELIVER_MAX 64
enum {
    S_STORE,
    S_INGEST,
    S_STAGES_MAX = S_INGEST + S_INGEST_MAX + S_DELIVER_MAX + 1
};

/*
 * The embedded default's one route, and the `stirgate sink` the master
 * starts on it, so that the banner's curl and sipp lines end in a line
 * printed with the message's verstat (README "The embedded default").
 */
#define S_DEMO_SINK "127.0.0.1:8090"
#define S_DEMO_HOOK "http://" S_DEMO_SINK "/messages"

typedef struct {
    const char *name;   /* "store": logs, RUN/stage-NAME.pid */
    char namebuf[24];   /* "ingest-N", "deliver-N" */
    const char *binary; /* "stirgate-store" */
    int required;       /* no binary: refuse to start */
    char path[PATH_MAX];
    char *argv[S_ARGV_MAX];
    char args[S_ARGV_MAX][PATH_MAX + 32];
    pid_t pid; /* 0 = not running */
    uint64_t started_ms;
    uint64_t restart_at_ms; /* 0 = no restart pending */
    uint64_t backoff_ms;
    unsigned restarts;
    int present; /* binary found */
} s_stage_t;

typedef struct {
    conf_t conf;
    char config[PATH_MAX]; /* absolute: the stages run it too */
    char data[PATH_MAX];   /* embedded default: the data directory */
    int embedded;
    s_stage_t st[S_STAGES_MAX];
    int nst;      /* slots in use */
    int deliver0; /* first deliver slot (S_INGEST + ingest processes) */
    int sink;     /* the demo sink's slot (the last); -1 when none */
    int lockfd;
    int stopping;
    int phase; /* while stopping: the ingest slots, deliver, the store */
    uint64_t phase_deadline_ms;
    int killed; /* SIGKILL sent in this phase */
} s_master_t;

/* The stop order: the ingest processes, the deliver workers, the demo
 * sink, the store (see the top of the file).  Phase p's stage slot: the
 * slots after the store's in order, then the store's. */
static int
s_stop_slot(const s_master_t *m, int phase)
{
    if (phase < m->nst - 1)
        return S_INGEST + phase;
    return phase == m->nst - 1 ? S_STORE : -1;
}

static int s_sigpipe[2] = {-1, -1};

static int s_fmt(char *out, size_t outsz, const char *fmt, ...) SG_PRINTF(3, 4);

/* snprintf that says whether it all fit: 0, or -1 when cut. */
static int
s_fmt(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < outsz ? 0 : -1;
}

/* ---- the embedded default ------------------------------------------------*/

/*
 * Everything on loopback.  The demo customer (127.0.0.1) gets its messages
 * signed with the demo signer; the demo interconnect (127.0.0.2, as sipp
 * -i 127.0.0.2) gets them verified, its x5u fetched from our own HTTPS
 * listener: hence the two x5u relaxations, logged at start.  @DATA@ is the
 * data directory, JSON-escaped.
 */
static const char s_default_template[] =
    "{\n"
    "  \"node\": {\"data_dir\": \"@DATA@\", \"run_dir\": \"@DATA@/run\",\n"
    "           \"log_level\": \"info\", \"default_cc\": \"1\"},\n"
    "  \"sip\": {\"udp\": [\"127.0.0.1:5060\"], \"tcp\": "
    "[\"127.0.0.1:5060\"]},\n"
    "  \"http\": {\"listen\": \"127.0.0.1:8080\",\n"
    "           \"tls_listen\": \"127.0.0.1:8443\",\n"
    "           \"tls_cert\": \"@DATA@/pki/tls.pem\",\n"
    "           \"tls_key\": \"@DATA@/pki/tls.key\"},\n"
    "  \"metrics\": {\"listen\": \"127.0.0.1:9464\"},\n"
    "  \"sign\": {\"key\": \"@DATA@/pki/signer.key\",\n"
    "           \"x5u\": \"https://127.0.0.1:8443/certs/chain.pem\",\n"
    "           \"chain\": \"@DATA@/pki/chain.pem\", \"publish\": true},\n"
    "  \"verify\": {\"trust\": \"@DATA@/pki/ca.pem\"},\n"
    "  \"x5u\": {\"allow_loopback\": true, \"tls_ca\": "
    "\"@DATA@/pki/ca.pem\"},\n"
    "  \"routes\": [{\"name\": \"demo-sink\",\n"
    "              \"webhook\": \"" S_DEMO_HOOK "\"}],\n"
    "  \"peers\": [\n"
    "    {\"name\": \"demo-customer\", \"kind\": \"customer\",\n"
    "     \"sip\": [\"127.0.0.1/32\"],\n"
    "     \"api_token_file\": \"@DATA@/customer.token\",\n"
    "     \"numbers\": [{\"start\": \"12025550000\", \"count\": 10000}]},\n"
    "    {\"name\": \"demo-interconnect\", \"kind\": \"interconnect\",\n"
    "     \"sip\": [\"127.0.0.2/32\"],\n"
    "     \"api_token_file\": \"@DATA@/interconnect.token\"}\n"
    "  ]\n"
    "}\n";

int
cli_run_default_dir(const char *cmd, char *out, size_t outsz)
{
    const char *d = getenv("STIRGATE_DATA");
    char cwd[PATH_MAX];
    int n;

    if (d == NULL || *d == '\0')
        d = "stirgate-data";
    if (d[0] == '/') {
        n = snprintf(out, outsz, "%s", d);
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            cli_err(cmd, "getcwd: %s", strerror(errno));
            return -1;
        }
        n = snprintf(out, outsz, "%s/%s", cwd, d);
    }
    /* DATA/run holds the ipc sockets: sun_path is 108 bytes. */
    if (n < 0 || (size_t)n >= outsz || n > 70) {
        cli_err(cmd,
                "data directory %s: path too long for the sockets "
                "under it (set STIRGATE_DATA to a path of at most 70 "
                "characters)",
                d);
        return -1;
    }
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

char *
cli_run_default_json(const char *dir)
{
    json_t *s = json_string(dir);
    char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL, *out;
    size_t qlen, n = 0, cap;
    const char *p;

    if (q == NULL)
        sg_panic("json_dumps: out of memory");
    json_decref(s);
    /* The quoted form without its quotes is the escaped string body. */
    qlen = strlen(q) - 2;
    cap = sizeof(s_default_template) + 16 * qlen;
    out = sg_malloc(cap);
    for (p = s_default_template; *p;) {
        if (strncmp(p, "@DATA@", 6) == 0) {
            if (n + qlen >= cap)
                sg_panic("default template: placeholder count");
            memcpy(out + n, q + 1, qlen);
            n += qlen;
            p += 6;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    free(q);
    return out;
}

static int
s_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    return s_fmt(path, sizeof(path), "%s/%s", dir, name) == 0 &&
           stat(path, &st) == 0;
}

/* mkdir -p with mode for what it makes; 0 or -1 after printing. */
static int
s_mkdirs(const char *dir, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(dir);
    struct stat st;

    if (n >= sizeof(tmp)) {
        cli_err(S_CMD, "%s: path too long", dir);
        return -1;
    }
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST) {
            cli_err(S_CMD, "mkdir %s: %s", tmp, strerror(errno));
            return -1;
        }
        tmp[i] = i < n ? '/' : '\0';
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_err(S_CMD, "%s: not a directory", dir);
        return -1;
    }
    return 0;
}

/* A random API token file (0600) unless one is there already. */
static int
s_default_token(const char *dir, const char *name)
{
    uint8_t raw[24];
    char hex[2 * sizeof(raw) + 2], path[PATH_MAX];
    int rc;

    if (s_exists(dir, name))
        return 0;
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        sg_log_openssl(S_PLACE, "RAND_bytes");
        cli_err(S_CMD, "no randomness for the API token");
        return -1;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    strcat(hex, "\n");
    rc = (s_fmt(path, sizeof(path), "%s/%s", dir, name) == 0 &&
          verify_pki_write_file(path, hex, 0600) == SG_OK)
             ? 0
             : -1;
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (rc != 0)
        cli_err(S_CMD, "%s: cannot write (see the log above)", path);
    return rc;
}

/*
 * First start: the PKI, the TLS certificate and the tokens; every start:
 * the config, rewritten from the template (to change it, copy it and use
 * -c).  Fills m->config.
 */
static int
s_default_prepare(s_master_t *m)
{
    cli_pki_demo_opts po = {"12025550000", 10000, NULL, 365, 1};
    char pki[PATH_MAX], *text;
    int rc;

    if (cli_run_default_dir(S_CMD, m->data, sizeof(m->data)) != 0 ||
        s_mkdirs(m->data, 0700) != 0)
        return -1;
    if (s_fmt(pki, sizeof(pki), "%s/pki", m->data) != 0)
        return -1; /* cli_run_default_dir keeps it far shorter */
    /* chain.pem is written last: its presence means a complete PKI. */
    if (!s_exists(pki, "chain.pem")) {
        sg_info(S_PLACE, "first start: writing a demo PKI into %s", pki);
        if (cli_pki_demo_write(S_CMD, pki, &po) != 0)
            return -1;
    }
    if (!s_exists(pki, "tls.pem") && cli_pki_tls_write(S_CMD, pki) != 0)
        return -1;
    if (s_default_token(m->data, "customer.token") != 0 ||
        s_default_token(m->data, "interconnect.token") != 0)
        return -1;
    if (s_fmt(m->config, sizeof(m->config), "%s/stirgate.json", m->data))
        return -1;
    text = cli_run_default_json(m->data);
    rc = verify_pki_write_file(m->config, text, 0644) == SG_OK ? 0 : -1;
    sg_free(text);
    if (rc != 0)
        cli_err(S_CMD, "%s: cannot write (see the log above)", m->config);
    return rc;
}

/* ---- checks before anything starts ---------------------------------------*/

/*
 * Bind each listener once and let it go, so a port in use is reported by
 * name here rather than as a stage crashing in a restart loop.  A race
 * with another program remains; the stage then fails and says so.
 */
static int
s_probe_one(s_master_t *m, const char *key, const char *addr, int type)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, rc = 0;

    if (addr == NULL || conf_parse_listen(addr, &ss, &len) != NULL)
        return 0;
    fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cli_err(S_CMD, "%s %s: socket: %s", key, addr, strerror(errno));
        return -1;
    }
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;

        if (m->embedded)
            cli_err(S_CMD,
                    "%s %s: %s; the embedded default needs this port: "
                    "stop what holds it, or copy %s, change the "
                    "ports and run stirgate run -c FILE",
                    key, addr, strerror(e), m->config);
        else
            cli_err(S_CMD, "%s %s: %s", key, addr, strerror(e));
        rc = -1;
    }
    close(fd);
    return rc;
}

static int
s_probe_ports(s_master_t *m)
{
    const conf_t *c = &m->conf;

    for (size_t i = 0; i < c->sip_udp.n; i++)
        if (s_probe_one(m, "sip.udp", c->sip_udp.v[i], SOCK_DGRAM) != 0)
            return -1;
    for (size_t i = 0; i < c->sip_tcp.n; i++)
        if (s_probe_one(m, "sip.tcp", c->sip_tcp.v[i], SOCK_STREAM) != 0)
            return -1;
    if (s_probe_one(m, "http.listen", c->http_listen, SOCK_STREAM) != 0 ||
        s_probe_one(m, "http.tls_listen", c->http_tls_listen, SOCK_STREAM) !=
            0 ||
        s_probe_one(m, "metrics.listen", c->metrics_listen, SOCK_STREAM) != 0)
        return -1;
    return 0;
}

/*
 * A master killed without its stop (SIGKILL, OOM) leaves its stages
 * stopping on their own: PR_SET_PDEATHSIG sent them SIGTERM, and ingest
 * finishes what is in flight before it lets go of the listen ports.  A
 * master started again at once (by systemd, by hand) would find the ports
 * still bound and exit 2.  So, once we hold the run directory's lock, wait
 * for the stages the RUN/stage-NAME.pid files still name, as long as the
 * stop of a master would (S_STOP_MS, then SIGKILL and S_KILL_MS).  A pid
 * is only waited for while /proc says it runs one of our binaries, so a
 * reused pid is left alone.
 */
static int
s_orphan(const char *run_dir, const char *file, pid_t *pid)
{
    char path[PATH_MAX], buf[PATH_MAX];
    const char *base;
    FILE *f;
    long v = 0;
    int ok;

    (void)s_fmt(path, sizeof(path), "%s/%s", run_dir, file);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    ok = fscanf(f, "%ld", &v) == 1 && v > 1 && v != (long)getpid();
    fclose(f);
    if (!ok)
        return 0;
    (void)s_fmt(path, sizeof(path), "/proc/%ld/cmdline", v);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    ok = fgets(buf, sizeof(buf), f) != NULL;
    fclose(f);
    base = ok ? strrchr(buf, '/') : NULL;
    base = base != NULL ? base + 1 : buf;
    if (!ok || strncmp(base, "stirgate", 8) != 0)
        return 0;
    *pid = (pid_t)v;
    return 1;
}

static void
s_wait_orphans(const s_master_t *m)
{
    uint64_t start = sg_clock_mono_ms();
    int killed = 0, logged = 0;

    for (;;) {
        uint64_t now = sg_clock_mono_ms();
        struct dirent *e;
        DIR *d;
        int left = 0;

        if ((d = opendir(m->conf.run_dir)) == NULL)
            return;
        while ((e = readdir(d)) != NULL) {
            size_t n = strlen(e->d_name);
            pid_t pid;

            if (strncmp(e->d_name, "stage-", 6) != 0 || n < 10 ||
                strcmp(e->d_name + n - 4, ".pid") != 0 ||
                !s_orphan(m->conf.run_dir, e->d_name, &pid))
                continue;
            left++;
            if (!logged)
                sg_warn(S_PLACE,
                        "a previous master's %.*s (pid %ld) is still "
                        "stopping; waiting for it",
                        (int)(n - 10), e->d_name + 6, (long)pid);
            if (now - start >= S_STOP_MS && !killed)
                kill(pid, SIGKILL);
        }
        closedir(d);
        logged = 1;
        if (left == 0)
            return;
        if (now - start >= S_STOP_MS)
            killed = 1;
        if (now - start >= S_STOP_MS + S_KILL_MS) {
            sg_warn(S_PLACE, "a previous master's stages survive SIGKILL; "
                             "going on");
            return;
        }
        poll(NULL, 0, 50);
    }
}

/* Refuse a second master on the same run directory; write our pid. */
static int
s_lock(s_master_t *m)
{
    char path[PATH_MAX], pid[32];
    int n;

    /* node.run_dir is at most 80 bytes (its table row). */
    (void)s_fmt(path, sizeof(path), "%s/stirgate.pid", m->conf.run_dir);
    m->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m->lockfd < 0) {
        cli_err(S_CMD, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(m->lockfd, LOCK_EX | LOCK_NB) != 0) {
        n = (int)read(m->lockfd, pid, sizeof(pid) - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        cli_err(S_CMD,
                "%s: another stirgate run (pid %s) uses this run "
                "directory",
                path, pid[0] ? pid : "?");
        return -1;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(m->lockfd, 0) != 0 ||
        pwrite(m->lockfd, pid, (size_t)n, 0) != n) {
        cli_err(S_CMD, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- stages --------------------------------------------------------------*/

/* Next to this binary, or in the build's sibling folder ../FOLDER/. */
static int
s_find(s_stage_t *s, const char *folder)
{
    char self[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return 0;
    self[n] = '\0';
    if ((slash = strrchr(self, '/')) == NULL)
        return 0;
    *slash = '\0';
    if (s_fmt(s->path, sizeof(s->path), "%s/%s", self, s->binary) == 0 &&
        access(s->path, X_OK) == 0)
        return 1;
    return s_fmt(s->path, sizeof(s->path), "%s/../%s/%s", self, folder,
                 s->binary) == 0 &&
           access(s->path, X_OK) == 0;
}

static void s_arg(s_stage_t *s, int *i, const char *fmt, ...) SG_PRINTF(3, 4);

static void
s_arg(s_stage_t *s, int *i, const char *fmt, ...)
{
    va_list ap;

    if (*i >= S_ARGV_MAX - 1)
        sg_panic("stage argv: too many arguments");
    va_start(ap, fmt);
    vsnprintf(s->args[*i], sizeof(s->args[*i]), fmt, ap);
    va_end(ap);
    s->argv[*i] = s->args[*i];
    (*i)++;
    s->argv[*i] = NULL;
}

/* The argv of each stage, from the config. */
static void
s_build_argv(s_master_t *m)
{
    const conf_t *c = &m->conf;
    s_stage_t *s = &m->st[S_STORE];
    int i = 0;

    /* The store keeps its own bounded options (store/store_main.c): the
     * values are translated, the bounds checked again there. */
    s_arg(s, &i, "%s", s->path);
    s_arg(s, &i, "--dir");
    s_arg(s, &i, "%s/store", c->data_dir);
    s_arg(s, &i, "--run-dir");
    s_arg(s, &i, "%s", c->run_dir);
    s_arg(s, &i, "--map-size");
    s_arg(s, &i, "%" PRId64, c->store_map_size);
    s_arg(s, &i, "--map-max");
    s_arg(s, &i, "%" PRId64, c->store_map_max);
    s_arg(s, &i, "--backoff-min");
    s_arg(s, &i, "%" PRId64 "s", c->store_backoff_min);
    s_arg(s, &i, "--backoff-max");
    s_arg(s, &i, "%" PRId64 "s", c->store_backoff_max);
    s_arg(s, &i, "--lifetime");
    s_arg(s, &i, "%" PRId64 "s", c->store_lifetime);
    s_arg(s, &i, "--dead-keep");
    s_arg(s, &i, "%" PRId64 "s", c->store_dead_keep);
    s_arg(s, &i, "--done-keep");
    s_arg(s, &i, "%" PRId64 "s", c->store_done_keep);
    s_arg(s, &i, "--lease");
    s_arg(s, &i, "%" PRId64 "s", c->store_lease);
    s_arg(s, &i, "--replay-window");
    s_arg(s, &i, "%" PRId64 "s", c->verify_replay_window);
    s_arg(s, &i, "--batch");
    s_arg(s, &i, "%" PRId64, c->store_batch);
    s_arg(s, &i, "--commit-delay-us");
    s_arg(s, &i, "%" PRId64, c->store_commit_delay_us);
    s_arg(s, &i, "--log-level");
    s_arg(s, &i, "%s", conf_log_levels[c->log_level]);
    for (size_t k = 0; k < c->log_debug.n; k++) {
        s_arg(s, &i, "--log-debug");
        s_arg(s, &i, "%s", c->log_debug.v[k]);
    }

    for (int k = S_INGEST; k < m->deliver0; k++) {
        s = &m->st[k];
        i = 0;
        s_arg(s, &i, "%s", s->path);
        s_arg(s, &i, "-c");
        s_arg(s, &i, "%s", m->config);
        s_arg(s, &i, "--run-dir");
        s_arg(s, &i, "%s", c->run_dir);
    }

    for (int w = m->deliver0; w < (m->sink >= 0 ? m->sink : m->nst); w++) {
        s = &m->st[w];
        i = 0;
        s_arg(s, &i, "%s", s->path);
        s_arg(s, &i, "-c");
        s_arg(s, &i, "%s", m->config);
        s_arg(s, &i, "--run-dir");
        s_arg(s, &i, "%s", c->run_dir);
        s_arg(s, &i, "--worker");
        s_arg(s, &i, "%d", w - m->deliver0 + 1);
    }

    if (m->sink >= 0) {
        s = &m->st[m->sink];
        i = 0;
        s_arg(s, &i, "%s", s->path);
        s_arg(s, &i, "sink");
        s_arg(s, &i, "--listen");
        s_arg(s, &i, S_DEMO_SINK);
    }
}

/*
 * The embedded default: one more supervised child, `stirgate sink` on the
 * demo route's address, so a message sent with the banner's lines is seen
 * arriving (its stdout is the master's).  Not when something already
 * listens there: the user's own `stirgate sink` from an earlier README, or
 * a receiver of theirs, which then gets the messages instead.
 */
static void
s_add_sink(s_master_t *m)
{
    struct sockaddr_storage ss;
    socklen_t len;
    s_stage_t *s;
    ssize_t n;
    int fd, one = 1, busy;

    if (conf_parse_listen(S_DEMO_SINK, &ss, &len) != NULL ||
        (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    busy = bind(fd, (struct sockaddr *)&ss, len) != 0;
    close(fd);
    if (busy) {
        sg_info(S_PLACE,
                "%s is in use: not starting the demo sink; deliveries go "
                "to what listens there",
                S_DEMO_SINK);
        return;
    }
    m->sink = m->nst++;
    s = &m->st[m->sink];
    s->name = "sink";
    s->binary = "stirgate";
    n = readlink("/proc/self/exe", s->path, sizeof(s->path) - 1);
    if (n <= 0) {
        sg_warn(S_PLACE, "readlink /proc/self/exe: %s; no demo sink",
                strerror(errno));
        m->sink = -1;
        m->nst--;
        return;
    }
    s->path[n] = '\0';
    s->present = 1;
}

static void
s_pidfile(const s_master_t *m, const s_stage_t *s, int present)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8], pid[32];
    int fd, n;

    (void)s_fmt(path, sizeof(path), "%s/stage-%s.pid", m->conf.run_dir,
                s->name);
    if (!present) {
        unlink(path);
        return;
    }
    /* Renamed into place: a reader never sees half a pid. */
    (void)s_fmt(tmp, sizeof(tmp), "%s.tmp", path);
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)s->pid);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, pid, (size_t)n) != n || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        sg_warn(S_PLACE, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

static int
s_spawn(s_master_t *m, s_stage_t *s)
{
    pid_t master = getpid(), pid;

    pid = fork();
    if (pid < 0) {
        sg_error(S_PLACE, "%s: fork: %s", s->name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t none;
        int null;

        /* Its own process group: only the master hears the terminal. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != master)
            _exit(1);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        /* SIGTERM and SIGINT stay blocked across exec until the stage has
         * its handlers (each unblocks them then): a stop that arrives
         * during start-up waits and is handled as a graceful stop, instead
         * of killing a stage that has not set up its handlers yet. */
        sigemptyset(&none);
        sigaddset(&none, SIGTERM);
        sigaddset(&none, SIGINT);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if ((null = open("/dev/null", O_RDONLY)) >= 0) {
            dup2(null, 0);
            if (null > 2)
                close(null);
        }
        /* Several ingest processes: each its own metrics instance. */
        if (strncmp(s->name, "ingest-", 7) == 0)
            setenv("STIRGATE_INSTANCE", s->name + 7, 1);
        execv(s->path, s->argv);
        dprintf(2, "stirgate: run: exec %s: %s\n", s->path, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    s->started_ms = sg_clock_mono_ms();
    s->restart_at_ms = 0;
    s_pidfile(m, s, 1);
    sg_info(S_PLACE, "started %s pid=%ld", s->name, (long)pid);
    return 0;
}

/* Describe a wait status: "exited with status 1", "killed by signal 9
 * (Killed)". */
static void
s_status(int wst, char *out, size_t outsz)
{
    if (WIFEXITED(wst))
        snprintf(out, outsz, "exited with status %d", WEXITSTATUS(wst));
    else if (WIFSIGNALED(wst))
        snprintf(out, outsz, "killed by signal %d (%s)%s", WTERMSIG(wst),
                 strsignal(WTERMSIG(wst)),
                 WCOREDUMP(wst) ? ", core dumped" : "");
    else
        snprintf(out, outsz, "wait status 0x%x", (unsigned)wst);
}

static void s_http_restarted(const char *slot);

/* Reap every exited child; schedule restarts unless stopping. */
static void
s_reap(s_master_t *m)
{
    pid_t pid;
    int wst;

    while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
        uint64_t now = sg_clock_mono_ms(), ran;
        s_stage_t *s = NULL;
        char why[96];

        for (int i = 0; i < m->nst; i++)
            if (m->st[i].pid == pid)
                s = &m->st[i];
        if (s == NULL)
            continue;
        s_status(wst, why, sizeof(why));
        s->pid = 0;
        s_pidfile(m, s, 0);
        ran = now - s->started_ms;
        if (m->stopping) {
            sg_info(S_PLACE, "%s stopped: %s", s->name, why);
            continue;
        }
        if (ran >= S_STABLE_MS || s->backoff_ms == 0)
            s->backoff_ms = S_BACKOFF_MIN_MS;
        s->restart_at_ms = now + s->backoff_ms;
        s->restarts++;
        s_http_restarted(s->name);
        sg_error(S_PLACE,
                 "%s pid=%ld %s after %" PRIu64 " ms; restarting in "
                 "%" PRIu64 " s (restart %u)",
                 s->name, (long)pid, why, ran, s->backoff_ms / 1000,
                 s->restarts);
        s->backoff_ms = s->backoff_ms * 2 > S_BACKOFF_MAX_MS
                            ? S_BACKOFF_MAX_MS
                            : s->backoff_ms * 2;
    }
}

/* ---- readiness -----------------------------------------------------------*/

static int
s_unix_accepts(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, ok;

    if (strlen(path) >= sizeof(sa.sun_path))
        return 0;
    strcpy(sa.sun_path, path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static int
s_tcp_accepts(const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, ok;

    if (conf_parse_listen(addr, &ss, &len) != NULL)
        return 0;
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

static void s_http_poll(struct pollfd *p, int *ms);
static void s_http_run(const struct pollfd *p);

/* Sleep on the self-pipe for at most `ms`, serving the metrics listener
 * meanwhile; 1 when a signal byte waits. */
static int
s_wait_pipe(int ms)
{
    struct pollfd p[2] = {{.fd = s_sigpipe[0], .events = POLLIN}, {.fd = -1}};
    int n;

    s_http_poll(&p[1], &ms);
    n = poll(p, 2, ms);
    s_http_run(&p[1]);
    return n > 0 && (p[0].revents & POLLIN);
}

/* Drain the self-pipe: reap children, note stop requests.  Returns 1 when
 * SIGTERM/SIGINT arrived. */
static int
s_signals(s_master_t *m)
{
    unsigned char sig[64];
    ssize_t n;
    int stop = 0;

    while ((n = read(s_sigpipe[0], sig, sizeof(sig))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (sig[i] == SIGTERM || sig[i] == SIGINT) {
                if (m->stopping)
                    sg_info(S_PLACE, "%s: already stopping", strsignal(sig[i]));
                else
                    sg_info(S_PLACE, "%s: stopping", strsignal(sig[i]));
                stop = 1;
            } else if (sig[i] == SIGHUP) {
                sg_warn(S_PLACE, "SIGHUP: reload not supported yet; ignored");
            }
        }
    }
    s_reap(m);
    return stop;
}

/*
 * Wait until `ready` answers, the stage exits, a stop is asked for or the
 * deadline passes.  1 ready, 0 not (already logged), -1 stop requested.
 */
static int
s_wait_ready(s_master_t *m, s_stage_t *s, int (*ready)(const char *),
             const char *what)
{
    uint64_t deadline = sg_clock_mono_ms() + S_READY_MS;

    for (;;) {
        if (ready(what))
            return 1;
        if (s_wait_pipe(50) && s_signals(m))
            return -1;
        if (s->pid == 0) {
            sg_error(S_PLACE,
                     "%s exited during start-up (its log lines are "
                     "above)",
                     s->name);
            return 0;
        }
        if (sg_clock_mono_ms() >= deadline) {
            sg_error(S_PLACE, "%s: %s does not answer after %d s", s->name,
                     what, S_READY_MS / 1000);
            return 0;
        }
    }
}

/* ---- stopping ------------------------------------------------------------*/

/* Advance the stop: signal the phase's stage, escalate, move on.  Returns
 * 1 when every stage is gone. */
static int
s_stop_step(s_master_t *m)
{
    uint64_t now = sg_clock_mono_ms();

    while (s_stop_slot(m, m->phase) >= 0) {
        s_stage_t *s = &m->st[s_stop_slot(m, m->phase)];

        s->restart_at_ms = 0;
        if (s->pid == 0) {
            m->phase++;
            m->phase_deadline_ms = 0;
            m->killed = 0;
            continue;
        }
        if (m->phase_deadline_ms == 0) {
            kill(s->pid, SIGTERM);
            m->phase_deadline_ms = now + S_STOP_MS;
            return 0;
        }
        if (now < m->phase_deadline_ms)
            return 0;
        if (!m->killed) {
            sg_warn(S_PLACE, "%s pid=%ld did not stop within %d s: SIGKILL",
                    s->name, (long)s->pid, S_STOP_MS / 1000);
            kill(s->pid, SIGKILL);
            m->killed = 1;
            m->phase_deadline_ms = now + S_KILL_MS;
            return 0;
        }
        sg_error(S_PLACE, "%s pid=%ld survives SIGKILL; leaving it", s->name,
                 (long)s->pid);
        s->pid = 0;
    }
    return 1;
}

static void
s_begin_stop(s_master_t *m)
{
    if (m->stopping)
        return;
    m->stopping = 1;
    m->phase = 0;
    m->phase_deadline_ms = 0;
    m->killed = 0;
    for (int i = 0; i < m->nst; i++)
        m->st[i].restart_at_ms = 0;
}

/* ---- /metrics, /healthz, /readyz -----------------------------------------*/

/*
 * The master serves metrics.listen with libmicrohttpd in its own poll loop
 * (MHD_USE_EPOLL: one descriptor next to the self-pipe, MHD_run when it is
 * ready), without threads: the master forks its stages, and a fork from a
 * process with other threads would leave the child with their locks.  The
 * master is not on the message path, and a scrape is a few small file
 * reads, so serving inline delays supervision by microseconds.
 *
 * GET /metrics  every expected stage's snapshot, RUN/metrics/<stage>-<i>.prom,
 *               merged by sg_metrics_merge (stirgate_up 0 for a stage that
 *               is not running or whose snapshot is older than 3 s)
 * GET /healthz  200 {"status":"alive"}: the master answers
 * GET /readyz   200 {"status":"ready"} or 503 {"status":"not ready",
 *               "not_ready":[{"part":…,"why":…},…]}: every stage running
 *               with a fresh snapshot, the store socket accepting, and every
 *               configured listener reported bound by every ingest process
 *               (stirgate_ingest_listener_up)
 */
#define S_STALE_MS 3000
#define S_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct {
    struct MHD_Daemon *d;
    int fd;            /* its epoll descriptor */
    s_master_t *m;     /* borrowed: the one master */
    sg_metrics_t *reg; /* the master's own families */
    sg_metrics_family_t *restarts;
    sg_counter_t *scrapes;
} s_http = {.fd = -1};

/* A slot's metrics identity: stage and instance, from its binary and
 * name ("ingest-2" -> ingest/2, "deliver-1" -> deliver/1); 0 for a slot
 * that writes no snapshot (the demo sink). */
static int
s_slot_ident(const s_stage_t *s, const char **stage, char *inst, size_t instsz)
{
    const char *dash = strrchr(s->name, '-');

    if (s->binary == NULL || s->name == NULL)
        return 0;
    if (strcmp(s->binary, "stirgate-store") == 0)
        *stage = "store";
    else if (strcmp(s->binary, "stirgate-ingest") == 0)
        *stage = "ingest";
    else if (strcmp(s->binary, "stirgate-deliver") == 0)
        *stage = "deliver";
    else
        return 0;
    snprintf(inst, instsz, "%s", dash != NULL ? dash + 1 : "0");
    return 1;
}

/* RUN/metrics/<stage>-<inst>.prom, whole (new, NUL-terminated), or NULL. */
static char *
s_snap_read(const s_master_t *m, const char *stage, const char *inst,
            size_t *len)
{
    char path[PATH_MAX];
    char *buf;
    ssize_t n;
    int fd;

    if (s_fmt(path, sizeof(path), "%s/metrics/%s-%s.prom", m->conf.run_dir,
              stage, inst) != 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return NULL;
    buf = sg_malloc(SG_METRICS_MAX_SNAPSHOT + 1);
    *len = 0;
    while (*len < SG_METRICS_MAX_SNAPSHOT &&
           (n = read(fd, buf + *len, SG_METRICS_MAX_SNAPSHOT - *len)) > 0)
        *len += (size_t)n;
    close(fd);
    buf[*len] = '\0';
    return buf;
}

static void s_notready(json_t *a, const char *part, const char *fmt, ...)
    SG_PRINTF(3, 4);

static void
s_notready(json_t *a, const char *part, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (json_array_append_new(
            a, json_pack("{s:s,s:s}", "part", part, "why", why)) != 0)
        sg_panic("jansson: out of memory");
}

/* Is `listener`="key",address="addr" reported 1 in the parsed snapshot? */
static int
s_listener_up(const sg_metrics_snap_t *snap, const char *key, const char *addr)
{
    char want[256];

    if (s_fmt(want, sizeof(want), "listener=\"%s\",address=\"%s\"", key,
              addr) != 0)
        return 0;
    for (size_t f = 0; f < snap->n_families; f++) {
        const sg_metrics_pfamily_t *pf = &snap->families[f];

        if (pf->name.n != strlen("stirgate_ingest_listener_up") ||
            memcmp(pf->name.p, "stirgate_ingest_listener_up", pf->name.n))
            continue;
        for (size_t i = 0; i < pf->n_samples; i++) {
            const sg_metrics_sample_t *x = &pf->samples[i];
            if (x->labels.n == strlen(want) &&
                memcmp(x->labels.p, want, x->labels.n) == 0)
                return x->value.n == 1 && x->value.p[0] == '1';
        }
    }
    return 0;
}

/* The configured listeners one ingest process should report bound. */
static void
s_check_listeners(const s_master_t *m, const char *part,
                  const sg_metrics_snap_t *snap, json_t *a)
{
    const conf_t *c = &m->conf;

    for (size_t i = 0; i < c->sip_udp.n; i++)
        if (!s_listener_up(snap, "sip.udp", c->sip_udp.v[i]))
            s_notready(a, part, "listener sip.udp %s not bound",
                       c->sip_udp.v[i]);
    for (size_t i = 0; i < c->sip_tcp.n; i++)
        if (!s_listener_up(snap, "sip.tcp", c->sip_tcp.v[i]))
            s_notready(a, part, "listener sip.tcp %s not bound",
                       c->sip_tcp.v[i]);
    if (c->http_listen && c->http_listen[0] &&
        !s_listener_up(snap, "http.listen", c->http_listen))
        s_notready(a, part, "listener http.listen %s not bound",
                   c->http_listen);
    if (c->http_tls_listen && c->http_tls_listen[0] &&
        !s_listener_up(snap, "http.tls_listen", c->http_tls_listen))
        s_notready(a, part, "listener http.tls_listen %s not bound",
                   c->http_tls_listen);
}

/* The not-ready parts (an empty array when ready). */
static json_t *
s_readiness(const s_master_t *m)
{
    json_t *a = json_array();
    uint64_t now = sg_clock_wall_ms();
    char sock[PATH_MAX];

    if (a == NULL)
        sg_panic("jansson: out of memory");
    if (m->stopping)
        s_notready(a, "master", "stopping");
    for (int i = 0; i < m->nst; i++) {
        const s_stage_t *s = &m->st[i];
        const char *stage;
        char inst[24], *buf;
        size_t len = 0;
        sg_metrics_snap_t *snap = NULL;
        const char *why;

        if (!s->present || !s_slot_ident(s, &stage, inst, sizeof(inst)))
            continue;
        if (s->pid == 0) {
            s_notready(a, s->name, "not running");
            continue;
        }
        if ((buf = s_snap_read(m, stage, inst, &len)) == NULL) {
            s_notready(a, s->name, "no metrics snapshot yet");
            continue;
        }
        if ((why = sg_metrics_parse(buf, len, &snap)) != NULL) {
            s_notready(a, s->name, "metrics snapshot unreadable: %s", why);
        } else if (snap->pid != (uint32_t)s->pid) {
            s_notready(a, s->name, "no metrics snapshot since its restart");
        } else if (snap->time_ms + S_STALE_MS < now ||
                   snap->time_ms > now + S_STALE_MS) {
            s_notready(a, s->name, "metrics snapshot %" PRId64 " ms old",
                       (int64_t)(now - snap->time_ms));
        } else if (strcmp(stage, "ingest") == 0) {
            s_check_listeners(m, s->name, snap, a);
        }
        sg_metrics_snap_free(&snap);
        sg_free(buf);
    }
    (void)s_fmt(sock, sizeof(sock), "%s/store.sock", m->conf.run_dir);
    if (m->st[S_STORE].pid != 0 && !s_unix_accepts(sock))
        s_notready(a, "store", "store socket %s does not accept", sock);
    return a;
}

static enum MHD_Result
s_http_reply(struct MHD_Connection *conn, unsigned status, const char *type,
             char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc;

    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A body MHD frees with free(). */
static char *
s_http_text(const char *t)
{
    char *b = strdup(t);

    if (b == NULL)
        sg_panic("strdup: out of memory");
    return b;
}

/* sg_metrics_merge's expected stages: every slot with a snapshot. */
static char *
s_http_metrics(s_master_t *m)
{
    sg_metrics_expect_t ex[S_STAGES_MAX];
    char inst[S_STAGES_MAX][24], dir[PATH_MAX], *out, *b;
    size_t n = 0;

    for (int i = 0; i < m->nst; i++) {
        const s_stage_t *s = &m->st[i];
        const char *stage;

        if (!s->present || !s_slot_ident(s, &stage, inst[n], sizeof(inst[n])))
            continue;
        ex[n].stage = stage;
        ex[n].instance = inst[n];
        ex[n].pid = s->pid;
        n++;
    }
    sg_counter_add(s_http.scrapes, 1);
    (void)s_fmt(dir, sizeof(dir), "%s/metrics", m->conf.run_dir);
    out = sg_metrics_merge(s_http.reg, dir, ex, n, sg_clock_wall_ms(),
                           S_STALE_MS);
    /* MHD frees the body with free(); the merge's string is ours. */
    b = s_http_text(out);
    sg_free(out);
    return b;
}

static enum MHD_Result
s_http_access(void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version, const char *upload,
              size_t *upload_size, void **con_cls)
{
    s_master_t *m = cls;
    json_t *a, *o;
    char *body;
    int ready;

    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        /* Headers only so far: answer once the request is complete. */
        *con_cls = conn;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0; /* a body is not read, just dropped */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "application/json",
                            s_http_text("{\"error\":\"method not allowed\"}"));
    if (strcmp(url, "/metrics") == 0)
        return s_http_reply(conn, MHD_HTTP_OK, S_PROM_TYPE, s_http_metrics(m));
    if (strcmp(url, "/healthz") == 0)
        return s_http_reply(conn, MHD_HTTP_OK, "application/json",
                            s_http_text("{\"status\":\"alive\"}"));
    if (strcmp(url, "/readyz") == 0) {
        a = s_readiness(m);
        ready = json_array_size(a) == 0;
        o = ready
                ? json_pack("{s:s}", "status", "ready")
                : json_pack("{s:s,s:O}", "status", "not ready", "not_ready", a);
        body = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        json_decref(a);
        if (body == NULL)
            sg_panic("json_dumps: out of memory");
        return s_http_reply(conn,
                            ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                            "application/json", body);
    }
    return s_http_reply(conn, MHD_HTTP_NOT_FOUND, "application/json",
                        s_http_text("{\"error\":\"not found\"}"));
}

static void s_http_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
s_http_log(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    sg_warn(S_PLACE, "metrics.listen: %s", line);
}

/* Start metrics.listen, if configured; 0, or -1 after printing. */
static int
s_http_start(s_master_t *m)
{
    const char *spec = m->conf.metrics_listen;
    struct sockaddr_storage ss;
    socklen_t len;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *di;

    s_http.m = m;
    s_http.reg = sg_metrics_new("master", "0");
    s_http.restarts = sg_metrics_declare(
        s_http.reg,
        &(sg_metrics_desc_t){.name = "stirgate_master_restarts_total",
                             .help = "Stage restarts after an unexpected "
                                     "exit, by slot.",
                             .type = SG_METRIC_COUNTER,
                             .labels = (const char *const[]){"slot", NULL}});
    s_http.scrapes = sg_metrics_counter(
        sg_metrics_declare(
            s_http.reg,
            &(sg_metrics_desc_t){.name = "stirgate_master_scrapes_total",
                                 .help = "GET /metrics requests served.",
                                 .type = SG_METRIC_COUNTER}),
        NULL);
    if (spec == NULL || spec[0] == '\0')
        return 0;
    if (conf_parse_listen(spec, &ss, &len) != NULL) {
        cli_err(S_CMD, "metrics.listen %s: not ADDRESS:PORT", spec);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The logger goes first: libmicrohttpd reports problems with the
     * options that follow it through whatever logger is set by then. */
    s_http.d = MHD_start_daemon(
        flags, 0, NULL, NULL, s_http_access, m, MHD_OPTION_EXTERNAL_LOGGER,
        s_http_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_END);
    if (s_http.d == NULL) {
        cli_err(S_CMD, "metrics.listen %s: cannot listen (address in use?)",
                spec);
        return -1;
    }
    di = MHD_get_daemon_info(s_http.d, MHD_DAEMON_INFO_EPOLL_FD);
    s_http.fd = di ? di->epoll_fd : -1;
    sg_info(S_PLACE, "metrics on http://%s (/metrics /healthz /readyz)", spec);
    return 0;
}

static void
s_http_restarted(const char *slot)
{
    if (s_http.restarts != NULL)
        sg_counter_add(sg_metrics_counter(s_http.restarts, slot, NULL), 1);
}

static void
s_http_stop(void)
{
    if (s_http.d != NULL)
        MHD_stop_daemon(s_http.d);
    s_http.d = NULL;
    s_http.fd = -1;
    sg_metrics_destroy(&s_http.reg);
}

/* The listener's descriptor for the next poll, and its timers. */
static void
s_http_poll(struct pollfd *p, int *ms)
{
    MHD_UNSIGNED_LONG_LONG t;

    p->fd = s_http.fd;
    p->events = POLLIN;
    p->revents = 0;
    if (s_http.d != NULL && MHD_get_timeout(s_http.d, &t) == MHD_YES &&
        (*ms < 0 || t < (MHD_UNSIGNED_LONG_LONG)*ms))
        *ms = (int)t;
}

static void
s_http_run(const struct pollfd *p)
{
    if (s_http.d != NULL && p->fd >= 0)
        (void)MHD_run(s_http.d);
}

/* ---- the loop ------------------------------------------------------------*/

static void
s_on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;

    ssize_t k;

    /* Non-blocking: a full pipe already holds enough wake-ups. */
    k = write(s_sigpipe[1], &b, 1);
    (void)k;
    errno = saved;
}

static int
s_signals_setup(void)
{
    struct sigaction sa;

    if (pipe2(s_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        cli_err(S_CMD, "pipe2: %s", strerror(errno));
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static void
s_loop(s_master_t *m)
{
    for (;;) {
        uint64_t now = sg_clock_mono_ms(), next = now + 1000;

        if (m->stopping && s_stop_step(m))
            return;
        for (int i = 0; i < m->nst && !m->stopping; i++) {
            s_stage_t *s = &m->st[i];

            if (s->restart_at_ms == 0)
                continue;
            if (s->restart_at_ms <= now) {
                if (s_spawn(m, s) != 0)
                    s->restart_at_ms = now + s->backoff_ms;
            }
            if (s->restart_at_ms && s->restart_at_ms < next)
                next = s->restart_at_ms;
        }
        if (m->stopping && m->phase_deadline_ms && m->phase_deadline_ms < next)
            next = m->phase_deadline_ms;
        now = sg_clock_mono_ms();
        if (s_wait_pipe(next > now ? (int)(next - now) : 0) && s_signals(m))
            s_begin_stop(m);
    }
}

/* ---- start ---------------------------------------------------------------*/

static void
s_banner(const s_master_t *m)
{
    const conf_t *c = &m->conf;
    const conf_route_t *r = c->routes.n ? c->routes.items : NULL;

    printf("\nstirgate is running on its embedded default (loopback only).\n"
           "  data     %s\n"
           "  config   %s (rewritten at each start; to change it, copy it "
           "and use stirgate run -c FILE)\n"
           "  SIP      udp+tcp %s  (peer demo-customer from 127.0.0.1: "
           "signed; demo-interconnect from 127.0.0.2: verified)\n"
           "  HTTP API http://%s  x5u %s\n"
           "\nSend a message through the API:\n"
           "  curl -sS -H \"Authorization: Bearer $(cat '%s/customer.token')\" "
           "-H 'Content-Type: application/json' -d '{\"from\": "
           "\"+12025550100\", \"to\": \"+12025550199\", \"body\": "
           "\"Hello\"}' http://%s/v1/messages\n"
           "or over SIP (from the repository root):\n"
           "  sipp -sf tools/sipp/message.xml -m 1 -s 12025550199 %s -i "
           "127.0.0.1\n"
           "\n",
           m->data, m->config, c->sip_udp.n ? c->sip_udp.v[0] : "-",
           c->http_listen ? c->http_listen : "-",
           c->sign_x5u ? c->sign_x5u : "-", m->data,
           c->http_listen ? c->http_listen : "-",
           c->sip_udp.n ? c->sip_udp.v[0] : "-");
    if (r != NULL && r->webhook != NULL && m->sink >= 0)
        printf("Messages are delivered to %s (route %s), where the demo "
               "sink started with the gateway prints one line each:\n"
               "  msg=ID from=12025550100 to=12025550199 "
               "verstat=TN-Validation-Passed reason=ok body_len=5 ...\n"
               "Their state: curl -sS -H \"Authorization: Bearer ...\" "
               "http://%s/v1/messages/ID\n\n",
               r->webhook, r->name, c->http_listen ? c->http_listen : "-");
    else if (r != NULL && r->webhook != NULL)
        printf("Messages are delivered to %s (route %s), to whatever "
               "already listens there (the demo sink was not started).  "
               "Until something answers they wait in the store:\n"
               "  stirgate queue list --run-dir %s\n\n",
               r->webhook, r->name, c->run_dir);
    if (!m->st[S_INGEST].present)
        printf("(stirgate-ingest is not built yet: nothing answers on SIP "
               "or HTTP; only the store runs.)\n\n");
    printf("Stop with Ctrl-C.\n\n");
    fflush(stdout);
}

static void
s_log_relaxations(const conf_t *c)
{
    if (c->x5u_allow_loopback)
        sg_warn(S_PLACE, "x5u.allow_loopback: x5u certificates may be "
                         "fetched from 127/8 and ::1 on any port (a "
                         "relaxation of the x5u policy; not for production)");
    if (c->x5u_tls_ca)
        sg_warn(S_PLACE,
                "x5u.tls_ca: x5u servers' TLS checked against %s "
                "instead of the system bundle (a relaxation)",
                c->x5u_tls_ca);
}

static int
s_start(s_master_t *m)
{
    const conf_t *c = &m->conf;
    const char *probe = NULL;
    char sock[PATH_MAX];
    int r;

    if (s_spawn(m, &m->st[S_STORE]) != 0)
        return -1;
    (void)s_fmt(sock, sizeof(sock), "%s/store.sock", c->run_dir);
    r = s_wait_ready(m, &m->st[S_STORE], s_unix_accepts, sock);
    if (r <= 0)
        return r;
    for (int i = S_INGEST; i < m->nst; i++)
        if (m->st[i].present && s_spawn(m, &m->st[i]) != 0)
            return -1;
    if (!m->st[S_INGEST].present)
        return 1;
    if (c->sip_tcp.n)
        probe = c->sip_tcp.v[0];
    else if (c->http_listen)
        probe = c->http_listen;
    if (probe == NULL)
        return 1;
    r = s_wait_ready(m, &m->st[S_INGEST], s_tcp_accepts, probe);
    if (r == 0)
        return 1; /* supervised from here: it may yet come up */
    return r;
}

int
cli_run_main(int argc, char **argv)
{
    static const struct {
        const char *name, *binary, *folder;
        int required;
    } stages[3] = {
        {"store", "stirgate-store", "store", 1},
        {"ingest", "stirgate-ingest", "ingest", 0},
        {"deliver", "stirgate-deliver", "deliver", 0},
    };
    s_master_t *m = sg_calloc(1, sizeof(*m));
    const char *path;
    sg_config_err_t err;
    int rc = CLI_EXIT_USAGE, r;

    m->lockfd = -1;
    m->sink = -1;
    if (cli_conf_args(S_CMD, argc, argv, &path, NULL) != 0)
        goto out;
    if (path == NULL) {
        m->embedded = 1;
        if (s_default_prepare(m) != 0)
            goto out;
    } else if (realpath(path, m->config) == NULL) {
        cli_err(S_CMD, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (conf_load(m->config, &m->conf, &err) != SG_OK) {
        cli_err(S_CMD, "%s", err.text);
        goto out;
    }
    sg_log_init("stirgate", (sg_log_level)m->conf.log_level);
    sg_log_set_debug_places((const char *const *)m->conf.log_debug.v,
                            m->conf.log_debug.n);
    s_log_relaxations(&m->conf);
    if (s_mkdirs(m->conf.data_dir, 0700) != 0 ||
        s_mkdirs(m->conf.run_dir, 0700) != 0)
        goto out;
    /* The run directory holds the stages' sockets: ours alone. */
    if (chmod(m->conf.run_dir, 0700) != 0) {
        cli_err(S_CMD, "chmod %s: %s", m->conf.run_dir, strerror(errno));
        goto out;
    }
    if (s_lock(m) != 0)
        goto out;
    s_wait_orphans(m);
    if (s_probe_ports(m) != 0)
        goto out;
    m->deliver0 = S_INGEST + (int)(m->conf.ingest_processes < S_INGEST_MAX
                                       ? m->conf.ingest_processes
                                       : S_INGEST_MAX);
    m->nst = m->deliver0 + (int)(m->conf.delivery_workers < S_DELIVER_MAX
                                     ? m->conf.delivery_workers
                                     : S_DELIVER_MAX);
    for (int i = 0; i < m->nst; i++) {
        s_stage_t *s = &m->st[i];
        int k = i < S_INGEST ? 0 : i < m->deliver0 ? 1 : 2;

        s->name = stages[k].name;
        if (k == 2) {
            (void)s_fmt(s->namebuf, sizeof(s->namebuf), "deliver-%d",
                        i - m->deliver0 + 1);
            s->name = s->namebuf;
        } else if (k == 1 && m->deliver0 - S_INGEST > 1) {
            (void)s_fmt(s->namebuf, sizeof(s->namebuf), "ingest-%d",
                        i - S_INGEST + 1);
            s->name = s->namebuf;
        }
        s->binary = stages[k].binary;
        s->required = stages[k].required;
        s->present = s_find(s, stages[k].folder);
        if (!s->present && s->required) {
            cli_err(S_CMD,
                    "%s not found next to this binary or in "
                    "../%s/ (build it with scons)",
                    s->binary, stages[k].folder);
            goto out;
        }
        if (!s->present && (i == S_INGEST || i == m->deliver0))
            sg_warn(S_PLACE, "%s not built: the gateway runs without it",
                    s->binary);
    }
    if (m->embedded)
        s_add_sink(m);
    s_build_argv(m);
    if (s_signals_setup() != 0 || s_http_start(m) != 0)
        goto out;
    rc = 1;
    sg_info(S_PLACE, "config %s; run directory %s", m->config, m->conf.run_dir);
    r = s_start(m);
    if (r > 0) {
        if (m->embedded)
            s_banner(m);
        sg_info(S_PLACE, "running; SIGTERM or SIGINT stops");
        s_loop(m);
        rc = CLI_EXIT_OK;
    } else {
        /* Start-up failed (logged) or a stop came first: stop cleanly. */
        if (r < 0)
            rc = CLI_EXIT_OK;
        s_begin_stop(m);
        while (!s_stop_step(m))
            if (s_wait_pipe(100))
                s_signals(m);
    }
    sg_info(S_PLACE, "stopped");
out:
    if (m->lockfd >= 0) {
        char pidpath[PATH_MAX];

        (void)s_fmt(pidpath, sizeof(pidpath), "%s/stirgate.pid",
                    m->conf.run_dir);
        unlink(pidpath);
        close(m->lockfd);
    }
    s_http_stop();
    conf_free(&m->conf);
    sg_free(m);
    return rc;
}
