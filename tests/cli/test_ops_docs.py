#!/usr/bin/env python3
"""tests/cli/test_ops_docs.py - the operations documents agree with the code.

Starts nothing heavy (one `stirgate config check`, and `promtool` and
`systemd-analyze` when installed).  Checks:

  - ops/grafana/stirgate.json parses, is a Grafana dashboard on the
    ${DS_PROMETHEUS} data source, and every metric name in its PromQL is
    a family the C sources declare (the "stirgate_..." names in
    ingest/, store/, deliver/, verify/, cli/, lib/), histograms through
    their _bucket/_sum/_count series; it has a panel for each family the
    README's Runbook asks for;
  - when ops/capture/scrape.prom exists (written by
    ops/capture/capture.sh from a gateway under load), every family the
    dashboard uses appears in it, but for the few that exist only after
    their first event;
  - README's "Metrics and health" table lists exactly the declared
    families;
  - the alert rules in README's Runbook parse (`promtool check rules`)
    and use declared names only, and every alert the Runbook explains is
    there;
  - ops/systemd/stirgate.service runs `stirgate run -c` as the stirgate
    user, its State/RuntimeDirectory are the default node.data_dir and
    node.run_dir, it stops with SIGTERM to the master only and waits
    longer than the master's stop timeouts (cli/cli_run.c), and
    `systemd-analyze verify` has nothing to say about it;
  - the PNGs under docs/img are real PNGs under 300 KB, each shown in the
    README, and every image the README shows exists.

Run by tests/run.py; alone:
    python3 tests/cli/test_ops_docs.py [--build build/debug] [--only NAME]
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402

T = clitest.Suite('ops-docs')
ROOT = clitest.ROOT
DASHBOARD = os.path.join(ROOT, 'ops', 'grafana', 'stirgate.json')
UNIT = os.path.join(ROOT, 'ops', 'systemd', 'stirgate.service')
SCRAPE = os.path.join(ROOT, 'ops', 'capture', 'scrape.prom')
README = os.path.join(ROOT, 'README.md')
IMG = os.path.join(ROOT, 'docs', 'img')
SOURCE_DIRS = ('ingest', 'store', 'deliver', 'verify', 'cli', 'lib')
HIST_SUFFIXES = ('_bucket', '_sum', '_count')
# Labeled families that appear in a scrape only after their first event
# (sg_metrics_declare: "a labeled family appears once its first child is
# looked up"): a stage restart, a label past the cardinality cap.
AFTER_FIRST_EVENT = {'stirgate_master_restarts_total',
                     'stirgate_metrics_dropped_labels_total'}
# What the Runbook asks the dashboard to show.
DASHBOARD_NEEDS = [
    'stirgate_up', 'stirgate_ingest_received_total',
    'stirgate_ingest_accepted_total', 'stirgate_ingest_rejected_total',
    'stirgate_ingest_verifications_total',
    'stirgate_ingest_accept_duration_seconds',
    'stirgate_ingest_verify_duration_seconds',
    'stirgate_ingest_sign_duration_seconds', 'stirgate_store_messages',
    'stirgate_store_oldest_message_age_seconds',
    'stirgate_store_map_used_bytes', 'stirgate_store_map_size_bytes',
    'stirgate_store_commit_requests', 'stirgate_deliver_outcomes_total',
    'stirgate_deliver_delay_seconds', 'stirgate_deliver_route_down',
    'stirgate_x5u_cache_hits_total', 'stirgate_x5u_cache_misses_total',
    'stirgate_x5u_fetch_duration_seconds',
    'stirgate_x5u_fetch_failures_total', 'stirgate_x5u_crl_age_seconds',
]
# The alerts the Runbook explains, by name.
ALERTS = [
    'StirgateStageDown', 'StirgateNotReady', 'StirgateListenerDown',
    'StirgateStageRestarting', 'StirgateX5uFetchFailuresTransient',
    'StirgateX5uPolicyRefusals', 'StirgateStoreNearFull',
    'StirgateStoreQuarantine', 'StirgateRouteDown',
    'StirgateOldestMessageGrowing', 'StirgateDeliveryRetriesHigh',
    'StirgateDeliveryFailures', 'StirgateVerificationFailureRatio',
    'StirgateIngestPushback', 'StirgateCrlStale',
]

NAME = re.compile(r'\bstirgate_[a-z0-9_]+')


def declared():
    """Family names declared in the C sources (string literals)."""
    names = set()
    lit = re.compile(r'"(stirgate_[a-z0-9_]+)"')
    for d in SOURCE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if f.endswith('.c'):
                    with open(os.path.join(dirpath, f),
                              encoding='utf-8', errors='replace') as fh:
                        names.update(lit.findall(fh.read()))
    return names


def family(name, families):
    """The family a series name belongs to, or None."""
    if name in families:
        return name
    for s in HIST_SUFFIXES:
        if name.endswith(s) and name[:-len(s)] in families:
            return name[:-len(s)]
    return None


def dashboard_exprs(d):
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get('targets', []):
                out.append((p.get('title', '?'), t.get('expr', '')))
            walk(p.get('panels', []))
    walk(d.get('panels', []))
    return out


def readme():
    with open(README, encoding='utf-8') as f:
        return f.read()


def section(text, title):
    """The text of the '## title' section, up to the next '## '."""
    m = re.search(r'^## %s\s*$(.*?)(?=^## )' % re.escape(title), text,
                  re.M | re.S)
    return m.group(1) if m else None


def load_dashboard(t):
    t.require(os.path.exists(DASHBOARD), '%s exists' % DASHBOARD)
    with open(DASHBOARD, encoding='utf-8') as f:
        try:
            return json.load(f)
        except ValueError as e:
            t.require(False, 'dashboard parses as JSON: %s' % e)


@T.test
def dashboard_is_a_grafana_dashboard(t):
    d = load_dashboard(t)
    t.check(36 <= d.get('schemaVersion', 0) <= 41,
            'schemaVersion %r is about 38' % d.get('schemaVersion'))
    t.check(d.get('title') and d.get('uid'), 'title and uid')
    tvars = {v['name']: v for v in d['templating']['list']}
    t.check(tvars.get('DS_PROMETHEUS', {}).get('type') == 'datasource',
            'a datasource variable DS_PROMETHEUS')
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p.get('id'))
            g = p.get('gridPos', {})
            t.check(g.get('x', 0) + g.get('w', 0) <= 24,
                    'panel %r fits the 24-column grid' % p.get('title'))
            if p.get('type') != 'row':
                ds = p.get('datasource', {})
                t.eq(ds.get('uid'), '${DS_PROMETHEUS}',
                     'panel %r data source' % p.get('title'))
                t.check(p.get('targets'), 'panel %r has queries'
                        % p.get('title'))
                for tg in p.get('targets', []):
                    t.eq(tg.get('datasource', {}).get('uid'),
                         '${DS_PROMETHEUS}', 'query data source in %r'
                         % p.get('title'))
            walk(p.get('panels', []))
    walk(d['panels'])
    t.eq(len(ids), len(set(ids)), 'panel ids unique')


@T.test
def dashboard_metrics_are_declared(t):
    d = load_dashboard(t)
    fams = declared()
    t.require(len(fams) > 30, 'found the declared families (%d)'
              % len(fams))
    used = set()
    for title, expr in dashboard_exprs(d):
        for n in NAME.findall(expr):
            f = family(n, fams)
            t.check(f is not None, 'panel %r: %s is not declared in %s'
                    % (title, n, '/'.join(SOURCE_DIRS)))
            if f:
                used.add(f)
            if n.endswith('_bucket'):
                t.check('histogram_quantile' in expr,
                        'panel %r: %s outside histogram_quantile'
                        % (title, n))
    for n in DASHBOARD_NEEDS:
        t.check(n in used, 'the dashboard shows %s' % n)


@T.test
def dashboard_metrics_in_a_real_scrape(t):
    if not os.path.exists(SCRAPE):
        print('    (no %s: run ops/capture/capture.sh)' % SCRAPE)
        return
    with open(SCRAPE, encoding='utf-8') as f:
        text = f.read()
    scraped = set(re.findall(r'^# TYPE (stirgate_[a-z0-9_]+) ', text, re.M))
    t.require(scraped, 'the saved scrape has TYPE lines')
    d = load_dashboard(t)
    for title, expr in dashboard_exprs(d):
        for n in NAME.findall(expr):
            f = family(n, scraped)
            base = n
            for s in HIST_SUFFIXES:
                if n.endswith(s):
                    base = n[:-len(s)]
            t.check(f is not None or base in AFTER_FIRST_EVENT,
                    'panel %r: %s not in the saved scrape' % (title, n))


@T.test
def readme_metrics_table_matches_sources(t):
    sec = section(readme(), 'Metrics and health')
    t.require(sec is not None, 'README has "## Metrics and health"')
    listed = set()
    for line in sec.splitlines():
        if line.startswith('| `stirgate_'):
            listed.update(re.findall(r'`(stirgate_[a-z0-9_]+)`',
                                     line.split('|')[1]))
    fams = declared()
    for n in sorted(listed - fams):
        t.check(False, 'README lists %s, which no source declares' % n)
    for n in sorted(fams - listed):
        t.check(False, '%s is declared but not in the README table' % n)


def runbook_rules(t):
    sec = section(readme(), 'Runbook')
    t.require(sec is not None, 'README has "## Runbook"')
    m = re.search(r'^```yaml\n(groups:.*?)^```', sec, re.M | re.S)
    t.require(m is not None, 'the Runbook has a ```yaml block of rules')
    return m.group(1)


@T.test
def runbook_alert_rules(t):
    rules = runbook_rules(t)
    fams = declared()
    for n in sorted(set(NAME.findall(rules))):
        t.check(family(n, fams) is not None,
                'alert rules: %s is not declared' % n)
    names = re.findall(r'^\s*- alert: (\S+)', rules, re.M)
    for a in ALERTS:
        t.check(a in names, 'alert %s is in the rules' % a)
    t.eq(len(names), len(set(names)), 'alert names unique')
    sec = section(readme(), 'Runbook')
    for a in names:
        t.check(sec.count(a) >= 2, 'alert %s is explained in the Runbook '
                '(named outside the rules too)' % a)
    promtool = shutil.which('promtool')
    if promtool is None:
        print('    (promtool not installed: rules not parsed)')
        return
    p = t.write('rules.yml', rules)
    r = subprocess.run([promtool, 'check', 'rules', p],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    t.eq(r.returncode, 0, 'promtool check rules',
         r.stdout.decode('utf-8', 'replace'))


def unit_keys():
    keys = {}
    sect = None
    with open(UNIT, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            if line.startswith('['):
                sect = line.strip('[]')
                continue
            k, _, v = line.partition('=')
            keys.setdefault((sect, k), []).append(v)
    return keys


@T.test
def systemd_unit(t):
    t.require(os.path.exists(UNIT), '%s exists' % UNIT)
    k = unit_keys()

    def one(s, key):
        v = k.get((s, key))
        t.check(v is not None, '[%s] %s is set' % (s, key))
        return v[-1] if v else None
    t.eq(one('Service', 'ExecStart'),
         '/usr/local/bin/stirgate run -c /etc/stirgate/stirgate.json',
         'ExecStart')
    t.eq(one('Service', 'User'), 'stirgate', 'User')
    t.eq(one('Service', 'KillSignal'), 'SIGTERM', 'KillSignal')
    t.eq(one('Service', 'KillMode'), 'mixed',
         'KillMode (SIGTERM to the master only: it stops the stages '
         'in order)')
    t.eq(one('Service', 'Restart'), 'on-failure', 'Restart')
    t.eq(one('Service', 'NoNewPrivileges'), 'yes', 'NoNewPrivileges')
    t.eq(one('Service', 'ProtectSystem'), 'strict', 'ProtectSystem')
    t.eq(one('Service', 'PrivateTmp'), 'yes', 'PrivateTmp')
    t.eq(one('Service', 'CapabilityBoundingSet'), '',
         'CapabilityBoundingSet (none)')
    t.check(int(one('Service', 'LimitNOFILE') or 0) >= 4096, 'LimitNOFILE')
    # Longer than the master's worst stop: every phase (ingest, deliver,
    # sink, store) its stop timeout plus the wait after SIGKILL.
    with open(os.path.join(ROOT, 'cli', 'cli_run.c'),
              encoding='utf-8') as f:
        src = f.read()
    stop = re.search(r'#define S_STOP_MS (\d+)', src)
    kill = re.search(r'#define S_KILL_MS (\d+)', src)
    t.require(stop and kill, 'S_STOP_MS and S_KILL_MS in cli/cli_run.c')
    worst = 4 * (int(stop.group(1)) + int(kill.group(1))) / 1000.0
    tss = one('Service', 'TimeoutStopSec') or '0'
    t.check(float(tss.rstrip('s')) > worst,
            'TimeoutStopSec %s > %g s' % (tss, worst))
    # The directories systemd makes are the default data and run dirs.
    p = t.write('c.json', '{}')
    r = t.run('config', 'check', '-c', p)
    t.require(r.code == 0, 'config check of {}', r)
    node = r.json()['node']
    t.eq('/var/lib/' + (one('Service', 'StateDirectory') or ''),
         node['data_dir'], 'StateDirectory = node.data_dir')
    t.eq('/run/' + (one('Service', 'RuntimeDirectory') or ''),
         node['run_dir'], 'RuntimeDirectory = node.run_dir')
    sa = shutil.which('systemd-analyze')
    if sa is None:
        print('    (systemd-analyze not installed: unit not verified)')
        return
    # verify wants ExecStart to exist: point it at the build's binary.
    with open(UNIT, encoding='utf-8') as f:
        text = f.read().replace('/usr/local/bin/stirgate', T.stirgate)
    u = t.write('stirgate.service', text)
    r = subprocess.run([sa, 'verify', u], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    out = r.stdout.decode('utf-8', 'replace')
    about = [ln for ln in out.splitlines() if 'stirgate.service' in ln]
    t.check(r.returncode == 0 and not about,
            'systemd-analyze verify is silent about the unit', out)


@T.test
def images(t):
    text = readme()
    shown = set(re.findall(r'\]\((docs/img/[^)]+\.png)\)', text))
    t.require(os.path.isdir(IMG), '%s exists' % IMG)
    pngs = {'docs/img/' + f for f in os.listdir(IMG) if f.endswith('.png')}
    t.check(pngs, 'docs/img holds PNGs')
    for p in sorted(pngs - shown):
        t.check(False, '%s is not shown in the README' % p)
    for p in sorted(shown - pngs):
        t.check(False, 'the README shows %s, which does not exist' % p)
    for p in sorted(pngs):
        path = os.path.join(ROOT, p)
        with open(path, 'rb') as f:
            head = f.read(8)
        t.eq(head, b'\x89PNG\r\n\x1a\n', '%s is a PNG' % p)
        t.check(os.path.getsize(path) < 300 * 1024, '%s under 300 KB' % p)


@T.test
def capture_script_parses(t):
    for s in ('ops/capture/capture.sh',):
        r = subprocess.run(['bash', '-n', os.path.join(ROOT, s)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        t.eq(r.returncode, 0, 'bash -n %s' % s, r.stdout)
    path = os.path.join(ROOT, 'ops', 'capture', 'load.py')
    with open(path, encoding='utf-8') as f:
        try:
            compile(f.read(), path, 'exec')
        except SyntaxError as e:
            t.check(False, 'load.py compiles: %s' % e)


if __name__ == '__main__':
    T.main()
