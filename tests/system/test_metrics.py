#!/usr/bin/env python3
"""tests/system/test_metrics.py - /metrics, /healthz, /readyz and the logs
of the running gateway.

`stirgate run -c CFG` on OS-chosen loopback ports, with two demo PKIs (ours
for the customer, a peer's whose chain a python HTTPS server serves at the
x5u) and python webhook sinks as the next hops.  A known number of messages
of each kind is sent; then every counter of the merged scrape must equal
what was sent (no increment missing, none twice):

  customer, signed       API (and one raw SIP MESSAGE over UDP) -> 202
  interconnect valid     API, continue policy        -> 202, verdict ok
  tampered               body changed after signing  -> 202 (continue) /
                                                        438 (reject peer)
  no Identity            require_identity            -> 428
  retried once           a sink answering 503, then 200

`promtool check metrics` must pass on the scrape (when promtool exists);
a stage killed with SIGKILL must turn /readyz 503 naming it within 3 s,
and 200 once the master restarted it; a marker planted in a body and in
an API token must appear in no log line.

Binaries from $SG_BUILD, else build/debug.  Every wait is a poll with a
deadline.  Prints one line per check, ends with "N passed, N failed".
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'x5u'))
sys.path.insert(0, HERE)
import x5u_server  # noqa: E402
from sgtest import BUILD, Checks, free_port, log_problems, wait_for  # noqa
from test_deliver import Sink  # noqa: E402

STIRGATE = os.path.join(BUILD, 'cli', 'stirgate')
PROMTOOL = shutil.which('promtool')

ORIG = '+12025550001'
TO_HOOK = '+12025557004'
TO_FLAKY = '+12025557005'
BODY_MARK = 'BODYMARK-7f3a9c'
TOKEN_MARK = 'TOKENMARK-51d2e8'
TOKEN = 'cust-' + TOKEN_MARK + '-0123456789'
TOKEN_IC = 'ic-token-abcdefghijkl'
TOKEN_ICR = 'icr-token-mnopqrstuv'

# What is sent (the counters must equal these).
N_CUST_API = 3
N_CUST_SIP = 1
N_VALID = 2
N_TAMPER_CONT = 2
N_TAMPER_REJ = 1
N_NOID = 1
N_FLAKY = 1


def run(argv, check=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s' % (' '.join(argv), p.returncode,
                                                 p.stderr.decode()))
    return p


def tls_cert(tmp):
    d = os.path.join(tmp, 'tls')
    os.makedirs(d)
    ca, ca_key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca.key')
    key, csr = os.path.join(d, 'srv.key'), os.path.join(d, 'srv.csr')
    cert, ext = os.path.join(d, 'srv.pem'), os.path.join(d, 'ext.cnf')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    run(['openssl', 'req', '-x509'] + ec + ['-keyout', ca_key, '-out', ca,
        '-subj', '/CN=metrics TLS CA', '-days', '2'])
    run(['openssl', 'req', '-new'] + ec + ['-keyout', key, '-out', csr,
        '-subj', '/CN=127.0.0.1'])
    os.chmod(key, 0o600)
    with open(ext, 'w') as f:
        f.write('subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n'
                'extendedKeyUsage = serverAuth\n')
    run(['openssl', 'x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key,
         '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert])
    return ca, cert, key


class Gateway:
    def __init__(self, tmp, hook_url, flaky_url):
        self.tmp = tmp
        self.ca, tls_crt, tls_key = tls_cert(tmp)
        self.ours = os.path.join(tmp, 'ours')
        self.peer = os.path.join(tmp, 'peer')
        run([STIRGATE, 'pki', 'demo', self.ours])
        run([STIRGATE, 'pki', 'demo', self.peer])
        www = os.path.join(tmp, 'www')
        os.makedirs(www)
        shutil.copy(os.path.join(self.peer, 'chain.pem'),
                    os.path.join(www, 'peer.pem'))
        self.x5u = x5u_server.X5uServer(www, tls_crt, tls_key)
        self.peer_x5u = self.x5u.url('/files/peer.pem')
        self.sip_port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.metrics_port = free_port(both=False)
        self.run_dir = os.path.join(tmp, 'run')
        toks = {}
        for name, tok in (('cust', TOKEN), ('ic', TOKEN_IC),
                          ('icr', TOKEN_ICR)):
            p = os.path.join(tmp, name + '.tok')
            with open(p, 'w') as f:
                f.write(tok + '\n')
            os.chmod(p, 0o600)
            toks[name] = p
        cfg = {
            'node': {'data_dir': os.path.join(tmp, 'data'),
                     'run_dir': self.run_dir, 'log_level': 'info',
                     'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip_port]},
            'http': {'listen': '127.0.0.1:%d' % self.http_port,
                     'tls_listen': '127.0.0.1:%d' % self.https_port,
                     'tls_cert': tls_crt, 'tls_key': tls_key},
            'metrics': {'listen': '127.0.0.1:%d' % self.metrics_port},
            'sign': {'key': os.path.join(self.ours, 'signer.key'),
                     'x5u': 'https://127.0.0.1:%d/certs/stirgate.pem'
                            % self.https_port,
                     'chain': os.path.join(self.ours, 'chain.pem'),
                     'publish': True},
            'verify': {'trust': os.path.join(self.peer, 'ca.pem')},
            'x5u': {'allow_loopback': True, 'tls_ca': self.ca},
            'store': {'backoff_min': '1s', 'backoff_max': '2s'},
            'delivery': {'workers': 2},
            'routes': [
                {'name': 'hook', 'match_prefix': TO_HOOK.lstrip('+'),
                 'webhook': hook_url},
                {'name': 'flaky', 'match_prefix': TO_FLAKY.lstrip('+'),
                 'webhook': flaky_url}],
            'peers': [
                {'name': 'cust', 'kind': 'customer', 'sip': ['127.0.0.1/32'],
                 'api_token_file': toks['cust']},
                {'name': 'ic', 'kind': 'interconnect',
                 'api_token_file': toks['ic'], 'require_identity': True,
                 'on_failure': 'continue'},
                {'name': 'icr', 'kind': 'interconnect',
                 'api_token_file': toks['icr'], 'on_failure': 'reject'},
            ],
        }
        self.conf = os.path.join(tmp, 'stirgate.json')
        with open(self.conf, 'w') as f:
            json.dump(cfg, f, indent=1)
        self.log = os.path.join(tmp, 'master.log')
        self.p = None

    def start(self):
        logf = open(self.log, 'ab')
        self.p = subprocess.Popen([STIRGATE, 'run', '-c', self.conf],
                                  stdout=logf, stderr=logf,
                                  stdin=subprocess.DEVNULL)
        logf.close()
        wait_for(lambda: self.get('/readyz')[0] == 200, 'readyz 200', 30)

    def logtext(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def get(self, path):
        """(status, body) from the metrics listener; (0, '') when down."""
        url = 'http://127.0.0.1:%d%s' % (self.metrics_port, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ''

    def post(self, body, dest, token, identity=None):
        msg = {'from': ORIG, 'to': dest, 'body': body}
        if identity is not None:
            msg['identity'] = identity
        req = urllib.request.Request(
            'http://127.0.0.1:%d/v1/messages' % self.http_port,
            data=json.dumps(msg).encode(), method='POST')
        req.add_header('Content-Type', 'application/json')
        req.add_header('Authorization', 'Bearer ' + token)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def sip_message(self, body, dest):
        """One MESSAGE over UDP from 127.0.0.1; the final status code."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.1', 0))
        s.settimeout(10)
        port = s.getsockname()[1]
        b = body.encode()
        req = ('MESSAGE sip:%s@127.0.0.1 SIP/2.0\r\n'
               'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-m%d\r\n'
               'Max-Forwards: 70\r\n'
               'From: <sip:%s@127.0.0.1>;tag=t1\r\n'
               'To: <sip:%s@127.0.0.1>\r\n'
               'Call-ID: metrics-%d@127.0.0.1\r\n'
               'CSeq: 1 MESSAGE\r\n'
               'Content-Type: text/plain\r\n'
               'Content-Length: %d\r\n\r\n'
               % (dest.lstrip('+'), port, time.monotonic_ns(),
                  ORIG.lstrip('+'), dest.lstrip('+'), time.monotonic_ns(),
                  len(b))).encode() + b
        s.sendto(req, ('127.0.0.1', self.sip_port))
        try:
            while True:
                data = s.recv(65535).decode('latin-1')
                code = int(data.split(' ', 2)[1])
                if code >= 200:
                    return code
        except (OSError, ValueError, IndexError):
            return 0
        finally:
            s.close()

    def sign(self, body, dest):
        bf = os.path.join(self.tmp, 'sign-%d' % time.monotonic_ns())
        with open(bf, 'wb') as f:
            f.write(body.encode())
        tok = run([STIRGATE, 'passport', 'sign', '--key',
                   os.path.join(self.peer, 'signer.key'), '--x5u',
                   self.peer_x5u, '--orig', ORIG, '--dest', dest,
                   '--body-file', bf]).stdout.decode().strip()
        return '%s;info=<%s>;ppt=msg' % (tok, self.peer_x5u)

    def stage_pid(self, name):
        try:
            with open(os.path.join(self.run_dir, 'stage-%s.pid' % name)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def stop(self):
        rc = None
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.x5u.stop()
        return rc


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """[(name, {labels}, value)] of a scrape."""
    out = []
    for ln in text.splitlines():
        if not ln or ln.startswith('#'):
            continue
        m = SAMPLE.match(ln)
        if m is None:
            raise ValueError('bad sample line: %r' % ln)
        out.append((m.group(1), dict(LABEL.findall(m.group(3) or '')),
                    float(m.group(4))))
    return out


def total(samples, name, **labels):
    """The sum over every series of `name` whose labels include `labels`
    (summed over stages and instances)."""
    return sum(v for n, lb, v in samples if n == name and
               all(lb.get(k) == w for k, w in labels.items()))


def expected():
    cust = N_CUST_API + N_CUST_SIP + N_FLAKY
    ic = N_VALID + N_TAMPER_CONT + N_NOID
    delivered = cust + N_VALID + N_TAMPER_CONT
    return [
        ('stirgate_ingest_received_total',
         {'interface': 'http', 'peer_class': 'customer'},
         N_CUST_API + N_FLAKY),
        ('stirgate_ingest_received_total',
         {'interface': 'sip_udp', 'peer_class': 'customer'}, N_CUST_SIP),
        ('stirgate_ingest_received_total',
         {'interface': 'http', 'peer_class': 'interconnect'},
         ic + N_TAMPER_REJ),
        ('stirgate_ingest_received_total', {}, cust + ic + N_TAMPER_REJ),
        ('stirgate_ingest_signed_total', {}, cust),
        ('stirgate_ingest_verifications_total', {'reason': 'ok'}, N_VALID),
        ('stirgate_ingest_verifications_total', {'reason': 'msgi_mismatch'},
         N_TAMPER_CONT + N_TAMPER_REJ),
        ('stirgate_ingest_verifications_total', {'reason': 'no_identity'},
         N_NOID),
        ('stirgate_ingest_verifications_total', {},
         N_VALID + N_TAMPER_CONT + N_TAMPER_REJ + N_NOID),
        ('stirgate_ingest_accepted_total', {'peer_class': 'customer'}, cust),
        ('stirgate_ingest_accepted_total', {'peer_class': 'interconnect'},
         N_VALID + N_TAMPER_CONT),
        ('stirgate_ingest_rejected_total', {'code': '438'}, N_TAMPER_REJ),
        ('stirgate_ingest_rejected_total', {'code': '428'}, N_NOID),
        ('stirgate_ingest_rejected_total', {}, N_TAMPER_REJ + N_NOID),
        ('stirgate_ingest_accept_duration_seconds_count', {}, delivered),
        ('stirgate_ingest_sign_duration_seconds_count', {}, cust),
        ('stirgate_ingest_verify_duration_seconds_count', {},
         N_VALID + N_TAMPER_CONT + N_TAMPER_REJ),
        ('stirgate_store_stored_total', {}, delivered),
        ('stirgate_store_messages', {'state': 'finished'}, delivered),
        ('stirgate_store_messages', {'state': 'queued'}, 0),
        ('stirgate_store_messages', {'state': 'leased'}, 0),
        ('stirgate_deliver_outcomes_total',
         {'route': 'hook', 'outcome': 'delivered'}, delivered - N_FLAKY),
        ('stirgate_deliver_outcomes_total',
         {'route': 'flaky', 'outcome': 'retry'}, N_FLAKY),
        ('stirgate_deliver_outcomes_total',
         {'route': 'flaky', 'outcome': 'delivered'}, N_FLAKY),
        ('stirgate_deliver_outcomes_total', {'outcome': 'failed'}, 0),
        ('stirgate_deliver_outcomes_total', {'outcome': 'expired'}, 0),
        ('stirgate_deliver_verstat_total',
         {'verstat': 'TN-Validation-Passed'}, cust + N_VALID),
        ('stirgate_deliver_verstat_total',
         {'verstat': 'TN-Validation-Failed'}, N_TAMPER_CONT),
        ('stirgate_deliver_verstat_total', {'verstat': 'No-TN-Validation'},
         0),
        ('stirgate_deliver_delay_seconds_count', {}, delivered),
        ('stirgate_deliver_resigned_total', {}, 0),
        ('stirgate_deliver_stale_total', {}, 0),
        ('stirgate_up', {}, 4),
    ]


def t_counters(c, gw, hook, flaky):
    for i in range(N_CUST_API):
        st = gw.post('%s customer %d' % (BODY_MARK, i), TO_HOOK, TOKEN)
        c.check('customer API message %d: 202' % i, st == 202, st)
    st = gw.sip_message('%s customer sip' % BODY_MARK, TO_HOOK)
    c.check('customer SIP/UDP message: 202', st == 202, st)
    st = gw.post('%s flaky' % BODY_MARK, TO_FLAKY, TOKEN)
    c.check('customer message to the flaky route: 202', st == 202, st)
    for i in range(N_VALID):
        body = '%s valid %d' % (BODY_MARK, i)
        st = gw.post(body, TO_HOOK, TOKEN_IC, gw.sign(body, TO_HOOK))
        c.check('interconnect valid %d: 202' % i, st == 202, st)
    for i in range(N_TAMPER_CONT):
        body = '%s tampered %d' % (BODY_MARK, i)
        st = gw.post(body + ' (changed)', TO_HOOK, TOKEN_IC,
                     gw.sign(body, TO_HOOK))
        c.check('tampered, continue policy %d: 202' % i, st == 202, st)
    for i in range(N_TAMPER_REJ):
        body = '%s rejected %d' % (BODY_MARK, i)
        st = gw.post(body + ' (changed)', TO_HOOK, TOKEN_ICR,
                     gw.sign(body, TO_HOOK))
        c.check('tampered, reject policy %d: 438 (403 over HTTP)' % i,
                st in (403, 438), st)
    for i in range(N_NOID):
        st = gw.post('%s no identity %d' % (BODY_MARK, i), TO_HOOK, TOKEN_IC)
        c.check('no Identity %d: refused' % i, 400 <= st < 500, st)
    # A request with a wrong token carrying the marker: refused, not logged.
    st = gw.post('%s bad token' % BODY_MARK, TO_HOOK, 'x-' + TOKEN_MARK)
    c.check('unknown token: 401', st == 401, st)

    cust = N_CUST_API + N_CUST_SIP + N_FLAKY
    want_hook = cust - N_FLAKY + N_VALID + N_TAMPER_CONT
    try:
        wait_for(lambda: len(hook.posts()) >= want_hook and
                 len(flaky.posts()) >= 2, 'every delivery', 30)
    except AssertionError as e:
        c.check('every message delivered', False,
                (e, len(hook.posts()), len(flaky.posts())))
        return None
    want = expected()

    # The counters settle within a snapshot tick or two.
    def settled():
        st, text = gw.get('/metrics')
        if st != 200:
            return None
        s = parse(text)
        return s if all(total(s, n, **lb) == v for n, lb, v in want) else None
    try:
        samples = wait_for(settled, 'counters to match what was sent', 10)
    except AssertionError:
        samples = parse(gw.get('/metrics')[1])
    for n, lb, v in want:
        got = total(samples, n, **lb)
        c.check('%s%s = %g' % (n, json.dumps(lb) if lb else '', v),
                got == v, 'got %g' % got)
    c.check('x5u: at least one miss and one chain fetch',
            total(samples, 'stirgate_x5u_cache_misses_total') >= 1 and
            total(samples, 'stirgate_x5u_fetches_total', kind='chain') >= 1,
            [x for x in samples if x[0].startswith('stirgate_x5u_')][:12])
    c.check('listener gauges: every configured listener up',
            total(samples, 'stirgate_ingest_listener_up') == 3,
            [x for x in samples if x[0] == 'stirgate_ingest_listener_up'])
    return gw.get('/metrics')[1]


def t_promtool(c, text):
    if PROMTOOL is None:
        print('skip promtool check metrics (promtool not installed)')
        return
    p = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    c.check('promtool check metrics passes on the scrape',
            p.returncode == 0, (p.stdout + p.stderr).decode()[:2000])


def t_health(c, gw):
    st, body = gw.get('/healthz')
    c.check('/healthz: 200 alive', st == 200 and
            json.loads(body or '{}').get('status') == 'alive', (st, body))
    st, body = gw.get('/readyz')
    c.check('/readyz: 200 ready', st == 200, (st, body))
    st, _ = gw.get('/nothing')
    c.check('other paths: 404', st == 404, st)

    old = gw.stage_pid('deliver-1')
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()

    def names_it():
        st, body = gw.get('/readyz')
        if st != 503:
            return None
        parts = [x.get('part') for x in json.loads(body).get('not_ready', [])]
        return 'deliver-1' in parts and (st, body)
    try:
        got = wait_for(names_it, '/readyz 503 naming deliver-1', 3.0)
        c.check('kill -9 deliver-1: /readyz 503 naming it within 3 s '
                '(%.2f s)' % (time.monotonic() - t0), True)
    except AssertionError as e:
        c.check('kill -9 deliver-1: /readyz 503 naming it within 3 s', False,
                (e, gw.get('/readyz')))
        got = None
    if got:
        s = parse(gw.get('/metrics')[1])
        # Down until the restart: its up is 0 (unless it is back already).
        c.check('the killed stage is still listed in stirgate_up',
                any(n == 'stirgate_up' and lb.get('stage') == 'deliver' and
                    lb.get('instance') == '1' for n, lb, v in s))
    try:
        wait_for(lambda: gw.get('/readyz')[0] == 200,
                 '/readyz 200 after the restart', 20)
        c.check('/readyz 200 again after the master restarted it',
                gw.stage_pid('deliver-1') not in (0, old))
    except AssertionError as e:
        c.check('/readyz 200 again after the master restarted it', False,
                (e, gw.get('/readyz')))
    s = parse(gw.get('/metrics')[1])
    c.check('stirgate_up: every stage 1 again',
            total(s, 'stirgate_up') == 4 and
            len([1 for n, lb, v in s if n == 'stirgate_up']) == 4,
            [x for x in s if x[0] == 'stirgate_up'])
    c.check('stirgate_master_restarts_total{slot="deliver-1"} = 1',
            total(s, 'stirgate_master_restarts_total', slot='deliver-1') == 1,
            [x for x in s if x[0] == 'stirgate_master_restarts_total'])


def t_logs(c, gw):
    text = gw.logtext()
    c.check('no log line holds a body marker', BODY_MARK not in text,
            [ln for ln in text.splitlines() if BODY_MARK in ln][:5])
    c.check('no log line holds the token marker', TOKEN_MARK not in text,
            [ln for ln in text.splitlines() if TOKEN_MARK in ln][:5])
    c.check('one info line per message state change, tagged msg=',
            len(re.findall(r' info deliver: msg=[0-9a-f]{32} delivered ',
                           text)) ==
            N_CUST_API + N_CUST_SIP + N_FLAKY + N_VALID + N_TAMPER_CONT)
    bad = log_problems(text, allowed=[
        r'stirgate\[\d+\] error master: deliver-1 pid=\d+ killed by signal 9'])
    c.check('no unexpected error lines', not bad, bad[:5])


def t_warm_after_restart(c, gw):
    """x5u.warm: after a restart the ingest process loads the chain cached
    by the first run before any message asks for it, so the first
    verification after the restart is a memory hit (no file read, no
    fetch: the repository is down by now)."""
    gw.start()

    def warmed():
        st, text = gw.get('/metrics')
        s = parse(text) if st == 200 else []
        return s if total(s, 'stirgate_x5u_cache_warmed_total') >= 1 else None
    try:
        samples = wait_for(warmed, 'the cached chain loaded ahead', 20)
    except AssertionError:
        c.check('restart: cached chain loaded ahead', False,
                gw.get('/metrics')[1][-2000:])
        return
    c.check('restart: cached chain loaded ahead',
            total(samples, 'stirgate_x5u_cache_warmed_total') == 1 and
            total(samples, 'stirgate_x5u_cache_entries') == 1,
            [x for x in samples if x[0].startswith('stirgate_x5u_')][:12])
    body = '%s after restart' % BODY_MARK
    st = gw.post(body, TO_HOOK, TOKEN_IC, gw.sign(body, TO_HOOK))
    c.check('restart: verified message 202 with the repository down',
            st == 202, st)

    def counted():
        st, text = gw.get('/metrics')
        s = parse(text) if st == 200 else []
        return s if total(s, 'stirgate_x5u_cache_hits_total') >= 1 else None
    try:
        samples = wait_for(counted, 'the lookup counted', 10)
    except AssertionError:
        samples = parse(gw.get('/metrics')[1])
    c.check('restart: the lookup was a memory hit, no disk read, no fetch',
            total(samples, 'stirgate_x5u_cache_hits_total',
                  source='memory') == 1 and
            total(samples, 'stirgate_x5u_cache_hits_total',
                  source='disk') == 0 and
            total(samples, 'stirgate_x5u_cache_misses_total') == 0,
            [x for x in samples if x[0].startswith('stirgate_x5u_')][:12])


def main():
    c = Checks()
    tmp = tempfile.mkdtemp(prefix='sg-metrics-', dir='/tmp')
    hook = Sink()
    flaky = Sink(plan=[503, 200])
    gw = None
    try:
        gw = Gateway(tmp, hook.url('/hook'), flaky.url('/flaky'))
        gw.start()
        text = t_counters(c, gw, hook, flaky)
        if text:
            t_promtool(c, text)
        t_health(c, gw)
        rc = gw.stop()
        gw.p = None
        c.check('master exits 0 on SIGTERM', rc == 0, rc)
        t_logs(c, gw)
        t_warm_after_restart(c, gw)
    except Exception:
        c.check('no exception', False, traceback.format_exc())
        if gw is not None:
            print(gw.logtext()[-3000:])
    finally:
        if gw is not None:
            gw.stop()
        hook.stop()
        flaky.stop()
    if c.failed == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print('kept %s' % tmp)
    return c.summary()


if __name__ == '__main__':
    sys.exit(main())
