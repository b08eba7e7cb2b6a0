#!/usr/bin/env python3
"""tests/system/test_faults.py - faults around the gateway.

`stirgate run -c CFG` (test_crash.Gateway: temp config, loopback ports,
python next hops) facing, one case each:

  downstream   a webhook that refuses connections (nothing listens), hangs
               (past delivery.http_timeout_ms), resets TCP mid-request; a
               SIP next hop over TCP that resets mid-MESSAGE: each time the
               message is retried, and delivered exactly once when the peer
               recovers; nothing is lost;
  map full     store.map_max at its minimum (1 MiB) with the next hop down:
               ingest answers 503 with Retry-After once the map is full, the
               messages committed before are intact, and once the next hop
               is back and deliveries free space (done_keep 0) new messages
               are accepted again;
  disk full    the data directory on a small tmpfs (mount -t tmpfs, size
               8m; skipped with a message when mount is not permitted) with
               a ballast file leaving little room: the store refuses (503),
               never crashes or corrupts, and recovers once the ballast goes;
  x5u          an interconnect's x5u server slow (beyond x5u.timeout_ms),
               down (nothing listens), answering garbage (HTML), a huge body
               (past x5u.max_size), and flapping (refused, then up): a
               transient failure is deferred at ingest (202, verification
               deferred) and resolved at delivery once the server answers;
               a message whose chain is cached is unaffected meanwhile;
  clock        the wall clock stepped forward and back under libfaketime
               (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1,
               FAKETIME_DONT_FAKE_MONOTONIC=1: an NTP step moves
               CLOCK_REALTIME only) on every stage: a retry due in 2 s
               neither fires at once on a forward step nor stalls on a
               backward step, a lease neither expires early (no duplicate
               delivery) nor late; freshness follows the wall clock as
               designed (an iat signed before a forward step is stale at
               delivery, README "Delivery").  Skipped with a message when
               libfaketime is not installed (tools/bootstrap.sh installs
               it for tests).

With $SG_FIGURES set, each fault also goes to that file as JSON
(sgtest.Figures; tools/reliability.py reads it): what was injected and
what was counted (messages sent, answered 202, delivered, lost, where the
case has them; the answer, reason or timing observed otherwise).

Runtime: about 60-90 s in the debug build.  Binaries from $SG_BUILD, else
build/debug.  Prints "N passed, N failed" last.
"""
import glob
import http.server
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, 'x5u'))
import sgtest  # noqa: E402
import x5u_server  # noqa: E402
from test_crash import (CLI, ORIG, TO_HOOK, TO_SIP, TOKEN, Gateway,  # noqa
                        run, wait_for)
from test_deliver import Uas  # noqa: E402

TOKEN_IC = 'faults-interconnect-token-0123'
FAKETIME = (glob.glob('/usr/lib/*/faketime/libfaketime.so.1') +
            glob.glob('/usr/lib/faketime/libfaketime.so.1'))


# --- peers ----------------------------------------------------------------

class FlexHook:
    """A webhook on a fixed port whose behaviour changes at run time:
    mode 'ok' (200), 'hang' (never answers), 'reset' (reads half the
    request, then a TCP RST), 'down' (not listening: connection
    refused).  `ok` lists the bodies answered 200."""

    def __init__(self, mode='ok'):
        self.port = sgtest.free_port(both=False)
        self.mode = None
        self.ok = []
        self.seen = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.srv = None
        self.set(mode)

    def url(self):
        return 'http://127.0.0.1:%d/hook' % self.port

    def set(self, mode):
        if mode == 'down' and self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None
        if mode != 'down' and self.srv is None:
            self._listen()
        self.mode = mode

    def _listen(self):
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                with hook.lock:
                    hook.seen += 1
                mode = hook.mode
                # 'down' reaches here on a connection kept alive from
                # before: it goes the way a stopped server's would.
                if mode in ('reset', 'down'):
                    self.rfile.read(n // 2)
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack('ii', 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                body = self.rfile.read(n)
                if mode == 'hang':
                    hook.release.wait(30)
                    self.close_connection = True
                    return
                with hook.lock:
                    hook.ok.append((self.headers.get('Idempotency-Key'),
                                    json.loads(body)))
                self.send_response(200)
                self.send_header('Content-Length', '0')
                self.end_headers()

        class S(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True
        self.srv = S(('127.0.0.1', self.port), H)
        threading.Thread(target=self.srv.serve_forever,
                         kwargs={'poll_interval': 0.05}, daemon=True).start()

    def delivered(self):
        with self.lock:
            return list(self.ok)

    def stop(self):
        self.release.set()
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None


class ResetUas(Uas):
    """A SIP UAS over TCP; while `resets` > 0 each connection is reset
    (RST) after the first bytes of a MESSAGE, then it answers 200."""

    def __init__(self, resets):
        self.resets = resets
        Uas.__init__(self, tcp=True)

    def _conn(self, c):
        if self.resets > 0:
            self.resets -= 1
            try:
                c.settimeout(5)
                c.recv(100)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack('ii', 1, 0))
            except OSError:
                pass
            c.close()
            return
        Uas._conn(self, c)


class FlapProxy:
    """A TCP forwarder to `backend`: while up it relays both ways; while
    down it resets every connection at once (the x5u host flapping)."""

    def __init__(self, backend_port):
        self.backend = backend_port
        self.up = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            if not self.up:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack('ii', 1, 0))
                c.close()
                continue
            try:
                b = socket.create_connection(('127.0.0.1', self.backend), 5)
            except OSError:
                c.close()
                continue
            for a, z in ((c, b), (b, c)):
                threading.Thread(target=self._pipe, args=(a, z),
                                 daemon=True).start()

    @staticmethod
    def _pipe(a, z):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                z.sendall(d)
        except OSError:
            pass
        for s in (a, z):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        self.sock.close()


# --- helpers --------------------------------------------------------------

def post(gw, body, to=TO_HOOK, token=TOKEN, identity=None, timeout=20):
    j = {'from': ORIG, 'to': to, 'body': body}
    if identity:
        j['identity'] = [identity]
    req = urllib.request.Request(
        'http://127.0.0.1:%d/v1/messages' % gw.http_port,
        data=json.dumps(j).encode(), method='POST',
        headers={'Content-Type': 'application/json',
                 'Authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b'{}')
    except urllib.error.HTTPError as e:
        b = e.read()
        try:
            return e.code, dict(e.headers), json.loads(b or b'{}')
        except ValueError:
            return e.code, dict(e.headers), {}


def mid_of(resp):
    return resp[2]['messages'][0]['id']


def show(gw, mid):
    return gw.queue('show', mid, '--json')


def wait_state(gw, mid, state, limit=20):
    last = {}

    def ok():
        last['m'] = show(gw, mid)
        return last['m'] and last['m'].get('state') == state
    try:
        wait_for(ok, '%s %s' % (mid, state), limit)
        return last['m']
    except AssertionError:
        raise AssertionError('%s: %s, wanted %s' % (mid, last.get('m'), state))


def conf(gw, key):
    """A value of the config `gw` runs with ("x5u.timeout_ms"), as
    written there, for the figures' descriptions."""
    with open(gw.config) as f:
        v = json.load(f)
    for k in key.split('.'):
        v = v[k]
    return v


def fault(fig, name, injected, **counts):
    """One fault of a case for the figures: a dict the case fills in."""
    f = {'fault': name, 'injected': injected}
    f.update(counts)
    fig.setdefault('faults', []).append(f)
    return f


def store_clean(gw, c, label, fig):
    code, out = gw.check_store()
    fig['store_check_exit'] = code
    fig['store_check'] = gw.check_summary(code, out)
    c.check('%s: the store validates clean' % label, code == 0, out)


def no_errors(gw, c, label, fig, allowed=()):
    fig['sanitizer_lines'] = len(sgtest.sanitizer_lines(gw.logtext()))
    probs = gw.problems(allowed)
    c.check('%s: no unexpected error lines or sanitizer reports' % label,
            not probs, '\n'.join(probs[:20]))


# --- downstream -------------------------------------------------------------

def t_downstream(tmp, c, fig):
    base = os.path.join(tmp, 'downstream')
    os.makedirs(base)
    hook = FlexHook('down')
    uas = ResetUas(resets=2)
    routes = [{'name': 'hook', 'match_prefix': TO_HOOK[1:-1],
               'webhook': hook.url()},
              {'name': 'sip', 'match_prefix': TO_SIP[1:-1],
               'sip': uas.hop()}]
    gw = Gateway(base, routes=routes, workers=1,
                 extra={'delivery': {'http_timeout_ms': 1000}}).start()
    injected = {
        'down': 'nothing listens on the webhook\'s port (connection refused)',
        'hang': 'the webhook reads the request and never answers '
                '(delivery.http_timeout_ms %s)'
                % conf(gw, 'delivery.http_timeout_ms'),
        'reset': 'the webhook reads half the request, then a TCP RST'}
    try:
        for mode in ('down', 'hang', 'reset'):
            label = 'webhook %s' % {'down': 'refusing',
                                    'hang': 'hanging',
                                    'reset': 'resetting mid-request'}[mode]
            f = fault(fig, label, injected[mode])
            hook.set(mode)
            r = post(gw, 'faults-%s' % mode)
            f.update(sent=1, acked=int(r[0] == 202))
            mid = mid_of(r)

            def retried():
                m = show(gw, mid)
                return m and m.get('attempts', 0) >= 2 and m
            m = wait_for(retried, '%s: two attempts' % label, 30)
            f.update(failed_attempts_seen=m.get('attempts'),
                     last_error=m.get('last_error'),
                     state_while_failing=m.get('state'))
            c.check('%s: the message is retried, not failed (%s)' % (
                label, m.get('last_error')), m['state'] in (
                    'queued', 'leased'), m)
            hook.set('ok')
            m = wait_state(gw, mid, 'done', 30)
            got = [k for k, b in hook.delivered() if k == mid]
            f.update(attempts=m.get('attempts'), delivered=min(len(got), 1),
                     duplicated=max(len(got) - 1, 0),
                     lost=f['acked'] - min(len(got), 1))
            c.check('%s: delivered exactly once after recovery' % label,
                    len(got) == 1, (got, m))
        # SIP over TCP: the next hop resets the connection twice.
        resets = uas.resets
        f = fault(fig, 'SIP next hop (TCP) resetting mid-MESSAGE',
                  'the SIP UAS resets the connection (RST) after the first '
                  'bytes of a MESSAGE, %d times' % resets)
        r = post(gw, 'faults-sip-tcp', to=TO_SIP)
        f.update(sent=1, acked=int(r[0] == 202))
        mid = mid_of(r)
        m = wait_state(gw, mid, 'done', 30)
        cids = uas.requests()
        n = sum(1 for _, hdrs, _ in uas.requests()
                for k, v in hdrs if k == 'call-id' and v.startswith(mid))
        f.update(resets_done=resets - uas.resets, attempts=m.get('attempts'),
                 delivered=min(n, 1), duplicated=max(n - 1, 0),
                 lost=f['acked'] - min(n, 1))
        c.check('SIP TCP reset mid-MESSAGE: retried, delivered once '
                '(attempts %s)' % m.get('attempts'),
                uas.resets == 0 and n == 1 and m.get('attempts', 0) >= 2,
                (uas.resets, n, m, len(cids)))
    finally:
        rc = gw.stop()
        hook.stop()
        uas.stop()
        gw.sink.stop()
        gw.uas.stop()
    fig['master_exit'] = rc
    c.check('downstream: the master stops cleanly', rc == 0, rc)
    store_clean(gw, c, 'downstream', fig)
    no_errors(gw, c, 'downstream', fig)


# --- the map full -----------------------------------------------------------

def fill(gw, prefix, limit=4000, size=4000):
    """POST until the first 503; (ids accepted, the 503 response)."""
    ids = []
    for i in range(limit):
        r = post(gw, '%s-%05d-' % (prefix, i) + 'x' * size)
        if r[0] == 202:
            ids.append(mid_of(r))
            continue
        return ids, r
    return ids, None


def t_map_full(tmp, c, fig):
    label = 'map full'
    base = os.path.join(tmp, 'mapfull')
    os.makedirs(base)
    hook = FlexHook('down')
    routes = [{'name': 'hook', 'match_prefix': TO_HOOK[1:-1],
               'webhook': hook.url()}]
    gw = Gateway(base, routes=routes, workers=1, extra={
        'delivery': {'probe_interval': '1s'},
        'store': {'map_size': '1MiB', 'map_max': '1MiB', 'done_keep': '0s',
                  'backoff_min': '1s', 'backoff_max': '1s'}}).start()
    f = fault(fig, label, 'store.map_size %s, store.map_max %s, done_keep '
              '%s, the webhook down; 4 KB messages POSTed until one is '
              'refused; then the webhook up' % (
                  conf(gw, 'store.map_size'), conf(gw, 'store.map_max'),
                  conf(gw, 'store.done_keep')))
    try:
        ids, r = fill(gw, 'mapfull')
        f.update(sent=len(ids) + (r is not None), acked=len(ids),
                 refused_with=r and r[0],
                 retry_after=r and r[1].get('Retry-After'))
        c.check('%s: 503 with Retry-After once the map is full (after %d '
                'messages)' % (label, len(ids)),
                r is not None and r[0] == 503 and 'Retry-After' in r[1]
                and len(ids) > 10, r)
        bad = [m for m in ids if (show(gw, m) or {}).get('state') not in
               ('queued', 'leased')]
        f['intact_while_full'] = len(ids) - len(bad)
        c.check('%s: every message committed before is intact' % label,
                not bad, bad[:5])
        hook.set('ok')
        wait_for(lambda: len(hook.delivered()) >= len(ids),
                 'the backlog delivered', 90)
        sent = set(ids)
        keys = [k for k, _ in hook.delivered() if k in sent]
        f.update(delivered=len(set(keys)), duplicated=len(keys) -
                 len(set(keys)), lost=len(ids) - len(set(keys)))

        def accepted():
            f['sent_after'] = f.get('sent_after', 0) + 1
            return post(gw, 'mapfull-after')[0] == 202
        ok = wait_for(accepted, 'a 202 again', 30)
        f['accepted_after_space_freed'] = bool(ok)
        c.check('%s: new messages accepted once deliveries freed space'
                % label, ok)
    finally:
        rc = gw.stop()
        hook.stop()
        gw.sink.stop()
        gw.uas.stop()
    fig['master_exit'] = rc
    c.check('%s: the master stops cleanly' % label, rc == 0, rc)
    store_clean(gw, c, label, fig)
    no_errors(gw, c, label, fig)


# --- the filesystem full ----------------------------------------------------

def t_disk_full(tmp, c, fig):
    label = 'filesystem full'
    base = os.path.join(tmp, 'diskfull')
    os.makedirs(base)
    mnt = os.path.join(base, 'data')
    os.makedirs(mnt)
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8m', 'tmpfs',
                        mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print('skip %s: mount -t tmpfs not permitted here: %s'
              % (label, r.stderr.strip()), flush=True)
        fig['skipped'] = 'mount -t tmpfs not permitted: %s' % (
            r.stderr.strip())
        return
    gw = hook = None
    try:
        hook = FlexHook('down')
        routes = [{'name': 'hook', 'match_prefix': TO_HOOK[1:-1],
                   'webhook': hook.url()}]
        gw = Gateway(base, routes=routes, workers=1, extra={
            'delivery': {'probe_interval': '1s'},
            'store': {'map_size': '1MiB', 'map_max': '64MiB',
                      'done_keep': '0s', 'backoff_min': '1s',
                      'backoff_max': '1s'}})
        gw.start()
        # Leave about 1.5 MiB free.
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        ballast = os.path.join(mnt, 'ballast')
        with open(ballast, 'wb') as f:
            f.write(b'\0' * max(0, free - (3 << 19)))
        st = os.statvfs(mnt)
        flt = fault(fig, label, 'the data directory on a tmpfs of %d KiB, '
                    'a ballast file leaving %d KiB free, store.map_max %s, '
                    'the webhook down; 4 KB messages POSTed until one is '
                    'refused; then the ballast removed and the webhook up'
                    % (st.f_blocks * st.f_frsize // 1024,
                       st.f_bavail * st.f_frsize // 1024,
                       conf(gw, 'store.map_max')))
        spid = gw.stage_pid('store')
        ids, r = fill(gw, 'diskfull')
        flt.update(sent=len(ids) + (r is not None), acked=len(ids),
                   refused_with=r and r[0])
        c.check('%s: 503 once the filesystem is full (after %d messages)'
                % (label, len(ids)), r is not None and r[0] == 503, r)
        flt['store_restarted'] = gw.stage_pid('store') != spid
        c.check('%s: the store still runs (not restarted)' % label,
                gw.stage_pid('store') == spid and gw.ready(),
                (spid, gw.stage_pid('store'), [
                    ln for ln in gw.logtext().splitlines()
                    if ' info ' not in ln][-8:]))
        if gw.stage_pid('store') != spid:
            return
        # While the disk is full the store defers control requests too
        # (queue show answers "store full"): look once space is back.
        os.unlink(ballast)
        bad = [m for m in ids if (show(gw, m) or {}).get('state') not in
               ('queued', 'leased')]
        flt['intact_while_full'] = len(ids) - len(bad)
        c.check('%s: every message committed before is intact' % label,
                not bad, [(m, show(gw, m)) for m in bad[:3]])
        hook.set('ok')

        def accepted():
            flt['sent_after'] = flt.get('sent_after', 0) + 1
            return post(gw, 'diskfull-after')[0] == 202
        ok = wait_for(accepted, 'a 202 again', 30)
        flt['accepted_after_space_freed'] = bool(ok)
        c.check('%s: accepted again after space was freed' % label, ok)
        try:
            wait_for(lambda: len(hook.delivered()) >= len(ids) + 1,
                     'the backlog delivered', 60)
        except AssertionError:
            print([ln for ln in gw.logtext().splitlines()
                   if ' info ' not in ln][-15:])
            print(gw.queue('list', '--limit', '5'), len(hook.delivered()))
            raise
        sent = set(ids)
        keys = [k for k, _ in hook.delivered() if k in sent]
        flt.update(delivered=len(set(keys)), duplicated=len(keys) -
                   len(set(keys)), lost=len(ids) - len(set(keys)))
        rc = gw.stop()
        fig['master_exit'] = rc
        c.check('%s: the master stops cleanly' % label, rc == 0, rc)
        store_clean(gw, c, label, fig)
        no_errors(gw, c, label, fig, allowed=[r'No space left on device',
                                              r'ENOSPC'])
    finally:
        if gw is not None:
            gw.stop()
            gw.sink.stop()
            gw.uas.stop()
        if hook is not None:
            hook.stop()
        subprocess.run(['umount', '-l', mnt])


# --- x5u --------------------------------------------------------------------

def tls_cert(d):
    os.makedirs(d)
    key, cert = os.path.join(d, 'tls.key'), os.path.join(d, 'tls.pem')
    r = run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj',
             '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
             '-keyout', key, '-out', cert])
    assert r.returncode == 0, r.stderr
    return cert, key


def t_x5u(tmp, c, fig):
    base = os.path.join(tmp, 'x5u')
    os.makedirs(base)
    peer = os.path.join(base, 'peer')
    assert run([CLI, 'pki', 'demo', peer]).returncode == 0
    www = os.path.join(base, 'www')
    os.makedirs(www)
    shutil.copy(os.path.join(peer, 'chain.pem'), os.path.join(www, 'p.pem'))
    cert, key = tls_cert(os.path.join(base, 'tls'))
    srv = x5u_server.X5uServer(www, cert, key)
    flap = FlapProxy(srv.port)
    dead = sgtest.free_port(both=False)
    tok = os.path.join(base, 'ic.tok')
    with open(tok, 'w') as f:
        f.write(TOKEN_IC + '\n')
    os.chmod(tok, 0o600)
    gw = Gateway(base, workers=1, extra={
        'verify': {'trust': os.path.join(peer, 'ca.pem')},
        'x5u': {'allow_loopback': True, 'tls_ca': cert,
                'timeout_ms': 1000, 'connect_timeout_ms': 500,
                'max_size': '16KiB'},
        'peers': [{'name': 'cust', 'kind': 'customer',
                   'sip': ['127.0.0.1/32'],
                   'api_token_file': os.path.join(base, 'cust.tok')},
                  {'name': 'ic', 'kind': 'interconnect',
                   'api_token_file': tok, 'require_identity': True,
                   'on_failure': 'reject', 'on_fetch_failure': 'defer'}]})
    gw.start()

    def signed(x5u, body):
        bf = os.path.join(base, 'body-%d' % time.monotonic_ns())
        with open(bf, 'wb') as f:
            f.write(body.encode())
        t = run([CLI, 'passport', 'sign', '--key',
                 os.path.join(peer, 'signer.key'), '--x5u', x5u, '--orig',
                 ORIG, '--dest', TO_HOOK, '--body-file', bf])
        assert t.returncode == 0, t.stderr
        return '%s;info=<%s>;ppt=msg' % (t.stdout.decode().strip(), x5u)

    def send(x5u, body):
        r = post(gw, body, token=TOKEN_IC, identity=signed(x5u, body))
        return r[0], r[2]

    def hook_of(body):
        for p in gw.sink.posts():
            j = json.loads(p['body'])
            if j.get('body') == body:
                return j
        return None
    good = srv.url('/files/p.pem')
    try:
        f = fault(fig, 'x5u reachable', 'none: the chain served normally '
                  '(warms the cache)', sent=1)
        st, j = send(good, 'x5u-warm')
        f.update(acked=int(st == 202), answer=st, verstat=j.get('verstat'),
                 reason=j.get('reason'))
        c.check('x5u: a reachable chain verifies (cache warmed)',
                st == 202 and j.get('verstat') == 'TN-Validation-Passed', j)
        # Slow and down are transient (x5u_fetch_failed: deferred, 202);
        # an answer that is not PEM or exceeds the cap is refused by the
        # x5u policy (README "x5u fetching": x5u_policy, 403 at the API).
        cases = [('slow (past x5u.timeout_ms)', srv.url('/hang'),
                  202, 'x5u_fetch_failed'),
                 ('down (connection refused)',
                  'https://127.0.0.1:%d/p.pem' % dead, 202,
                  'x5u_fetch_failed'),
                 ('garbage (text/html)', srv.url('/html'), 403,
                  'x5u_policy'),
                 ('huge body (past x5u.max_size)', srv.url('/big'), 403,
                  'x5u_policy')]
        injected = {
            'slow': 'the x5u server sends headers and a few bytes, then '
                    'nothing (x5u.timeout_ms %s)' % conf(gw, 'x5u.timeout_ms'),
            'down': 'the x5u URL names a port where nothing listens',
            'garbage': 'the x5u server answers 200 text/html',
            'huge': 'the x5u server sends 10 MB of PEM-looking text '
                    '(x5u.max_size %s)' % conf(gw, 'x5u.max_size')}
        for name, url, want_st, want_reason in cases:
            body = 'x5u-%s' % name.split()[0]
            f = fault(fig, 'x5u %s' % name, injected[name.split()[0]],
                      sent=2)
            t0 = time.monotonic()
            st, j = send(url, body)
            took = time.monotonic() - t0
            f.update(acked=int(st == 202), answer=st,
                     verstat=j.get('verstat'), reason=j.get('reason'),
                     seconds=round(took, 2))
            print('     x5u %s: %s %s/%s in %.1f s' % (
                name, st, j.get('verstat'), j.get('reason'), took),
                flush=True)
            c.check('x5u %s: %d %s' % (name, want_st, want_reason),
                    st == want_st and j.get('reason') == want_reason, j)
            # Meanwhile a message whose chain is cached is unaffected.
            st2, j2 = send(good, body + '-cached')
            f.update(acked=f['acked'] + (st2 == 202), cached_chain_answer=st2,
                     cached_chain_verstat=j2.get('verstat'))
            c.check('x5u %s: a message with a cached chain still passes'
                    % name, st2 == 202 and
                    j2.get('verstat') == 'TN-Validation-Passed', j2)
        # Flapping: refused while it is down, deferred; up: resolved at
        # delivery.
        furl = 'https://127.0.0.1:%d/files/p.pem' % flap.port
        f = fault(fig, 'x5u flapping', 'a proxy in front of the x5u server '
                  'resets every connection, then relays', sent=1)
        st, j = send(furl, 'x5u-flap')
        f.update(acked=int(st == 202), answer=st, verstat=j.get('verstat'),
                 reason=j.get('reason'))
        c.check('x5u flapping (down): deferred at ingest',
                st == 202 and j.get('reason') == 'x5u_fetch_failed', j)
        flap.up = True
        d = wait_for(lambda: hook_of('x5u-flap'), 'the flapping message '
                     'delivered', 60)
        f.update(delivered=1, delivered_verstat=d.get('verstat'),
                 delivered_reason=d.get('reason'))
        c.check('x5u flapping (then up): the deferred verification resolves '
                'at delivery', d.get('verstat') == 'TN-Validation-Passed', d)
    finally:
        rc = gw.stop()
        srv.stop()
        flap.stop()
        gw.sink.stop()
        gw.uas.stop()
    fig['master_exit'] = rc
    c.check('x5u: the master stops cleanly', rc == 0, rc)
    store_clean(gw, c, 'x5u', fig)
    no_errors(gw, c, 'x5u', fig)


# --- the wall clock stepped --------------------------------------------------

def t_clock(tmp, c, fig):
    label = 'clock step'
    if not FAKETIME:
        print('skip %s: libfaketime not installed (Debian package '
              'faketime; tools/bootstrap.sh installs it for tests)' % label,
              flush=True)
        fig['skipped'] = 'libfaketime not installed'
        return
    base = os.path.join(tmp, 'clock')
    os.makedirs(base)
    ts = os.path.join(base, 'faketime')
    with open(ts, 'w') as f:
        f.write('+0\n')
    env = dict(os.environ, LD_PRELOAD=FAKETIME[0],
               FAKETIME_TIMESTAMP_FILE=ts, FAKETIME_NO_CACHE='1',
               FAKETIME_DONT_FAKE_MONOTONIC='1')
    if 'asan' in os.path.basename(sgtest.BUILD):
        env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + \
            ':verify_asan_link_order=0'
    hook = FlexHook('down')
    routes = [{'name': 'hook', 'match_prefix': TO_HOOK[1:-1],
               'webhook': hook.url()}]
    gw = Gateway(base, routes=routes, workers=1, extra={
        'store': {'backoff_min': '5s', 'backoff_max': '5s', 'lease': '20s'},
        'delivery': {'http_timeout_ms': 30000}})
    gw.start(env=env)

    def step(off):
        with open(ts + '.tmp', 'w') as f:
            f.write('%+d\n' % off)
        os.rename(ts + '.tmp', ts)
    try:
        # Backward: a retry due in ~5 s must still come within ~5 s of
        # real time, not an hour later.
        f = fault(fig, 'clock back 1 h', 'the wall clock of every stage '
                  'stepped back 3600 s while a retry was due in %s'
                  % conf(gw, 'store.backoff_min'), sent=1)
        r = post(gw, 'clock-back')
        f['acked'] = int(r[0] == 202)
        mid = mid_of(r)
        wait_for(lambda: (show(gw, mid) or {}).get('attempts', 0) >= 1 and
                 show(gw, mid).get('state') == 'queued', 'the first failure')
        step(-3600)
        hook.set('ok')
        t0 = time.monotonic()
        try:
            wait_state(gw, mid, 'done', 25)
            ok = True
        except AssertionError:
            ok = False
        f.update(delivered=int(ok), retry_after_s=round(
            time.monotonic() - t0, 1))
        c.check('%s back 1 h: a retry due in 5 s does not stall (%.1f s)'
                % (label, time.monotonic() - t0), ok, show(gw, mid))
        # Forward: a retry due in 5 s does not fire at once.
        step(0)
        hook.set('down')
        f = fault(fig, 'clock forward 1 h', 'the wall clock of every stage '
                  'stepped forward 3600 s while a retry was due in %s'
                  % conf(gw, 'store.backoff_min'), sent=1)
        r = post(gw, 'clock-fwd')
        f['acked'] = int(r[0] == 202)
        mid = mid_of(r)
        try:
            wait_for(lambda: (show(gw, mid) or {}).get('attempts', 0) >= 1
                     and show(gw, mid).get('state') == 'queued',
                     'the first failure')
        except AssertionError:
            print(show(gw, mid), [ln for ln in gw.logtext().splitlines()
                                  if mid in ln or ' info ' not in ln][-12:])
            raise
        hook.set('ok')
        t0 = time.monotonic()
        step(3600)
        wait_state(gw, mid, 'done', 25)
        took = time.monotonic() - t0
        f.update(delivered=1, retry_after_s=round(took, 1))
        c.check('%s forward 1 h: the retry keeps its 5 s backoff (came '
                'after %.1f s)' % (label, took), took >= 2.0, took)
        # Forward while a delivery is in flight: the 20 s lease does not
        # expire, so the job is not handed out twice.
        hook.set('hang')
        f = fault(fig, 'clock forward 1 h during a send', 'the wall clock '
                  'stepped forward another 3600 s while the webhook held a '
                  'send under a %s lease' % conf(gw, 'store.lease'), sent=1)
        r = post(gw, 'clock-lease')
        f['acked'] = int(r[0] == 202)
        mid = mid_of(r)
        wait_for(lambda: hook.seen >= 1 and
                 (show(gw, mid) or {}).get('state') == 'leased', 'in flight')
        seen = hook.seen
        step(7200)
        time.sleep(3)   # the window in which a wrong lease would fire
        f.update(sends_after_step=hook.seen - seen,
                 state_after_step=(show(gw, mid) or {}).get('state'))
        c.check('%s forward during a send: the lease does not expire early '
                '(no second send)' % label, hook.seen == seen and
                show(gw, mid).get('state') == 'leased',
                (hook.seen, seen, show(gw, mid)))
        # Freshness follows the wall clock (README "Delivery"): a message
        # we signed, waiting for a retry across a forward step of 1 h, is
        # re-signed at delivery (older than resign_after by the new wall
        # clock); from an interconnect it would be stale.
        hook.release.set()
        hook.set('down')
        f = fault(fig, 'clock forward 1 h before a retry (freshness)',
                  'the wall clock stepped forward another 3600 s while a '
                  'message the gateway signed waited for a retry', sent=1)
        r = post(gw, 'clock-fresh')
        f['acked'] = int(r[0] == 202)
        mid = mid_of(r)
        wait_for(lambda: (show(gw, mid) or {}).get('attempts', 0) >= 1 and
                 show(gw, mid).get('state') == 'queued', 'the first failure')
        step(7200 + 3600)
        hook.set('ok')
        m = wait_state(gw, mid, 'done', 30)
        f.update(delivered=1, resigned_after_s=(m.get('resign_iat') or 0) -
                 (m.get('iat') or 0))
        c.check('%s: freshness follows the wall clock (re-signed after the '
                'step: iat %s, resign_iat %s)' % (
                    label, m.get('iat'), m.get('resign_iat')),
                (m.get('resign_iat') or 0) - (m.get('iat') or 0) >= 3000, m)
    finally:
        step(0)
        rc = gw.stop()
        hook.stop()
        gw.sink.stop()
        gw.uas.stop()
    fig['master_exit'] = rc
    c.check('%s: the master stops cleanly' % label, rc == 0, rc)
    store_clean(gw, c, label, fig)
    no_errors(gw, c, label, fig)


def main():
    only = [a for a in sys.argv[1:] if not a.startswith('-') and
            a != sgtest.BUILD]
    c = sgtest.Checks()
    figures = sgtest.Figures('faults', c)
    tmp = tempfile.mkdtemp(prefix='sg-faults-')
    cases = [('downstream', t_downstream), ('map_full', t_map_full),
             ('disk_full', t_disk_full), ('x5u', t_x5u), ('clock', t_clock)]
    try:
        for name, fn in cases:
            if only and not any(o in name for o in only):
                continue
            t0 = time.monotonic()
            fig = figures.case(name)
            try:
                fn(tmp, c, fig)
            except Exception:
                c.check('%s: ran to the end' % name, False,
                        traceback.format_exc())
            fig['seconds'] = round(time.monotonic() - t0, 1)
            print('     %s: %.1f s' % (name, time.monotonic() - t0),
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        figures.write()
    sys.exit(c.summary())


if __name__ == '__main__':
    main()
