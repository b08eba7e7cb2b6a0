#!/usr/bin/env python3
"""tests/run.py - run the whole stirgate test suite.

In order:
  1. unit test binaries build/<mode>/tests/unit/test_* for mode debug, asan;
  2. the CLI tests (tests/cli/test_cli.py, tests/cli/test_config.py);
  3. the verification vectors (tests/cli/vectors.py over tests/vectors/);
     2 and 3 run again against the asan build's stirgate when it exists;
  4. system tests tests/system/test_*.py, each a subprocess;
  5. the same system tests against the asan build (system-asan/test_x.py:
     SG_BUILD is the asan build, leak detection on; each test scans the
     logs of the stages it started for sanitizer reports);
  6. valgrind: every unit test binary of the debug build under memcheck
     (leaks definite/indirect are errors; tests/valgrind.supp holds only
     documented third-party noise), one test each;
  7. the fuzz smoke: every build/fuzz/tests/fuzz/fuzz_* for 10 s on a copy
     of its seed corpus tests/fuzz/corpus/<name without fuzz_>/; executions
     per target in build/fuzz-stats.txt (tests/fuzz/run_long.sh runs them
     longer).

At the end, the time each step took (and the builds' times when
tools/bootstrap.sh passes them in SG_BUILD_TIMES, "mode=SECONDS ...").

Every step prints its own lines; the last line of this program is
"N passed, N failed" summed over everything.  Exit 1 when anything failed
or nothing ran.

Conventions for the programs run here: each ends its output with the line
"N passed, N failed"; a program that crashes, times out or prints no such
line counts as one failure.  Child programs get TU_SRCDIR (repository
root) and STIRGATE_BUILD (the debug build directory) in the environment.

Options: --quick skips asan, valgrind and fuzz; --only PATTERN runs only the steps
(and the cli/vector cases) whose name contains PATTERN; --build DIR uses
another debug build directory (default build/debug); --asan-build and
--fuzz-build do the same for the other two; --failed-build MODE counts a
mode that did not build as one failure.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUMMARY = re.compile(r'^\s*(\d+) passed, (\d+) failed\s*$')
FUZZ_DONE = re.compile(r'^Done (\d+) runs in (\d+) second')


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def add(self, name, passed, failed, why=''):
        self.passed += passed
        self.failed += failed
        if failed:
            self.failures.append('%s: %d failed%s'
                                 % (name, failed, ' (' + why + ')'
                                    if why else ''))


def last_summary(text):
    """The counts of the last "N passed, N failed" line, or None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    m = SUMMARY.match(lines[-1])
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def run_counted(tally, name, argv, env, timeout, cwd=ROOT):
    """Run a program that ends with "N passed, N failed"; add its counts."""
    print('=== %s' % name, flush=True)
    try:
        p = subprocess.run(argv, cwd=cwd, env=env, timeout=timeout,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b'').decode('utf-8', 'replace')
        sys.stdout.write(out)
        tally.add(name, 0, 1, 'timed out after %d s' % timeout)
        return
    except OSError as e:
        tally.add(name, 0, 1, 'cannot run: %s' % e)
        return
    out = p.stdout.decode('utf-8', 'replace')
    sys.stdout.write(out)
    counts = last_summary(out)
    if counts is None:
        tally.add(name, 0, 1, 'exit %d, no summary line' % p.returncode)
        return
    passed, failed = counts
    if p.returncode < 0:
        # Killed by a signal after printing a summary (a crash in exit
        # handlers, a sanitizer report at exit): still a failure.
        failed += 1
        why = 'killed by signal %d' % -p.returncode
    elif p.returncode != 0 and failed == 0:
        failed = 1
        why = 'exit %d with 0 failures reported' % p.returncode
    else:
        why = ''
    tally.add(name, passed, failed, why)


def want(only, name):
    return only is None or only in name


def binaries(bdir, sub, prefix):
    """The executables bdir/tests/SUB/PREFIX*, sorted (objects left out).
    tools/reliability.py uses this too."""
    bins = sorted(glob.glob(os.path.join(bdir, 'tests', sub, prefix + '*')))
    return [b for b in bins if os.access(b, os.X_OK)
            and not b.endswith('.o')]


def suite_env(build):
    """The environment every program of the suite runs in, for the debug
    build directory `build`."""
    env = dict(os.environ)
    env['TU_SRCDIR'] = ROOT
    env['STIRGATE_BUILD'] = build
    env['SG_BUILD'] = build  # the system tests' name for it
    # Sanitizer reports must fail the run, with a stack to read.
    env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
    env.setdefault('ASAN_OPTIONS', 'abort_on_error=0:detect_leaks=1')
    return env


def asan_env(env, asan_build):
    """`env` for the system tests against the asan build's binaries."""
    aenv = dict(env)
    aenv['SG_BUILD'] = asan_build
    aenv['STIRGATE_BUILD'] = asan_build
    aenv['ASAN_OPTIONS'] = 'abort_on_error=0:detect_leaks=1'
    return aenv


def step_unit(tally, args, env, modes):
    for mode, bdir in modes:
        bins = binaries(bdir, 'unit', 'test_')
        label = 'unit/%s' % mode
        if not want(args.only, label) and not any(
                want(args.only, label + '/' + os.path.basename(b))
                for b in bins):
            continue
        if not bins:
            tally.add(label, 0, 1, 'no unit test binaries in %s; build '
                      'with scons%s' % (bdir, '' if mode == 'debug'
                                        else ' mode=' + mode))
            continue
        for b in bins:
            name = label + '/' + os.path.basename(b)
            if want(args.only, name):
                run_counted(tally, name, [b], env, 900)


def step_script(tally, args, env, name, script, build):
    if not os.path.exists(os.path.join(ROOT, script)):
        return
    argv = [sys.executable, os.path.join(ROOT, script), '--build', build]
    if args.only is not None and not want(args.only, name):
        # Let the runner filter its own cases by name.
        argv += ['--only', args.only]
    run_counted(tally, name, argv, env, 900)


def step_system(tally, args, env, label='system'):
    for path in sorted(glob.glob(os.path.join(ROOT, 'tests', 'system',
                                              'test_*.py'))):
        name = label + '/' + os.path.basename(path)
        if want(args.only, name):
            run_counted(tally, name, [sys.executable, path], env, 1800)


def step_system_asan(tally, args, env):
    """The system tests against the asan build's binaries."""
    if not os.path.exists(os.path.join(args.asan_build, 'cli', 'stirgate')):
        if want(args.only, 'system-asan'):
            tally.add('system-asan', 0, 1, 'no asan build in %s; build with '
                      'scons mode=asan' % args.asan_build)
        return
    step_system(tally, args, asan_env(env, args.asan_build), 'system-asan')


VALGRIND = ['valgrind', '--tool=memcheck', '--leak-check=full',
            '--errors-for-leak-kinds=definite,indirect',
            '--error-exitcode=99', '--num-callers=30',
            '--suppressions=' + os.path.join(ROOT, 'tests', 'valgrind.supp')]


def step_valgrind(tally, args, env):
    bins = binaries(args.build, 'unit', 'test_')
    names = ['valgrind/' + os.path.basename(b) for b in bins]
    if not any(want(args.only, n) for n in names + ['valgrind']):
        return
    if shutil.which('valgrind') is None:
        tally.add('valgrind', 0, 1, 'valgrind is not installed')
        return
    if not bins:
        tally.add('valgrind', 0, 1, 'no unit test binaries in %s'
                  % args.build)
        return
    for b, name in zip(bins, names):
        if not want(args.only, name):
            continue
        print('=== %s' % name, flush=True)
        try:
            p = subprocess.run(VALGRIND + [b], cwd=ROOT, env=env,
                               timeout=1800, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        except subprocess.TimeoutExpired:
            tally.add(name, 0, 1, 'timed out')
            continue
        out = p.stdout.decode('utf-8', 'replace')
        counts = last_summary('\n'.join(
            ln for ln in out.splitlines() if not ln.startswith('==')))
        summary = [ln for ln in out.splitlines() if 'ERROR SUMMARY' in ln]
        if p.returncode == 0 and counts is not None and counts[1] == 0:
            print('%s: clean (%s)' % (name, summary[-1].split('==')[-1]
                                      .strip() if summary else ''))
            tally.add(name, 1, 0)
        else:
            sys.stdout.write('\n'.join(out.splitlines()[-80:]) + '\n')
            tally.add(name, 0, 1, 'exit %d%s' % (
                p.returncode, ': memcheck errors or leaks'
                if p.returncode == 99 else ''))


def step_fuzz(tally, args, env, fuzz_dir):
    bins = binaries(fuzz_dir, 'fuzz', 'fuzz_')
    srcs = glob.glob(os.path.join(ROOT, 'tests', 'fuzz', 'fuzz_*.c'))
    if not bins:
        if srcs and want(args.only, 'fuzz'):
            tally.add('fuzz', 0, 1, 'no fuzz binaries in %s; build with '
                      'scons fuzz=1' % fuzz_dir)
        return
    stats = []
    # Every target in the tree is listed: one whose binary is missing (a
    # build that skipped it) is a failure, not a silent gap.
    built = {os.path.basename(b) for b in bins}
    for src in sorted(srcs):
        base = os.path.splitext(os.path.basename(src))[0]
        if base not in built and want(args.only, 'fuzz/' + base):
            tally.add('fuzz/' + base, 0, 1, 'not built in %s' % fuzz_dir)
            stats.append('%s missing' % base)
    for b in bins:
        base = os.path.basename(b)
        name = 'fuzz/' + base
        if not want(args.only, name):
            continue
        print('=== %s' % name, flush=True)
        seed = os.path.join(ROOT, 'tests', 'fuzz', 'corpus',
                            base[len('fuzz_'):])
        with tempfile.TemporaryDirectory(prefix='sg-fuzz-') as tmp:
            corpus = os.path.join(tmp, 'corpus')
            # libFuzzer adds files to its corpus directory: work on a copy
            # so the seed corpus in the tree stays as committed.
            if os.path.isdir(seed):
                shutil.copytree(seed, corpus)
            else:
                os.mkdir(corpus)
            argv = [b, '-max_total_time=10', '-rss_limit_mb=2048',
                    '-artifact_prefix=' + tmp + '/', corpus]
            try:
                p = subprocess.run(argv, cwd=tmp, env=env, timeout=300,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
            except subprocess.TimeoutExpired:
                tally.add(name, 0, 1, 'timed out')
                stats.append('%s timeout' % base)
                continue
            out = p.stdout.decode('utf-8', 'replace')
            runs = None
            for line in out.splitlines():
                m = FUZZ_DONE.match(line)
                if m:
                    runs = int(m.group(1))
            if p.returncode != 0 or runs is None:
                # Show the tail: the crash report and the reproducer name.
                sys.stdout.write('\n'.join(out.splitlines()[-60:]) + '\n')
                tally.add(name, 0, 1, 'exit %d' % p.returncode)
                stats.append('%s crashed' % base)
                crash = glob.glob(os.path.join(tmp, 'crash-*')) + \
                    glob.glob(os.path.join(tmp, 'leak-*')) + \
                    glob.glob(os.path.join(tmp, 'timeout-*')) + \
                    glob.glob(os.path.join(tmp, 'oom-*'))
                for c in crash:
                    keep = os.path.join(fuzz_dir, os.path.basename(c))
                    shutil.copy(c, keep)
                    print('%s: reproducer kept in %s' % (name, keep))
            else:
                print('%s: %d runs' % (name, runs))
                tally.add(name, 1, 0)
                stats.append('%s %d' % (base, runs))
    if stats:
        path = os.path.join(os.path.dirname(fuzz_dir.rstrip('/')),
                            'fuzz-stats.txt')
        with open(path, 'w') as f:
            f.write('\n'.join(stats) + '\n')


def main():
    ap = argparse.ArgumentParser(description='run the stirgate test suite')
    ap.add_argument('--quick', action='store_true',
                    help='skip the asan unit tests and the fuzz smoke')
    ap.add_argument('--only', metavar='PATTERN',
                    help='run only steps/cases whose name contains PATTERN')
    ap.add_argument('--build', metavar='DIR', default='build/debug',
                    help='debug build directory (default build/debug)')
    ap.add_argument('--asan-build', metavar='DIR', default='build/asan',
                    help='asan build directory (default build/asan)')
    ap.add_argument('--fuzz-build', metavar='DIR', default='build/fuzz',
                    help='fuzz build directory (default build/fuzz)')
    ap.add_argument('--failed-build', metavar='MODE', action='append',
                    default=[], help='count a failed build of MODE as a '
                    'failure (tools/bootstrap.sh passes this)')
    args = ap.parse_args()
    args.build = os.path.abspath(os.path.join(ROOT, args.build))
    args.asan_build = os.path.abspath(os.path.join(ROOT, args.asan_build))
    args.fuzz_build = os.path.abspath(os.path.join(ROOT, args.fuzz_build))

    env = suite_env(args.build)

    tally = Tally()
    timings = []

    def timed(label, fn, *a):
        t0 = time.monotonic()
        before = tally.passed + tally.failed
        fn(*a)
        if tally.passed + tally.failed != before:
            timings.append((label, time.monotonic() - t0))

    t_start = time.monotonic()
    for m in args.failed_build:
        print('=== build/%s: the build failed (see above)' % m)
        tally.add('build/' + m, 0, 1, 'scons failed')
    modes = [('debug', args.build)]
    if not args.quick:
        modes.append(('asan', args.asan_build))
    for mode, bdir in modes:
        timed('unit/' + mode, step_unit, tally, args, env, [(mode, bdir)])
    timed('cli', step_script, tally, args, env, 'cli',
          'tests/cli/test_cli.py', args.build)
    timed('config', step_script, tally, args, env, 'config',
          'tests/cli/test_config.py', args.build)
    timed('vectors', step_script, tally, args, env, 'vectors',
          'tests/cli/vectors.py', args.build)
    timed('ops-docs', step_script, tally, args, env, 'ops-docs',
          'tests/cli/test_ops_docs.py', args.build)
    if not args.quick and os.path.exists(os.path.join(args.asan_build, 'cli',
                                                      'stirgate')):
        # The same cases under ASan/UBSan: memory errors in the CLI paths.
        timed('cli-asan', step_script, tally, args, env, 'cli-asan',
              'tests/cli/test_cli.py', args.asan_build)
        timed('config-asan', step_script, tally, args, env, 'config-asan',
              'tests/cli/test_config.py', args.asan_build)
        timed('vectors-asan', step_script, tally, args, env, 'vectors-asan',
              'tests/cli/vectors.py', args.asan_build)
    timed('system', step_system, tally, args, env)
    if not args.quick:
        timed('system-asan', step_system_asan, tally, args, env)
        timed('valgrind', step_valgrind, tally, args, env)
        timed('fuzz', step_fuzz, tally, args, env, args.fuzz_build)

    total = time.monotonic() - t_start
    builds = []
    for item in os.environ.get('SG_BUILD_TIMES', '').split():
        k, _, v = item.partition('=')
        try:
            builds.append(('build/' + k, float(v)))
        except ValueError:
            pass
    print('--- timings (seconds)')
    for label, secs in builds + timings:
        print('  %-14s %7.1f' % (label, secs))
    print('  %-14s %7.1f' % ('tests total', total))
    if builds:
        print('  %-14s %7.1f' % ('with builds',
                                 total + sum(s for _, s in builds)))

    if tally.failures:
        print('--- failures:')
        for f in tally.failures:
            print('  ' + f)
    print('%d passed, %d failed' % (tally.passed, tally.failed))
    return 1 if tally.failed or tally.passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
