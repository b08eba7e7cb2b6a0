#!/usr/bin/env python3
"""tests/cli/test_cli.py - command-line tests of stirgate.

Each test makes what it needs in a private temporary directory (a demo PKI
from `stirgate pki demo`), runs the real binary and checks exit codes,
stdout JSON and stderr messages.  Run by tests/run.py; alone:
    python3 tests/cli/test_cli.py [--build build/debug] [--only NAME]
"""
import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402

T = clitest.Suite('cli')
X5U = 'https://certs.example.net/test/chain.pem'
BODY = b'Hello, world!'
PKI_FILES = ['ca.pem', 'ca.key', 'intermediate.pem', 'intermediate.key',
             'signer.pem', 'signer.key', 'chain.pem']
KEYS = ['ca.key', 'intermediate.key', 'signer.key']
FIELDS = ['valid', 'reason', 'sip_code', 'verstat', 'ppt', 'orig', 'dest',
          'iat', 'x5u', 'msgi', 'detail']


def pki(t, *extra):
    d = t.path('pki')
    r = t.run('pki', 'demo', d, *extra)
    t.require(r.code == 0, 'pki demo failed', r)
    return d


def sign(t, d, orig='+12025550100', dest='+12025550199', body=BODY,
         iat=None, *extra):
    args = ['passport', 'sign', '--key', os.path.join(d, 'signer.key'),
            '--x5u', X5U, '--orig', orig, '--dest', dest]
    if body is not None:
        args += ['--body-file', t.write('body', body)]
    if iat is not None:
        args += ['--iat', iat]
    r = t.run(*(args + list(extra)))
    t.require(r.code == 0, 'passport sign failed', r)
    return r.out.strip()


def verify_args(t, d, token=None, identity=None):
    a = ['passport', 'verify']
    if token is not None:
        a += ['--token', token]
    if identity is not None:
        a += ['--identity', identity]
    return a + ['--trust', os.path.join(d, 'ca.pem'),
                '--chain', os.path.join(d, 'chain.pem')]


def usage_error(t, r, needle):
    """Exit 2, nothing on stdout, one stirgate: line naming the problem."""
    t.eq(r.code, 2, 'exit code', r)
    t.eq(r.out, '', 'stdout on a usage error', r)
    t.check(r.err.startswith('stirgate: '),
            'stderr starts with "stirgate: "', r)
    t.check(needle in r.err, 'stderr mentions %r' % needle, r)


# ---- sign / verify ---------------------------------------------------------

@T.test
def sign_verify_round_trip(t):
    d = pki(t)
    tok = sign(t, d)
    t.eq(len(tok.split('.')), 3, 'full form: three segments')
    r = t.run(*(verify_args(t, d, tok) + [
        '--body-file', t.write('b', BODY), '--orig', '+1 202 555 0100',
        '--dest', '12025550199']))
    t.eq(r.code, 0, 'exit', r)
    v = r.json()
    t.eq(v['valid'], True, 'valid')
    t.eq(v['reason'], 'ok', 'reason')
    t.eq(v['verstat'], 'TN-Validation-Passed', 'verstat')
    t.eq(v['msgi'], 'match', 'msgi')


@T.test
def verify_json_fields(t):
    d = pki(t)
    now = int(time.time())
    tok = sign(t, d, iat=now - 5)
    r = t.run(*(verify_args(t, d, tok) + ['--now', now]))
    t.eq(r.code, 0, 'exit', r)
    t.eq(r.out.count('\n'), 1, 'exactly one line on stdout', r)
    v = r.json()
    t.eq(list(v.keys()), FIELDS, 'members and their order')
    t.eq(v['sip_code'], None, 'sip_code of ok')
    t.eq(v['ppt'], 'msg', 'ppt')
    t.eq(v['orig'], '12025550100', 'orig as signed')
    t.eq(v['dest'], ['12025550199'], 'dest as signed')
    t.eq(v['iat'], now - 5, 'iat')
    t.eq(v['x5u'], X5U, 'x5u')
    t.eq(v['msgi'], 'unchecked', 'msgi without --body-file')


@T.test
def verify_invalid_exits_1(t):
    d = pki(t)
    tok = sign(t, d)
    r = t.run(*(verify_args(t, d, tok) + ['--orig', '+12025550101']))
    t.eq(r.code, 1, 'exit', r)
    v = r.json()
    t.eq(v['valid'], False, 'valid')
    t.eq(v['reason'], 'orig_mismatch', 'reason')
    t.eq(v['sip_code'], 438, 'sip_code')
    t.eq(v['verstat'], 'TN-Validation-Failed', 'verstat')


@T.test
def verify_unparsable_token_nulls(t):
    d = pki(t)
    r = t.run(*verify_args(t, d, 'not.a.token'))
    t.eq(r.code, 1, 'exit', r)
    v = r.json()
    t.eq(v['reason'], 'malformed_passport', 'reason')
    for k in ('ppt', 'orig', 'dest', 'iat', 'x5u'):
        t.eq(v[k], None, k + ' of an unparsed token')


@T.test
def identity_form(t):
    d = pki(t)
    tok = sign(t, d)
    ident = '%s;info=<%s>;ppt=msg' % (tok, X5U)
    r = t.run(*(verify_args(t, d, identity=ident) +
                ['--body-file', t.write('b', BODY)]))
    t.eq(r.code, 0, 'exit', r)
    t.eq(r.json()['reason'], 'ok', 'reason')
    ident = '%s;info=<https://other.example.net/c.pem>;ppt=msg' % tok
    r = t.run(*verify_args(t, d, identity=ident))
    t.eq(r.code, 1, 'exit', r)
    t.eq(r.json()['reason'], 'info_mismatch', 'reason with another info')


@T.test
def tampered_body(t):
    d = pki(t)
    tok = sign(t, d)
    r = t.run(*(verify_args(t, d, tok) +
                ['--body-file', t.write('b', b'Hello, world?')]))
    t.eq(r.code, 1, 'exit', r)
    t.eq(r.json()['reason'], 'msgi_mismatch', 'reason')
    t.eq(r.json()['msgi'], 'mismatch', 'msgi')


@T.test
def sign_iat_and_default_now(t):
    d = pki(t)
    before = int(time.time())
    tok = sign(t, d)
    after = int(time.time())
    r = t.run(*verify_args(t, d, tok))
    iat = r.json()['iat']
    t.check(before <= iat <= after, 'default iat is now: %r not in [%d, %d]'
            % (iat, before, after))
    tok = sign(t, d, iat=1700000000)
    r = t.run(*(verify_args(t, d, tok) + ['--now', 1700000000]))
    t.eq(r.json()['iat'], 1700000000, '--iat')


@T.test
def sign_multi_dest_sorted(t):
    d = pki(t)
    tok = sign(t, d, dest='+12025550199,+12025550150')
    r = t.run(*(verify_args(t, d, tok) + ['--dest', '+12025550150']))
    t.eq(r.code, 0, 'exit', r)
    t.eq(r.json()['dest'], ['12025550150', '12025550199'], 'dest sorted')


@T.test
def jws_exact_bytes(t):
    import base64
    d = pki(t)
    h = '{"typ":"passport", "alg":"ES256","x5u":"%s","ppt":"msg"}' % X5U
    p = '{"orig":{"tn":"12025550100"},"dest":{"tn":["12025550199"]},' \
        '"iat":%d}' % int(time.time())
    r = t.run('passport', 'jws', '--key', os.path.join(d, 'signer.key'),
              '--header', h, '--payload', p)
    t.require(r.code == 0, 'jws', r)
    segs = r.out.strip().split('.')

    def b64u(s):
        return base64.urlsafe_b64encode(s.encode()).rstrip(b'=').decode()
    t.eq(segs[0], b64u(h), 'header not re-serialized')
    t.eq(segs[1], b64u(p), 'payload not re-serialized')
    r = t.run(*verify_args(t, d, r.out.strip()))
    t.eq(r.json()['reason'], 'ok', 'a jws-made token verifies', r)


# ---- pki demo ---------------------------------------------------------------

@T.test
def pki_demo_files(t):
    d = pki(t)
    for f in PKI_FILES:
        t.check(os.path.isfile(os.path.join(d, f)), '%s written' % f)
    for f in KEYS:
        mode = stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode)
        t.eq(oct(mode), oct(0o600), '%s mode' % f)
    chain = open(os.path.join(d, 'chain.pem')).read()
    signer = open(os.path.join(d, 'signer.pem')).read()
    inter = open(os.path.join(d, 'intermediate.pem')).read()
    t.eq(chain, signer + inter, 'chain.pem = signer then intermediate')
    t.check('PRIVATE KEY' not in chain, 'no key in chain.pem')


@T.test
def pki_demo_chain_verifies(t):
    d = pki(t)
    tok = sign(t, d, orig='+12025559999')
    r = t.run(*verify_args(t, d, tok))
    t.eq(r.code, 0, 'range end verifies', r)
    tok = sign(t, d, orig='+12025560000')
    r = t.run(*verify_args(t, d, tok))
    t.eq(r.json()['reason'], 'tn_not_authorized', 'past the range', r)


@T.test
def pki_demo_tn_range(t):
    d = pki(t, '--tn-range', '14155550000,100')
    tok = sign(t, d, orig='+14155550099')
    t.eq(t.run(*verify_args(t, d, tok)).json()['reason'], 'ok', 'in range')
    tok = sign(t, d, orig='+12025550100')
    t.eq(t.run(*verify_args(t, d, tok)).json()['reason'],
         'tn_not_authorized', 'the default range is gone')


@T.test
def pki_demo_spc(t):
    d = pki(t, '--spc', '1234', '--tn-range', '14155550000,100')
    spcmap = t.write('map.json', '{"1234": [{"start": "13125550000", '
                     '"count": 10}]}')
    tok = sign(t, d, orig='+13125550005')
    r = t.run(*(verify_args(t, d, tok) + ['--spc-map', spcmap]))
    t.eq(r.json()['reason'], 'ok', 'TN mapped to the SPC', r)
    tok = sign(t, d, orig='+13125550015')
    r = t.run(*(verify_args(t, d, tok) + ['--spc-map', spcmap]))
    t.eq(r.json()['reason'], 'tn_not_authorized', 'TN outside the map', r)


@T.test
def pki_demo_bad_usage(t):
    usage_error(t, t.run('pki', 'demo'), 'missing DIR')
    usage_error(t, t.run('pki'), 'missing command')
    usage_error(t, t.run('pki', 'frob'), 'unknown command')
    usage_error(t, t.run('pki', 'demo', t.path('x'), '--tn-range', '12x,5'),
                '--tn-range')
    usage_error(t, t.run('pki', 'demo', t.path('x'), '--tn-range',
                         '99990,20'), '--tn-range')
    usage_error(t, t.run('pki', 'demo', t.path('x'), '--days', 'ten'),
                '--days: not a number')
    f = t.write('file', 'x')
    usage_error(t, t.run('pki', 'demo', f), 'not a directory')


# ---- demo, version, help -----------------------------------------------------

@T.test
def demo_exits_0(t):
    r = t.run('demo', timeout=120)
    t.eq(r.code, 0, 'exit', r)
    lines = [json.loads(ln) for ln in r.out.splitlines()
             if ln.startswith('{')]
    t.eq([v['reason'] for v in lines], ['ok', 'msgi_mismatch'], 'verdicts')
    t.eq(lines[0]['verstat'] if lines else None, 'TN-Validation-Passed',
         'verstat')


@T.test
def version_and_help(t):
    r = t.run('version')
    t.eq(r.code, 0, 'version exit', r)
    t.check(r.out.startswith('stirgate '), 'version line', r)
    r = t.run('help')
    t.eq(r.code, 0, 'help exit', r)
    for cmd in ('passport sign', 'passport verify', 'passport jws',
                'pki demo', 'stirgate demo', '--tn-range', '--spc-map',
                '--max-future', '--default-cc'):
        t.check(cmd in r.out, 'help mentions %r' % cmd)


# ---- bad usage: every path exits 2 with a message ----------------------------

@T.test
def no_args(t):
    usage_error(t, t.run(), 'missing command')


@T.test
def unknown_command(t):
    usage_error(t, t.run('frobnicate'), 'unknown command')
    usage_error(t, t.run('passport', 'frob'), 'unknown command')
    usage_error(t, t.run('passport'), 'missing command')


@T.test
def unknown_option(t):
    d = pki(t)
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') + ['--bogus', '1'])),
                'unknown option "--bogus"')
    usage_error(t, t.run('passport', 'sign', '-k', 'x'),
                'unknown option "-k"')


@T.test
def missing_value(t):
    d = pki(t)
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') + ['--now'])),
                '--now: missing value')


@T.test
def repeated_option(t):
    d = pki(t)
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--now', '1', '--now', '2'])), 'given twice')


@T.test
def missing_trust(t):
    d = pki(t)
    usage_error(t, t.run('passport', 'verify', '--token', 'a.b.c',
                         '--chain', os.path.join(d, 'chain.pem')),
                'missing --trust')


@T.test
def no_chain_fetches_under_policy(t):
    # Without --chain the x5u is fetched under the x5u policy; an http://
    # URL is refused before any request, so this stays offline.
    d = pki(t)
    r = t.run('passport', 'sign', '--key', os.path.join(d, 'signer.key'),
              '--x5u', 'http://certs.example.net/chain.pem', '--orig',
              '+12025550100', '--dest', '+12025550199')
    t.require(r.code == 0, 'sign', r)
    r = t.run('passport', 'verify', '--token', r.out.strip(), '--trust',
              os.path.join(d, 'ca.pem'))
    t.eq(r.code, 1, 'exit', r)
    t.eq(r.json()['reason'], 'x5u_policy', 'reason', r)


@T.test
def missing_file(t):
    d = pki(t)
    nofile = t.path('does-not-exist.pem')
    r = t.run('passport', 'verify', '--token', 'a.b.c', '--trust', nofile,
              '--chain', os.path.join(d, 'chain.pem'))
    usage_error(t, r, '--trust')
    t.check(nofile in r.err, 'names the file', r)
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--chain', nofile])), '--chain')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--body-file', nofile])), '--body-file')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') + ['--crl', nofile])),
                '--crl')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--spc-map', nofile])), '--spc-map')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--body-file', d])), 'is a directory')


@T.test
def bad_config_files(t):
    d = pki(t)
    junk = t.write('junk', 'not json, not pem\n')
    usage_error(t, t.run('passport', 'verify', '--token', 'a.b.c',
                         '--trust', junk, '--chain',
                         os.path.join(d, 'chain.pem')), '--trust')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') +
                           ['--spc-map', junk])), '--spc-map')
    usage_error(t, t.run(*(verify_args(t, d, 'a.b.c') + ['--crl', junk])),
                '--crl')


@T.test
def token_and_identity(t):
    d = pki(t)
    usage_error(t, t.run(*verify_args(t, d, 'a.b.c', 'a.b.c;info=<x>')),
                'only one of --token and --identity')
    usage_error(t, t.run(*verify_args(t, d)),
                'missing --token or --identity')


@T.test
def bad_numbers(t):
    d = pki(t)
    base = verify_args(t, d, 'a.b.c')
    r = t.run(*(base + ['--now', 'abc']))
    usage_error(t, r, '--now: not a number: "abc"')
    t.eq(r.err.strip(),
         'stirgate: passport verify: --now: not a number: "abc"',
         'the exact message form')
    for opt, val in (('--now', '12x'), ('--now', ''), ('--now', '+5'),
                     ('--max-age', '-1'), ('--max-future', '1e3'),
                     ('--now', '99999999999999999999')):
        usage_error(t, t.run(*(base + [opt, val])), opt)
    usage_error(t, t.run('passport', 'sign', '--key', 'k', '--x5u', X5U,
                         '--orig', '1', '--dest', '2', '--iat', 'soon'),
                '--iat: not a number')


@T.test
def bad_tn(t):
    d = pki(t)
    base = verify_args(t, d, 'a.b.c')
    usage_error(t, t.run(*(base + ['--orig', ''])), '--orig')
    usage_error(t, t.run(*(base + ['--orig', '+1234567890123456789'])),
                '--orig')
    usage_error(t, t.run(*(base + ['--dest', '+12025550199,,1'])), '--dest')
    usage_error(t, t.run(*(base + ['--default-cc', 'US'])), '--default-cc')
    usage_error(t, t.run('passport', 'sign', '--key',
                         os.path.join(d, 'signer.key'), '--x5u', X5U,
                         '--orig', 'hello world', '--dest', '+12025550199'),
                '--orig')


@T.test
def sign_bad_usage(t):
    d = pki(t)
    key = os.path.join(d, 'signer.key')
    usage_error(t, t.run('passport', 'sign', '--x5u', X5U, '--orig', '1',
                         '--dest', '2'), 'missing --key')
    usage_error(t, t.run('passport', 'sign', '--key', key, '--orig',
                         '+12025550100', '--dest', '+12025550199'),
                'missing --x5u')
    usage_error(t, t.run('passport', 'sign', '--key',
                         os.path.join(d, 'ca.pem'), '--x5u', X5U,
                         '--orig', '+12025550100', '--dest', '+12025550199'),
                '--key')
    # A key file others can read is refused (STYLE.md "Config").
    os.chmod(key, 0o644)
    usage_error(t, t.run('passport', 'sign', '--key', key, '--x5u', X5U,
                         '--orig', '+12025550100', '--dest', '+12025550199'),
                '--key')
    usage_error(t, t.run('passport', 'sign', '--key', key, '--x5u', X5U,
                         '--orig', '+12025550100', '--dest', '+12025550199',
                         'extra'), 'unexpected argument')


@T.test
def jws_bad_usage(t):
    d = pki(t)
    usage_error(t, t.run('passport', 'jws', '--key',
                         os.path.join(d, 'signer.key'), '--header', '{}'),
                'missing --payload')


if __name__ == '__main__':
    T.main()
