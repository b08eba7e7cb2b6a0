#!/usr/bin/env python3
"""tools/reliability.py - run the reliability tests and write RELIABILITY.md.

    python3 tools/reliability.py [--fuzz-secs N] [--quick] [--output FILE]

In order, every figure from this run:

  1. builds the debug, asan and fuzz modes (scons -Q -j2 [mode=asan]
     [fuzz=1]);
  2. runs tests/system/test_crash.py, test_faults.py and test_hostile.py
     against the debug build, then against the asan build (the environment
     of tests/run.py's system and system-asan steps), each with
     SG_FIGURES naming a JSON file in which the test writes what it
     injected and what it counted (tests/system/sgtest.py, Figures);
  3. runs the unit test binaries of the asan build;
  4. runs valgrind memcheck over the unit test binaries of the debug build
     (tests/run.py's options and suppressions) and counts errors and leaks;
  5. runs every libFuzzer target of the fuzz build for --fuzz-secs seconds
     (default 60) on a copy of its seed corpus, recording executions,
     exec/s, corpus growth and crashes (a reproducer is kept in build/fuzz/,
     as tests/run.py does);

then writes RELIABILITY.md at the repository root: a table per test, the
fuzz table, the sanitizer and valgrind runs, the date, the machine, the
commit and the command.  The logs and JSON of the run stay in
build/reliability/.

--quick is for trying it: the debug build only (no asan build or runs, no
valgrind), fuzz 5 s per target unless --fuzz-secs says otherwise, and the
report goes to build/reliability/RELIABILITY-quick.md unless --output says
otherwise, so the committed report is not replaced by a short run.

Exit 1 when anything failed (the report is written all the same and says
what failed), 0 otherwise.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'system'))
import run as suite  # noqa: E402  tests/run.py
import sgtest  # noqa: E402  tests/system/sgtest.py

SYSTEM_TESTS = ('test_crash.py', 'test_faults.py', 'test_hostile.py')
BUILDS = (('debug', []), ('asan', ['mode=asan']), ('fuzz', ['fuzz=1']))
FUZZ_STAT = re.compile(r'^stat::(\w+):\s+(\d+)')
FUZZ_DONE = re.compile(r'^Done (\d+) runs in (\d+) second')
VG_ERRORS = re.compile(r'ERROR SUMMARY: (\d+) errors? from (\d+) context')
VG_LOST = re.compile(r'(definitely|indirectly|possibly) lost: ([\d,]+) '
                     r'bytes in ([\d,]+) blocks')


def log(msg):
    print(msg, flush=True)


def sh(argv):
    """stdout of a small command without the final newline ('' when it
    fails); leading blanks are kept (git status --porcelain has some)."""
    try:
        return subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL,
                              text=True).stdout.rstrip()
    except OSError:
        return ''


def loadavg():
    try:
        with open('/proc/loadavg') as f:
            return ' '.join(f.read().split()[:3])
    except OSError:
        return '?'


def machine(output):
    cpu = '?'
    try:
        with open('/proc/cpuinfo') as f:
            for ln in f:
                if ln.startswith('model name'):
                    cpu = ln.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    mem = '?'
    try:
        with open('/proc/meminfo') as f:
            kb = int(f.readline().split()[1])
            mem = '%.1f GiB' % (kb / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    # What differs from the commit, the report itself left out: a report
    # made from a modified tree says so.
    rel = os.path.relpath(output, ROOT)
    dirty = [ln[3:] for ln in sh(['git', 'status', '--porcelain',
                                  '--untracked-files=no']).splitlines()
             if ln[3:] != rel]
    return {'cores': os.cpu_count(), 'cpu': cpu, 'memory': mem,
            'kernel': platform.release(), 'os': sh(['sh', '-c', '. '
                                                    '/etc/os-release && '
                                                    'echo "$PRETTY_NAME"']),
            'python': platform.python_version(),
            'commit': sh(['git', 'rev-parse', 'HEAD']),
            'subject': sh(['git', 'log', '-1', '--format=%s']),
            'dirty': dirty}


def tool_version(argv):
    out = sh(argv)
    return out.splitlines()[0] if out else 'not found'


class Run:
    """Everything one run measured, and the list of what failed."""

    def __init__(self, args):
        self.args = args
        self.failures = []
        self.builds = []
        self.system = []     # dicts: test, mode, passed, failed, ...
        self.unit_asan = []
        self.valgrind = []
        self.fuzz = []
        self.steps = []      # (label, seconds)

    def fail(self, what):
        self.failures.append(what)
        log('FAIL %s' % what)


# --- steps ----------------------------------------------------------------

def run_logged(argv, env, logpath, timeout):
    """Run argv with stdout and stderr to `logpath`: (returncode or None
    on timeout, text, seconds)."""
    t0 = time.monotonic()
    with open(logpath, 'wb') as f:
        try:
            p = subprocess.run(argv, cwd=ROOT, env=env, timeout=timeout,
                               stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = None
    secs = time.monotonic() - t0
    with open(logpath, errors='replace') as f:
        return rc, f.read(), secs


def counted(rc, text):
    """tests/run.py's reading of a program's end: (passed, failed, why)."""
    counts = suite.last_summary(text)
    if rc is None:
        return 0, 1, 'timed out'
    if counts is None:
        return 0, 1, 'exit %d, no summary line' % rc
    passed, failed = counts
    if rc < 0:
        return passed, failed + 1, 'killed by signal %d' % -rc
    if rc != 0 and failed == 0:
        return passed, 1, 'exit %d with 0 failures reported' % rc
    return passed, failed, ''


def step_builds(r, modes):
    for mode, extra in BUILDS:
        if mode not in modes:
            continue
        argv = ['scons', '-Q', '-j2'] + extra
        log('=== build %s: %s' % (mode, ' '.join(argv)))
        rc, _, secs = run_logged(argv, None, os.path.join(
            r.work, 'build-%s.log' % mode), 7200)
        r.builds.append({'mode': mode, 'command': ' '.join(argv),
                         'ok': rc == 0, 'seconds': secs})
        if rc != 0:
            r.fail('build %s: scons exit %s (build/reliability/build-%s.log)'
                   % (mode, rc, mode))


def step_system(r, mode, env):
    for test in SYSTEM_TESTS:
        name = os.path.splitext(test)[0]
        fig = os.path.join(r.work, '%s-%s.json' % (name, mode))
        logpath = os.path.join(r.work, '%s-%s.log' % (name, mode))
        if os.path.exists(fig):
            os.unlink(fig)
        e = dict(env, SG_FIGURES=fig)
        log('=== system/%s (%s)' % (test, mode))
        rc, text, secs = run_logged(
            [sys.executable, os.path.join(ROOT, 'tests', 'system', test)],
            e, logpath, 3600)
        passed, failed, why = counted(rc, text)
        figures = None
        try:
            with open(fig) as f:
                figures = json.load(f)
        except (OSError, ValueError):
            failed += 1
            why = (why + '; ' if why else '') + 'no figures written'
        fails = [ln[5:] for ln in text.splitlines() if ln.startswith('FAIL ')]
        r.system.append({'test': name, 'mode': mode, 'passed': passed,
                         'failed': failed, 'why': why, 'seconds': secs,
                         'figures': figures, 'fails': fails,
                         'log': os.path.relpath(logpath, ROOT)})
        log('    %d passed, %d failed%s, %.0f s' % (
            passed, failed, ' (%s)' % why if why else '', secs))
        if failed:
            r.fail('system/%s (%s): %d failed%s' % (
                test, mode, failed, ' (%s)' % why if why else ''))


def step_unit_asan(r, env):
    bins = suite.binaries(r.asan_build, 'unit', 'test_')
    if not bins:
        r.fail('unit (asan): no unit test binaries in %s' % r.asan_build)
    for b in bins:
        name = os.path.basename(b)
        log('=== unit/asan/%s' % name)
        rc, text, secs = run_logged([b], env, os.path.join(
            r.work, 'unit-asan-%s.log' % name), 900)
        passed, failed, why = counted(rc, text)
        san = len(sgtest.sanitizer_lines(text))
        r.unit_asan.append({'binary': name, 'passed': passed,
                            'failed': failed, 'why': why, 'seconds': secs,
                            'sanitizer_lines': san})
        log('    %d passed, %d failed, %d sanitizer report lines'
            % (passed, failed, san))
        if failed or san:
            r.fail('unit/asan/%s: %d failed, %d sanitizer report lines%s'
                   % (name, failed, san, ' (%s)' % why if why else ''))


def step_valgrind(r, env):
    if shutil.which('valgrind') is None:
        r.fail('valgrind: not installed')
        return
    bins = suite.binaries(r.build, 'unit', 'test_')
    if not bins:
        r.fail('valgrind: no unit test binaries in %s' % r.build)
    for b in bins:
        name = os.path.basename(b)
        log('=== valgrind/%s' % name)
        rc, text, secs = run_logged(suite.VALGRIND + [b], env, os.path.join(
            r.work, 'valgrind-%s.log' % name), 3600)
        # The unit binary's own summary, without valgrind's "==pid==" lines
        # (as tests/run.py reads it).
        counts = suite.last_summary('\n'.join(
            ln for ln in text.splitlines() if not ln.startswith('==')))
        errors = contexts = 0
        for m in VG_ERRORS.finditer(text):
            errors += int(m.group(1))
            contexts += int(m.group(2))
        lost = {'definitely': [0, 0], 'indirectly': [0, 0],
                'possibly': [0, 0]}
        for m in VG_LOST.finditer(text):
            lost[m.group(1)][0] += int(m.group(2).replace(',', ''))
            lost[m.group(1)][1] += int(m.group(3).replace(',', ''))
        ok = rc == 0 and counts is not None and counts[1] == 0
        r.valgrind.append({'binary': name, 'exit': rc, 'seconds': secs,
                           'passed': counts[0] if counts else None,
                           'failed': counts[1] if counts else None,
                           'errors': errors, 'contexts': contexts,
                           'lost': lost, 'ok': ok})
        log('    %s: %d errors, definitely lost %d B, indirectly lost %d B'
            % ('clean' if ok else 'FAILED', errors, lost['definitely'][0],
               lost['indirectly'][0]))
        if not ok:
            r.fail('valgrind/%s: exit %s, %d errors%s' % (
                name, rc, errors, ', memcheck errors or leaks'
                if rc == 99 else ''))


def fuzz_purpose(src):
    """What a target parses: the first sentence of its source's header
    comment, without the file name and "libFuzzer target for"; a long one
    up to its first colon."""
    try:
        with open(src) as f:
            text = f.read(4000)
    except OSError:
        return '?'
    m = re.search(r'/\*(.*?)\*/', text, re.S)
    if not m:
        return '?'
    words = ' '.join(ln.strip().lstrip('*').strip()
                     for ln in m.group(1).splitlines())
    words = ' '.join(words.split())
    words = re.sub(r'^\S*fuzz_\w+\.c\s*-\s*', '', words)
    words = re.sub(r'^libFuzzer target(:| for)\s*', '', words)
    first = re.split(r'\.(?:\s|$)', words, maxsplit=1)[0]
    if len(first) > 160 and ': ' in first:
        first = first.split(': ', 1)[0]
    return first or '?'


def step_fuzz(r, env):
    secs = r.args.fuzz_secs
    srcs = sorted(glob.glob(os.path.join(ROOT, 'tests', 'fuzz', 'fuzz_*.c')))
    built = {os.path.basename(b): b
             for b in suite.binaries(r.fuzz_build, 'fuzz', 'fuzz_')}
    names = sorted(set(built) | {os.path.splitext(os.path.basename(s))[0]
                                 for s in srcs})
    for base in names:
        src = os.path.join(ROOT, 'tests', 'fuzz', base + '.c')
        row = {'target': base, 'parses': fuzz_purpose(src), 'secs': secs}
        r.fuzz.append(row)
        if base not in built:
            row['error'] = 'not built'
            r.fail('fuzz/%s: not built in %s' % (base, r.fuzz_build))
            continue
        log('=== fuzz/%s (%d s)' % (base, secs))
        seed = os.path.join(ROOT, 'tests', 'fuzz', 'corpus',
                            base[len('fuzz_'):])
        with tempfile.TemporaryDirectory(prefix='sg-rel-fuzz-') as tmp:
            corpus = os.path.join(tmp, 'corpus')
            # A copy: libFuzzer adds to its corpus, the tree stays as
            # committed.
            if os.path.isdir(seed):
                shutil.copytree(seed, corpus)
            else:
                os.mkdir(corpus)
            row['seed_files'] = len(os.listdir(corpus))
            argv = [built[base], '-max_total_time=%d' % secs,
                    '-rss_limit_mb=2048', '-print_final_stats=1',
                    '-artifact_prefix=' + tmp + '/', corpus]
            t0 = time.monotonic()
            try:
                p = subprocess.run(argv, cwd=tmp, env=env,
                                   timeout=secs + 600,
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)
                rc, out = p.returncode, p.stdout
            except subprocess.TimeoutExpired as e:
                rc, out = None, e.stdout or b''
            row['wall'] = time.monotonic() - t0
            text = out.decode('utf-8', 'replace')
            with open(os.path.join(r.work, '%s.log' % base), 'w') as f:
                f.write(text)
            stats = {}
            for ln in text.splitlines():
                m = FUZZ_STAT.match(ln)
                if m:
                    stats[m.group(1)] = int(m.group(2))
                m = FUZZ_DONE.match(ln)
                if m:
                    row['done_runs'] = int(m.group(1))
                    row['done_secs'] = int(m.group(2))
            row['execs'] = stats.get('number_of_executed_units',
                                     row.get('done_runs'))
            row['exec_per_sec'] = stats.get('average_exec_per_sec')
            row['new_units'] = stats.get('new_units_added')
            row['peak_rss_mb'] = stats.get('peak_rss_mb')
            row['corpus_files'] = len(os.listdir(corpus))
            arts = []
            for kind in ('crash', 'leak', 'timeout', 'oom'):
                arts += glob.glob(os.path.join(tmp, kind + '-*'))
            row['crashes'] = len(arts)
            row['exit'] = rc
            for a in arts:
                keep = os.path.join(r.fuzz_build, os.path.basename(a))
                shutil.copy(a, keep)
                row.setdefault('kept', []).append(
                    os.path.relpath(keep, ROOT))
            if rc != 0 or 'done_runs' not in row:
                row['error'] = 'exit %s' % rc
                r.fail('fuzz/%s: exit %s, %d artifacts %s' % (
                    base, rc, len(arts), ' '.join(row.get('kept', []))))
            log('    %s executions, %s exec/s, corpus %d -> %d, %d crashes'
                % (row['execs'], row['exec_per_sec'], row['seed_files'],
                   row['corpus_files'], row['crashes']))


# --- the report ---------------------------------------------------------

def n(v):
    """A count with thousands separators; '—' when absent."""
    if v is None:
        return '—'
    if isinstance(v, bool):
        return 'yes' if v else 'no'
    if isinstance(v, int):
        return '{:,}'.format(v)
    if isinstance(v, float):
        return '{:,.1f}'.format(v)
    return str(v)


def esc(s):
    return str(s).replace('|', '\\|').replace('\n', ' ')


def table(head, rows):
    out = ['| ' + ' | '.join(head) + ' |',
           '|' + '|'.join('---' for _ in head) + '|']
    for row in rows:
        out.append('| ' + ' | '.join(esc(c) for c in row) + ' |')
    return out


STORE_CHECK = re.compile(r'^(\d+) records .*?(\d+) replay keys.*: (\d+) '
                         r'problems$')


def store_check(case):
    """The store check's summary line, shortened."""
    line = case.get('store_check')
    if line is None:
        return '—'
    m = STORE_CHECK.match(line)
    if not m:
        return line
    return '%s problems (%s records, %s replay keys)' % (
        m.group(3), m.group(1), m.group(2))


def checks_of(case):
    cs = case.get('checks', [])
    ok = sum(1 for c in cs if c['passed'])
    return '%d/%d' % (ok, len(cs))


def figures_of(r, test, mode):
    for s in r.system:
        if s['test'] == test and s['mode'] == mode:
            return s
    return None


def section_crash(r, modes):
    out = ['## Crash safety: `tests/system/test_crash.py`', '']
    first = True
    for mode in modes:
        s = figures_of(r, 'test_crash', mode)
        if s is None:
            continue
        f = s['figures'] or {}
        cases = [c for c in f.get('cases', []) if 'killed' in c]
        if first and cases:
            c0 = cases[0]
            out += [
                'Injected: `SIGKILL` of one process of `stirgate run` at '
                'random moments (a seeded RNG), %s times per process, while '
                'two senders keep a stream going (%s), each message '
                'retried with the same idempotency id / Call-ID until '
                'answered; next hops (a webhook and a SIP UAS) answer after '
                '%s s so that kills land mid-send.  After the kills the '
                'stream stops, the queue drains, the gateway stops and '
                '`stirgate-store --check` reads the store.' % (
                    c0.get('kills_planned'), ' and '.join(
                        c0.get('senders', [])), c0.get('next_hop_delay_s')),
                '',
                'Counted: **sent** messages (distinct bodies), **tries** '
                '(HTTP requests and SIP transactions, retries included: a '
                'try that met a stopped ingest failed to connect or timed '
                'out), '
                '**acked** (answered 202; "on retry" = a retry answered '
                '200/409 as the duplicate of an accepted first try), '
                '**delivered** (distinct bodies that reached a next hop), '
                '**lost** (acked, not delivered and not in the store), '
                '**duplicated** (delivered more than once; "same key" when '
                'every copy carried the same Idempotency-Key / Call-ID, '
                'which is the designed at-least-once case), the kills done, '
                'and the store check\'s summary line.', '']
            first = False
        out += ['### %s build: %s (seed %s)' % (
            mode, result_word(s), f.get('seed', '?')), '']
        rows = []
        tot = {}
        for c in cases:
            acc = c.get('accepted_by', {})
            a202 = acc.get('202', 0) + acc.get('sip-202', 0)
            retry = acc.get('200', 0) + acc.get('409', 0)
            vals = {'sent': c.get('sent'), 'tries': c.get('attempts'),
                    'a202': a202 if 'sent' in c
                    else None, 'retry': retry if 'sent' in c else None,
                    'never': c.get('never_accepted'),
                    'delivered': c.get('delivered'),
                    'lost': c.get('lost'), 'still': c.get('still_queued'),
                    'same': c.get('duplicates_same_key'),
                    'other': c.get('duplicates_other_key'),
                    'kills': c.get('kills_done')}
            for k, v in vals.items():
                if isinstance(v, int):
                    tot[k] = tot.get(k, 0) + v
            rows.append([c['killed'], n(vals['kills']), n(vals['sent']),
                         n(vals['tries']),
                         n(vals['a202']), n(vals['retry']), n(vals['never']),
                         n(vals['delivered']), n(vals['lost']),
                         n(vals['still']), n(vals['same']), n(vals['other']),
                         store_check(c), checks_of(c),
                         n(c.get('seconds'))])
        if rows:
            rows.append(['**total**', n(tot.get('kills')), n(tot.get('sent')),
                         n(tot.get('tries')),
                         n(tot.get('a202')), n(tot.get('retry')),
                         n(tot.get('never')), n(tot.get('delivered')),
                         n(tot.get('lost')), n(tot.get('still')),
                         n(tot.get('same')), n(tot.get('other')), '', '', ''])
        out += table(['process killed', 'kills', 'sent', 'tries',
                      'acked (202)',
                      'acked on retry', 'never acked', 'delivered', 'lost',
                      'still queued', 'dup. same key', 'dup. other key',
                      'store check', 'checks', 's'], rows)
        for c in f.get('cases', []):
            if c['case'] == 'checker':
                out += ['', 'The store checker\'s own test: a fresh store '
                        'checks with exit %s; after %s (%s copies), exit %s, '
                        'damage reported: %s (checks %s).' % (
                            c.get('fresh_store_check_exit', '—'),
                            c.get('injected', '—'),
                            n(c.get('records_damaged')),
                            c.get('damaged_store_check_exit', '—'),
                            n(c.get('damage_reported')), checks_of(c))]
        out += failed_checks(s)
        out.append('')
    return out


FAULT_SKIP = {'fault', 'injected', 'sent', 'acked', 'delivered', 'lost',
              'duplicated'}
FAULT_WORDS = {
    'answer': 'answer', 'reason': 'reason', 'verstat': 'verstat',
    'seconds': 'answered in (s)', 'cached_chain_answer':
    'cached-chain message answered', 'cached_chain_verstat':
    'cached-chain verstat', 'failed_attempts_seen': 'attempts while failing',
    'last_error': 'last error', 'state_while_failing': 'state while failing',
    'attempts': 'attempts in all', 'resets_done': 'resets done',
    'refused_with': 'refused with', 'retry_after': 'Retry-After',
    'intact_while_full': 'intact while full', 'sent_after':
    'sent after recovery', 'accepted_after_space_freed':
    'accepted after recovery', 'store_restarted': 'store restarted',
    'delivered_verstat': 'delivered verstat', 'delivered_reason':
    'delivered reason', 'retry_after_s': 'retry came after (s)',
    'sends_after_step': 'sends after the step', 'state_after_step':
    'state after the step', 'resigned_after_s': 'resign_iat - iat (s)'}


def observed(f):
    parts = []
    for k, v in f.items():
        if k in FAULT_SKIP or v is None:
            continue
        parts.append('%s %s' % (FAULT_WORDS.get(k, k), n(v)))
    return '; '.join(parts) or '—'


def section_faults(r, modes):
    out = ['## Faults: `tests/system/test_faults.py`', '',
           'One gateway (`stirgate run`) per case, facing the fault; '
           'messages sent, acked (202), delivered, lost and duplicated '
           'where the case has them, otherwise the answer, reason or '
           'timing observed.  The store check and the log scan run after '
           'each case.', '']
    for mode in modes:
        s = figures_of(r, 'test_faults', mode)
        if s is None:
            continue
        f = s['figures'] or {}
        out += ['### %s build: %s' % (mode, result_word(s)), '']
        rows = []
        notes = []
        for c in f.get('cases', []):
            if c.get('skipped'):
                notes.append('- %s: **skipped**: %s' % (c['case'],
                                                         c['skipped']))
            for x in c.get('faults', []):
                rows.append([c['case'], x['fault'], x['injected'],
                             n(x.get('sent')), n(x.get('acked')),
                             n(x.get('delivered')), n(x.get('lost')),
                             n(x.get('duplicated')), observed(x)])
            notes.append('- %s: checks %s, store check: %s, sanitizer '
                         'report lines: %s, %s s' % (
                             c['case'], checks_of(c), store_check(c),
                             n(c.get('sanitizer_lines')),
                             n(c.get('seconds'))))
        out += table(['case', 'fault', 'injected', 'sent', 'acked',
                      'delivered', 'lost', 'dup.', 'observed'], rows)
        out += [''] + notes + failed_checks(s) + ['']
    return out


def section_hostile(r, modes):
    out = ['## Hostile input: `tests/system/test_hostile.py`', '']
    runs = [(m, figures_of(r, 'test_hostile', m)) for m in modes]
    runs = [(m, s) for m, s in runs if s is not None]
    if not runs:
        return []
    f0 = runs[0][1]['figures'] or {}
    lim = f0.get('limits', {})
    if lim:
        out += ['The store, one ingest and one deliver worker (route: a SIP '
                'UAS over TCP that records the bytes delivered); every '
                'limit set small and tested at its value and just above it: '
                + ', '.join('`%s` %s' % (k, n(v)) for k, v in lim.items()) +
                '.  After each category a normal SIP and API request from '
                'another client must still get 202.', '']
    head = ['category', 'what was sent'] + ['%s: passed/checks' % m
                                            for m, _ in runs]
    cats = []
    by = {}
    for m, s in runs:
        for c in (s['figures'] or {}).get('cases', []):
            if c['case'] not in by:
                cats.append((c['case'], c.get('injected', '')))
                by[c['case']] = {}
            by[c['case']][m] = c
    rows = []
    totals = {m: [0, 0] for m, _ in runs}
    for name, inj in cats:
        row = [name, inj]
        for m, _ in runs:
            c = by[name].get(m)
            row.append(checks_of(c) if c else '—')
            if c:
                totals[m][0] += sum(1 for x in c['checks'] if x['passed'])
                totals[m][1] += len(c['checks'])
        rows.append(row)
    rows.append(['**total**', ''] + ['%d/%d' % tuple(totals[m])
                                     for m, _ in runs])
    out += ['Checks by category:', ''] + table(head, rows) + ['']
    # Every check, as the test names it.
    names = []
    res = {}
    for m, s in runs:
        for c in (s['figures'] or {}).get('cases', []):
            for x in c['checks']:
                key = (c['case'], x['name'])
                if key not in res:
                    names.append(key)
                    res[key] = {}
                res[key][m] = 'pass' if x['passed'] else '**FAIL**'
    rows = [[cat, nm] + [res[(cat, nm)].get(m, '—') for m, _ in runs]
            for cat, nm in names]
    out += ['<details><summary>Every check (%d)</summary>' % len(names), '']
    out += table(['category', 'check'] + [m for m, _ in runs], rows)
    out += ['', '</details>', '']
    for m, s in runs:
        out += failed_checks(s)
    return out


def section_fuzz(r):
    if not r.fuzz:
        return []
    out = ['## Fuzzing: `tests/fuzz/`', '']
    sample = next((row for row in r.fuzz if 'exit' in row), None)
    sans = sanitizers_in(os.path.join(
        r.fuzz_build, 'tests', 'fuzz', sample['target'])) if sample else []
    out += ['Every libFuzzer target of `build/fuzz/` (clang%s) for %d s on '
            'a copy of its seed corpus `tests/fuzz/corpus/<name>/` '
            '(`-rss_limit_mb=2048`; libFuzzer stops at the first crash, '
            'leak, timeout or OOM and its reproducer is kept in '
            '`build/fuzz/`).  Executions and exec/s are libFuzzer\'s own '
            'final stats; corpus = files before → after.' % (
                ', ' + ' + '.join(sans) if sans else '', r.args.fuzz_secs),
            '']
    rows = []
    tot = 0
    for row in r.fuzz:
        if 'error' in row and 'exit' not in row:
            rows.append([row['target'], row['parses'], n(row['secs']),
                         '—', '—', '—', '—', row['error']])
            continue
        tot += row.get('execs') or 0
        rows.append([row['target'], row['parses'], n(row['secs']),
                     n(row.get('execs')), n(row.get('exec_per_sec')),
                     '%s → %s' % (n(row.get('seed_files')),
                                  n(row.get('corpus_files'))),
                     n(row.get('peak_rss_mb')),
                     n(row.get('crashes')) + (
                         ' (%s; %s)' % (row.get('error'), ', '.join(
                             row.get('kept', []))) if row.get('error')
                         else '')])
    rows.append(['**total**', '', n(sum(row['secs'] for row in r.fuzz)),
                 n(tot), '', '', '', n(sum(row.get('crashes') or 0
                                           for row in r.fuzz))])
    out += table(['target', 'what it parses', 's', 'executions', 'exec/s',
                  'corpus', 'peak RSS MB', 'crashes'], rows) + ['']
    return out


def sanitizers_in(path):
    """The sanitizers linked into a binary, from its runtime's strings."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return []
    found = []
    for name, mark in (('libFuzzer', b'LLVMFuzzerTestOneInput'),
                       ('ASan', b'AddressSanitizer'),
                       ('UBSan', b'UndefinedBehaviorSanitizer')):
        if mark in data:
            found.append(name)
    return found


def section_sanitizers(r, modes):
    out = ['## Sanitizers and valgrind', '']
    if r.unit_asan:
        out += ['### ASan + UBSan: unit tests (`build/asan/tests/unit/`)',
                '', 'Run as tests/run.py runs them (`ASAN_OPTIONS=%s`, '
                '`UBSAN_OPTIONS=%s`); a sanitizer report fails the binary.'
                % (r.env.get('ASAN_OPTIONS'), r.env.get('UBSAN_OPTIONS')),
                '']
        rows = [[u['binary'], '%d passed, %d failed' % (u['passed'],
                                                        u['failed']),
                 n(u['sanitizer_lines']),
                 'clean' if not u['failed'] and not u['sanitizer_lines']
                 else '**FAILED** ' + u['why'], n(u['seconds'])]
                for u in r.unit_asan]
        out += table(['binary', 'unit checks', 'sanitizer report lines',
                      'result', 's'], rows) + ['']
    if 'asan' in modes:
        out += ['### ASan + UBSan: system tests (`build/asan/`)', '',
                'The three tests above against the asan build '
                '(`SG_BUILD=build/asan`, leak detection on); each scans the '
                'logs of every stage it started, after they exit, for '
                'sanitizer reports.', '']
        rows = []
        for s in r.system:
            if s['mode'] != 'asan':
                continue
            f = s['figures'] or {}
            san = sum(c.get('sanitizer_lines') or 0
                      for c in f.get('cases', []))
            rows.append(['tests/system/%s.py' % s['test'], result_word(s),
                         n(san), n(s['seconds'])])
        out += table(['test', 'checks', 'sanitizer report lines in stage '
                      'logs', 's'], rows) + ['']
    if r.valgrind:
        argv = ['--suppressions=' + os.path.relpath(a.split('=', 1)[1], ROOT)
                if a.startswith('--suppressions=') else a
                for a in suite.VALGRIND]
        out += ['### valgrind memcheck: unit tests (`build/debug/tests/'
                'unit/`)', '', '`%s BINARY` (definite and indirect leaks '
                'are errors).' % ' '.join(argv), '']
        rows = []
        for v in r.valgrind:
            lost = v['lost']
            rows.append([v['binary'], '%s passed, %s failed' % (
                n(v['passed']), n(v['failed'])), n(v['errors']),
                '%s B / %s B / %s B' % (n(lost['definitely'][0]),
                                        n(lost['indirectly'][0]),
                                        n(lost['possibly'][0])),
                'clean' if v['ok'] else '**FAILED** (exit %s)' % v['exit'],
                n(v['seconds'])])
        out += table(['binary', 'unit checks', 'memcheck errors',
                      'definitely / indirectly / possibly lost', 'result',
                      's'], rows) + ['']
    if len(out) == 2:
        out += ['Not run (`--quick`).', '']
    return out


def result_word(s):
    if s['failed']:
        return '**%d passed, %d FAILED**%s' % (
            s['passed'], s['failed'], ' (%s)' % s['why'] if s['why'] else '')
    return '%d passed, 0 failed' % s['passed']


def failed_checks(s):
    if not s['fails'] and not s['why']:
        return []
    out = ['', 'Failed in this run (`%s`):' % s['log'], '']
    for f in s['fails']:
        out.append('- `%s`' % f)
    if s['why']:
        out.append('- %s' % s['why'])
    return out


def write_report(r, modes, mach, started, ended, command, load0, load1):
    out = ['# Reliability report', '',
           'Generated by `%s` — do not edit; run it again to regenerate '
           '(README "Tests").  Every figure below comes from that run.'
           % command, '']
    if r.failures:
        out += ['**Result: %d failure(s)**:' % len(r.failures), '']
        out += ['- %s' % esc(f) for f in r.failures] + ['']
    else:
        out += ['**Result: everything passed.**', '']
    if r.args.quick:
        out += ['This is a `--quick` run: debug build only, no asan runs, '
                'no valgrind, fuzz %d s per target.' % r.args.fuzz_secs, '']
    dur = ended - started
    commit = mach['commit'] or '?'
    tree = ('clean tree' if not mach['dirty'] else
            'tree modified: ' + ', '.join(mach['dirty']))
    subject = mach['subject']
    if len(subject) > 72:
        subject = subject[:71] + '…'
    end = ended.strftime('%H:%M' if ended.date() == started.date()
                         else '%Y-%m-%d %H:%M')
    out += ['## Run', ''] + table(['what', 'value'], [
        ['command', '`%s`' % command],
        ['date (UTC)', '%s → %s (%d min)' % (
            started.strftime('%Y-%m-%d %H:%M'), end,
            round(dur.total_seconds() / 60))],
        ['commit', '`%s` "%s" (%s)' % (commit, subject, tree)],
        ['machine', '%s cores, %s; %s RAM' % (mach['cores'], mach['cpu'],
                                            mach['memory'])],
        ['kernel, OS', 'Linux %s, %s' % (mach['kernel'], mach['os'])],
        ['load average (1/5/15 min) at start, end', '%s; %s' % (load0,
                                                              load1)],
        ['tools', '; '.join(r.tools)],
        ['builds', '; '.join('`%s` %s (%.0f s)' % (
            b['command'], 'ok' if b['ok'] else '**FAILED**', b['seconds'])
            for b in r.builds) or '—'],
        ['raw logs and JSON', '`build/reliability/` (not committed)'],
    ]) + ['']
    rows = []
    for s in r.system:
        rows.append(['tests/system/%s.py' % s['test'], s['mode'],
                     result_word(s), n(s['seconds'])])
    if r.unit_asan:
        p = sum(u['passed'] for u in r.unit_asan)
        f = sum(u['failed'] for u in r.unit_asan)
        rows.append(['unit tests (%d binaries)' % len(r.unit_asan), 'asan',
                     '%d passed, %d failed' % (p, f),
                     n(sum(u['seconds'] for u in r.unit_asan))])
    if r.valgrind:
        bad = sum(1 for v in r.valgrind if not v['ok'])
        rows.append(['valgrind memcheck, unit tests (%d binaries)'
                     % len(r.valgrind), 'debug',
                     '%d clean, %d failed; %d errors' % (
                         len(r.valgrind) - bad, bad,
                         sum(v['errors'] for v in r.valgrind)),
                     n(sum(v['seconds'] for v in r.valgrind))])
    if r.fuzz:
        bad = sum(1 for row in r.fuzz if row.get('error'))
        rows.append(['libFuzzer targets (%d)' % len(r.fuzz), 'fuzz',
                     '%d clean, %d failed; %s executions' % (
                         len(r.fuzz) - bad, bad, n(sum(
                             row.get('execs') or 0 for row in r.fuzz))),
                     n(sum(row.get('wall', 0) for row in r.fuzz))])
    out += ['## Summary', ''] + table(['what', 'build', 'result', 's'],
                                      rows) + ['']
    out += section_crash(r, modes)
    out += section_faults(r, modes)
    out += section_hostile(r, modes)
    out += section_fuzz(r)
    out += section_sanitizers(r, modes)
    os.makedirs(os.path.dirname(os.path.abspath(r.output)), exist_ok=True)
    with open(r.output, 'w') as f:
        f.write('\n'.join(out).rstrip('\n') + '\n')


def main():
    ap = argparse.ArgumentParser(
        description='run the reliability tests and write RELIABILITY.md')
    ap.add_argument('--fuzz-secs', type=int, metavar='N',
                    help='seconds per fuzz target (default 60; 5 with '
                    '--quick)')
    ap.add_argument('--quick', action='store_true',
                    help='debug build only, no valgrind, short fuzzing; '
                    'the report goes to build/reliability/'
                    'RELIABILITY-quick.md')
    ap.add_argument('--output', metavar='FILE',
                    help='where the report goes (default RELIABILITY.md)')
    args = ap.parse_args()
    if args.fuzz_secs is None:
        args.fuzz_secs = 5 if args.quick else 60
    if args.fuzz_secs < 1:
        ap.error('--fuzz-secs must be at least 1')
    command = shlex.join(['python3', os.path.relpath(
        os.path.abspath(sys.argv[0]), os.getcwd())] + sys.argv[1:])

    r = Run(args)
    r.work = os.path.join(ROOT, 'build', 'reliability')
    os.makedirs(r.work, exist_ok=True)
    r.output = os.path.abspath(args.output or os.path.join(
        r.work if args.quick else ROOT,
        'RELIABILITY-quick.md' if args.quick else 'RELIABILITY.md'))
    r.build = os.path.join(ROOT, 'build', 'debug')
    r.asan_build = os.path.join(ROOT, 'build', 'asan')
    r.fuzz_build = os.path.join(ROOT, 'build', 'fuzz')
    modes = ['debug'] if args.quick else ['debug', 'asan']

    started = datetime.datetime.now(datetime.timezone.utc)
    load0 = loadavg()
    mach = machine(r.output)
    r.tools = [tool_version(['cc', '--version']),
               tool_version(['clang', '--version']),
               tool_version(['valgrind', '--version']),
               'Python ' + platform.python_version()]

    step_builds(r, modes + ['fuzz'])
    r.env = suite.suite_env(r.build)
    ok = {b['mode'] for b in r.builds if b['ok']}
    if 'debug' in ok:
        step_system(r, 'debug', r.env)
    if 'asan' in ok:
        step_system(r, 'asan', suite.asan_env(r.env, r.asan_build))
        step_unit_asan(r, r.env)
    if 'debug' in ok and not args.quick:
        step_valgrind(r, r.env)
    if 'fuzz' in ok:
        step_fuzz(r, r.env)

    ended = datetime.datetime.now(datetime.timezone.utc)
    write_report(r, modes, mach, started, ended, command, load0, loadavg())
    log('--- %s written' % os.path.relpath(r.output, os.getcwd()))
    if r.failures:
        log('--- failures:')
        for f in r.failures:
            log('  ' + f)
    return 1 if r.failures else 0


if __name__ == '__main__':
    sys.exit(main())
