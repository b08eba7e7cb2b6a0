"""tests/system/sgtest.py - pieces the system tests share (stdlib only).

  BUILD, binary(rel)     the build directory ($SG_BUILD, else
                         $STIRGATE_BUILD, else build/debug; --build DIR on
                         the command line wins) and a binary inside it
  free_port(both=True)   a loopback port free for TCP and, by default, UDP
  wait_for(pred, what)   poll with a deadline; the last true value
  Proc                   a stage process logging to a file; stop() sends
                         SIGTERM and waits (SIGKILL after a deadline)
  sanitizer_lines(text)  ASan/UBSan/LSan report lines
  log_problems(text)     error/fatal log lines not matched by `allowed`,
                         plus every sanitizer line
  Checks                 "ok/FAIL name" lines and the closing
                         "N passed, N failed"
  Figures                what a test injected and counted, as JSON in
                         the file $SG_FIGURES names (tools/reliability.py)

Under the asan build (run.py's system-asan step) a stage that leaks or
touches freed memory prints its report to stderr, which Proc sends to its
log file: log_problems() is what turns that into a failed check, so every
test scans the logs of the stages it started after stopping them (leaks
are reported at exit).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _build():
    b = os.environ.get('SG_BUILD') or os.environ.get('STIRGATE_BUILD') or \
        os.path.join(ROOT, 'build', 'debug')
    if '--build' in sys.argv:
        b = sys.argv[sys.argv.index('--build') + 1]
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    return os.path.abspath(b)


BUILD = _build()


def binary(rel):
    return os.path.join(BUILD, rel)


def free_port(both=True):
    """A port on 127.0.0.1 free for TCP and (both=True) UDP; checked, not
    held, so a caller binds it soon after."""
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(('127.0.0.1', 0))
        port = t.getsockname()[1]
        if not both:
            t.close()
            return port
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(('127.0.0.1', port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError('no free port')


def wait_for(pred, what, limit=15.0, step=0.02):
    """Poll `pred` until it returns a true value (returned) or `limit`
    seconds pass (AssertionError naming `what`)."""
    end = time.monotonic() + limit
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise AssertionError('timed out after %.1f s waiting for %s'
                                 % (limit, what))
        time.sleep(step)


SANITIZER = re.compile(r'ERROR: (AddressSanitizer|LeakSanitizer|'
                       r'MemorySanitizer|ThreadSanitizer)|'
                       r'runtime error:|SUMMARY: \w+Sanitizer')
LOG_LINE = re.compile(r'^\S+Z (\S+)\[(\d+)\] (debug|info|warn|error|fatal) ')


def sanitizer_lines(text):
    return [ln for ln in text.splitlines() if SANITIZER.search(ln)]


def log_problems(text, allowed=()):
    """Error/fatal log lines no pattern of `allowed` admits, and every
    sanitizer report line (never admissible)."""
    bad = []
    for ln in text.splitlines():
        if SANITIZER.search(ln):
            bad.append(ln)
            continue
        m = LOG_LINE.match(ln)
        if m and m.group(3) in ('error', 'fatal') and not any(
                re.search(p, ln) for p in allowed):
            bad.append(ln)
    return bad


def self_test():
    """The scanner finds what it must and nothing else."""
    err = ('2026-01-01T00:00:00.000Z stirgate-ingest[7] error ingest: '
           'store: boom')
    assert log_problems(err) == [err]
    assert log_problems(err, allowed=[r'store: boom$']) == []
    ok = '2026-01-01T00:00:00.000Z stirgate-ingest[7] warn ingest: hm'
    assert log_problems(ok) == []
    for rep in ('==12==ERROR: AddressSanitizer: heap-use-after-free on x',
                '==12==ERROR: LeakSanitizer: detected memory leaks',
                'proto/proto_sip.c:12:3: runtime error: signed integer '
                'overflow'):
        assert log_problems(rep, allowed=['.*']) == [rep], rep
        assert sanitizer_lines(ok + '\n' + rep) == [rep]


class Proc:
    """A process whose stdout and stderr go to `log` (appended)."""

    def __init__(self, argv, log, env=None, cwd=None):
        self.argv = list(argv)
        self.log = log
        with open(log, 'ab') as f:
            self.p = subprocess.Popen(self.argv, stdout=f, stderr=f,
                                      env=env, cwd=cwd)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def text(self):
        try:
            with open(self.log, errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self, limit=20.0):
        """SIGTERM, wait up to `limit` s, then SIGKILL; the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


class Checks:
    """One line per check; the closing summary line run.py reads."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.results = []   # (name, passed) in order, for Figures

    def check(self, name, ok, detail=None):
        self.results.append((name, bool(ok)))
        if ok:
            self.passed += 1
            print('ok   %s' % name, flush=True)
        else:
            self.failed += 1
            print('FAIL %s' % name, flush=True)
            if detail is not None:
                print('     %s' % (str(detail)[:3000],), flush=True)
        return ok

    def summary(self):
        print('%d passed, %d failed' % (self.passed, self.failed))
        return 1 if self.failed or not self.passed else 0


class Figures:
    """The figures of one system test for tools/reliability.py: what each
    case injected and what it counted, written as one JSON object to the
    file $SG_FIGURES names (nothing is written when it is unset, and
    nothing else about the test changes).

    case() starts a case and returns its dict for the test to fill in as
    it goes, so a case that fails half-way still reports what it counted
    before; the checks made from one case() to the next are the case's.
    write() adds those checks and the totals, and is safe to call more
    than once (the last call wins)."""

    def __init__(self, test, checks, **fields):
        self.path = os.environ.get('SG_FIGURES')
        self.checks = checks
        self.data = {'test': test, 'build': BUILD, 'cases': []}
        self.data.update(fields)
        self._first = []

    def case(self, name, **fields):
        c = {'case': name}
        c.update(fields)
        self.data['cases'].append(c)
        self._first.append(len(self.checks.results))
        return c

    def write(self):
        if not self.path:
            return
        res = self.checks.results
        ends = self._first[1:] + [len(res)]
        for c, a, z in zip(self.data['cases'], self._first, ends):
            c['checks'] = [{'name': n, 'passed': ok} for n, ok in res[a:z]]
        self.data['outside_cases'] = [
            {'name': n, 'passed': ok}
            for n, ok in res[:self._first[0] if self._first else len(res)]]
        self.data['passed'] = self.checks.passed
        self.data['failed'] = self.checks.failed
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.data, f, indent=1, default=str)
            f.write('\n')
        os.replace(tmp, self.path)
