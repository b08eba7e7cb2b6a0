"""tests/cli/clitest.py - the tiny framework behind the CLI and vector tests.

    T = clitest.Suite('cli')

    @T.test
    def sign_verify_round_trip(t):
        r = t.run('passport', 'sign', ...)
        t.eq(r.code, 0)

    T.main()

A test is a function taking a Case; checks record failures and go on
(`require` stops the case).  A case that raises counts as failed.  main()
parses --build DIR and --only PATTERN, runs the cases in definition order and
ends with "N passed, N failed"; it exits 1 when anything failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class Stop(Exception):
    """Raised by Case.require to end a case early."""


class Result:
    def __init__(self, argv, code, out, err):
        self.argv = argv
        self.code = code
        self.out = out
        self.err = err

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return 'exit %s\n  stdout: %r\n  stderr: %r' % (
            self.code, self.out[:2000], self.err[:2000])


class Case:
    def __init__(self, suite, name):
        self.suite = suite
        self.name = name
        self.failures = []
        self._tmp = None

    @property
    def tmp(self):
        """A private temporary directory, removed after the case."""
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix='sg-cli-')
        return self._tmp

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, data, mode=None):
        p = self.path(name)
        with open(p, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def run(self, *args, stdin=None, timeout=60):
        argv = [self.suite.stirgate] + [str(a) for a in args]
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return Result(argv, p.returncode,
                      p.stdout.decode('utf-8', 'replace'),
                      p.stderr.decode('utf-8', 'replace'))

    def check(self, cond, what, detail=None):
        if not cond:
            msg = what if detail is None else '%s\n    %s' % (what, detail)
            self.failures.append(msg)
        return bool(cond)

    def eq(self, got, want, what='', detail=None):
        return self.check(got == want, '%s: got %r, want %r'
                          % (what or 'value', got, want), detail)

    def require(self, cond, what, detail=None):
        if not self.check(cond, what, detail):
            raise Stop()

    def cleanup(self):
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


class Suite:
    def __init__(self, name):
        self.name = name
        self.cases = []
        self.build = None
        self.stirgate = None

    def test(self, fn):
        self.cases.append((fn.__name__, fn))
        return fn

    def add(self, name, fn):
        self.cases.append((name, fn))

    def setup(self, argv=None):
        ap = argparse.ArgumentParser()
        ap.add_argument('--build', default=os.environ.get(
            'STIRGATE_BUILD', os.path.join(ROOT, 'build', 'debug')))
        ap.add_argument('--only')
        a = ap.parse_args(argv)
        self.build = os.path.abspath(a.build)
        self.only = a.only
        self.stirgate = os.path.join(self.build, 'cli', 'stirgate')
        return a

    def main(self, argv=None):
        if self.build is None:
            self.setup(argv)
        passed = failed = 0
        if not os.access(self.stirgate, os.X_OK):
            print('%s: %s is missing: build with scons' %
                  (self.name, self.stirgate))
            print('0 passed, 1 failed')
            sys.exit(1)
        for name, fn in self.cases:
            full = '%s:%s' % (self.name, name)
            if self.only and self.only not in full:
                continue
            c = Case(self, name)
            try:
                fn(c)
            except Stop:
                pass
            except Exception:
                c.failures.append('exception:\n' + traceback.format_exc())
            finally:
                c.cleanup()
            if c.failures:
                failed += 1
                print('FAIL %s' % full)
                for f in c.failures:
                    print('    ' + f.replace('\n', '\n    '))
            else:
                passed += 1
                print('ok   %s' % full)
            sys.stdout.flush()
        print('%d passed, %d failed' % (passed, failed))
        # Nothing run is a failure, unless a filter chose nothing here.
        sys.exit(1 if failed or (not passed and not self.only) else 0)
