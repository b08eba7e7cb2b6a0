#!/usr/bin/env python3
"""tests/system/test_e2e.py - the whole pipeline through the master.

`stirgate run -c CFG` (the master: store, ingest, deliver workers) with a
config written here on OS-chosen loopback ports, and real peers:

  customer       SIP from 127.0.0.1 (sipp UAC, UDP and TCP) and the HTTP
                 API with its token: signed by us (our demo PKI);
  interconnect   SIP from 127.0.0.2 and the API with its token: its
                 PASSporTs signed with a second demo PKI whose chain a
                 python HTTPS server serves at the x5u
                 (tests/system/x5u/x5u_server.py);
  next hops      by destination TN prefix: a sipp UAS
                 (tests/system/sipp/uas_message.xml, its -trace_msg file
                 holds each received MESSAGE byte for byte), a python SIP
                 UAS over UDP and one over TCP, and a python HTTP webhook
                 sink, which also takes the status_url callbacks.

Every delivered message is checked end to end: the body bytes equal those
sent, the Identity header is the one received (interconnect) or ours
(customer), the delivered PASSporT verifies with `stirgate passport verify
--chain ... --body-file ...` (msgi matches), verstat is on
P-Asserted-Identity and From (SIP) or in the JSON (webhook); the API's
status_url gets the final state and GET /v1/messages/{id} says delivered.

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
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, 'x5u'))
sys.path.insert(0, HERE)
import x5u_server  # noqa: E402
from test_deliver import Sink, Uas, hget, parse_sip  # noqa: E402

BUILD = os.environ.get('SG_BUILD') or os.path.join(ROOT, 'build', 'debug')
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
STIRGATE = os.path.join(BUILD, 'cli', 'stirgate')
SIPP = shutil.which('sipp') or '/usr/bin/sipp'
SIPP_DIR = os.path.join(HERE, 'sipp')

CUST = '127.0.0.1'
IC = '127.0.0.2'
ORIG = '+12025550001'        # inside both demo PKIs' TNAuthList
# One destination per next hop (routes match these as TN prefixes).
TO_SIPP = '+12025557001'     # the sipp UAS
TO_UDP = '+12025557002'      # the python UAS, UDP
TO_TCP = '+12025557003'      # the python UAS, TCP
TO_HOOK = '+12025557004'     # the webhook
TO_FLAKY = '+12025557005'    # a webhook that answers 503
TOKEN = 'e2e-customer-token-0123456789'
TOKEN_IC = 'e2e-interconnect-token-987654'
PASSED = 'TN-Validation-Passed'


def run(argv, check=True, timeout=60):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s' % (' '.join(argv), p.returncode,
                                                 p.stderr.decode()))
    return p


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (checked, not held)."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(('127.0.0.1', 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError('no free port')


def wait_for(pred, what, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError('timed out waiting for ' + what)


def tls_cert(tmp):
    """A TLS CA and a server certificate for 127.0.0.1 (the x5u server
    and ingest's HTTPS listener)."""
    d = os.path.join(tmp, 'tls')
    os.makedirs(d)
    ca, ca_key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca.key')
    key, csr = os.path.join(d, 'srv.key'), os.path.join(d, 'srv.csr')
    cert, ext = os.path.join(d, 'srv.pem'), os.path.join(d, 'ext.cnf')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    run(['openssl', 'req', '-x509'] + ec + ['-keyout', ca_key, '-out', ca,
        '-subj', '/CN=e2e TLS CA', '-days', '2'])
    run(['openssl', 'req', '-new'] + ec + ['-keyout', key, '-out', csr,
        '-subj', '/CN=127.0.0.1'])
    os.chmod(key, 0o600)
    with open(ext, 'w') as f:
        f.write('subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n'
                'extendedKeyUsage = serverAuth\n')
    run(['openssl', 'x509', '-req', '-in', csr, '-CA', ca, '-CAkey', ca_key,
         '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert])
    return ca, cert, key


class SippUas:
    """The sipp UAS: answers `n` MESSAGEs with 200, then exits; the
    received requests are read back, byte for byte, from its
    -trace_msg file ("UDP message received [N] bytes :" + blank line +
    exactly N bytes)."""

    def __init__(self, tmp, n):
        self.port = free_port()
        self.msgs = os.path.join(tmp, 'sipp-uas.msg')
        self.log = open(os.path.join(tmp, 'sipp-uas.out'), 'wb')
        self.p = subprocess.Popen(
            [SIPP, '-sf', os.path.join(SIPP_DIR, 'uas_message.xml'), '-i',
             '127.0.0.1', '-p', str(self.port), '-m', str(n), '-nostdin',
             '-trace_msg', '-message_file', self.msgs, '-timeout', '120s'],
            stdout=self.log, stderr=self.log, cwd=tmp)

    def hop(self):
        return 'udp:127.0.0.1:%d' % self.port

    def received(self):
        if not os.path.exists(self.msgs):
            return []
        with open(self.msgs, 'rb') as f:
            data = f.read()
        out = []
        for m in re.finditer(rb'message received \[(\d+)\] bytes :\n\n',
                             data):
            n = int(m.group(1))
            out.append(data[m.end():m.end() + n])
        return out

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.log.close()


class Gateway:
    def __init__(self, tmp, hops, hook_url, flaky_url):
        self.tmp = tmp
        self.ca, self.tls_cert, self.tls_key = tls_cert(tmp)
        self.ours = os.path.join(tmp, 'ours')
        self.peer = os.path.join(tmp, 'peer')
        run([STIRGATE, 'pki', 'demo', self.ours])
        run([STIRGATE, 'pki', 'demo', self.peer])
        www = os.path.join(tmp, 'www')
        os.makedirs(www)
        shutil.copy(os.path.join(self.peer, 'chain.pem'),
                    os.path.join(www, 'peer.pem'))
        self.x5u = x5u_server.X5uServer(www, self.tls_cert, self.tls_key)
        self.peer_x5u = self.x5u.url('/files/peer.pem')
        self.sip_port = free_port()
        self.http_port = free_port()
        self.https_port = free_port()
        self.run_dir = os.path.join(tmp, 'run')
        data = os.path.join(tmp, 'data')
        for name, tok in (('cust.tok', TOKEN), ('ic.tok', TOKEN_IC)):
            p = os.path.join(tmp, name)
            with open(p, 'w') as f:
                f.write(tok + '\n')
            os.chmod(p, 0o600)
        routes = [{'name': name, 'match_prefix': dest.lstrip('+'),
                   'sip': hop} for name, dest, hop in hops]
        routes.append({'name': 'hook', 'match_prefix': TO_HOOK.lstrip('+'),
                       'webhook': hook_url})
        routes.append({'name': 'flaky',
                       'match_prefix': TO_FLAKY.lstrip('+'),
                       'webhook': flaky_url})
        cfg = {
            'node': {'data_dir': data, 'run_dir': self.run_dir,
                     'log_level': 'info', 'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip_port],
                    'tcp': ['127.0.0.1:%d' % self.sip_port]},
            'http': {'listen': '127.0.0.1:%d' % self.http_port,
                     'tls_listen': '127.0.0.1:%d' % self.https_port,
                     'tls_cert': self.tls_cert, 'tls_key': self.tls_key},
            'metrics': {'listen': '127.0.0.1:%d' % free_port()},
            'sign': {'key': os.path.join(self.ours, 'signer.key'),
                     'x5u': 'https://127.0.0.1:%d/certs/stirgate.pem'
                            % self.https_port,
                     'chain': os.path.join(self.ours, 'chain.pem'),
                     'publish': True},
            'verify': {'trust': os.path.join(self.peer, 'ca.pem')},
            'x5u': {'allow_loopback': True, 'tls_ca': self.ca},
            'delivery': {'workers': 2},
            'routes': routes,
            'peers': [
                {'name': 'cust', 'kind': 'customer', 'sip': [CUST + '/32'],
                 'api_token_file': os.path.join(tmp, 'cust.tok')},
                {'name': 'ic', 'kind': 'interconnect', 'sip': [IC + '/32'],
                 'api_token_file': os.path.join(tmp, 'ic.tok'),
                 'require_identity': True, 'on_failure': 'reject'},
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
                                  stdout=logf, stderr=logf)
        logf.close()

        def ready():
            if self.p.poll() is not None:
                raise AssertionError('stirgate run exited:\n' +
                                     self.logtext()[-3000:])
            try:
                st, _, _ = self.http('GET', '/v1/messages/' + '0' * 32,
                                     token=TOKEN)
                return st == 404
            except OSError:
                return False
        wait_for(ready, 'the gateway (API answering)', 30)

    def logtext(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    def errors(self):
        return [ln for ln in self.logtext().splitlines()
                if ' error ' in ln or ' fatal ' in ln or 'Sanitizer' in ln
                or 'runtime error' in ln]

    def http(self, method, path, body=None, token=None):
        url = 'http://127.0.0.1:%d%s' % (self.http_port, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        if token:
            req.add_header('Authorization', 'Bearer ' + token)
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def status(self, mid, token=TOKEN):
        st, _, b = self.http('GET', '/v1/messages/' + mid, token=token)
        return json.loads(b) if st == 200 else None

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

    def sign(self, body, dest):
        """An Identity value for `body`, signed with the peer's key."""
        bf = os.path.join(self.tmp, 'sign-%d' % time.monotonic_ns())
        with open(bf, 'wb') as f:
            f.write(body)
        tok = run([STIRGATE, 'passport', 'sign', '--key',
                   os.path.join(self.peer, 'signer.key'), '--x5u',
                   self.peer_x5u, '--orig', ORIG, '--dest', dest,
                   '--body-file', bf]).stdout.decode().strip()
        return '%s;info=<%s>;ppt=msg' % (tok, self.peer_x5u)

    def verify(self, identity, body, dest, pki):
        """`stirgate passport verify` of a delivered Identity over the
        delivered body, against `pki`'s chain and trust anchor."""
        bf = os.path.join(self.tmp, 'verify-%d' % time.monotonic_ns())
        with open(bf, 'wb') as f:
            f.write(body)
        p = run([STIRGATE, 'passport', 'verify', '--identity', identity,
                 '--trust', os.path.join(pki, 'ca.pem'), '--chain',
                 os.path.join(pki, 'chain.pem'), '--body-file', bf,
                 '--orig', ORIG, '--dest', dest], check=False)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {'stderr': p.stderr.decode()}


def sipp_send(gw, transport, src, scenario, **keys):
    """One MESSAGE from sipp; the final response code from its trace."""
    trace = os.path.join(gw.tmp, 'sipp-uac-%d.msg' % time.monotonic_ns())
    argv = [SIPP, '127.0.0.1:%d' % gw.sip_port, '-sf',
            os.path.join(SIPP_DIR, scenario), '-m', '1', '-t', transport,
            '-i', src, '-p', str(free_port()), '-nostdin', '-timeout', '30s',
            '-timeout_error', '-trace_msg', '-message_file', trace,
            '-recv_timeout', '20s']
    for k, v in keys.items():
        argv += ['-key', k, v]
    subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   timeout=60, cwd=gw.tmp)
    code = None
    if os.path.exists(trace):
        with open(trace, errors='replace') as f:
            for ln in f:
                if ln.startswith('SIP/2.0 ') and not ln.startswith('SIP/2.0 1'):
                    code = int(ln.split()[1])
                    break
    return code


def wire(body):
    """What sipp sends for -key body B: B and the CRLF sipp ends every
    scenario line with (those bytes are what msgi covers)."""
    return (body + '\r\n').encode()


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, info=''):
        if cond:
            self.passed += 1
            print('ok   %s' % name)
        else:
            self.failed += 1
            print('FAIL %s %s' % (name, str(info)[:1500]))
        sys.stdout.flush()


def find_sip(reqs, body):
    """The request among `reqs` (raw bytes) whose body is `body`."""
    for raw in reqs:
        line, hdrs, b = parse_sip(raw)
        if b == body:
            return line, hdrs, b
    return None


def check_sip_delivery(s, gw, tag, got, body, dest, identity, pki):
    """The checks of one MESSAGE as the next hop received it."""
    s.check('%s: delivered, body bytes identical' % tag, got is not None,
            'nothing with that body arrived')
    if got is None:
        return
    line, hdrs, b = got
    ids = hget(hdrs, 'identity')
    s.check('%s: request line and Content-Length' % tag,
            line.startswith('MESSAGE sip:%s@' % dest.lstrip('+')) and
            hget(hdrs, 'content-length') == [str(len(body))],
            (line, hget(hdrs, 'content-length')))
    if identity is not None:
        s.check('%s: Identity forwarded unchanged' % tag, ids == [identity],
                ids)
    else:
        s.check('%s: one Identity header, ours' % tag, len(ids) == 1 and
                ids[0].endswith('/certs/stirgate.pem>;ppt=msg'), ids)
    v = gw.verify(ids[0], b, dest, pki) if ids else {}
    s.check('%s: delivered PASSporT verifies, msgi matches' % tag,
            v.get('valid') is True and v.get('msgi') == 'match' and
            v.get('ppt') == 'msg', v)
    pai = hget(hdrs, 'p-asserted-identity')
    frm = hget(hdrs, 'from')
    s.check('%s: verstat=%s on P-Asserted-Identity and From' % (tag, PASSED),
            pai and 'verstat=' + PASSED in pai[0] and frm and
            'verstat=' + PASSED in frm[0], (pai, frm))


def t_sip(s, gw, uas_udp, uas_tcp, sipp_uas):
    # Customer over sipp UDP -> signed by us -> python UAS over UDP.
    body = 'e2e customer udp %d' % time.monotonic_ns()
    code = sipp_send(gw, 'u1', CUST, 'message_noid.xml', orig=ORIG,
                     dest=TO_UDP, body=body)
    s.check('sipp UDP customer MESSAGE: 202', code == 202, code)
    got = wait_for(lambda: find_sip([r for r in uas_udp.reqs], wire(body)),
                   'the customer message at the UDP UAS')
    check_sip_delivery(s, gw, 'customer SIP/UDP -> SIP/UDP', got, wire(body),
                       TO_UDP, None, gw.ours)

    # Customer over sipp TCP -> python UAS over TCP.
    body = 'e2e customer tcp %d' % time.monotonic_ns()
    code = sipp_send(gw, 't1', CUST, 'message_noid.xml', orig=ORIG,
                     dest=TO_TCP, body=body)
    s.check('sipp TCP customer MESSAGE: 202', code == 202, code)
    got = wait_for(lambda: find_sip([r for r in uas_tcp.reqs], wire(body)),
                   'the customer message at the TCP UAS')
    check_sip_delivery(s, gw, 'customer SIP/TCP -> SIP/TCP', got, wire(body),
                       TO_TCP, None, gw.ours)

    # Interconnect over sipp UDP, signed by the peer -> the sipp UAS.
    body = 'e2e interconnect to sipp %d' % time.monotonic_ns()
    ident = gw.sign(wire(body), TO_SIPP)
    code = sipp_send(gw, 'u1', IC, 'message.xml', orig=ORIG, dest=TO_SIPP,
                     body=body, identity=ident)
    s.check('sipp UDP interconnect MESSAGE (valid PASSporT): 202',
            code == 202, code)
    got = wait_for(lambda: find_sip(sipp_uas.received(), wire(body)),
                   'the interconnect message at the sipp UAS')
    check_sip_delivery(s, gw, 'interconnect SIP/UDP -> sipp UAS', got,
                       wire(body), TO_SIPP, ident, gw.peer)
    s.check('sipp UAS: scenario completed (answered 200, exit 0)',
            wait_for(lambda: sipp_uas.p.poll() is not None,
                     'the sipp UAS to finish', 30) and
            sipp_uas.p.returncode == 0, sipp_uas.p.returncode)

    # Interconnect over sipp TCP -> python UAS over UDP.
    body = 'e2e interconnect tcp %d' % time.monotonic_ns()
    ident = gw.sign(wire(body), TO_UDP)
    code = sipp_send(gw, 't1', IC, 'message.xml', orig=ORIG, dest=TO_UDP,
                     body=body, identity=ident)
    s.check('sipp TCP interconnect MESSAGE (valid PASSporT): 202',
            code == 202, code)
    got = wait_for(lambda: find_sip([r for r in uas_udp.reqs], wire(body)),
                   'the interconnect message at the UDP UAS')
    check_sip_delivery(s, gw, 'interconnect SIP/TCP -> SIP/UDP', got,
                       wire(body), TO_UDP, ident, gw.peer)


def hook_for(sink, body):
    for g in sink.posts('/hook'):
        try:
            j = json.loads(g['body'])
        except ValueError:
            continue
        if j.get('body') == body:
            return g, j
    return None


def t_http(s, gw, sink):
    # Customer over the API, with a status_url -> webhook.
    body = 'e2e api customer \u00e9 %d' % time.monotonic_ns()
    st, _, b = gw.http('POST', '/v1/messages',
                       {'from': ORIG, 'to': TO_HOOK, 'body': body,
                        'status_url': sink.url('/status')}, token=TOKEN)
    j = json.loads(b) if st == 202 else {}
    mid = (j.get('messages') or [{}])[0].get('id')
    s.check('API customer: 202 with an id, verstat passed',
            st == 202 and mid and j.get('verstat') == PASSED, (st, b))
    got = wait_for(lambda: hook_for(sink, body), 'the API message at the '
                   'webhook')
    g, hj = got
    # from / to are the canonical identities (E.164 digits, no "+").
    s.check('API customer -> webhook: body, from, to, Idempotency-Key',
            hj.get('body') == body and hj.get('from') == ORIG.lstrip('+')
            and hj.get('to') == TO_HOOK.lstrip('+') and
            g['headers'].get('Idempotency-Key') == mid, (g['headers'], hj))
    ids = hj.get('identity') or []
    v = gw.verify(ids[0], body.encode(), TO_HOOK, gw.ours) if ids else {}
    s.check('API customer -> webhook: our PASSporT verifies, msgi matches, '
            'verstat passed',
            v.get('valid') is True and v.get('msgi') == 'match' and
            hj.get('verstat') == PASSED and hj.get('reason') == 'ok', (v, hj))

    def callback():
        for p in sink.posts('/status'):
            c = json.loads(p['body'])
            if c.get('id') == mid:
                return c
        return None
    c = wait_for(callback, 'the status_url callback')
    s.check('status_url callback: state delivered, verstat passed',
            c.get('state') == 'delivered' and c.get('verstat') == PASSED and
            c.get('attempts') == 1, c)
    st_ = wait_for(lambda: (gw.status(mid) or {}).get('status') ==
                   'delivered' and gw.status(mid), 'GET to say delivered')
    s.check('GET /v1/messages/{id}: delivered, how it went out',
            st_.get('status') == 'delivered' and st_.get('state') == 'done'
            and st_.get('delivery_verstat') == PASSED and
            st_.get('delivery_reason') == 'ok' and 'delivered_ms' in st_ and
            'body' not in st_, st_)
    s.check('GET of another client\'s message: 404',
            gw.status(mid, token=TOKEN_IC) is None)

    # The same request again with an idempotency id: the first id, 200.
    req = {'from': ORIG, 'to': TO_HOOK, 'body': 'e2e idem %d' %
           time.monotonic_ns(), 'idempotency_id': 'e2e-%d' %
           time.monotonic_ns()}
    st1, _, b1 = gw.http('POST', '/v1/messages', req, token=TOKEN)
    st2, _, b2 = gw.http('POST', '/v1/messages', req, token=TOKEN)
    j1, j2 = json.loads(b1), json.loads(b2)
    s.check('API idempotent retry: 202 then 200 with the first id, '
            'duplicate', st1 == 202 and st2 == 200 and
            j2.get('duplicate') is True and
            j2['messages'][0]['id'] == j1['messages'][0]['id'],
            (st1, b1, st2, b2))
    wait_for(lambda: hook_for(sink, req['body']), 'the idempotent message')
    time.sleep(0.5)  # a second delivery, if one were made, would show here
    n = sum(1 for g in sink.posts('/hook')
            if json.loads(g['body']).get('body') == req['body'])
    s.check('API idempotent retry: delivered once', n == 1, n)

    # Interconnect over the API, signed by the peer -> webhook.
    raw = 'e2e api interconnect %d' % time.monotonic_ns()
    ident = gw.sign(raw.encode(), TO_HOOK)
    st, _, b = gw.http('POST', '/v1/messages',
                       {'from': ORIG, 'to': TO_HOOK, 'body': raw,
                        'identity': ident}, token=TOKEN_IC)
    s.check('API interconnect (valid PASSporT): 202 passed',
            st == 202 and json.loads(b).get('verstat') == PASSED, (st, b))
    g, hj = wait_for(lambda: hook_for(sink, raw), 'the interconnect API '
                     'message at the webhook')
    v = gw.verify(hj['identity'][0], raw.encode(), TO_HOOK, gw.peer) \
        if hj.get('identity') else {}
    s.check('API interconnect -> webhook: Identity unchanged, verifies '
            'against the peer chain', hj.get('identity') == [ident] and
            v.get('valid') is True and v.get('msgi') == 'match' and
            hj.get('verstat') == PASSED, (hj, v))


def t_status_states(s, gw, flaky):
    """GET for messages that were not delivered: a destination without a
    route fails for good; one whose webhook answers 503 is deferred (next
    attempt, last error), then expires with its API `expires`."""
    st, _, b = gw.http('POST', '/v1/messages',
                       {'from': ORIG, 'to': '+12025558888', 'body': 'x'},
                       token=TOKEN)
    mid = json.loads(b)['messages'][0]['id'] if st == 202 else None
    s.check('API message to a destination without a route: 202', mid,
            (st, b))
    if mid:
        last = wait_for(lambda: (gw.status(mid) or {}).get('status') ==
                        'rejected' and gw.status(mid), 'GET to say rejected')
        s.check('GET: rejected, with the last error', last.get('state') ==
                'dead' and 'no route' in last.get('last_error', ''), last)

    st, _, b = gw.http('POST', '/v1/messages',
                       {'from': ORIG, 'to': TO_FLAKY, 'body': 'y',
                        'expires': 4}, token=TOKEN)
    mid = json.loads(b)['messages'][0]['id'] if st == 202 else None
    s.check('API message to a webhook answering 503, expires=4: 202', mid,
            (st, b))
    if not mid:
        return
    d = wait_for(lambda: (gw.status(mid) or {}).get('status') ==
                 'deferred' and gw.status(mid), 'GET to say deferred', 4)
    s.check('GET: deferred, with next attempt, last error and expires_ms',
            d.get('state') == 'queued' and d.get('attempts') == 1 and
            d.get('next_attempt_ms', 0) > 0 and
            '503' in d.get('last_error', '') and
            d.get('expires_ms', 0) > 0 and flaky.posts('/hook'), d)
    last = wait_for(lambda: (gw.status(mid) or {}).get('status') ==
                    'expired' and gw.status(mid), 'GET to say expired', 30)
    s.check('GET: expired after its Expires, never delivered',
            last.get('state') == 'dead' and len(flaky.posts('/hook')) == 1,
            (last, len(flaky.posts('/hook'))))


def main():
    s = Suite()
    tmp = tempfile.mkdtemp(prefix='sg-e2e-')
    gw = sink = flaky = uas_udp = uas_tcp = sipp_uas = None
    try:
        sink = Sink()
        flaky = Sink(plan=(503,))
        uas_udp = Uas(tcp=False)
        uas_tcp = Uas(tcp=True)
        sipp_uas = SippUas(tmp, 1)
        gw = Gateway(tmp, [('sipp', TO_SIPP, sipp_uas.hop()),
                           ('uas-udp', TO_UDP, uas_udp.hop()),
                           ('uas-tcp', TO_TCP, uas_tcp.hop())],
                     sink.url('/hook'), flaky.url('/hook'))
        gw.start()
        s.check('stirgate run: the gateway answers', True)
        for name, fn in (('sip', lambda: t_sip(s, gw, uas_udp, uas_tcp,
                                                sipp_uas)),
                         ('http', lambda: t_http(s, gw, sink)),
                         ('states', lambda: t_status_states(s, gw, flaky))):
            try:
                fn()
            except Exception as e:  # one broken group must not hide others
                traceback.print_exc()
                s.check(name + ' ran to the end', False, repr(e))
        errs = gw.errors()
        s.check('log scanner: no error lines in the gateway\'s log',
                not errs, errs[:5])
        rc = gw.stop()
        s.check('SIGTERM: the master stops every stage and exits 0',
                rc == 0, (rc, gw.logtext()[-1500:]))
    except Exception as e:
        traceback.print_exc()
        s.check('setup', False, repr(e))
    finally:
        for x in (gw, sink, flaky, uas_udp, uas_tcp, sipp_uas):
            if x is not None:
                try:
                    x.stop()
                except Exception:
                    pass
        if s.failed == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print('kept %s for inspection' % tmp)
    print('%d passed, %d failed' % (s.passed, s.failed))
    return 1 if s.failed else 0


if __name__ == '__main__':
    sys.exit(main())
