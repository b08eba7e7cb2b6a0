#!/usr/bin/env python3
"""tests/system/test_hostile.py - hostile input against a running gateway.

Real binaries in a fresh temporary directory on 127.0.0.0/8: stirgate-store,
stirgate-ingest and one stirgate-deliver worker whose only route is a SIP
UAS written below (TCP), so that what a hostile sender manages to store is
also checked as the bytes delivery puts on the wire.  Every limit comes
from the config with a small value and is tested at that value (accepted)
and just above it (refused):

  sip.max_message 16KiB, sip.max_headers 24, sip.max_identity 3,
  sip.max_recipients 5, sip.max_connections 6,
  sip.max_connections_per_peer 3, sip.tcp_idle 2s,
  http.max_body 8KiB, http.max_connections 8,
  http.max_connections_per_peer 3, http.timeout 2s.

The attacks: CRLF injection in header values (raw, folded, percent-encoded,
and through the JSON API), huge headers, thousands of Identity headers,
deeply nested multipart, NUL bytes in a header and in the body, invalid
UTF-8 in API JSON, 10,000 recipients (API "to" and a PASSporT dest),
slowloris on SIP TCP and HTTP, connection limits, HTTP request smuggling
(CL+TE, CL.CL, obs-fold, bare LF).  After each, a normal request from
another client must still get its 202.

Any source address in 127.0.0.0/8 is the lenient interconnect peer
"hostile" (unsigned accepted, failed verification delivered as failed).
At the end every stage is stopped and its log scanned: error lines other
than the expected ones, and any sanitizer report, fail the run.

With $SG_FIGURES set, every check (name, passed) also goes to that file
as JSON, grouped by category (the t_* functions below, each described by
its docstring), with the limits in force (sgtest.Figures;
tools/reliability.py reads it).

Binaries from $SG_BUILD, else $STIRGATE_BUILD, else build/debug.  One line
per check, then "N passed, N failed"; exit 1 on failure.
"""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sgtest  # noqa: E402
from sgtest import wait_for  # noqa: E402

STIRGATE = sgtest.binary('cli/stirgate')
STORE = sgtest.binary('store/stirgate-store')
INGEST = sgtest.binary('ingest/stirgate-ingest')
DELIVER = sgtest.binary('deliver/stirgate-deliver')

ORIG = '+12025550001'
DEST = '+12025551234'
TOKEN = 'tok-hostile-0123456789abcdef'

MAX_MESSAGE = 16 * 1024
MAX_HEADERS = 24
MAX_IDENTITY = 3
MAX_RECIPIENTS = 5
MAX_CONN = 6
MAX_CONN_PEER = 3
TCP_IDLE = 2
HTTP_MAX_BODY = 8 * 1024
HTTP_MAX_CONN = 8
HTTP_MAX_CONN_PEER = 3
HTTP_TIMEOUT = 2

# Error lines the attacks provoke on purpose.
EXPECTED = []


# --- a SIP UAS over TCP that records every request's raw bytes ------------

class Uas:
    def __init__(self):
        self.reqs = []
        self.lock = threading.Lock()
        self.stopped = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._conn, args=(c,),
                             daemon=True).start()

    def _conn(self, c):
        buf = b''
        c.settimeout(0.2)
        while not self.stopped:
            try:
                d = c.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            buf += d
            while b'\r\n\r\n' in buf:
                head, _, rest = buf.partition(b'\r\n\r\n')
                m = re.search(rb'(?im)^content-length:[ \t]*(\d+)', head)
                n = int(m.group(1)) if m else 0
                if len(rest) < n:
                    break
                msg = head + b'\r\n\r\n' + rest[:n]
                buf = rest[n:]
                with self.lock:
                    self.reqs.append(msg)
                c.sendall(self._ok(head))
        c.close()

    @staticmethod
    def _ok(head):
        out = [b'SIP/2.0 200 OK']
        for ln in head.split(b'\r\n')[1:]:
            k = ln.split(b':', 1)[0].strip().lower()
            if k in (b'via', b'v', b'from', b'f', b'to', b't', b'call-id',
                     b'i', b'cseq'):
                out.append(ln)
        out.append(b'Content-Length: 0')
        return b'\r\n'.join(out) + b'\r\n\r\n'

    def find(self, marker):
        with self.lock:
            return [r for r in self.reqs if marker in r]

    def all(self):
        with self.lock:
            return list(self.reqs)

    def stop(self):
        self.stopped = True
        self.sock.close()


# --- the gateway -------------------------------------------------------------

class Gateway:
    def __init__(self, tmp):
        self.tmp = tmp
        self.run_dir = os.path.join(tmp, 'run')
        self.data = os.path.join(tmp, 'data')
        os.makedirs(self.run_dir, mode=0o700)
        os.makedirs(self.data, mode=0o700)
        pki = os.path.join(tmp, 'pki')
        subprocess.run([STIRGATE, 'pki', 'demo', pki], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pki = pki
        tok = os.path.join(tmp, 'api.tok')
        with open(tok, 'w') as f:
            f.write(TOKEN + '\n')
        os.chmod(tok, 0o600)
        self.uas = Uas()
        self.sip_port = sgtest.free_port()
        self.http_port = sgtest.free_port(both=False)
        self.conf = os.path.join(tmp, 'stirgate.json')
        cfg = {
            'node': {'data_dir': self.data, 'run_dir': self.run_dir,
                     'log_level': 'info', 'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip_port],
                    'tcp': ['127.0.0.1:%d' % self.sip_port],
                    'max_message': '16KiB', 'max_headers': MAX_HEADERS,
                    'max_identity': MAX_IDENTITY,
                    'max_recipients': MAX_RECIPIENTS,
                    'max_connections': MAX_CONN,
                    'max_connections_per_peer': MAX_CONN_PEER,
                    'tcp_idle': '%ds' % TCP_IDLE,
                    'accept_types': ['text/plain', 'multipart/mixed',
                                     'application/octet-stream']},
            'http': {'listen': '127.0.0.1:%d' % self.http_port,
                     'max_body': '8KiB', 'max_connections': HTTP_MAX_CONN,
                     'max_connections_per_peer': HTTP_MAX_CONN_PEER,
                     'timeout': '%ds' % HTTP_TIMEOUT},
            'verify': {'trust': os.path.join(pki, 'ca.pem')},
            'x5u': {'allow_loopback': True, 'connect_timeout_ms': 500,
                    'timeout_ms': 1000},
            'delivery': {'max_age': '1h'},
            'routes': [{'name': 'uas',
                        'sip': 'tcp:127.0.0.1:%d' % self.uas.port}],
            'peers': [
                {'name': 'hostile', 'kind': 'interconnect',
                 'sip': ['127.0.0.0/8'], 'api_token_file': tok,
                 'on_failure': 'continue', 'on_fetch_failure': 'defer'},
            ],
        }
        with open(self.conf, 'w') as f:
            json.dump(cfg, f, indent=1)
        self.procs = {}

    def start(self):
        self.procs['store'] = sgtest.Proc(
            [STORE, '--dir', os.path.join(self.data, 'store'), '--run-dir',
             self.run_dir], os.path.join(self.tmp, 'store.log'))
        wait_for(lambda: self.queue('stats').returncode == 0, 'the store')
        self.procs['deliver'] = sgtest.Proc(
            [DELIVER, '-c', self.conf, '--worker', '1'],
            os.path.join(self.tmp, 'deliver.log'))
        self.procs['ingest'] = sgtest.Proc(
            [INGEST, '-c', self.conf, '--run-dir', self.run_dir],
            os.path.join(self.tmp, 'ingest.log'))

        def ready():
            for name, p in self.procs.items():
                if not p.alive():
                    raise AssertionError('%s exited:\n%s'
                                         % (name, p.text()[-2000:]))
            return sip_udp(self, sip_msg('ready-%d' % time.monotonic_ns(),
                                         method='OPTIONS'),
                           src='127.0.0.1', timeout=0.3) is not None
        wait_for(ready, 'stirgate-ingest', 30)

    def queue(self, *args):
        return subprocess.run([STIRGATE, 'queue'] + list(args) +
                              ['--run-dir', self.run_dir, '--timeout',
                               '2000'], capture_output=True, text=True)

    def alive(self):
        return all(p.alive() for p in self.procs.values())

    def stop(self):
        rcs = {}
        for name in ('ingest', 'deliver', 'store'):
            if name in self.procs:
                rcs[name] = self.procs[name].stop()
        self.uas.stop()
        return rcs


# --- SIP helpers ---------------------------------------------------------------

_seq = [0]


def sip_msg(call_id, body=b'', method='MESSAGE', extra=(), ctype='text/plain',
            from_hdr=None, identity=(), transport='UDP', cl=None):
    """A MESSAGE as bytes; `extra` header lines are bytes or str."""
    _seq[0] += 1
    h = [('%s sip:%s@127.0.0.1 SIP/2.0' % (method, DEST)).encode(),
         ('Via: SIP/2.0/%s 127.0.0.1:5999;branch=z9hG4bK-%s-%d'
          % (transport, call_id, _seq[0])).encode(),
         b'Max-Forwards: 70',
         from_hdr if from_hdr is not None else
         ('From: <sip:%s@127.0.0.1>;tag=t%d' % (ORIG, _seq[0])).encode(),
         ('To: <sip:%s@127.0.0.1>' % DEST).encode(),
         ('Call-ID: %s' % call_id).encode(),
         ('CSeq: 1 %s' % method).encode()]
    for ident in identity:
        h.append(b'Identity: ' + (ident.encode() if isinstance(ident, str)
                                  else ident))
    if body:
        h.append(('Content-Type: %s' % ctype).encode())
    h.append(('Content-Length: %d' % (len(body) if cl is None else cl))
             .encode())
    for e in extra:
        h.append(e.encode() if isinstance(e, str) else e)
    return b'\r\n'.join(h) + b'\r\n\r\n' + body


def sip_udp(gw, data, src, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(data, ('127.0.0.1', gw.sip_port))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                r, _ = s.recvfrom(65536)
            except socket.timeout:
                return None
            if not r.startswith(b'SIP/2.0 1'):
                return r
        return None
    finally:
        s.close()


def tcp_connect(port, src='127.0.0.1', timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(('127.0.0.1', port))
    return s


def read_response(s, timeout=5.0):
    """One SIP/HTTP response head (+ Content-Length body) from `s`; b''
    when the peer closed first, None on timeout."""
    s.settimeout(timeout)
    buf = b''
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if b'\r\n\r\n' in buf:
            head, _, rest = buf.partition(b'\r\n\r\n')
            m = re.search(rb'(?im)^content-length:[ \t]*(\d+)', head)
            n = int(m.group(1)) if m else 0
            if len(rest) >= n:
                return head + b'\r\n\r\n' + rest[:n]
        try:
            d = s.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            return buf
        if not d:
            return buf
        buf += d
    return None


def sip_tcp(gw, data, src='127.0.0.1', timeout=5.0):
    s = tcp_connect(gw.sip_port, src)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # refused while sending: the answer may still be there
        return read_response(s, timeout)
    finally:
        s.close()


def code(resp):
    if not resp:
        return None
    try:
        return int(resp.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return None


def _field(msg, names):
    head = msg.partition(b'\r\n\r\n')[0]
    for ln in head.split(b'\r\n')[1:]:
        k, _, v = ln.partition(b':')
        if k.strip().lower() in names:
            return v.strip()
    return None


def same_transaction(req, resp):
    """Does `resp` answer `req` (RFC 3261 17.1.3: the top Via's branch and
    the CSeq, and the Call-ID)?"""
    if not resp:
        return False
    via_q, via_r = _field(req, (b'via', b'v')), _field(resp, (b'via',))
    branch = re.search(rb';branch=([^;,\s]+)', via_q or b'')
    return (branch is not None and via_r is not None and
            re.search(rb';branch=' + re.escape(branch.group(1)) +
                      rb'(;|,|$)', via_r) is not None and
            _field(req, (b'cseq',)) == _field(resp, (b'cseq',)) and
            _field(req, (b'call-id', b'i')) == _field(resp, (b'call-id',)))


def fields_after(msg, lines):
    """`msg` with `lines` put right after the request line, before Via."""
    rl, _, rest = msg.partition(b'\r\n')
    return rl + b'\r\n' + b''.join(ln + b'\r\n' for ln in lines) + rest


def eof_or_reset(s, limit):
    """How the peer ends `s` within `limit` s: 'eof' (a FIN), 'reset', or
    None; whatever arrives before is read and dropped."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            return 'reset'
        if not d:
            return 'eof'
    return None


def closed_within(s, limit):
    """True when the peer closes `s` (EOF or reset) within `limit` s;
    whatever arrives before is read and dropped."""
    return eof_or_reset(s, limit) is not None

def http_raw(gw, data, timeout=5.0):
    """Send raw bytes; (first response or b''/None, closed afterwards
    with nothing more said)."""
    s = tcp_connect(gw.http_port)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        r = read_response(s, timeout)
        if not r:
            return r, True
        more = read_response(s, 3.0)
        return r, more == b''
    finally:
        s.close()


def api_post(gw, obj=None, raw=None, token=TOKEN, timeout=10.0):
    """POST /v1/messages: (status, parsed JSON answer or {})."""
    body = raw if raw is not None else json.dumps(obj).encode()
    req = (b'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n'
           b'Authorization: Bearer ' + token.encode() + b'\r\n'
           b'Content-Type: application/json\r\n'
           b'Content-Length: ' + str(len(body)).encode() + b'\r\n'
           b'Connection: close\r\n\r\n' + body)
    s = tcp_connect(gw.http_port, timeout=timeout)
    try:
        try:
            s.sendall(req)
        except OSError:
            pass  # refused before the whole body went: read the answer
        r = read_response(s, timeout)
    finally:
        s.close()
    st = code(r)
    try:
        j = json.loads(r.partition(b'\r\n\r\n')[2]) if r else {}
    except ValueError:
        j = {}
    return st, j


# --- the checks -----------------------------------------------------------------

class Run:
    def __init__(self, gw):
        self.gw = gw
        self.c = sgtest.Checks()
        self.src = 20

    def check(self, name, ok, detail=None):
        return self.c.check(name, ok, detail)

    def still_serving(self, after):
        """A normal SIP MESSAGE (UDP, from a source address no attack
        used) and a normal API POST each get 202 promptly."""
        self.src += 1
        src = '127.0.0.%d' % self.src
        body = ('normal after %s' % after).encode()
        r = sip_udp(self.gw, sip_msg('ok-%d' % self.src, body), src)
        st, j = api_post(self.gw, {'from': ORIG, 'to': DEST,
                                   'body': 'api after %s' % after})
        self.check('after %s: SIP 202 and API 202 from another client'
                   % after, code(r) == 202 and st == 202 and
                   self.gw.alive(), (r, st, j))


def passport(dest_n, pad=0):
    """An unsigned-looking PASSporT (a fake signature: every check here
    happens before the signature's) with dest_n destinations."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b'=').decode()
    hdr = {'alg': 'ES256', 'ppt': 'msg', 'typ': 'passport',
           'x5u': 'https://127.0.0.1:9/x.pem'}
    dest = ['1202%07d' % i for i in range(dest_n)]
    pl = {'attest': 'A', 'dest': {'tn': dest}, 'iat': int(time.time()),
          'orig': {'tn': ORIG[1:]}}
    tok = '%s.%s.%s' % (b64(json.dumps(hdr).encode()),
                        b64(json.dumps(pl).encode()), b64(b'\x01' * 64))
    return '%s;info=<https://127.0.0.1:9/x.pem>;ppt=msg' % tok


def t_crlf(r):
    """CRLF injection: a raw CR LF inside a quoted display name,
    obs-fold, percent-encoded CRLF, a bare CR or LF inside a value, CRLF in
    every API string that reaches a delivered header."""
    gw = r.gw
    injected = []
    # 1. Raw CR LF inside a quoted display name: the line ends there, so
    # what follows is a line of its own in the request.  The request is
    # refused (the From ends inside its quote) and answered from the
    # salvaged response fields, which the injected line is none of.
    m = b'crlf-raw-%d' % time.monotonic_ns()
    req = sip_msg('crlf-1', m, from_hdr=b'From: "Eve\r\n'
                  b'X-Injected: 1" <sip:' + ORIG.encode() +
                  b'@127.0.0.1>;tag=a1')
    res = sip_tcp(gw, req)
    r.check('CRLF in a quoted display name: 400 for that transaction, '
            'without the injected line',
            code(res) == 400 and same_transaction(req, res) and
            b'X-Injected' not in res and b'Eve' not in res, res)
    # 2. obs-fold: a continuation line that looks like a header.
    m2 = b'crlf-fold-%d' % time.monotonic_ns()
    res = sip_tcp(gw, sip_msg('crlf-2', m2, extra=[
        b'Subject: hello\r\n X-Injected: 2']))
    r.check('obs-fold continuation in Subject: answered (202 or 400)',
            code(res) in (202, 400), res)
    if code(res) == 202:
        injected.append(m2)
    # 3. Percent-encoded CR LF in the From URI and display name.
    m3 = b'crlf-pct-%d' % time.monotonic_ns()
    res = sip_tcp(gw, sip_msg('crlf-3', m3, from_hdr=(
        'From: "a%%0d%%0aX-Injected: 3" <sip:%s@127.0.0.1;x=%%0D%%0A'
        'X-Injected:%%203>;tag=a3' % ORIG).encode()))
    r.check('percent-encoded CRLF in From: answered (202 or 400)',
            code(res) in (202, 400), res)
    if code(res) == 202:
        injected.append(m3)
    # 4. A lone CR (not a line end) and a lone LF inside a value.
    for i, bad in enumerate((b'Subject: a\rX-Injected: 4',
                             b'Subject: a\nX-Injected: 5')):
        res = sip_tcp(gw, sip_msg('crlf-lone-%d' % i, b'lone', extra=[bad]))
        r.check('bare %s inside a header value: 400'
                % ('CR' if i == 0 else 'LF'), code(res) == 400, res)
    # 5. Through the API: every string that reaches a delivered header.
    for field, obj in (
            ('from', {'from': ORIG + '\r\nX-Injected: 6', 'to': DEST,
                      'body': 'x'}),
            ('to', {'from': ORIG, 'to': [DEST + '\r\nX-Injected: 7'],
                    'body': 'x'}),
            ('content_type', {'from': ORIG, 'to': DEST, 'body': 'x',
                              'content_type':
                              'text/plain\r\nX-Injected: 8'}),
            ('identity', {'from': ORIG, 'to': DEST, 'body': 'x',
                          'identity': 'a.b.c;info=<https://x/y>\r\n'
                          'X-Injected: 9'}),
            ('idempotency_id', {'from': ORIG, 'to': DEST, 'body': 'x',
                                'idempotency_id': 'k\r\nX-Injected: 10'})):
        st, j = api_post(gw, obj)
        r.check('API %s with CRLF: 400 with a reason' % field,
                st == 400 and j.get('reason'), (st, j))
    # Whatever was accepted is delivered without a new header line.
    for mk in injected:
        try:
            wait_for(lambda: gw.uas.find(mk), 'delivery of %r' % mk, 20)
        except AssertionError as e:
            r.check('accepted CRLF case delivered', False, e)
    bad = [q for q in gw.uas.all()
           if re.search(rb'(?m)(^|\n|\r)X-Injected', q.partition(
               b'\r\n\r\n')[0]) or re.search(rb'\r(?!\n)|(?<!\r)\n',
                                             q.partition(b'\r\n\r\n')[0])]
    r.check('delivery never emits an injected header line or a bare CR/LF',
            not bad, bad[:2])
    r.still_serving('CRLF injection')


def t_huge(r):
    """Huge requests: exactly sip.max_message bytes and one more, a
    1 MiB header over TCP, a 60 KB UDP datagram, a Content-Length that
    cannot frame, sip.max_headers fields and one more."""
    gw = r.gw
    # At the limit: a message of exactly sip.max_message bytes is taken
    # (a short header section, the rest body), one byte more is 413.
    body = b''
    for _ in range(3):
        msg = sip_msg('huge-0', body or b'b', ctype='application/octet-stream')
        body = b'b' * (len(body or b'b') + MAX_MESSAGE - len(msg))
    msg = sip_msg('huge-0', body, ctype='application/octet-stream')
    res = sip_tcp(gw, msg)
    r.check('a request of exactly sip.max_message bytes: 202',
            len(msg) == MAX_MESSAGE and code(res) == 202, (len(msg), res))
    res = sip_tcp(gw, sip_msg('huge-1', body + b'b',
                              ctype='application/octet-stream'))
    r.check('one byte over sip.max_message: 413', code(res) == 413, res)
    # A header section over the limit cannot be framed: the response
    # fields are salvaged from what was read, the answer is 413, and the
    # connection closes after it, cleanly: the gateway reads and drops
    # the rest of the megabyte instead of resetting the connection under
    # an answer the sender may not have read yet.
    req = sip_msg('huge-2', b'', extra=['X-Pad: ' + 'p' * (1 << 20)])
    s = tcp_connect(gw.sip_port)
    try:
        try:
            s.sendall(req)
            sent = 'sent'
        except OSError as e:
            sent = repr(e)
        res = read_response(s)
        end = eof_or_reset(s, TCP_IDLE + 8) if res else None
    finally:
        s.close()
    r.check('a 1 MiB header: 413 for that transaction, then the '
            'connection closed without a reset',
            code(res) == 413 and same_transaction(req, res) and
            sent == 'sent' and end == 'eof', (res, sent, end))
    req = sip_msg('huge-3', b'', extra=['X-Pad: ' + 'p' * 60000])
    res = sip_udp(gw, req, '127.0.0.2')
    r.check('a 60 KB UDP datagram: 413 for that transaction, gateway alive',
            code(res) == 413 and same_transaction(req, res) and gw.alive(),
            res)
    # A Content-Length that cannot frame the stream: 400, then closed.
    req = sip_msg('bad-cl', b'', cl=0).replace(b'Content-Length: 0',
                                                b'Content-Length: x1')
    s = tcp_connect(gw.sip_port)
    try:
        s.sendall(req)
        res = read_response(s)
        shut = closed_within(s, TCP_IDLE + 8) if res else False
    finally:
        s.close()
    r.check('TCP Content-Length that cannot frame: 400, then closed',
            code(res) == 400 and same_transaction(req, res) and shut,
            (res, shut))
    # Header count: the request above has 8 fields; pad to the limit.
    n0 = len(sip_msg('hdr', b'').split(b'\r\n')) - 3
    ok = sip_tcp(gw, sip_msg('hdr-ok', b'', extra=[
        'X-H%d: v' % i for i in range(MAX_HEADERS - n0)]))
    r.check('exactly sip.max_headers fields: 202', code(ok) == 202, ok)
    over = sip_tcp(gw, sip_msg('hdr-over', b'', extra=[
        'X-H%d: v' % i for i in range(MAX_HEADERS - n0 + 1)]))
    r.check('sip.max_headers + 1 fields: 400 or 413',
            code(over) in (400, 413), over)
    r.still_serving('huge headers')


def t_identity(r):
    """Identity floods: sip.max_identity Identity headers and one
    more, 3000 of them over TCP and over UDP, 1000 compact ones, an API
    identity list over the limit."""
    gw = r.gw
    ident = 'a.b.c;info=<https://127.0.0.1:9/x.pem>;ppt=msg'
    res = sip_tcp(gw, sip_msg('id-ok', b'ids', identity=[ident] *
                              MAX_IDENTITY))
    r.check('sip.max_identity Identity headers: not refused for count',
            code(res) in (202, 438), res)
    res = sip_tcp(gw, sip_msg('id-over', b'ids', identity=[ident] *
                              (MAX_IDENTITY + 1)))
    r.check('sip.max_identity + 1 Identity headers: 400', code(res) == 400,
            res)
    # 3000 Identity fields: the header section is over sip.max_message,
    # so the framer (TCP) and the parser (UDP) both say 413; on UDP they
    # come before the Via, and the response fields are found all the same.
    req = sip_msg('id-many', b'ids', identity=['x'] * 3000)
    res = sip_tcp(gw, req)
    r.check('3000 Identity headers over TCP: 413 for that transaction',
            code(res) == 413 and same_transaction(req, res), res)
    req = fields_after(sip_msg('id-many-u', b'ids'),
                       [b'Identity: x'] * 3000)
    res = sip_udp(gw, req, '127.0.0.3')
    r.check('3000 Identity headers before the Via over UDP: 413 for that '
            'transaction', code(res) == 413 and same_transaction(req, res),
            res)
    # Under the size limits, the count is what the parser refuses: 400.
    req = fields_after(sip_msg('id-count-u', b'ids'), [b'y: x'] * 1000)
    res = sip_udp(gw, req, '127.0.0.3')
    r.check('1000 compact Identity headers before the Via over UDP: 400',
            code(res) == 400 and same_transaction(req, res), res)
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body': 'x',
                          'identity': [ident] * (MAX_IDENTITY + 1)})
    r.check('API identity list over sip.max_identity: 400', st == 400,
            (st, j))
    r.still_serving('Identity flood')


def t_multipart(r):
    """A multipart body nested 2000 deep (opaque bytes: stored and
    delivered byte for byte)."""
    gw = r.gw
    depth = 2000
    parts = []
    for i in range(depth):
        parts.append(b'--b%d\r\nContent-Type: multipart/mixed; '
                     b'boundary=b%d\r\n\r\n' % (i, i + 1))
    body = b''.join(parts) + b'--b%d\r\n\r\nleaf\r\n' % depth + b''.join(
        b'--b%d--\r\n' % i for i in range(depth, -1, -1))
    body = body[:MAX_MESSAGE - 600]
    mk = b'deep-%d' % time.monotonic_ns()
    body = body + mk
    res = sip_tcp(gw, sip_msg('deep', body,
                              ctype='multipart/mixed; boundary=b0'))
    r.check('deeply nested multipart: 202 (opaque bytes)', code(res) == 202,
            res)
    if code(res) == 202:
        try:
            got = wait_for(lambda: gw.uas.find(mk), 'multipart delivery', 20)
            r.check('deeply nested multipart delivered byte for byte',
                    got[0].partition(b'\r\n\r\n')[2] == body,
                    len(got[0]))
        except AssertionError as e:
            r.check('deeply nested multipart delivered', False, e)
    r.still_serving('deep multipart')


def t_nul(r):
    """NUL bytes: in a header value, in From (also in an ACK), in the
    body, in API JSON strings (escaped) and raw in the JSON."""
    gw = r.gw
    res = sip_tcp(gw, sip_msg('nul-h', b'x', extra=[b'Subject: a\x00b']))
    r.check('NUL in a header value: 400', code(res) == 400, res)
    req = sip_msg('nul-h2', b'x', from_hdr=(
        b'From: <sip:' + ORIG.encode() + b'\x00@127.0.0.1>;tag=n'))
    res = sip_tcp(gw, req)
    # A From with a NUL cannot be echoed in a response: the answer has a
    # placeholder URI with the request's tag.
    r.check('NUL in From: 400 for that transaction, From replaced',
            code(res) == 400 and same_transaction(req, res) and
            re.search(rb'(?m)^From: <sip:anonymous@anonymous\.invalid>'
                      rb';tag=n\r$', res) is not None, res)
    # An ACK is never answered, refused or not.
    ack = sip_msg('nul-ack', method='ACK', from_hdr=(
        b'From: <sip:' + ORIG.encode() + b'\x00@127.0.0.1>;tag=n'))
    res = sip_udp(gw, ack, '127.0.0.4', timeout=1.0)
    r.check('a refused ACK: not answered', res is None, res)
    mk = b'nul-body-%d' % time.monotonic_ns()
    body = b'\x00\x01' + mk + b'\x00\r\n\x00\xff\xfe\x00'
    res = sip_tcp(gw, sip_msg('nul-b', body,
                              ctype='application/octet-stream'))
    r.check('NUL bytes in the body: 202', code(res) == 202, res)
    if code(res) == 202:
        try:
            got = wait_for(lambda: gw.uas.find(mk), 'NUL body delivery', 20)
            r.check('NUL body delivered exactly',
                    got[0].partition(b'\r\n\r\n')[2] == body, got[0][-80:])
        except AssertionError as e:
            r.check('NUL body delivered', False, e)
    # The API: a NUL in a JSON string (\u0000) of the body is data; in
    # from it is a control character.
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body': 'a\u0000b'})
    r.check('API body with \\u0000: 202', st == 202, (st, j))
    st, j = api_post(gw, {'from': ORIG + '\u0000', 'to': DEST, 'body': 'x'})
    r.check('API from with \\u0000: 400', st == 400 and j.get('reason'),
            (st, j))
    raw = b'{"from":"' + ORIG.encode() + b'","to":"' + DEST.encode() + \
        b'","body":"a\x00b"}'
    st, j = api_post(gw, raw=raw)
    r.check('API JSON with a raw NUL byte: 400 with a reason',
            st == 400 and j.get('reason'), (st, j))
    r.still_serving('NUL bytes')


def t_utf8(r):
    """Invalid UTF-8 in API JSON: a lone continuation byte, an
    overlong encoding, a surrogate, a truncated sequence, a bad key, an
    escaped lone surrogate."""
    gw = r.gw
    for name, raw in (
            ('lone continuation byte', b'{"from":"' + ORIG.encode() +
             b'","to":"' + DEST.encode() + b'","body":"a\x80b"}'),
            ('overlong encoding', b'{"from":"' + ORIG.encode() +
             b'","to":"' + DEST.encode() + b'","body":"\xc0\xafx"}'),
            ('surrogate', b'{"from":"' + ORIG.encode() + b'","to":"' +
             DEST.encode() + b'","body":"\xed\xa0\x80"}'),
            ('truncated sequence', b'{"from":"' + ORIG.encode() +
             b'","to":"' + DEST.encode() + b'","body":"\xe2\x82"}'),
            ('in a key', b'{"fr\xffom":"x"}')):
        st, j = api_post(gw, raw=raw)
        r.check('API JSON with invalid UTF-8 (%s): 400 with a reason' % name,
                st == 400 and j.get('reason'), (st, j))
    st, j = api_post(gw, raw=b'{"from":"\\ud800","to":"' + DEST.encode() +
                     b'","body":"x"}')
    r.check('API JSON with an escaped lone surrogate: 400', st == 400,
            (st, j))
    r.still_serving('invalid UTF-8')


def t_recipients(r):
    """Recipients: an API "to" list of sip.max_recipients and one
    more, 10,000 recipients, a PASSporT naming 10,000 dest over SIP and
    over the API."""
    gw = r.gw
    to = ['+1202555%04d' % i for i in range(MAX_RECIPIENTS)]
    st, j = api_post(gw, {'from': ORIG, 'to': to, 'body': 'x'})
    r.check('API to list of sip.max_recipients: 202', st == 202, (st, j))
    st, j = api_post(gw, {'from': ORIG, 'to': to + ['+12025559999'],
                          'body': 'x'})
    r.check('API to list of sip.max_recipients + 1: 400 '
            'too_many_recipients',
            st == 400 and j.get('reason') == 'too_many_recipients', (st, j))
    big = ['+1202%07d' % i for i in range(10000)]
    st, j = api_post(gw, {'from': ORIG, 'to': big, 'body': 'x'})
    r.check('API to list of 10,000: 400 too_many_recipients or 413',
            (st == 400 and j.get('reason') == 'too_many_recipients') or
            (st == 413 and j.get('reason') == 'body_too_large'), (st, j))
    # A PASSporT naming 10,000 destinations.
    huge = passport(10000)
    req = sip_msg('dest-10k', b'x', identity=[huge])
    res = sip_tcp(gw, req)
    r.check('PASSporT with 10,000 dest over SIP (%d bytes): 413' % len(req),
            len(req) > MAX_MESSAGE and code(res) == 413 and
            same_transaction(req, res), res)
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body': 'x',
                          'identity': huge})
    r.check('PASSporT with 10,000 dest over the API: 400/413 with a reason',
            st in (400, 413) and j.get('reason'), (st, j))
    r.still_serving('10,000 recipients')


def t_sip_slowloris(r):
    """SIP TCP slowloris: a partial request held open, a
    request trickled one byte at a time."""
    gw = r.gw
    # A partial request held open is closed after sip.tcp_idle.
    s = tcp_connect(gw.sip_port, '127.0.0.30')
    s.sendall(b'MESSAGE sip:%s@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP '
              % DEST.encode())
    t0 = time.monotonic()
    shut = closed_within(s, TCP_IDLE + 5)
    r.check('SIP TCP partial request: closed after sip.tcp_idle',
            shut and time.monotonic() - t0 >= TCP_IDLE - 0.5,
            time.monotonic() - t0)
    s.close()
    # Trickled a byte at a time, the request never completes: closed all
    # the same (the limit counts from the request's first byte).
    s = tcp_connect(gw.sip_port, '127.0.0.31')
    req = sip_msg('trickle', b'x', transport='TCP')
    t0 = time.monotonic()
    shut = False
    for b in req[:-10]:
        try:
            s.sendall(bytes([b]))
        except OSError:
            shut = True
            break
        if closed_within(s, 0.3):
            shut = True
            break
        if time.monotonic() - t0 > TCP_IDLE + 6:
            break
    r.check('SIP TCP trickled request: closed within sip.tcp_idle + slack',
            shut, time.monotonic() - t0)
    s.close()
    r.still_serving('SIP slowloris')


def t_sip_conn_limits(r):
    """SIP TCP connection limits: sip.max_connections_per_peer
    from one address and sip.max_connections in total, one more of each;
    UDP meanwhile."""
    gw = r.gw
    held = []
    try:
        for _ in range(MAX_CONN_PEER):
            held.append(tcp_connect(gw.sip_port, '127.0.0.40'))
        # Prove the held connections are accepted (a request on the last).
        held[-1].sendall(sip_msg('per-peer-ok', b'x', transport='TCP'))
        res = read_response(held[-1])
        r.check('sip.max_connections_per_peer connections from one address:'
                ' served', code(res) == 202, res)
        extra = tcp_connect(gw.sip_port, '127.0.0.40')
        try:
            extra.sendall(sip_msg('per-peer-over', b'x', transport='TCP'))
        except OSError:
            pass
        r.check('one more from the same address: closed without an answer',
                closed_within(extra, 5), None)
        extra.close()
        # The total: fill up from other addresses.
        for i in range(MAX_CONN - MAX_CONN_PEER):
            held.append(tcp_connect(gw.sip_port, '127.0.0.%d' % (41 + i % 2)))
        held[-1].sendall(sip_msg('total-ok', b'x', transport='TCP'))
        res = read_response(held[-1])
        r.check('sip.max_connections connections in total: served',
                code(res) == 202, res)
        extra = tcp_connect(gw.sip_port, '127.0.0.45')
        try:
            extra.sendall(sip_msg('total-over', b'x', transport='TCP'))
        except OSError:
            pass
        r.check('one more from a new address: closed without an answer',
                closed_within(extra, 5), None)
        extra.close()
        # UDP is not a connection: served meanwhile.
        res = sip_udp(gw, sip_msg('udp-while-full', b'x'), '127.0.0.46')
        r.check('UDP served while TCP is full', code(res) == 202, res)
    finally:
        for s in held:
            s.close()
    # Freed slots are usable again (the gateway sees the closes).
    wait_for(lambda: code(sip_tcp(gw, sip_msg('after-full', b'x',
                                              transport='TCP'),
                                  '127.0.0.40', 2)) == 202,
             'a TCP slot after the others closed', 15, 0.2)
    r.check('TCP connections accepted again after the others closed', True)
    r.still_serving('SIP connection limits')


def t_http_slowloris(r):
    """HTTP slowloris: partial headers, a body announced and
    never sent, http.max_connections held and one more."""
    gw = r.gw
    s = tcp_connect(gw.http_port)
    s.sendall(b'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    t0 = time.monotonic()
    shut = closed_within(s, HTTP_TIMEOUT + 5)
    r.check('HTTP partial headers: closed after http.timeout',
            shut and time.monotonic() - t0 >= HTTP_TIMEOUT - 0.5,
            time.monotonic() - t0)
    s.close()
    # A body announced and never sent.
    s = tcp_connect(gw.http_port)
    s.sendall(b'POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n'
              b'Authorization: Bearer ' + TOKEN.encode() + b'\r\n'
              b'Content-Length: 100\r\n\r\n{"fr')
    r.check('HTTP body never completed: closed after http.timeout',
            closed_within(s, HTTP_TIMEOUT + 5), None)
    s.close()
    # Connection limit: with http.max_connections held (from several
    # addresses, each under http.max_connections_per_peer), one more is
    # not served (libmicrohttpd closes it at once or leaves it
    # unaccepted); it is served once the others go.
    held = []
    extra = None
    res = None
    try:
        for i in range(HTTP_MAX_CONN):
            c = tcp_connect(gw.http_port,
                            '127.0.0.%d' % (60 + i // HTTP_MAX_CONN_PEER))
            c.sendall(b'GET /v1/messages/x HTTP/1.1\r\n')
            held.append(c)
        extra = tcp_connect(gw.http_port, '127.0.0.69')
        try:
            extra.sendall(b'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n')
        except OSError:
            pass
        res = read_response(extra, HTTP_TIMEOUT / 2)
        r.check('http.max_connections + 1: not served while the others '
                'are held', not res, res)
    finally:
        for c in held:
            c.close()
    if extra is not None:
        if res is None:
            res = read_response(extra, 5)
        r.check('... and closed or served once they go',
                res == b'' or code(res) == 404, res)
        extra.close()
    r.still_serving('HTTP slowloris')


def http_get_ok(s):
    """A GET on connection `s` answered (404 for an unknown path)."""
    try:
        s.sendall(b'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n')
    except OSError:
        return False
    return code(read_response(s, 5)) == 404


def t_http_conn_per_peer(r):
    """HTTP connections per peer:
    http.max_connections_per_peer from one address and one more."""
    gw = r.gw
    src = '127.0.0.70'
    held = []
    try:
        for _ in range(HTTP_MAX_CONN_PEER):
            held.append(tcp_connect(gw.http_port, src))
        # Prove each held connection was accepted: a request on each.
        served = all(http_get_ok(c) for c in held)
        r.check('http.max_connections_per_peer connections from one '
                'address: served', served)
        # One more: libmicrohttpd accepts it and closes it at once, without
        # an answer, while the others are still served.
        extra = tcp_connect(gw.http_port, src)
        try:
            try:
                extra.sendall(b'GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n')
            except OSError:
                pass
            res = read_response(extra, 5)
        finally:
            extra.close()
        r.check('one more from the same address: closed without an answer',
                res == b'', res)
        r.check('... while the held ones are still served',
                all(http_get_ok(c) for c in held))
        other = tcp_connect(gw.http_port, '127.0.0.71')
        try:
            r.check('another address is served meanwhile',
                    http_get_ok(other))
        finally:
            other.close()
    finally:
        for c in held:
            c.close()
    # The slots come back once the held connections are closed.
    def again():
        cs = []
        try:
            for _ in range(HTTP_MAX_CONN_PEER):
                cs.append(tcp_connect(gw.http_port, src, 2))
            return all(http_get_ok(c) for c in cs)
        except OSError:
            return False
        finally:
            for c in cs:
                c.close()
    try:
        wait_for(again, 'HTTP slots of one address after closing', 15, 0.2)
        r.check('http.max_connections_per_peer connections accepted again '
                'after the others closed', True)
    except AssertionError as e:
        r.check('http.max_connections_per_peer connections accepted again '
                'after the others closed', False, e)
    r.still_serving('HTTP connections per peer')


def t_smuggling(r):
    """HTTP request smuggling: CL and TE, TE and CL, CL.CL, a CL
    list, an obfuscated TE, obs-fold, bare LF, a space before the colon."""
    gw = r.gw
    body = json.dumps({'from': ORIG, 'to': DEST, 'body': 'smuggle'}).encode()
    auth = b'Authorization: Bearer ' + TOKEN.encode() + b'\r\n'
    inner = (b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
             b'Content-Length: ' + str(len(body)).encode() + b'\r\n\r\n' +
             body)
    chunked = (b'%x\r\n' % len(body)) + body + b'\r\n0\r\n\r\n'
    cases = [
        ('CL and TE', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
         b'Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n'
         % len(chunked) + chunked + inner),
        ('TE and CL', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
         b'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n' +
         chunked + inner),
        ('CL.CL', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
         b'Content-Length: %d\r\nContent-Length: %d\r\n\r\n'
         % (len(body), len(body) + len(inner)) + body + inner),
        ('CL list', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
         b'Content-Length: %d, %d\r\n\r\n' % (len(body), len(body)) + body),
        ('obfuscated TE', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' +
         auth + b'Transfer-Encoding: xchunked\r\n\r\n' + chunked),
        ('obs-fold', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + auth +
         b'X-Fold: a\r\n Transfer-Encoding: chunked\r\n'
         b'Content-Length: %d\r\n\r\n' % len(body) + body + inner),
        ('bare LF', b'POST /v1/messages HTTP/1.1\nHost: x\n' +
         auth.replace(b'\r\n', b'\n') + b'Content-Length: %d\n\n'
         % len(body) + body + inner),
        ('space before colon', b'POST /v1/messages HTTP/1.1\r\nHost: x\r\n'
         + auth + b'Content-Length : %d\r\n\r\n' % len(body) + body),
    ]
    # libmicrohttpd 0.9.75 (Debian 12) has no strict mode for obs-fold and
    # bare LF (1.0 added one): it unfolds and takes LF as a line end, one
    # way, consistently.  Until it can refuse them, the property checked
    # there is the one smuggling breaks: the request framed by its
    # Content-Length (the fold is no Transfer-Encoding), so the request
    # that follows on the connection is answered as a request of its own.
    lenient = ('obs-fold', 'bare LF')
    for name, raw in cases:
        if name in lenient:
            s = tcp_connect(gw.http_port)
            try:
                s.sendall(raw)
                first = read_response(s)
                second = read_response(s)
            finally:
                s.close()
            r.check('HTTP %s: 400, or framed by Content-Length with the next '
                    'request answered on its own' % name,
                    code(first) == 400 or (code(first) == 202 and
                                           code(second) == 202),
                    (first, second))
            continue
        res, closed = http_raw(gw, raw)
        r.check('HTTP smuggling (%s): 400 and the connection closed' % name,
                code(res) == 400 and closed, (res[:200] if res else res,
                                              closed))
    r.still_serving('HTTP smuggling')


def t_http_max_body(r):
    """API bodies: exactly http.max_body, one byte over, 1 MiB."""
    gw = r.gw
    raw = bytes(range(256)) * (HTTP_MAX_BODY // 256)
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body_base64':
                          base64.b64encode(raw).decode()})
    r.check('API body of exactly http.max_body (base64): 202', st == 202,
            (st, j))
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body_base64':
                          base64.b64encode(raw + b'!').decode()})
    r.check('API body of http.max_body + 1: 413 body_too_large',
            st == 413 and j.get('reason') == 'body_too_large', (st, j))
    st, j = api_post(gw, {'from': ORIG, 'to': DEST, 'body': 'x' * (1 << 20)})
    r.check('API request of 1 MiB: 413 body_too_large',
            st == 413 and j.get('reason') == 'body_too_large', (st, j))


TESTS = [t_crlf, t_huge, t_identity, t_multipart, t_nul, t_utf8,
         t_recipients, t_http_max_body, t_smuggling, t_sip_slowloris,
         t_sip_conn_limits, t_http_conn_per_peer, t_http_slowloris]


def main():
    only = None
    if '--only' in sys.argv:
        only = sys.argv[sys.argv.index('--only') + 1]
    for b in (STIRGATE, STORE, INGEST, DELIVER):
        if not os.access(b, os.X_OK):
            print('FAIL %s not built' % b)
            print('0 passed, 1 failed')
            return 1
    try:
        sgtest.self_test()
        scan_ok = True
    except AssertionError as e:
        scan_ok = False
        scan_err = e
    tmp = tempfile.mkdtemp(prefix='sg-hostile-')
    gw = Gateway(tmp)
    run = Run(gw)
    figures = sgtest.Figures('hostile', run.c, limits={
        'sip.max_message': MAX_MESSAGE, 'sip.max_headers': MAX_HEADERS,
        'sip.max_identity': MAX_IDENTITY,
        'sip.max_recipients': MAX_RECIPIENTS,
        'sip.max_connections': MAX_CONN,
        'sip.max_connections_per_peer': MAX_CONN_PEER,
        'sip.tcp_idle_s': TCP_IDLE, 'http.max_body': HTTP_MAX_BODY,
        'http.max_connections': HTTP_MAX_CONN,
        'http.max_connections_per_peer': HTTP_MAX_CONN_PEER,
        'http.timeout_s': HTTP_TIMEOUT})
    figures.case('setup', injected='the log scanner\'s self-test; the '
                 'gateway started (store, ingest, one deliver worker)')
    run.check('log scanner self-test', scan_ok,
              None if scan_ok else scan_err)
    try:
        gw.start()
        for t in TESTS:
            if only and only not in t.__name__:
                continue
            print('--- %s' % t.__name__, flush=True)
            figures.case(t.__name__[len('t_'):], injected=' '.join(
                t.__doc__.split()))
            try:
                t(run)
            except Exception as e:  # a broken case is one failure
                import traceback
                traceback.print_exc()
                run.check('%s ran to the end' % t.__name__, False, repr(e))
    except Exception as e:
        run.check('gateway started', False, repr(e))
    finally:
        fig = figures.case('shutdown', injected='SIGTERM to every stage, '
                           'then each stage\'s log scanned')
        rcs = gw.stop()
        run.check('every stage exits 0 on SIGTERM',
                  all(v == 0 for v in rcs.values()), rcs)
        fig['exit'] = rcs
        fig['sanitizer_lines'] = 0
        for name, p in gw.procs.items():
            bad = sgtest.log_problems(p.text(), EXPECTED)
            fig['sanitizer_lines'] += len(sgtest.sanitizer_lines(p.text()))
            run.check('log scan: %s has no error lines or sanitizer '
                      'reports' % name, not bad, bad[:5])
        figures.write()
        if run.c.failed:
            print('kept %s for inspection' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return run.c.summary()


if __name__ == '__main__':
    sys.exit(main())
