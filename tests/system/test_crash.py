#!/usr/bin/env python3
"""tests/system/test_crash.py - crash safety under load.

For each process of the gateway (the master, ingest, the store, each of the
two delivery workers) one case starts `stirgate run -c CFG` in a fresh
temporary directory (OS-chosen loopback ports), with

  - a python HTTP webhook sink recording every delivery with its
    Idempotency-Key (messages to +1202555700x) and a python SIP UAS over
    UDP recording every MESSAGE with its Call-ID (+1202555800x);
  - sender threads keeping a sustained stream going: HTTP API POSTs with an
    idempotency_id (retried with the same id until answered 202/200) and
    SIP MESSAGEs over UDP (retransmitted with the same Call-ID/CSeq until a
    final answer, like a UAC's timer E); every body carries a unique token,
    and every token answered 202 (or 200 duplicate) is remembered;

then SIGKILLs the target at random moments (a seeded RNG; the seed is
printed and STIRGATE_CRASH_SEED replays it) several times, each time
waiting until the master has started it again (the master itself: a new
`stirgate run` on the same run directory, below), stops the stream, waits
(a poll with a deadline) until the store has nothing queued or leased, and
counts:

  lost        tokens answered 202 that never reached a next hop: must be 0
              (with the queue drained nothing is "still queued"; a token
              whose message is still in the store is reported as such);
  duplicates  a token delivered more than once must carry the same
              Idempotency-Key / Call-ID every time, equal to the id the API
              answered (at-least-once, README "Delivery": "Replays");
  the store   `stirgate-store --check --dir DATA/store` after the gateway
              stopped: every record, index and replay entry consistent.

The master: a SIGKILLed master's stages get SIGTERM (PR_SET_PDEATHSIG, see
cli/cli_run.c) and stop as on a normal stop: ingest finishes what it has in
flight, deliver hands its jobs back, the store commits and exits.  The case
checks that every stage of the dead master is gone within a deadline, and
starts a new master on the same config at once, while they may still be
stopping (the store's lock and the master's pid lock sort that out: the new
store retries until the old one has let go).

With $SG_FIGURES set, the counts of every case (sent, accepted, delivered,
lost, duplicates by key, kills done, the store check) also go to that file
as JSON (sgtest.Figures; tools/reliability.py reads them).

Runtime: about 25-40 s per case in the debug build (the restart throttle
doubles 1, 2, 4 s for a stage killed three times in a minute), a little
more under ASan where the message rate is halved.  Binaries from $SG_BUILD,
else build/debug.  Prints "N passed, N failed" last.
"""
import json
import os
import random
import re
import shutil
import signal
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
import sgtest  # noqa: E402
from test_deliver import Sink, Uas, hget, parse_sip  # noqa: E402

CLI = sgtest.binary('cli/stirgate')
STORE = sgtest.binary('store/stirgate-store')
ASAN = 'asan' in os.path.basename(sgtest.BUILD)
TOKEN = 'crash-customer-token-0123456789'
ORIG = '+12025550100'
TO_HOOK = '+12025557001'
TO_SIP = '+12025558001'

# Error lines a kill provokes and that say nothing is wrong: the master
# reporting the kill, and a stage noticing its peer went away.
EXPECTED = [
    r' error master: \S+ pid=\d+ killed by signal 9 \(Killed\) after \d+ '
    r'ms; restarting in \d+ s \(restart \d+\)$',
    r' error master: \S+ pid=\d+ exited with status 1 after \d+ ms; '
    r'restarting in \d+ s \(restart \d+\)$',
    r' error store(\.db)?: \S+: (locked by another|another store)',
]


def wait_for(pred, what, limit=20.0):
    return sgtest.wait_for(pred, what, limit=limit, step=0.05)


def alive(pid):
    """A running (not zombie) process `pid`."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def run(argv, timeout=60):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


class HookSink(Sink):
    """test_deliver's webhook sink with a delay before each answer (so a
    kill lands mid-send) and, for test_faults.py, "reset": read half the
    request and close the connection with a TCP RST."""

    def __init__(self, plan=(200,), delay=0.0):
        Sink.__init__(self, plan)
        self.delay = delay
        inner = self.srv.RequestHandlerClass.do_POST
        sink = self

        def do_post(h):
            with sink.lock:
                st = sink.plan[min(len(sink.got), len(sink.plan) - 1)]
            if st == 'reset':
                n = int(h.headers.get('Content-Length', '0'))
                h.rfile.read(n // 2)
                with sink.lock:
                    sink.got.append({'path': h.path, 'reset': True,
                                     'headers': dict(h.headers), 'body': b''})
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack('ii', 1, 0))
                h.connection.close()
                h.close_connection = True
                return
            if sink.delay:
                time.sleep(sink.delay)
            inner(h)
        self.srv.RequestHandlerClass.do_POST = do_post

    def posts(self, path=None):
        return [g for g in Sink.posts(self, path) if not g.get('reset')]


class SlowUas(Uas):
    """test_deliver's SIP UAS answering after `delay` seconds."""

    def __init__(self, tcp=False, plan=(200,), delay=0.0):
        self.delay = delay
        Uas.__init__(self, tcp=tcp, plan=plan)

    def _answer(self, raw):
        r = Uas._answer(self, raw)
        if self.delay:
            time.sleep(self.delay)
        return r


class Gateway:
    """`stirgate run -c CFG` with a webhook sink and a SIP UAS as next
    hops; `extra` merges into the config (test_faults.py uses it)."""

    def __init__(self, base, extra=None, routes=None, hook_plan=(200,),
                 uas_plan=(200,), workers=2, delay=0.0):
        self.base = base
        self.data = os.path.join(base, 'data')
        self.run_dir = os.path.join(base, 'run')
        self.log = os.path.join(base, 'master.log')
        self.sink = HookSink(plan=hook_plan, delay=delay)
        self.uas = SlowUas(plan=uas_plan, delay=delay)
        self.sip_port = sgtest.free_port()
        self.http_port = sgtest.free_port(both=False)
        self.metrics_port = sgtest.free_port(both=False)
        self.pki = os.path.join(base, 'pki')
        r = run([CLI, 'pki', 'demo', self.pki])
        assert r.returncode == 0, r.stderr
        tok = os.path.join(base, 'cust.tok')
        with open(tok, 'w') as f:
            f.write(TOKEN + '\n')
        os.chmod(tok, 0o600)
        if routes is None:
            routes = [{'name': 'hook', 'match_prefix': TO_HOOK[1:-1],
                       'webhook': self.sink.url('/hook')},
                      {'name': 'sip', 'match_prefix': TO_SIP[1:-1],
                       'sip': self.uas.hop()}]
        cfg = {
            'node': {'data_dir': self.data, 'run_dir': self.run_dir,
                     'log_level': 'info', 'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip_port],
                    'tcp': ['127.0.0.1:%d' % self.sip_port]},
            'http': {'listen': '127.0.0.1:%d' % self.http_port},
            'metrics': {'listen': '127.0.0.1:%d' % self.metrics_port},
            'sign': {'key': os.path.join(self.pki, 'signer.key'),
                     'x5u': 'https://certs.example.net/chain.pem',
                     'chain': os.path.join(self.pki, 'chain.pem')},
            'store': {'lease': '3s', 'backoff_min': '1s',
                      'backoff_max': '2s'},
            'delivery': {'workers': workers, 'http_timeout_ms': 3000,
                         'sip_t1_ms': 100, 'route_down_after': 1000},
            'routes': routes,
            'peers': [{'name': 'cust', 'kind': 'customer',
                       'sip': ['127.0.0.1/32'], 'api_token_file': tok}],
        }
        for k, v in (extra or {}).items():
            if isinstance(v, dict):
                cfg.setdefault(k, {}).update(v)
            else:
                cfg[k] = v
        self.config = os.path.join(base, 'stirgate.json')
        with open(self.config, 'w') as f:
            json.dump(cfg, f, indent=1)
        self.p = None
        self.masters = []

    # -- the master --------------------------------------------------------
    def start(self, env=None):
        logf = open(self.log, 'ab')
        self.p = subprocess.Popen([CLI, 'run', '-c', self.config],
                                  stdout=logf, stderr=logf,
                                  stdin=subprocess.DEVNULL, env=env)
        logf.close()
        self.masters.append(self.p)
        wait_for(self.ready, 'the gateway ready (/readyz 200)', 40)
        return self

    def ready(self):
        if self.p.poll() is not None:
            mine = [ln for ln in self.logtext().splitlines()
                    if '[%d]' % self.p.pid in ln or
                    not sgtest.LOG_LINE.match(ln)]
            raise AssertionError('stirgate run exited %s:\n%s' % (
                self.p.returncode, '\n'.join(mine[-30:])))
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/readyz'
                                        % self.metrics_port, timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stage_pid(self, name):
        try:
            with open(os.path.join(self.run_dir, 'stage-%s.pid' % name)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def logtext(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def problems(self, allowed=()):
        return sgtest.log_problems(self.logtext(), list(EXPECTED) +
                                   list(allowed))

    def stop(self):
        rc = None
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                rc = self.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return rc

    def close(self):
        self.stop()
        self.sink.stop()
        self.uas.stop()

    # -- the store -----------------------------------------------------------
    def queue(self, *args):
        r = run([CLI, 'queue'] + list(args) + ['--run-dir', self.run_dir,
                                                '--timeout', '3000'])
        if r.returncode != 0:
            return None
        return json.loads(r.stdout) if '--json' in args else r.stdout

    def pending(self):
        """Messages still queued, leased or held; None if the store does
        not answer."""
        n = 0
        for st in ('queued', 'leased', 'held'):
            q = self.queue('list', '--state', st, '--json', '--limit',
                           '100000')
            if q is None:
                return None
            n += len(q if isinstance(q, list) else q.get('messages', []))
        return n

    def check_store(self):
        r = run([STORE, '--check', '--dir', os.path.join(self.data, 'store')])
        return r.returncode, r.stdout.decode() + r.stderr.decode()

    def check_summary(self, code, out):
        """The last line of check_store()'s output without the directory
        ("N records (...): N problems"), for the figures."""
        last = (out.strip().splitlines() or ['exit %s' % code])[-1]
        return last.replace(os.path.join(self.data, 'store') + ': ', '', 1)

    # -- delivered ---------------------------------------------------------
    def delivered(self):
        """token -> [key] for every delivery seen (webhook: the
        Idempotency-Key; SIP: the Call-ID)."""
        out = {}
        for p in self.sink.posts():
            try:
                j = json.loads(p['body'])
            except ValueError:
                continue
            out.setdefault(j.get('body'), []).append(
                p['headers'].get('Idempotency-Key'))
        for line, hdrs, body in self.uas.requests():
            cid = (hget(hdrs, 'call-id') or [None])[0]
            out.setdefault(body.decode('utf-8', 'replace'), []).append(
                ('sip', cid))
        return out

    def uas_transactions(self):
        """The SIP UAS sees retransmissions too: one (token, Call-ID,
        CSeq) per transaction."""
        seen = {}
        for line, hdrs, body in self.uas.requests():
            cid = (hget(hdrs, 'call-id') or [None])[0]
            cseq = (hget(hdrs, 'cseq') or [None])[0]
            seen[(body.decode('utf-8', 'replace'), cid, cseq)] = 1
        out = {}
        for tok, cid, _ in seen:
            out.setdefault(tok, []).append(cid)
        return out


class Sender:
    """Sender threads: API and SIP UDP, each message a unique token,
    retried with the same idempotency id / Call-ID until accepted or
    `give_up` seconds passed."""

    def __init__(self, gw, rate, give_up=40.0):
        self.gw = gw
        self.gap = 1.0 / rate
        self.give_up = give_up
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.accepted = {}   # token -> api id or None (SIP)
        self.refused = {}    # token -> last status seen
        self.codes = {}
        self.acked_by = {}   # the answer that accepted a token -> tokens
        self.n = 0
        self.threads = [threading.Thread(target=self._api, daemon=True),
                        threading.Thread(target=self._sip, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(self.give_up + 30)

    def _token(self, kind):
        with self.lock:
            self.n += 1
            return 'crash-%s-%06d' % (kind, self.n)

    def _count(self, code):
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def _acked(self, tok, mid, code):
        with self.lock:
            self.accepted[tok] = mid
            self.acked_by[code] = self.acked_by.get(code, 0) + 1

    def _api_once(self, tok):
        body = json.dumps({'from': ORIG, 'to': TO_HOOK, 'body': tok,
                           'idempotency_id': tok}).encode()
        req = urllib.request.Request(
            'http://127.0.0.1:%d/v1/messages' % self.gw.http_port, data=body,
            method='POST', headers={'Content-Type': 'application/json',
                                    'Authorization': 'Bearer ' + TOKEN})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except (OSError, urllib.error.URLError):
            return 'conn', b''

    def _api(self):
        while not self.stop_ev.is_set():
            tok = self._token('api')
            end = time.monotonic() + self.give_up
            last = None
            while time.monotonic() < end:
                st, b = self._api_once(tok)
                self._count(st)
                last = st
                if st in (200, 202):
                    ids = [m.get('id') for m in
                           json.loads(b).get('messages', [])]
                    self._acked(tok, ids[0] if ids else None, st)
                    break
                if st == 409:
                    # A duplicate whose first id is not named: accepted
                    # before.
                    self._acked(tok, None, st)
                    break
                time.sleep(0.2)
            else:
                with self.lock:
                    self.refused[tok] = last
            self.stop_ev.wait(self.gap)

    def _sip(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('127.0.0.1', 0))
        lport = s.getsockname()[1]
        while not self.stop_ev.is_set():
            tok = self._token('sip')
            body = tok.encode()
            end = time.monotonic() + self.give_up
            last, attempt = None, 0
            while time.monotonic() < end:
                attempt += 1
                branch = 'z9hG4bK-%s-%d' % (tok, attempt)
                msg = '\r\n'.join([
                    'MESSAGE sip:%s@127.0.0.1 SIP/2.0' % TO_SIP[1:],
                    'Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s' % (lport, branch),
                    'Max-Forwards: 70',
                    'From: <sip:%s@127.0.0.1>;tag=%s' % (ORIG[1:], tok),
                    'To: <sip:%s@127.0.0.1>' % TO_SIP[1:],
                    'Call-ID: %s' % tok, 'CSeq: 1 MESSAGE',
                    'Content-Type: text/plain',
                    'Content-Length: %d' % len(body), '', '']).encode() + body
                code = self._sip_transaction(s, msg, branch)
                self._count('sip-%s' % code)
                last = code
                if code == 202:
                    self._acked(tok, None, 'sip-202')
                    break
                time.sleep(0.2)
            else:
                with self.lock:
                    self.refused[tok] = last
            self.stop_ev.wait(self.gap)
        s.close()

    def _sip_transaction(self, s, msg, branch):
        """Timer E: retransmit from 100 ms doubling to 1 s, for 4 s; the
        final answer's code, or None."""
        t, end = 0.1, time.monotonic() + 4.0
        s.sendto(msg, ('127.0.0.1', self.gw.sip_port))
        while time.monotonic() < end:
            s.settimeout(t)
            try:
                r, _ = s.recvfrom(65536)
            except socket.timeout:
                s.sendto(msg, ('127.0.0.1', self.gw.sip_port))
                t = min(t * 2, 1.0)
                continue
            except OSError:
                return None
            if branch.encode() not in r or r.startswith(b'SIP/2.0 1'):
                continue
            try:
                return int(r.split(b' ', 2)[1])
            except (IndexError, ValueError):
                return None
        return None


def account(gw, sender, c, label, fig=None):
    """The counts: lost, duplicates, keys; into `fig` (a Figures case)
    when given."""
    dl = gw.delivered()
    acc = dict(sender.accepted)
    lost = sorted(t for t in acc if t not in dl)
    still = []
    if lost:
        # Still in the store (not lost, just not out yet)?  Only API
        # tokens have a known id.
        for t in lost:
            mid = acc[t]
            if mid:
                q = gw.queue('show', mid, '--json')
                if q and q.get('state') in ('queued', 'leased', 'held'):
                    still.append(t)
    really = [t for t in lost if t not in still]
    dups = {t: ks for t, ks in dl.items() if len(ks) > 1}
    sip_tx = gw.uas_transactions()
    bad_keys = []
    for t, ks in dl.items():
        if t not in acc and not t.startswith('crash-'):
            continue
        keys = set(k[1] if isinstance(k, tuple) else k for k in ks)
        if len(keys) != 1:
            bad_keys.append((t, sorted(keys)))
            continue
        if acc.get(t) and isinstance(ks[0], str) and ks[0] != acc[t]:
            bad_keys.append((t, 'Idempotency-Key %s, API id %s'
                             % (ks[0], acc[t])))
        if t.startswith('crash-sip') and not ks[0][1].endswith('@stirgate'):
            bad_keys.append((t, 'Call-ID %s' % ks[0][1]))
    sip_dups = sum(1 for t, cs in sip_tx.items() if len(cs) > 1)
    hook_dups = sum(1 for t, ks in dups.items() if t.startswith('crash-api'))
    if fig is not None:
        # A duplicate is a message delivered more than once: a webhook
        # token POSTed again, a SIP token in a second transaction (UDP
        # retransmissions of one transaction are not duplicates).  "Same
        # key" when every copy carried one Idempotency-Key / Call-ID.
        again = [ks for t, ks in dups.items() if t.startswith('crash-api')]
        again += [cs for t, cs in sip_tx.items() if len(cs) > 1]
        same = sum(1 for ks in again if len(set(
            k[1] if isinstance(k, tuple) else k for k in ks)) == 1)
        fig.update({
            'sent': sender.n,
            'attempts': sum(sender.codes.values()),
            'accepted': len(acc),
            'accepted_by': {str(k): v for k, v in sender.acked_by.items()},
            'never_accepted': len(sender.refused),
            'delivered': len(dl),
            'delivered_accepted': sum(1 for t in acc if t in dl),
            'delivered_not_accepted': sum(1 for t in dl if t not in acc),
            'lost': len(really), 'still_queued': len(still),
            'duplicates': len(again), 'duplicates_webhook': hook_dups,
            'duplicates_sip': sip_dups, 'duplicates_same_key': same,
            'duplicates_other_key': len(again) - same,
            'key_errors': len(bad_keys),
            'answers': {str(k): v for k, v in sender.codes.items()}})
    print('     %s: sent %d, accepted %d, never accepted %d, delivered %d, '
          'lost %d (still queued %d), duplicates: webhook %d, SIP %d '
          'transactions; answers %s' % (
              label, sender.n, len(acc), len(sender.refused), len(dl),
              len(really), len(still), hook_dups, sip_dups,
              dict(sorted(sender.codes.items(), key=str))), flush=True)
    c.check('%s: lost = 0 (every 202 delivered or still queued)' % label,
            not really, really[:20])
    c.check('%s: duplicates carry the first copy\'s Idempotency-Key / '
            'Call-ID' % label, not bad_keys, bad_keys[:10])
    c.check('%s: the stream went on (messages accepted after the kills)'
            % label, len(acc) >= 20, len(acc))


def drain(gw, c, label, limit=60, fig=None):
    last = {}

    def empty():
        last['n'] = gw.pending()
        return last['n'] == 0
    try:
        wait_for(empty, 'the queue drained', limit)
        ok = True
    except AssertionError:
        ok = False
    if fig is not None:
        fig['pending_after_drain'] = last.get('n')
    c.check('%s: the queue drains' % label, ok, 'still pending: %s'
            % last.get('n'))


def kill_cycle(gw, rng, name, kills, c, label, fig):
    """SIGKILL stage `name` `kills` times at random moments, each time
    waiting until the master has started it again."""
    pids = []
    for k in range(kills):
        time.sleep(rng.uniform(0.3, 2.5))
        pid = wait_for(lambda: gw.stage_pid(name), '%s running' % name, 60)
        os.kill(pid, signal.SIGKILL)
        pids.append(pid)
        fig['kills_done'] += 1
        wait_for(lambda: gw.stage_pid(name) not in (0, pid) and
                 alive(gw.stage_pid(name)), '%s restarted' % name, 60)
        wait_for(gw.ready, 'ready after killing %s' % name, 60)
    c.check('%s: killed %d times, restarted each time' % (label, kills),
            len(set(pids)) == kills, pids)


def kill_master(gw, rng, kills, c, label, fig):
    """SIGKILL the master; its stages get SIGTERM (PDEATHSIG) and stop;
    a new master starts on the same run directory at once."""
    gone_ok = True
    for k in range(kills):
        time.sleep(rng.uniform(0.3, 2.5))
        stages = [gw.stage_pid(n) for n in ('store', 'ingest', 'deliver-1',
                                            'deliver-2')]
        stages = [p for p in stages if p]
        gw.p.kill()
        gw.p.wait()
        fig['kills_done'] += 1
        gw.start()
        try:
            wait_for(lambda: not any(alive(p) for p in stages),
                     'the dead master\'s stages gone', 30)
        except AssertionError:
            gone_ok = False
    c.check('%s: a dead master\'s stages stop (PDEATHSIG) and a new '
            'master takes over the run directory' % label, gone_ok)


def crash_case(tmp, target, rng, c, fig):
    label = 'kill -9 %s' % target
    kills = 3
    rate = 5 if ASAN else 10
    fig.update({'killed': target, 'signal': 'SIGKILL',
                'kills_planned': kills, 'kills_done': 0,
                'rate_per_sender': rate, 'senders': ['http-api', 'sip-udp'],
                'next_hop_delay_s': 0.05})
    base = os.path.join(tmp, target)
    os.makedirs(base)
    # Next hops answering after 50 ms: a kill of a worker lands mid-send
    # often enough to make duplicates.
    gw = Gateway(base, delay=0.05).start()
    sender = None
    try:
        sender = Sender(gw, rate=rate).start()
        wait_for(lambda: len(sender.accepted) >= 5, 'the first 202s', 30)
        if target == 'master':
            kill_master(gw, rng, kills, c, label, fig)
        else:
            kill_cycle(gw, rng, target, kills, c, label, fig)
        n = len(sender.accepted)
        wait_for(lambda: len(sender.accepted) >= n + 5,
                 'messages accepted after the last kill', 40)
        sender.stop()
        drain(gw, c, label, fig=fig)
        account(gw, sender, c, label, fig)
    finally:
        if sender is not None:
            sender.stop_ev.set()
        rc = gw.stop()
        gw.sink.stop()
        gw.uas.stop()
    c.check('%s: the master stops cleanly (exit 0)' % label, rc == 0, rc)
    code, out = gw.check_store()
    fig.update({'master_exit': rc, 'store_check_exit': code,
                'store_check': gw.check_summary(code, out),
                'sanitizer_lines': len(sgtest.sanitizer_lines(
                    gw.logtext()))})
    c.check('%s: the store validates clean (stirgate-store --check)' % label,
            code == 0, out)
    probs = gw.problems()
    c.check('%s: no unexpected error lines or sanitizer reports' % label,
            not probs, '\n'.join(probs[:20]))


def t_checker_finds_damage(tmp, c, fig):
    """The checker's own test: clean on a fresh store, and non-zero once a
    record's bytes are damaged (through the LMDB file, outside the store)."""
    base = os.path.join(tmp, 'checker')
    os.makedirs(base)
    gw = Gateway(base, workers=1)
    gw.sink.plan = ['hang']
    gw.start()
    try:
        st, _ = Sender(gw, 1)._api_once('checker-1')
        assert st == 202, st
    finally:
        gw.stop()
        gw.sink.stop()
        gw.uas.stop()
    code, out = gw.check_store()
    fig.update({'injected': 'one stored record\'s attempts field '
                'overwritten in data.mdb', 'fresh_store_check_exit': code})
    c.check('checker: clean on a fresh store', code == 0, out)
    db = os.path.join(gw.data, 'store', 'data.mdb')
    with open(db, 'r+b') as f:
        data = f.read()
        # Every copy (LMDB keeps older pages around): the attempts field.
        ats = [m.start() for m in re.finditer(b'SGRC', data)]
        ok = bool(ats)
        for at in ats:
            f.seek(at + 20)
            f.write(b'\xff' * 4)
    code, out = gw.check_store()
    fig.update({'records_damaged': len(ats), 'damaged_store_check_exit': code,
                'damage_reported': 'invalid record' in out})
    c.check('checker: a damaged record is reported (exit 1)',
            ok and code == 1 and 'invalid record' in out, out)


def main():
    seed = int(os.environ.get('STIRGATE_CRASH_SEED') or
               random.SystemRandom().randrange(1 << 31))
    print('seed %d (STIRGATE_CRASH_SEED=%d replays it)' % (seed, seed),
          flush=True)
    rng = random.Random(seed)
    only = [a for a in sys.argv[1:] if not a.startswith('-') and
            a != sgtest.BUILD]
    c = sgtest.Checks()
    figures = sgtest.Figures('crash', c, seed=seed, asan=ASAN)
    sgtest.self_test()
    tmp = tempfile.mkdtemp(prefix='sg-crash-')
    try:
        cases = [('checker',
                  lambda fig: t_checker_finds_damage(tmp, c, fig))]
        for target in ('master', 'ingest', 'store', 'deliver-1', 'deliver-2'):
            cases.append((target, lambda fig, t=target:
                          crash_case(tmp, t, rng, c, fig)))
        for name, fn in cases:
            if only and not any(o in name for o in only):
                continue
            t0 = time.monotonic()
            fig = figures.case(name)
            try:
                fn(fig)
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
