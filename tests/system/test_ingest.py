#!/usr/bin/env python3
"""tests/system/test_ingest.py - the ingest stage end to end.

Real binaries in a fresh temporary directory, 127.0.0.0/8 only:
stirgate-store, then stirgate-ingest with a config written here (OS-chosen
free ports), an HTTPS x5u repository (tests/system/x5u/x5u_server.py)
serving the peer's chain, two demo PKIs (`stirgate pki demo`: ours, which
signs for customers, and an interconnect peer's).  Clients:

  sipp (/usr/bin/sipp) over UDP and TCP with tests/system/sipp/*.xml,
  raw Python sockets for what sipp cannot send (malformed, oversized,
  retransmissions, TCP framing), urllib for the HTTP API and the published
  chain (plain and TLS).

Peers are told apart by source address, as in production: the customer
sends from 127.0.0.2, the rejecting interconnect from 127.0.0.3, the
lenient one (continue / defer) from 127.0.0.4, a pass_unsigned customer
from 127.0.0.6; 127.0.0.9 is nobody.

What is stored is read back through the store itself: `stirgate queue
show ID --json` for state, verdict and the stored Identity values, and a
small ZMTP 3.0 DEALER written below (stdlib only) that takes JOBs as a
delivery worker would, to read the stored body byte for byte (SHOW never
shows bodies) where the test does not know the id.

Binaries from $SG_BUILD, else $STIRGATE_BUILD, else build/debug.  Prints
one line per check and ends with "N passed, N failed"; exit 1 on failure.
"""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, 'x5u'))
import x5u_server  # noqa: E402
sys.path.insert(0, HERE)
import sgtest  # noqa: E402

BUILD = os.environ.get('SG_BUILD') or os.environ.get('STIRGATE_BUILD') or \
    os.path.join(ROOT, 'build', 'debug')
if '--build' in sys.argv:
    BUILD = sys.argv[sys.argv.index('--build') + 1]
BUILD = os.path.abspath(BUILD)
STIRGATE = os.path.join(BUILD, 'cli', 'stirgate')
STORE = os.path.join(BUILD, 'store', 'stirgate-store')
INGEST = os.path.join(BUILD, 'ingest', 'stirgate-ingest')
SIPP = shutil.which('sipp') or '/usr/bin/sipp'
SIPP_DIR = os.path.join(HERE, 'sipp')

CUST = '127.0.0.2'
IC = '127.0.0.3'
IC_LAX = '127.0.0.4'
CUST_PASS = '127.0.0.6'
NOBODY = '127.0.0.9'

ORIG = '+12025550001'          # inside both demo PKIs' TNAuthList
ORIG_OUT = '+13125550001'      # outside
DEST = '+12025551234'
DEST2 = '+12025551235'
TOKEN = 'tok-customer-0123456789'
TOKEN_IC = 'tok-interconnect-9876543210'


def run(argv, check=True, timeout=60, inp=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, input=inp)
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s' % (' '.join(argv), p.returncode,
                                                 p.stderr.decode()))
    return p


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both UDP and TCP on 127.0.0.1 (checked, not held)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM
                              if kind == socket.SOCK_STREAM
                              else socket.SOCK_STREAM)
        try:
            other.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            other.close()
    raise RuntimeError('no free port')


def wait_for(pred, what, limit=15.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError('timed out waiting for ' + what)


class Tls:
    """A test TLS CA and one server certificate for 127.0.0.1 (used by the
    x5u repository and by ingest's own HTTPS listener)."""

    def __init__(self, tmp):
        d = os.path.join(tmp, 'tls')
        os.makedirs(d)
        self.ca = os.path.join(d, 'tls-ca.pem')
        ca_key = os.path.join(d, 'tls-ca.key')
        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca_key, '-out',
             self.ca, '-subj', '/CN=ingest test TLS CA', '-days', '2'])
        self.key = os.path.join(d, 'server.key')
        csr = os.path.join(d, 'server.csr')
        run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-keyout', self.key,
             '-out', csr, '-subj', '/CN=127.0.0.1'])
        os.chmod(self.key, 0o600)
        ext = os.path.join(d, 'ext.cnf')
        with open(ext, 'w') as f:
            f.write('subjectAltName = IP:127.0.0.1, DNS:localhost\n'
                    'basicConstraints = CA:FALSE\n'
                    'extendedKeyUsage = serverAuth\n')
        self.cert = os.path.join(d, 'server.pem')
        run(['openssl', 'x509', '-req', '-in', csr, '-CA', self.ca,
             '-CAkey', ca_key, '-CAcreateserial', '-days', '2', '-extfile',
             ext, '-out', self.cert])


# --- a ZMTP 3.0 DEALER (NULL mechanism), enough to act as a worker -------

def _zframe(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack('>Q', len(body)) + body
    return bytes([flags, len(body)]) + body


class Zmtp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(path)
        greet = b'\xff' + b'\x00' * 8 + b'\x7f' + b'\x03\x00' + \
            b'NULL'.ljust(20, b'\x00') + b'\x00' + b'\x00' * 31
        self.s.sendall(greet)
        self._read(64)
        ready = b'\x05READY' + b'\x0bSocket-Type' + struct.pack('>I', 6) + \
            b'DEALER'
        self.s.sendall(_zframe(ready, command=True))
        self.recv_message()  # the peer's READY command

    def _read(self, n):
        b = b''
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError('store closed the connection')
            b += c
        return b

    def _frame(self):
        flags = self._read(1)[0]
        n = struct.unpack('>Q', self._read(8))[0] if flags & 2 else \
            self._read(1)[0]
        return flags, self._read(n)

    def recv_message(self):
        frames = []
        while True:
            flags, body = self._frame()
            if flags & 4:
                return [body]  # a command (READY, PING): one frame
            frames.append(body)
            if not flags & 1:
                return frames

    def send(self, cmd, body, corr=0):
        hdr = struct.pack('<HHIQ', cmd, 0, len(body), corr)
        self.s.sendall(_zframe(b'SGW\x01', more=True) +
                       _zframe(hdr, more=True) + _zframe(body))

    def close(self):
        self.s.close()


def parse_envelope(b):
    """proto/proto_msg.h, version 1."""
    env = {'flags': b[1], 'reason': b[2], 'verstat': b[3],
           'id': b[8:24].hex()}
    env['iat'], = struct.unpack('<Q', b[24:32])
    body_len, = struct.unpack('<I', b[88:92])
    n_id, = struct.unpack('<H', b[92:94])
    pos = 96
    for k in ('from', 'to', 'content_type', 'peer', 'idem'):
        n, = struct.unpack('<H', b[pos:pos + 2])
        env[k] = b[pos + 2:pos + 2 + n].decode()
        pos += 2 + n
    ids = []
    for _ in range(n_id):
        n, = struct.unpack('<I', b[pos:pos + 4])
        ids.append(b[pos + 4:pos + 4 + n].decode())
        pos += 4 + n
    env['identity'] = ids
    env['body'] = b[pos:pos + body_len]
    return env


class Worker:
    """Takes JOBs from the store (READY with credit) and keeps each
    envelope by message id; never answers DONE (the leases just run out)."""

    def __init__(self, sock_path):
        self.z = Zmtp(sock_path)
        self.envs = {}
        self.z.send(10, struct.pack('<I', 1000))  # READY

    def wait(self, msg_id, limit=10.0):
        end = time.monotonic() + limit
        while msg_id not in self.envs and time.monotonic() < end:
            try:
                fr = self.z.recv_message()
            except socket.timeout:
                continue
            if len(fr) != 3:
                continue
            cmd, = struct.unpack('<H', fr[1][:2])
            if cmd == 11:  # JOB: attempt, reserved, lease until, envelope
                env = parse_envelope(fr[2][16:])
                self.envs[env['id']] = env
            elif cmd == 13:  # HEARTBEAT: answer with our credit
                self.z.send(13, struct.pack('<I', 1000))
        return self.envs.get(msg_id)

    def close(self):
        self.z.close()


# --- the gateway under test ---------------------------------------------

class Gateway:
    def __init__(self, tmp):
        self.tmp = tmp
        self.run_dir = os.path.join(tmp, 'run')
        self.data = os.path.join(tmp, 'data')
        os.makedirs(self.run_dir, mode=0o700)
        os.makedirs(self.data, mode=0o700)
        self.tls = Tls(tmp)
        self.ours = os.path.join(tmp, 'ours')
        self.peer = os.path.join(tmp, 'peer')
        run([STIRGATE, 'pki', 'demo', self.ours])
        run([STIRGATE, 'pki', 'demo', self.peer])
        self.www = os.path.join(tmp, 'www')
        os.makedirs(self.www)
        shutil.copy(os.path.join(self.peer, 'chain.pem'),
                    os.path.join(self.www, 'peer.pem'))
        self.x5u = x5u_server.X5uServer(self.www, self.tls.cert,
                                        self.tls.key)
        self.peer_x5u = self.x5u.url('/files/peer.pem')
        # A TLS port nobody listens on: the x5u host that cannot be reached.
        self.dead_x5u = 'https://127.0.0.1:%d/x.pem' % free_port()
        self.sip_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port()
        self.https_port = free_port()
        self.our_x5u = 'https://127.0.0.1:%d/certs/stirgate.pem' % \
            self.https_port
        for name, tok in (('cust.tok', TOKEN), ('ic.tok', TOKEN_IC)):
            p = os.path.join(tmp, name)
            with open(p, 'w') as f:
                f.write(tok + '\n')
            os.chmod(p, 0o600)
        self.conf = os.path.join(tmp, 'stirgate.json')
        cfg = {
            'node': {'data_dir': self.data, 'run_dir': self.run_dir,
                     'log_level': 'info', 'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip_port],
                    'tcp': ['127.0.0.1:%d' % self.sip_port],
                    'max_message': '8KiB', 'tcp_idle': '30s',
                    'retry_after': '7s',
                    'accept_types': ['text/plain', 'message/cpim']},
            'http': {'listen': '127.0.0.1:%d' % self.http_port,
                     'tls_listen': '127.0.0.1:%d' % self.https_port,
                     'tls_cert': self.tls.cert, 'tls_key': self.tls.key,
                     'max_body': '16KiB', 'timeout': '10s'},
            'sign': {'key': os.path.join(self.ours, 'signer.key'),
                     'x5u': self.our_x5u,
                     'chain': os.path.join(self.ours, 'chain.pem'),
                     'publish': True, 'publish_max_age': '1h'},
            'verify': {'trust': os.path.join(self.peer, 'ca.pem')},
            'x5u': {'allow_loopback': True, 'tls_ca': self.tls.ca,
                    'connect_timeout_ms': 1000, 'timeout_ms': 3000},
            'peers': [
                {'name': 'cust', 'kind': 'customer', 'sip': [CUST + '/32'],
                 'api_token_file': os.path.join(tmp, 'cust.tok'),
                 'unauthorized': 'reject'},
                {'name': 'cust-pass', 'kind': 'customer',
                 'sip': [CUST_PASS + '/32'], 'unauthorized': 'pass_unsigned'},
                {'name': 'ic', 'kind': 'interconnect', 'sip': [IC + '/32'],
                 'api_token_file': os.path.join(tmp, 'ic.tok'),
                 'require_identity': True, 'on_failure': 'reject',
                 'on_fetch_failure': 'reject'},
                {'name': 'ic-lax', 'kind': 'interconnect',
                 'sip': [IC_LAX + '/32'], 'on_failure': 'continue',
                 'on_fetch_failure': 'defer'},
            ],
        }
        with open(self.conf, 'w') as f:
            json.dump(cfg, f, indent=1)
        self.store = None
        self.ingest = None
        self.ingest_log = os.path.join(tmp, 'ingest.log')
        self.store_log = os.path.join(tmp, 'store.log')

    def start_store(self):
        logf = open(self.store_log, 'ab')
        self.store = subprocess.Popen(
            [STORE, '--dir', os.path.join(self.data, 'store'), '--run-dir',
             self.run_dir], stdout=logf, stderr=logf)
        logf.close()
        wait_for(lambda: self.queue('stats').returncode == 0, 'the store')

    def start_ingest(self):
        logf = open(self.ingest_log, 'ab')
        self.ingest = subprocess.Popen(
            [INGEST, '-c', self.conf, '--run-dir', self.run_dir],
            stdout=logf, stderr=logf)
        logf.close()

        def ready():
            if self.ingest.poll() is not None:
                raise AssertionError('ingest exited:\n' +
                                     self.logtext()[-2000:])
            return self.options_ok()
        wait_for(ready, 'stirgate-ingest')

    def options_ok(self):
        try:
            r = sip_udp(self, sip_request('OPTIONS', 'x-ready'), timeout=0.3,
                        src=NOBODY)
            return r is not None and r.startswith(b'SIP/2.0 200')
        except OSError:
            return False

    def queue(self, *args):
        return subprocess.run([STIRGATE, 'queue'] + list(args) +
                              ['--run-dir', self.run_dir, '--timeout',
                               '2000'], capture_output=True, text=True)

    def show(self, msg_id):
        r = self.queue('show', msg_id, '--json')
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def logtext(self):
        with open(self.ingest_log, errors='replace') as f:
            return f.read()

    def errors(self):
        return [ln for ln in self.logtext().splitlines()
                if ' error ' in ln or ' fatal ' in ln or 'Sanitizer' in ln
                or 'runtime error' in ln]

    def stop(self):
        for p in (self.ingest, self.store):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.x5u.stop()


# --- PASSporTs and SIP helpers ------------------------------------------

def sign(gw, body, orig=ORIG, dest=DEST, iat=None, x5u=None, key=None):
    """An Identity header value signed with the peer's key."""
    bf = os.path.join(gw.tmp, 'sign-body')
    with open(bf, 'wb') as f:
        f.write(body)
    x5u = x5u or gw.peer_x5u
    argv = [STIRGATE, 'passport', 'sign', '--key',
            key or os.path.join(gw.peer, 'signer.key'), '--x5u', x5u,
            '--orig', orig, '--dest', dest, '--body-file', bf]
    if iat is not None:
        argv += ['--iat', str(iat)]
    tok = run(argv).stdout.decode().strip()
    return '%s;info=<%s>;ppt=msg' % (tok, x5u)


_seq = [0]


def sip_request(method, call_id, body=b'', orig=ORIG, dest=DEST,
                identity=None, ctype='text/plain', extra='', transport='UDP',
                branch=None, cl=True):
    _seq[0] += 1
    branch = branch or 'z9hG4bK-%s-%d' % (call_id, _seq[0])
    hdr = ['%s sip:%s@127.0.0.1 SIP/2.0' % (method, dest),
           'Via: SIP/2.0/%s 127.0.0.1:5999;branch=%s' % (transport, branch),
           'Max-Forwards: 70',
           'From: <sip:%s@127.0.0.1>;tag=t%d' % (orig, _seq[0]),
           'To: <sip:%s@127.0.0.1>' % dest,
           'Call-ID: %s' % call_id,
           'CSeq: 1 %s' % method]
    if identity:
        hdr.append('Identity: ' + identity)
    if body:
        hdr.append('Content-Type: ' + ctype)
    if cl:
        hdr.append('Content-Length: %d' % len(body))
    if extra:
        hdr.append(extra)
    return ('\r\n'.join(hdr) + '\r\n\r\n').encode() + body


def sip_udp(gw, data, timeout=5.0, src=IC, sock=None):
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if sock is None:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.sendto(data, ('127.0.0.1', gw.sip_port))
        try:
            while True:
                r, _ = s.recvfrom(65536)
                if not r.startswith(b'SIP/2.0 1'):  # skip provisionals
                    return r
        except socket.timeout:
            return None
    finally:
        if sock is None:
            s.close()


def status(resp):
    if not resp:
        return None
    return int(resp.split(b' ', 2)[1])


def header(resp, name):
    for ln in resp.decode(errors='replace').split('\r\n'):
        if ln.lower().startswith(name.lower() + ':'):
            return ln.split(':', 1)[1].strip()
    return None


class SippResult:
    def __init__(self, rc, trace):
        self.rc = rc
        self.trace = trace
        self.code = None
        self.reason = None
        self.sent_body = None
        for block in trace.split('\n\n'):
            pass
        # Received responses appear as "SIP/2.0 NNN ..." lines in the trace.
        for ln in trace.splitlines():
            if ln.startswith('SIP/2.0 ') and self.code is None:
                try:
                    self.code = int(ln.split()[1])
                except ValueError:
                    pass
            if ln.lower().startswith('reason:') and self.code is not None:
                self.reason = ln.split(':', 1)[1].strip()


def sipp(gw, transport, src, scenario, **keys):
    """One MESSAGE with sipp; the answer from its message trace."""
    trace = os.path.join(gw.tmp, 'sipp-%d.log' % time.monotonic_ns())
    argv = [SIPP, '127.0.0.1:%d' % gw.sip_port, '-sf',
            os.path.join(SIPP_DIR, scenario), '-m', '1', '-t', transport,
            '-i', src, '-p', str(free_port(socket.SOCK_DGRAM)), '-nostdin',
            '-timeout', '20s', '-timeout_error', '-trace_msg',
            '-message_file', trace, '-recv_timeout', '15s']
    for k, v in keys.items():
        argv += ['-key', k, v]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, cwd=gw.tmp)
    text = ''
    if os.path.exists(trace):
        with open(trace, errors='replace') as f:
            text = f.read()
    return SippResult(p.returncode, text)


# --- HTTP helpers ----------------------------------------------------------

def http(gw, method, path, body=None, token=None, tls=False, raw=None,
         headers=None):
    url = '%s://127.0.0.1:%d%s' % ('https' if tls else 'http',
                                   gw.https_port if tls else gw.http_port,
                                   path)
    data = raw if raw is not None else \
        (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    if token:
        req.add_header('Authorization', 'Bearer ' + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    ctx = None
    if tls:
        ctx = ssl.create_default_context(cafile=gw.tls.ca)
    try:
        with urllib.request.urlopen(req, timeout=15, context=ctx) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def jbody(b):
    try:
        return json.loads(b)
    except ValueError:
        return {}


# --- the cases ---------------------------------------------------------------

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


def verify_stored(gw, env, orig=ORIG, dest=DEST, fetch=False):
    """`stirgate passport verify` on a stored Identity and body."""
    bf = os.path.join(gw.tmp, 'verify-body')
    with open(bf, 'wb') as f:
        f.write(env['body'])
    argv = [STIRGATE, 'passport', 'verify', '--identity', env['identity'][0],
            '--trust', os.path.join(gw.ours, 'ca.pem'), '--body-file', bf,
            '--orig', orig, '--dest', dest]
    if fetch:
        # The x5u is fetched: our own published chain over TLS.
        argv += ['--x5u-allow-loopback', '--x5u-tls-ca', gw.tls.ca,
                 '--cache-dir', os.path.join(gw.tmp, 'cli-cache')]
    else:
        argv += ['--chain', os.path.join(gw.ours, 'chain.pem')]
    p = run(argv, check=False)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {'stderr': p.stderr.decode()}


def find_env(worker, pred, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        for e in list(worker.envs.values()):
            if pred(e):
                return e
        worker.wait('-', 0.2)
    return None


def wire(body):
    """The body sipp sends for -key body B: B and the CRLF that sipp ends
    every line of a scenario message with."""
    return (body + '\r\n').encode()


def t_sipp(s, gw, w, tr):
    tag = 'udp' if tr == 'u1' else 'tcp'
    # A customer's message: signed by us, stored, the PASSporT verifies.
    body = 'customer %s %d' % (tag, time.monotonic_ns())
    r = sipp(gw, tr, CUST, 'message_noid.xml', orig=ORIG, dest=DEST,
             body=body)
    s.check('sipp %s customer MESSAGE: 202' % tag, r.rc == 0 and
            r.code == 202, (r.rc, r.code, r.trace[-600:]))
    env = find_env(w, lambda e: e['body'] == wire(body))
    s.check('sipp %s customer: stored byte for byte, gateway-signed' % tag,
            env is not None and env['flags'] & 1 and
            len(env['identity']) == 1 and env['verstat'] == 1, env)
    if env:
        v = verify_stored(gw, env)
        s.check('sipp %s customer: stored PASSporT verifies, msgi matches'
                % tag, v.get('valid') is True and v.get('msgi') == 'match'
                and v.get('ppt') == 'msg', v)
        s.check('sipp %s customer: iat = receive time' % tag,
                abs(env['iat'] - time.time()) < 30, env['iat'])

    # An interconnect's message with a valid Identity.
    body = 'interconnect %s %d' % (tag, time.monotonic_ns())
    ident = sign(gw, wire(body))
    r = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    s.check('sipp %s interconnect valid Identity: 202' % tag,
            r.rc == 0 and r.code == 202, (r.rc, r.code, r.trace[-600:]))
    env = find_env(w, lambda e: e['body'] == wire(body))
    s.check('sipp %s interconnect: stored, verdict ok, Identity kept' % tag,
            env is not None and env['reason'] == 0 and env['verstat'] == 1
            and env['identity'] == [ident], env)
    if env:
        q = gw.show(env['id'])
        s.check('sipp %s interconnect: queue show says ok/passed' % tag,
                q is not None and q.get('reason') == 'ok' and
                q.get('verstat') == 'TN-Validation-Passed', q)

    # Tampered body: reject (438) or store with Reason per policy.
    body = 'tampered %s %d' % (tag, time.monotonic_ns())
    ident = sign(gw, b'the original body')
    r = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    s.check('sipp %s tampered body, policy reject: 438' % tag,
            r.code == 438, (r.code, r.trace[-600:]))
    r = sipp(gw, tr, IC_LAX, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    s.check('sipp %s tampered body, policy continue: 202 + Reason STIR 438'
            % tag, r.code == 202 and r.reason is not None and
            'cause=438' in r.reason and r.reason.startswith('STIR'),
            (r.code, r.reason))
    env = find_env(w, lambda e: e['body'] == wire(body))
    s.check('sipp %s tampered, continue: stored as failed' % tag,
            env is not None and env['verstat'] == 2, env)

    # Stale PASSporT.
    body = 'stale %s %d' % (tag, time.monotonic_ns())
    ident = sign(gw, wire(body), iat=int(time.time()) - 3600)
    r = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    s.check('sipp %s stale iat: 403' % tag, r.code == 403, r.code)

    # Unknown x5u host: 436 under reject, deferred under defer.
    body = 'deadx5u %s %d' % (tag, time.monotonic_ns())
    ident = sign(gw, wire(body), x5u=gw.dead_x5u)
    r = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    s.check('sipp %s unreachable x5u, policy reject: 436' % tag,
            r.code == 436, r.code)
    r = sipp(gw, tr, IC_LAX, 'message.xml', orig=ORIG, dest=DEST, body=body,
             identity=ident)
    env = find_env(w, lambda e: e['body'] == wire(body))
    s.check('sipp %s unreachable x5u, policy defer: 202, stored deferred'
            % tag, r.code == 202 and env is not None and env['flags'] & 2,
            (r.code, env))

    # No Identity where one is required.
    body = 'noid %s %d' % (tag, time.monotonic_ns())
    r = sipp(gw, tr, IC, 'message_noid.xml', orig=ORIG, dest=DEST, body=body)
    s.check('sipp %s no Identity (required): 428' % tag, r.code == 428,
            r.code)

    # A replayed PASSporT: the same token again in a new request.
    body = 'replay %s %d' % (tag, time.monotonic_ns())
    ident = sign(gw, wire(body))
    r1 = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
              identity=ident)
    r2 = sipp(gw, tr, IC, 'message.xml', orig=ORIG, dest=DEST, body=body,
              identity=ident)
    s.check('sipp %s replayed PASSporT: first 202, replay 403' % tag,
            r1.code == 202 and r2.code == 403, (r1.code, r2.code))


def t_sip_raw(s, gw, w):
    # Customer authority.
    r = sip_udp(gw, sip_request('MESSAGE', 'auth-1', b'x', orig=ORIG_OUT),
                src=CUST)
    s.check('customer orig outside our TNAuthList, reject: 403',
            status(r) == 403, r)
    body = b'pass unsigned %d' % time.monotonic_ns()
    r = sip_udp(gw, sip_request('MESSAGE', 'auth-2', body, orig=ORIG_OUT),
                src=CUST_PASS)
    env = find_env(w, lambda e: e['body'] == body)
    s.check('customer orig outside, pass_unsigned: 202, stored unsigned',
            status(r) == 202 and env is not None and not env['identity']
            and env['verstat'] == 0, (r, env))

    # Malformed, oversized, unsupported, other methods, unknown peer.
    bad = sip_request('MESSAGE', 'bad-1', b'x', extra='Date: yesterday')
    r = sip_udp(gw, bad)
    s.check('malformed request (bad Date): 400', status(r) == 400, r)
    r = sip_udp(gw, b'\x00\x01garbage that is not SIP\r\n\r\n', timeout=0.5)
    s.check('garbage datagram: no answer, ingest alive',
            r is None and gw.options_ok(), r)
    big = sip_request('MESSAGE', 'big-1', b'A' * 9000)
    r = sip_udp(gw, big)
    s.check('oversized request (9000-byte body, max 8KiB): 413',
            status(r) == 413, r)
    r = sip_udp(gw, sip_request('MESSAGE', 'ct-1', b'x',
                                ctype='application/octet-stream'))
    s.check('unsupported Content-Type: 415 with Accept',
            status(r) == 415 and 'text/plain' in (header(r, 'Accept') or ''),
            r)
    r = sip_udp(gw, sip_request('OPTIONS', 'opt-1'))
    s.check('OPTIONS: 200', status(r) == 200, r)
    r = sip_udp(gw, sip_request('INFO', 'info-1'))
    s.check('INFO: 405 with Allow', status(r) == 405 and
            'MESSAGE' in (header(r, 'Allow') or ''), r)
    r = sip_udp(gw, sip_request('MESSAGE', 'nobody-1', b'x'), src=NOBODY)
    s.check('MESSAGE from an unknown peer: 403', status(r) == 403, r)

    # UDP retransmissions: absorbed while in progress, same answer after.
    body = b'retransmit %d' % time.monotonic_ns()
    msg = sip_request('MESSAGE', 'rtx-1', body, identity=sign(gw, body),
                      branch='z9hG4bK-rtx-1')
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.bind((IC, 0))
    sk.settimeout(5)
    for _ in range(3):
        sk.sendto(msg, ('127.0.0.1', gw.sip_port))
    first = sk.recvfrom(65536)[0]
    sk.settimeout(0.5)
    extra = []
    try:
        while True:
            extra.append(sk.recvfrom(65536)[0])
    except socket.timeout:
        pass
    sk.settimeout(5)
    sk.sendto(msg, ('127.0.0.1', gw.sip_port))
    again = sk.recvfrom(65536)[0]
    sk.close()
    time.sleep(0.3)
    find_env(w, lambda e: e['body'] == body, 5)
    n = len([e for e in w.envs.values() if e['body'] == body])
    s.check('UDP retransmissions: one message stored, same 202 again',
            status(first) == 202 and again == first and n == 1 and
            all(x == first for x in extra), (first, again, n, len(extra)))

    # TCP: pipelined requests, a request split across writes, oversized.
    c = socket.create_connection(('127.0.0.1', gw.sip_port), timeout=5)
    c.close()
    c = socket.socket()
    c.bind((CUST, 0))
    c.settimeout(5)
    c.connect(('127.0.0.1', gw.sip_port))
    b1 = b'tcp pipelined one %d' % time.monotonic_ns()
    b2 = b'tcp pipelined two %d' % time.monotonic_ns()
    c.sendall(sip_request('MESSAGE', 'tcp-1', b1, transport='TCP') +
              sip_request('MESSAGE', 'tcp-2', b2, transport='TCP'))
    got = b''
    end = time.monotonic() + 5
    while got.count(b'SIP/2.0 202') < 2 and time.monotonic() < end:
        got += c.recv(65536)
    s.check('TCP: two pipelined MESSAGEs, two 202s',
            got.count(b'SIP/2.0 202') == 2, got)
    b3 = b'tcp split %d' % time.monotonic_ns()
    req = sip_request('MESSAGE', 'tcp-3', b3, transport='TCP')
    for i in range(0, len(req), 37):
        c.sendall(req[i:i + 37])
        time.sleep(0.002)
    got = c.recv(65536)
    s.check('TCP: a MESSAGE split over 37-byte writes: 202',
            got.startswith(b'SIP/2.0 202'), got)
    # The same unsigned request again (same Call-ID/CSeq): 202, not stored
    # twice (deduplicated by the store's replay window).
    c.sendall(req)
    got = c.recv(65536)
    time.sleep(0.3)
    find_env(w, lambda e: e['body'] == b3, 5)
    n = len([e for e in w.envs.values() if e['body'] == b3])
    s.check('TCP: a repeated unsigned request: 202, stored once',
            got.startswith(b'SIP/2.0 202') and n == 1, (got, n))
    c.sendall(sip_request('MESSAGE', 'tcp-4', b'B' * 9000, transport='TCP'))
    got = b''
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    s.check('TCP: oversized request: 413, connection closed',
            got.startswith(b'SIP/2.0 413'), got)
    c.close()


def t_http(s, gw, w):
    body = 'api customer %d' % time.monotonic_ns()
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': [DEST, DEST2], 'body': body,
                      'content_type': 'text/plain'}, token=TOKEN)
    j = jbody(b)
    ids = [m.get('id') for m in j.get('messages', [])]
    s.check('API customer, two recipients: 202 with two ids, passed',
            st == 202 and len(ids) == 2 and
            j.get('verstat') == 'TN-Validation-Passed', (st, b))
    for i, dest in zip(ids, (DEST, DEST2)):
        st, hd, b = http(gw, 'GET', '/v1/messages/' + i, token=TOKEN)
        j = jbody(b)
        s.check('API GET %s: status, state, attempts, verstat' % i[:8],
                st == 200 and j.get('state') in ('queued', 'leased') and
                j.get('status') in ('queued', 'delivering') and
                'attempts' in j and 'last_error' in j and
                j.get('verstat') == 'TN-Validation-Passed', (st, b))
        # The stored Identity from `queue show` (SHOW carries the values;
        # the body is the one sent).
        q = gw.show(i)
        env = {'identity': q.get('identity', []), 'body': body.encode()} \
            if q else None
        v = verify_stored(gw, env, dest=dest) if env else {}
        s.check('API customer: stored PASSporT verifies for %s' % dest,
                v.get('valid') is True and v.get('msgi') == 'match', v)
    if ids:
        q = gw.show(ids[0])
        env = {'identity': q.get('identity', []), 'body': body.encode()} \
            if q else None
        v = verify_stored(gw, env, fetch=True) if env else {}
        s.check('API customer: PASSporT verifies with our chain fetched '
                'from its x5u (published over TLS)', v.get('valid') is True,
                v)
        st, hd, b = http(gw, 'GET', '/v1/messages/' + ids[0], token=TOKEN_IC)
        s.check('API GET of another client\'s message: 404', st == 404 and
                jbody(b).get('reason') == 'not_found', (st, b))

    raw = os.urandom(40)
    ident = sign(gw, raw)
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'identity': ident,
                      'body_base64': base64.b64encode(raw).decode(),
                      'content_type': 'text/plain'}, token=TOKEN_IC)
    j = jbody(b)
    s.check('API interconnect, base64 body, valid Identity: 202 passed',
            st == 202 and j.get('verstat') == 'TN-Validation-Passed', (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'identity': ident,
                      'body': 'not the signed body'}, token=TOKEN_IC)
    s.check('API interconnect, tampered body: 403 msgi_mismatch',
            st == 403 and jbody(b).get('reason') == 'msgi_mismatch', (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'body': 'x'}, token=TOKEN_IC)
    s.check('API interconnect, no Identity (required): 403 no_identity',
            st == 403 and jbody(b).get('reason') == 'no_identity', (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'identity': ident,
                      'body_base64': base64.b64encode(raw).decode()},
                     token=TOKEN_IC)
    s.check('API replayed PASSporT: 409 replay',
            st == 409 and jbody(b).get('reason') == 'replay', (st, b))
    dead = sign(gw, b'd', x5u=gw.dead_x5u)
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'identity': dead,
                      'body': 'd'}, token=TOKEN_IC)
    s.check('API unreachable x5u, policy reject: 503 x5u_fetch_failed',
            st == 503 and jbody(b).get('reason') == 'x5u_fetch_failed',
            (st, b))

    st, hd, b = http(gw, 'POST', '/v1/messages', raw=b'{"from": "+1",\n  x}',
                     token=TOKEN)
    j = jbody(b)
    s.check('API bad JSON: 400 malformed_json with line and column',
            st == 400 and j.get('reason') == 'malformed_json' and
            'line 2' in j.get('message', ''), (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'body': 'x'}, token='nope')
    s.check('API wrong token: 401 unauthorized',
            st == 401 and jbody(b).get('reason') == 'unauthorized', (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'body': 'x'})
    s.check('API no token: 401 unauthorized',
            st == 401 and jbody(b).get('reason') == 'unauthorized', (st, b))
    st, hd, b = http(gw, 'GET', '/v1/messages/' + '0' * 32, token=TOKEN)
    s.check('API unknown id: 404 not_found',
            st == 404 and jbody(b).get('reason') == 'not_found', (st, b))
    st, hd, b = http(gw, 'GET', '/v1/messages/xyz', token=TOKEN)
    s.check('API malformed id: 404 not_found', st == 404, (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'body': 'x' * 20000},
                     token=TOKEN)
    s.check('API body over http.max_body: 413', st == 413, (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG, 'to': DEST, 'body': 'x',
                      'content_type': 'image/png'}, token=TOKEN)
    s.check('API unsupported content type: 415', st == 415 and
            jbody(b).get('reason') == 'unsupported_media_type', (st, b))
    st, hd, b = http(gw, 'POST', '/v1/messages',
                     {'from': ORIG_OUT, 'to': DEST, 'body': 'x'}, token=TOKEN)
    s.check('API customer orig outside our authority: 403',
            st == 403 and jbody(b).get('reason') == 'orig_not_authorized',
            (st, b))
    idem = 'idem-%d' % time.monotonic_ns()
    req = {'from': ORIG, 'to': DEST, 'body': 'idem', 'idempotency_id': idem}
    st1, _, b1 = http(gw, 'POST', '/v1/messages', req, token=TOKEN)
    st2, _, b2 = http(gw, 'POST', '/v1/messages', req, token=TOKEN)
    s.check('API repeated idempotency id: 202, then 200 with the first id',
            st1 == 202 and st2 == 200 and jbody(b2).get('duplicate') is True
            and [m.get('id') for m in jbody(b2).get('messages', [])] ==
            [m.get('id') for m in jbody(b1).get('messages', [])],
            (st1, b1, st2, b2))

    # Our chain at the path of our x5u URL, TLS and plain.
    with open(os.path.join(gw.ours, 'chain.pem'), 'rb') as f:
        chain = f.read()
    for tls in (True, False):
        st, hd, b = http(gw, 'GET', '/certs/stirgate.pem', tls=tls)
        s.check('chain published over %s: PEM chain, Cache-Control'
                % ('TLS' if tls else 'plain HTTP'),
                st == 200 and b == chain and
                hd.get('Content-Type') == 'application/pem-certificate-chain'
                and hd.get('Cache-Control') == 'max-age=3600',
                (st, hd))


def t_kill9(s, gw, w):
    """kill -9 in the middle of a burst: every 202 is stored, no error is."""
    results = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client(k):
        i = 0
        while not stop.is_set() and i < 400:
            i += 1
            marker = 'burst-%d-%d' % (k, i)
            bad = i % 5 == 0  # a tampered interconnect message: 403
            if bad:
                req = {'from': ORIG, 'to': DEST, 'body': marker,
                       'identity': IDENT_BAD}
                tok = TOKEN_IC
            else:
                req = {'from': ORIG, 'to': DEST, 'body': marker}
                tok = TOKEN
            try:
                st, _, b = http(gw, 'POST', '/v1/messages', req, token=tok)
                j = jbody(b)
                ids = [m['id'] for m in j.get('messages', [])]
            except (OSError, urllib.error.URLError):
                st, ids = None, []
            with lock:
                results[marker] = (st, ids)

    global IDENT_BAD
    IDENT_BAD = sign(gw, b'signed body, not the one sent')
    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    wait_for(lambda: sum(1 for v in results.values() if v[0] == 202) >= 150,
             'accepted messages in the burst', 60)
    gw.ingest.kill()
    gw.ingest.wait()
    stop.set()
    for t in threads:
        t.join(30)
    ok = {m: v[1] for m, v in results.items() if v[0] == 202}
    err = {m for m, v in results.items() if v[0] is not None and v[0] != 202}
    missing = []
    for m, ids in ok.items():
        for i in ids:
            if w.wait(i, 10) is None or gw.show(i) is None:
                missing.append((m, i))
    s.check('kill -9 mid-burst: every 202 is in the store (%d accepted)'
            % len(ok), ok and not missing, missing[:5])
    stored_markers = {e['body'].decode(errors='replace')
                      for e in w.envs.values()}
    wrong = sorted(err & stored_markers)
    s.check('kill -9 mid-burst: no refused message is stored (%d refused)'
            % len(err), err and not wrong, wrong[:5])


def main():
    s = Suite()
    tmp = tempfile.mkdtemp(prefix='sg-ingest-')
    gw = w = None
    try:
        gw = Gateway(tmp)
        gw.start_store()
        gw.start_ingest()
        s.check('ingest ready (OPTIONS answered)', True)
        w = Worker(os.path.join(gw.run_dir, 'store.sock'))
        for name, fn in (('sipp udp', lambda: t_sipp(s, gw, w, 'u1')),
                         ('sipp tcp', lambda: t_sipp(s, gw, w, 't1')),
                         ('raw sip', lambda: t_sip_raw(s, gw, w)),
                         ('http', lambda: t_http(s, gw, w)),
                         ('kill -9', lambda: t_kill9(s, gw, w))):
            try:
                fn()
            except Exception as e:  # one broken group must not hide others
                import traceback
                traceback.print_exc()
                s.check(name + ' ran to the end', False, repr(e))
        errs = gw.errors()
        s.check('log scanner: no error lines in ingest\'s log', not errs,
                errs[:5])
        # After the kill: a restarted ingest serves again, then stops
        # cleanly on SIGTERM.
        gw.start_ingest()
        body = b'after restart %d' % time.monotonic_ns()
        r = sip_udp(gw, sip_request('MESSAGE', 'restart-1', body), src=CUST)
        s.check('restarted ingest accepts again', status(r) == 202, r)
        gw.ingest.send_signal(signal.SIGTERM)
        rc = gw.ingest.wait(timeout=20)
        s.check('SIGTERM: ingest exits 0', rc == 0, rc)
    except Exception as e:
        import traceback
        traceback.print_exc()
        s.check('setup', False, repr(e))
    finally:
        if w is not None:
            w.close()
        if gw is not None:
            gw.stop()
            # Sanitizer reports (leaks are reported at exit) in any stage.
            for log in (gw.ingest_log, gw.store_log):
                with open(log, errors='replace') as f:
                    san = sgtest.sanitizer_lines(f.read())
                s.check('no sanitizer report in %s' % os.path.basename(log),
                        not san, san[:5])
            if s.failed == 0:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print('kept %s for inspection' % tmp)
    print('%d passed, %d failed' % (s.passed, s.failed))
    return 1 if s.failed else 0


if __name__ == '__main__':
    sys.exit(main())
