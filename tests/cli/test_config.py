#!/usr/bin/env python3
"""tests/cli/test_config.py - `stirgate config check|reference` and the
config errors of `stirgate run`.

Good files print the effective config as JSON and exit 0; bad ones exit 2
with FILE:LINE:COL: KEY: what on stderr, the position checked exactly.
`config reference` must equal CONFIG.md (regenerate it with
`build/debug/cli/stirgate config reference > CONFIG.md`).  Run by
tests/run.py; alone:
    python3 tests/cli/test_config.py [--build build/debug] [--only NAME]
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402

T = clitest.Suite('config')
ROOT = clitest.ROOT
EXAMPLE = os.path.join(ROOT, 'config.example.json')
PREFIX = 'stirgate: config check: '


def check(t, text=None, path=None, *extra):
    if path is None:
        path = t.write('c.json', text)
    return t.run('config', 'check', '-c', path, *extra)


def refused(t, r, path, line, col, key, needle):
    """Exit 2, nothing on stdout, one error at FILE:LINE:COL: KEY."""
    t.eq(r.code, 2, 'exit code', r)
    t.eq(r.out, '', 'stdout', r)
    want = '%s%s:%d:%d: %s: ' % (PREFIX, path, line, col, key)
    t.check(r.err.startswith(want), 'stderr starts with %r' % want, r)
    t.check(needle in r.err, 'stderr mentions %r' % needle, r)
    t.eq(len(r.err.strip().splitlines()), 1, 'one line on stderr', r)


@T.test
def example_is_accepted(t):
    r = check(t, path=EXAMPLE)
    t.eq(r.code, 0, 'exit code', r)
    cfg = r.json()
    t.eq(cfg['node']['run_dir'], '/run/stirgate', 'node.run_dir')
    t.eq(cfg['sip']['tcp'][1], '[2001:db8::10]:5060', 'sip.tcp[1]')
    t.eq(cfg['verify']['max_age'], '1m', 'verify.max_age, largest unit')
    t.eq([p['name'] for p in cfg['peers']], ['acme-a2p', 'carrier-x'],
         'peers')
    t.eq(cfg['peers'][1]['on_fetch_failure'], 'defer', 'peer default')
    # Its key files live on the machine it is written for: warnings only.
    for line in r.err.strip().splitlines():
        t.check(line.startswith(PREFIX + 'warning: ') and
                'does not exist' in line, 'only warnings', r)
    t.check('sign.key: /etc/stirgate/stir/signer.key' in r.err,
            'warns about sign.key', r)


@T.test
def example_documents_every_key(t):
    """Every key of the reference appears in the example (JSON has no
    comments: the example shows each key, CONFIG.md explains it)."""
    r = t.run('config', 'reference')
    t.require(r.code == 0, 'config reference', r)
    keys = [ln.split('|')[1].strip() for ln in r.out.splitlines()
            if ln.startswith('| ') and not ln.startswith('| key ')]
    with open(EXAMPLE) as f:
        ex = json.load(f)

    def present(obj, parts):
        if not parts:
            return True
        head = parts[0]
        if head.endswith('[]'):
            items = obj.get(head[:-2], [])
            return any(present(i, parts[1:]) for i in items)
        return head in obj and present(obj[head], parts[1:])

    missing = [k for k in keys
               if not present(ex, k.replace('[].', '[]\0').replace('.', '\0')
                              .split('\0'))]
    t.eq(missing, [], 'keys of CONFIG.md absent from config.example.json')


@T.test
def example_strict_needs_the_files(t):
    with open(EXAMPLE) as f:
        lines = f.read().splitlines()
    at = [(i + 1, ln.index('"/etc') + 1) for i, ln in enumerate(lines)
          if '"key": "/etc/stirgate/stir/signer.key"' in ln]
    t.require(len(at) == 1, 'sign.key in the example', at)
    r = check(t, None, EXAMPLE, '--strict')
    t.eq(r.code, 2, 'exit code', r)
    t.check(r.err.startswith(PREFIX + EXAMPLE + ':%d:%d: sign.key: ' % at[0]),
            'first missing file at its position', r)


@T.test
def output_loads_back(t):
    r = check(t, path=EXAMPLE)
    t.require(r.code == 0, 'first check', r)
    again = check(t, r.out)
    t.eq(again.code, 0, 'exit code of the dump', again)
    t.eq(again.out, r.out, 'effective config of the effective config')


@T.test
def minimal_file_gets_defaults(t):
    r = check(t, '{}')
    t.eq(r.code, 0, 'exit code', r)
    t.eq(r.err, '', 'stderr', r)
    cfg = r.json()
    t.eq(cfg['store']['map_max'], '4GiB', 'store.map_max')
    t.eq(cfg['store']['batch'], 1024, 'store.batch')
    t.eq(cfg['delivery']['resign_after'], '30s', 'delivery.resign_after')
    t.eq(cfg['sip']['max_message'], '64KiB', 'sip.max_message')
    t.eq(cfg['sip']['accept_types'][:3],
         ['text/plain', 'message/cpim', 'multipart/mixed'],
         'sip.accept_types default')
    t.eq(cfg['x5u']['allow_loopback'], False, 'x5u.allow_loopback')
    t.check('http' in cfg and 'listen' not in cfg['http'],
            'unset optional strings left out', r)


@T.test
def embedded_default(t):
    env = dict(os.environ, STIRGATE_DATA=t.path('data'))
    p = subprocess.run([T.stirgate, 'config', 'check'], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = p.stdout.decode()
    t.eq(p.returncode, 0, 'exit code', p.stderr)
    cfg = json.loads(out)
    t.eq(cfg['node']['data_dir'], t.path('data'), 'node.data_dir')
    t.eq(cfg['sip']['udp'], ['127.0.0.1:5060'], 'sip.udp')
    t.eq(cfg['sip']['tcp'], ['127.0.0.1:5060'], 'sip.tcp')
    t.eq(cfg['http']['listen'], '127.0.0.1:8080', 'http.listen')
    t.eq(cfg['sign']['x5u'], 'https://127.0.0.1:8443/certs/chain.pem',
         'sign.x5u')
    t.eq(cfg['x5u']['allow_loopback'], True, 'x5u.allow_loopback')
    t.eq([(p['name'], p['kind'], p['sip']) for p in cfg['peers']],
         [('demo-customer', 'customer', ['127.0.0.1/32']),
          ('demo-interconnect', 'interconnect', ['127.0.0.2/32'])], 'peers')
    t.check('make' in p.stderr.decode() and 'first start' in
            p.stderr.decode(), 'notes the files made at first start',
            p.stderr)
    t.check(not os.path.exists(t.path('data')), 'check creates nothing')


@T.test
def unknown_key(t):
    text = '{\n  "node": {\n    "log_level": "info",\n    "bogus": 1\n  }\n}\n'
    path = t.write('c.json', text)
    refused(t, check(t, path=path), path, 4, 5, 'node.bogus', 'unknown key')


@T.test
def unknown_top_level_key(t):
    path = t.write('c.json', '{"sip": {}, "verfiy": {}}')
    refused(t, check(t, path=path), path, 1, 13, 'verfiy', 'unknown key')


@T.test
def bad_enum(t):
    text = '{\n "delivery": {"on_stale": "drop"}\n}\n'
    path = t.write('c.json', text)
    refused(t, check(t, path=path), path, 2, 27, 'delivery.on_stale',
            'one of "deliver_unverified", "reject"')


@T.test
def out_of_range(t):
    text = '{"verify": {\n  "max_age": "2d"}}'
    path = t.write('c.json', text)
    refused(t, check(t, path=path), path, 2, 14, 'verify.max_age',
            'a duration in 1s..1d')
    path = t.write('c2.json', '{"store": {"batch": 0}}')
    refused(t, check(t, path=path), path, 1, 21, 'store.batch',
            'an integer in 1..65536')


@T.test
def wrong_type(t):
    path = t.write('c.json', '{"x5u": {"allow_loopback": "true"}}')
    refused(t, check(t, path=path), path, 1, 28, 'x5u.allow_loopback',
            'true or false')


@T.test
def malformed_json(t):
    # jansson's position: the token after the stray comma.
    text = '{\n  "node": {\n    "log_level": "info",\n  }\n}\n'
    path = t.write('c.json', text)
    r = check(t, path=path)
    t.eq(r.code, 2, 'exit code', r)
    t.check(r.err.startswith(PREFIX + path + ':4:3: '),
            'jansson line:column', r)
    t.check("'}'" in r.err, "jansson's text", r)
    path = t.write('c2.json', '{"a": 1, "a": 2}')
    r = check(t, path=path)
    t.eq(r.code, 2, 'exit code (duplicate key)', r)
    t.check(r.err.startswith(PREFIX + path + ':1:') and 'duplicate' in r.err,
            'duplicate key refused with a position', r)


@T.test
def cross_key_rule(t):
    text = ('{"peers": [\n'
            '  {"name": "c", "kind": "customer", "sip": ["192.0.2.1"]}\n'
            ']}\n')
    path = t.write('c.json', text)
    refused(t, check(t, path=path), path, 2, 25, 'peers[0].kind',
            'needs sign.key and sign.x5u')
    text = '{"verify": {"replay_window": "30s"}}'
    path = t.write('c2.json', text)
    refused(t, check(t, path=path), path, 1, 30, 'verify.replay_window',
            'shorter than verify.max_age + verify.max_future')


@T.test
def secret_readable_by_others(t):
    tok = t.write('tok', 'x' * 32 + '\n', 0o644)
    trust = t.write('ca.pem', 'anchor\n', 0o644)
    text = ('{"verify": {"trust": "%s"},\n'
            ' "peers": [{"name": "i", "kind": "interconnect",\n'
            '            "api_token_file": "%s"}]}' % (trust, tok))
    path = t.write('c.json', text)
    refused(t, check(t, path=path), path, 3, 31, 'peers[0].api_token_file',
            'accessible by group or others')
    os.chmod(tok, 0o600)
    r = check(t, path=path)
    t.eq(r.code, 0, 'exit code once 0600', r)
    t.check('x' * 32 not in r.out, 'the token itself is never printed', r)


@T.test
def missing_file_warns_or_fails(t):
    text = '{"verify": {"trust": "%s"}}' % t.path('nope.pem')
    path = t.write('c.json', text)
    r = check(t, path=path)
    t.eq(r.code, 0, 'exit code', r)
    t.check(('warning: verify.trust: %s: does not exist'
             % t.path('nope.pem')) in r.err, 'warning', r)
    refused(t, check(t, None, path, '--strict'), path, 1, 22, 'verify.trust',
            'does not exist')


@T.test
def unreadable_file(t):
    r = t.run('config', 'check', '-c', t.path('absent.json'))
    t.eq(r.code, 2, 'exit code', r)
    t.check(r.err.startswith(PREFIX + t.path('absent.json') + ': open: '),
            'names the file and the call', r)


@T.test
def usage_errors(t):
    for args in (['config'], ['config', 'bogus'],
                 ['config', 'check', '-c'],
                 ['config', 'check', 'extra'],
                 ['config', 'check', '-c', EXAMPLE, '-c', EXAMPLE],
                 ['config', 'reference', 'extra'],
                 ['run', '--strict']):
        r = t.run(*args)
        t.eq(r.code, 2, 'exit code of %s' % ' '.join(args), r)
        t.check(r.err.startswith('stirgate: '), 'house-style message', r)


@T.test
def run_refuses_a_bad_config(t):
    text = '{\n  "sip": {"udp": ["127.0.0.1:5060"],\n     "tpc": []}\n}\n'
    path = t.write('c.json', text)
    r = t.run('run', '-c', path, timeout=30)
    t.eq(r.code, 2, 'exit code', r)
    t.check(('stirgate: run: %s:3:6: sip.tpc: unknown key' % path) in r.err,
            'position of the error', r)


@T.test
def reference_equals_config_md(t):
    r = t.run('config', 'reference')
    t.eq(r.code, 0, 'exit code', r)
    with open(os.path.join(ROOT, 'CONFIG.md')) as f:
        md = f.read()
    t.check(r.out == md, 'CONFIG.md is stale: regenerate it with '
            '"stirgate config reference > CONFIG.md"')
    t.check('| sip.max_message | size | 64KiB |' in r.out, 'a known row')


if __name__ == '__main__':
    T.main()
