#!/usr/bin/env python3
"""System tests of the master, `stirgate run -c FILE`: start order,
readiness, restart of a killed stage with the throttle, SIGHUP, the
one-master lock, a busy port, and the ordered stop on SIGTERM.

Each test runs the real binaries in a fresh temporary directory with
OS-chosen ports on 127.0.0.1; readiness is polled with a deadline, never
slept for.  Binaries come from build/debug, or from $SG_BUILD (or
$STIRGATE_BUILD, as tests/run.py sets).  When stirgate-ingest is not built
the checks that need it are skipped with a message.  Prints
"N passed, N failed" last.
"""
import http.client
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get('SG_BUILD') or os.environ.get(
    'STIRGATE_BUILD') or os.path.join(ROOT, 'build', 'debug')
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
CLI = os.path.join(BUILD, 'cli', 'stirgate')
INGEST = os.path.join(BUILD, 'ingest', 'stirgate-ingest')
HAVE_INGEST = os.access(INGEST, os.X_OK)
TOKEN = 'c' * 40

# Error lines a test provokes on purpose; any other error line fails it.
EXPECTED_ERRORS = [
    re.compile(r' error master: (store|ingest(-\d+)?) pid=\d+ killed by '
               r'signal 9 '
               r'\(Killed\) after \d+ ms; restarting in \d+ s '
               r'\(restart \d+\)$'),
]
LOG_LINE = re.compile(r'^\S+Z (\S+)\[(\d+)\] (debug|info|warn|error|fatal) ')


def unexpected_errors(text, allowed=EXPECTED_ERRORS):
    """The error and fatal lines of `text` no pattern of `allowed` admits,
    after every sanitizer report line (never admissible)."""
    bad = sgtest.sanitizer_lines(text)
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m and m.group(3) in ('error', 'fatal') and not any(
                p.search(line) for p in allowed):
            bad.append(line)
    return bad


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (SIP uses both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(('127.0.0.1', 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(('127.0.0.1', port))
        except OSError:
            continue
        finally:
            u.close()
            t.close()
        return port
    raise AssertionError('no free port')


def wait_for(what, fn, timeout=20.0, proc=None):
    """Poll fn() until it returns a true value; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise AssertionError('%s: the master exited (%s) first'
                                 % (what, proc.returncode))
        if time.monotonic() >= deadline:
            raise AssertionError('%s: not within %.0f s' % (what, timeout))
        time.sleep(0.05)


def unix_accepts(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def tcp_accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=1).close()
        return True
    except OSError:
        return False


def alive(pid):
    """Running (not a zombie) process `pid`."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')[0].decode()
    except OSError:
        return ''


class Gateway:
    """A config in `base` and a master started from it."""

    def __init__(self, base):
        self.base = base
        self.data = os.path.join(base, 'data')
        self.run = os.path.join(base, 'run')
        self.log = os.path.join(base, 'master.log')
        self.sip = free_port()
        self.http = free_port()
        self.https = free_port()
        self.proc = None
        pki = os.path.join(base, 'pki')
        r = subprocess.run([CLI, 'pki', 'demo', pki], capture_output=True)
        assert r.returncode == 0, r.stderr
        tls = subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
             '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
             '-keyout', os.path.join(pki, 'tls.key'),
             '-out', os.path.join(pki, 'tls.pem')], capture_output=True)
        assert tls.returncode == 0, tls.stderr
        os.chmod(os.path.join(pki, 'tls.key'), 0o600)
        tok = os.path.join(base, 'customer.token')
        with open(tok, 'w') as f:
            f.write(TOKEN + '\n')
        os.chmod(tok, 0o600)
        cfg = {
            'node': {'data_dir': self.data, 'run_dir': self.run,
                     'log_level': 'info', 'default_cc': '1'},
            'sip': {'udp': ['127.0.0.1:%d' % self.sip],
                    'tcp': ['127.0.0.1:%d' % self.sip]},
            'http': {'listen': '127.0.0.1:%d' % self.http,
                     'tls_listen': '127.0.0.1:%d' % self.https,
                     'tls_cert': os.path.join(pki, 'tls.pem'),
                     'tls_key': os.path.join(pki, 'tls.key')},
            'sign': {'key': os.path.join(pki, 'signer.key'),
                     'x5u': 'https://127.0.0.1:%d/certs/chain.pem'
                            % self.https,
                     'chain': os.path.join(pki, 'chain.pem'),
                     'publish': True},
            'verify': {'trust': os.path.join(pki, 'ca.pem')},
            'x5u': {'allow_loopback': True,
                    'tls_ca': os.path.join(pki, 'tls.pem')},
            'store': {'backoff_min': '1h', 'backoff_max': '1h'},
            'peers': [{'name': 'cust', 'kind': 'customer',
                       'sip': ['127.0.0.1/32'], 'api_token_file': tok}],
        }
        self.config = os.path.join(base, 'stirgate.json')
        with open(self.config, 'w') as f:
            json.dump(cfg, f, indent=2)

    def start(self, *extra):
        logf = open(self.log, 'ab')
        self.proc = subprocess.Popen([CLI, 'run', '-c', self.config] +
                                     list(extra), stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL)
        logf.close()
        return self

    def logtext(self):
        with open(self.log, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def stage_pid(self, name):
        try:
            with open(os.path.join(self.run, 'stage-%s.pid' % name)) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def store_ready(self):
        return unix_accepts(os.path.join(self.run, 'store.sock'))

    def wait_ready(self):
        wait_for('store socket', self.store_ready, proc=self.proc)
        if HAVE_INGEST:
            wait_for('SIP TCP port', lambda: tcp_accepts(self.sip),
                     proc=self.proc)
            wait_for('HTTP port', lambda: tcp_accepts(self.http),
                     proc=self.proc)

    def post(self):
        """POST one message; the HTTP status (0 when no answer)."""
        body = json.dumps({'from': '+12025550100', 'to': '+12025550199',
                           'body': 'hello'})
        try:
            c = http.client.HTTPConnection('127.0.0.1', self.http, timeout=5)
            c.request('POST', '/v1/messages', body,
                      {'Authorization': 'Bearer ' + TOKEN,
                       'Content-Type': 'application/json'})
            status = c.getresponse().status
            c.close()
            return status
        except OSError:
            return 0

    def kill_and_wait_restart(self, name):
        old = wait_for('%s pid file' % name, lambda: self.stage_pid(name))
        os.kill(old, signal.SIGKILL)

        def new_pid():
            # The pid file is written at fork: wait for the exec too.
            p = self.stage_pid(name)
            return p if p and p != old and alive(p) and cmdline(p).endswith(
                'stirgate-' + name) else 0
        new = wait_for('%s restarted' % name, new_pid, proc=self.proc)
        return old, new

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('master did not stop within %d s' % timeout)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # A stage left behind by a failed test: only ours, by pid.
        for name in ('store', 'ingest', 'deliver'):
            p = self.stage_pid(name)
            if p and alive(p) and self.base in ' '.join(
                    open('/proc/%d/cmdline' % p).read().split('\0')):
                os.kill(p, signal.SIGKILL)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def skip(why):
    print('    skipped: %s' % why)


@test
def log_scanner_self_test(base):
    line = ('2026-01-01T00:00:00.000Z stirgate-store[12] error store: '
            'mdb_txn_commit: boom')
    assert unexpected_errors(line) == [line]
    ok = ('2026-01-01T00:00:00.000Z stirgate[12] error master: store pid=13 '
          'killed by signal 9 (Killed) after 5 ms; restarting in 1 s '
          '(restart 1)')
    assert unexpected_errors(ok) == []
    assert unexpected_errors('2026-01-01T00:00:00.000Z x[1] info a: b') == []
    asan = '==7==ERROR: AddressSanitizer: heap-use-after-free on address 0x1'
    assert unexpected_errors(asan) == [asan]
    sgtest.self_test()


@test
def start_restart_stop(base):
    g = Gateway(base)
    try:
        g.start()
        g.wait_ready()
        mode = os.stat(g.run).st_mode & 0o777
        assert mode == 0o700, 'run dir mode %o' % mode
        with open(os.path.join(g.run, 'stirgate.pid')) as f:
            assert int(f.read()) == g.proc.pid
        pids = {'store': g.stage_pid('store')}
        if HAVE_INGEST:
            pids['ingest'] = g.stage_pid('ingest')
            wait_for('202 from the API', lambda: g.post() == 202,
                     proc=g.proc)
        else:
            skip('stirgate-ingest not built: no SIP/HTTP checks')
        # Stages are in their own process group (the terminal's Ctrl-C
        # reaches only the master, which stops them in order).
        assert os.getpgid(pids['store']) == pids['store']

        # The store killed: restarted after 1 s; killed again at once: the
        # throttle doubles to 2 s.
        old, new = g.kill_and_wait_restart('store')
        assert not alive(old)
        wait_for('store socket again', g.store_ready, proc=g.proc)
        _, newer = g.kill_and_wait_restart('store')
        log = g.logtext()
        assert re.search(r'store pid=%d killed by signal 9 \(Killed\) after '
                         r'\d+ ms; restarting in 1 s \(restart 1\)' % old,
                         log), log[-2000:]
        assert re.search(r'store pid=%d killed by signal 9 \(Killed\) after '
                         r'\d+ ms; restarting in 2 s \(restart 2\)' % new,
                         log), log[-2000:]
        wait_for('store socket after the second restart', g.store_ready,
                 proc=g.proc)
        if HAVE_INGEST:
            # The gateway answers again: ingest reconnects to the new store.
            wait_for('202 after the store restarts', lambda: g.post() == 202,
                     timeout=30, proc=g.proc)
            old_i, new_i = g.kill_and_wait_restart('ingest')
            wait_for('HTTP port after the ingest restart',
                     lambda: tcp_accepts(g.http), proc=g.proc)
            wait_for('202 after the ingest restarts', lambda: g.post() == 202,
                     timeout=30, proc=g.proc)
            pids['ingest'] = new_i
        pids['store'] = newer

        # SIGHUP is reserved: logged, nothing restarts.
        g.proc.send_signal(signal.SIGHUP)
        wait_for('SIGHUP logged',
                 lambda: 'reload not supported yet' in g.logtext(),
                 proc=g.proc)
        assert g.stage_pid('store') == newer

        # SIGTERM: ingest first, the store last; every stage gone; exit 0.
        rc = g.stop()
        assert rc == 0, 'master exit %s' % rc
        for name, pid in pids.items():
            assert not alive(pid), '%s pid %d still running' % (name, pid)
            assert g.stage_pid(name) == 0, '%s pid file left' % name
        log = g.logtext()
        order = [m.group(1) for m in re.finditer(
            r'info master: (\w+) stopped: exited with status 0', log)]
        want = (['ingest'] if HAVE_INGEST else []) + ['store']
        assert [o for o in order if o in want] == want, order
        assert not os.path.exists(os.path.join(g.run, 'stirgate.pid'))
        bad = unexpected_errors(log)
        assert not bad, 'unexpected error lines:\n' + '\n'.join(bad)
    finally:
        g.cleanup()


@test
def one_master_per_run_dir(base):
    g = Gateway(base)
    try:
        g.start()
        wait_for('store socket', g.store_ready, proc=g.proc)
        second = subprocess.run([CLI, 'run', '-c', g.config],
                                capture_output=True, timeout=30)
        err = second.stderr.decode()
        assert second.returncode == 2, (second.returncode, err)
        assert 'another stirgate run (pid %d)' % g.proc.pid in err, err
        assert g.proc.poll() is None, 'the first master died'
        assert g.stop() == 0
    finally:
        g.cleanup()


@test
def busy_port_is_named(base):
    g = Gateway(base)
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    hold.bind(('127.0.0.1', g.http))
    hold.listen(1)
    try:
        r = subprocess.run([CLI, 'run', '-c', g.config], capture_output=True,
                           timeout=30)
        err = r.stderr.decode()
        assert r.returncode == 2, (r.returncode, err)
        assert ('stirgate: run: http.listen 127.0.0.1:%d: Address already in '
                'use' % g.http) in err, err
        assert not os.path.exists(os.path.join(g.run, 'stage-store.pid'))
    finally:
        hold.close()
        g.cleanup()


@test
def ingest_processes_share_the_ports(base):
    """ingest.processes: N ingest stages (ingest-1..N) on the same
    addresses (SO_REUSEPORT), each restarted on its own, all stopped
    before the store."""
    if not HAVE_INGEST:
        skip('stirgate-ingest not built')
        return
    g = Gateway(base)
    with open(g.config) as f:
        cfg = json.load(f)
    cfg['ingest'] = {'processes': 2}
    with open(g.config, 'w') as f:
        json.dump(cfg, f, indent=2)
    try:
        g.start()
        g.wait_ready()
        wait_for('both ingest processes',
                 lambda: g.stage_pid('ingest-1') and g.stage_pid('ingest-2'),
                 proc=g.proc)
        pids = [g.stage_pid('ingest-1'), g.stage_pid('ingest-2')]
        assert pids[0] != pids[1] and all(alive(p) for p in pids), pids
        assert g.stage_pid('ingest') == 0
        wait_for('202 from the API', lambda: g.post() == 202, proc=g.proc)
        # One of them killed: restarted alone; the other keeps serving.
        os.kill(pids[1], signal.SIGKILL)

        def restarted():
            p = g.stage_pid('ingest-2')
            return p if p and p != pids[1] and alive(p) and cmdline(
                p).endswith('stirgate-ingest') else 0
        new = wait_for('ingest-2 restarted', restarted, proc=g.proc)
        assert alive(pids[0])
        wait_for('202 after the restart', lambda: g.post() == 202,
                 timeout=30, proc=g.proc)
        rc = g.stop()
        assert rc == 0, 'master exit %s' % rc
        for pid in (pids[0], new):
            assert not alive(pid)
        order = [m.group(1) for m in re.finditer(
            r'info master: ([\w-]+) stopped: exited with status 0',
            g.logtext())]
        want = ['ingest-1', 'ingest-2', 'store']
        assert [o for o in order if o in want] == want, order
        bad = unexpected_errors(g.logtext())
        assert not bad, 'unexpected error lines:\n' + '\n'.join(bad)
    finally:
        g.cleanup()


@test
def sigint_stops_like_sigterm(base):
    g = Gateway(base)
    try:
        g.start()
        g.wait_ready()
        store = g.stage_pid('store')
        g.proc.send_signal(signal.SIGINT)
        rc = g.proc.wait(timeout=30)
        assert rc == 0, rc
        assert not alive(store)
    finally:
        g.cleanup()


def main():
    passed = failed = 0
    if not os.access(CLI, os.X_OK):
        print('test_master: %s is missing: build with scons' % CLI)
        print('0 passed, 1 failed')
        return 1
    if not HAVE_INGEST:
        print('test_master: %s not built: ingest checks are skipped' % INGEST)
    only = sys.argv[1] if len(sys.argv) > 1 else None
    for fn in TESTS:
        if only and only not in fn.__name__:
            continue
        base = tempfile.mkdtemp(prefix='sg-master-')
        try:
            fn(base)
            passed += 1
            print('ok   master:%s' % fn.__name__)
        except Exception:
            failed += 1
            print('FAIL master:%s' % fn.__name__)
            print('    ' + traceback.format_exc().replace('\n', '\n    '))
            log = os.path.join(base, 'master.log')
            if os.path.exists(log):
                with open(log, 'rb') as f:
                    tail = f.read().decode('utf-8', 'replace')[-3000:]
                print('    log tail:\n    ' + tail.replace('\n', '\n    '))
        finally:
            shutil.rmtree(base, ignore_errors=True)
        sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == '__main__':
    sys.exit(main())
