#!/usr/bin/env python3
"""tests/cli/vectors.py - data-driven verification cases (tests/vectors/).

One JSON file per case; adding a case is adding a file.  The runner makes
the fixture PKIs once (build/<mode>/tests/fixtures/mkfixtures DIR NOW, NOW =
the current time), then for each file: makes a token, optionally mutates
it, runs `stirgate passport verify` and compares the verdict.  The file
format is described in tests/vectors/README.md.

A last case checks coverage: every reason of proto/proto_reason.c except
the ones tests/vectors/README.md lists as not reachable offline has at
least one case expecting it.
"""
import base64
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402

ROOT = clitest.ROOT
VDIR = os.path.join(ROOT, 'tests', 'vectors')
# Reasons the offline CLI cannot produce (see tests/vectors/README.md).
NOT_OFFLINE = {'no_identity', 'x5u_fetch_failed'}

T = clitest.Suite('vectors')
FX = {}


def b64u(s):
    if isinstance(s, str):
        s = s.encode('utf-8')
    return base64.urlsafe_b64encode(s).rstrip(b'=').decode('ascii')


def subst(s, now, iat):
    """{now}, {iat}, {now+N}, {now-N} in a template string."""
    s = s.replace('{iat}', str(iat))

    def rel(m):
        return str(now + int(m.group(1) or 0))
    return re.sub(r'\{now([+-]\d+)?\}', rel, s)


def fixture(name, f):
    p = os.path.join(FX['dir'], name, f)
    return p


def make_token(t, spec, now):
    """Run the "make" part of a case; returns (token, x5u, iat, body)."""
    mk = spec['make']
    if 'sign' in mk:
        s = mk['sign']
        iat = now + s.get('iat', 0)
        x5u = s.get('x5u', 'https://certs.example.net/vectors/chain.pem')
        args = ['passport', 'sign', '--key',
                fixture(s.get('key', 'good'), 'signer.key'),
                '--x5u', x5u, '--orig', s['orig'], '--dest', s['dest'],
                '--iat', iat]
        if 'default_cc' in s:
            args += ['--default-cc', s['default_cc']]
        body = s.get('body')
        if body is not None:
            args += ['--body-file', t.write('sign-body', body)]
        r = t.run(*args)
        t.require(r.code == 0, 'passport sign failed', r)
        return r.out.strip(), x5u, iat, body
    if 'jws' in mk:
        s = mk['jws']
        iat = now + s.get('iat', 0)
        header = subst(s['header'], now, iat)
        payload = subst(s['payload'], now, iat)
        r = t.run('passport', 'jws', '--key',
                  fixture(s.get('key', 'good'), 'signer.key'),
                  '--header', header, '--payload', payload)
        t.require(r.code == 0, 'passport jws failed', r)
        tok = r.out.strip()
        # The jws tool must encode exactly the given text.
        t.eq(tok.split('.')[0], b64u(header), 'jws header segment')
        t.eq(tok.split('.')[1], b64u(payload), 'jws payload segment')
        x5u = None
        try:
            x5u = json.loads(header).get('x5u')
        except (ValueError, AttributeError):
            pass
        return tok, x5u, iat, s.get('body')
    if 'token' in mk:
        return mk['token'], mk.get('x5u'), None, mk.get('body')
    raise ValueError('make: want sign, jws or token')


def mutate(token, ops, now, iat):
    for op in ops:
        segs = token.split('.')
        kind = op['op']
        if kind == 'replace_payload':
            segs[1] = b64u(subst(op['json'], now, iat))
        elif kind == 'replace_header':
            segs[0] = b64u(subst(op['json'], now, iat))
        elif kind == 'replace_segment':
            segs[op['index']] = op['text']
        elif kind == 'flip_signature':
            # Change the first character: all 6 bits of it are signature
            # bits, so the decoded R differs.
            c = segs[2][0]
            segs[2] = ('B' if c == 'A' else 'A') + segs[2][1:]
        elif kind == 'drop_segment':
            del segs[op['index']]
        elif kind == 'append':
            segs[-1] += op['text']
        else:
            raise ValueError('unknown mutation %r' % kind)
        token = '.'.join(segs)
    return token


def run_case(t, spec, name):
    now = FX['now']
    token, x5u, iat, body = make_token(t, spec, now)
    token = mutate(token, spec.get('mutate', []), now, iat)
    v = spec.get('verify', {})
    args = ['passport', 'verify']
    if 'identity' in spec:
        ident = spec['identity'].replace('{token}', token)
        ident = ident.replace('{x5u}', x5u or '')
        args += ['--identity', ident]
    else:
        args += ['--token', token]
    args += ['--trust', fixture(v.get('trust', 'good'), 'ca.pem')]
    if 'chain' in v and v['chain'] is None:
        pass  # no --chain: the x5u is fetched under the x5u policy
    elif 'chain_file' in v:
        args += ['--chain', fixture(*v['chain_file'])]
    elif 'chain_text' in v:
        args += ['--chain', t.write('chain.pem', v['chain_text'])]
    else:
        args += ['--chain', fixture(v.get('chain', 'good'), 'chain.pem')]
    if 'now_abs' in v:
        args += ['--now', v['now_abs']]
    else:
        args += ['--now', now + v.get('now', 0)]
    for key, opt in (('orig', '--orig'), ('dest', '--dest'),
                     ('max_age', '--max-age'),
                     ('max_future', '--max-future'),
                     ('default_cc', '--default-cc')):
        if key in v:
            args += [opt, v[key]]
    if 'crl' in v:
        args += ['--crl', fixture(v['crl'], 'crl.pem')]
    if 'spc_map' in v:
        args += ['--spc-map', fixture(v['spc_map'], 'spcmap.json')]
    vbody = v.get('body', body)
    if vbody is not None and vbody is not False:
        if spec.get('tamper_body'):
            b = bytearray(vbody.encode('utf-8'))
            b[0] ^= 0x20
            vbody = bytes(b)
        args += ['--body-file', t.write('verify-body', vbody)]
    r = t.run(*args)

    exp = spec['expect']
    want_exit = exp.get('exit', 0 if exp['reason'] == 'ok' else 1)
    t.eq(r.code, want_exit, 'exit code', r)
    t.require(r.code in (0, 1), 'no verdict', r)
    try:
        got = r.json()
    except ValueError:
        t.require(False, 'stdout is not JSON', r)
    t.eq(got.get('reason'), exp['reason'], 'reason',
         'detail: %r' % got.get('detail'))
    t.eq(got.get('valid'), exp['reason'] == 'ok', 'valid')
    for k, want in exp.get('fields', {}).items():
        if isinstance(want, str) and '{' in want:
            # "{iat}" and friends stand for numbers.
            want = int(subst(want, now, iat))
        t.eq(got.get(k), want, 'field %s' % k)
    if 'msgi' in exp:
        t.eq(got.get('msgi'), exp['msgi'], 'msgi')


def load_cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(VDIR, '*.json'))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            spec = json.load(f)
        cases.append((name, spec))
    return cases


def reasons_from_source():
    with open(os.path.join(ROOT, 'proto', 'proto_reason.c')) as f:
        src = f.read()
    return set(re.findall(r'\[REASON_[A-Z0-9_]+\]\s*=\s*\{\s*"([a-z0-9_]+)"',
                          src))


def main():
    T.setup()
    cases = load_cases()
    mk = os.path.join(T.build, 'tests', 'fixtures', 'mkfixtures')
    if not os.access(mk, os.X_OK):
        print('vectors: %s is missing: build with scons' % mk)
        print('0 passed, 1 failed')
        sys.exit(1)
    FX['dir'] = tempfile.mkdtemp(prefix='sg-fixtures-')
    FX['now'] = int(time.time())
    try:
        subprocess.run([mk, FX['dir'], str(FX['now'])], check=True)
        with open(os.path.join(FX['dir'], 'now.txt')) as f:
            FX['now'] = int(f.read())

        for name, spec in cases:
            def fn(t, spec=spec, name=name):
                run_case(t, spec, name)
            T.add(name, fn)

        def reason_coverage(t):
            known = reasons_from_source()
            t.require(len(known) >= 20, 'reason table not found',
                      sorted(known))
            covered = {s['expect']['reason'] for _, s in cases}
            t.eq(sorted(covered - known), [], 'cases expect unknown reasons')
            t.eq(sorted(known - NOT_OFFLINE - covered), [],
                 'reasons without a vector')
        T.add('reason_coverage', reason_coverage)
        T.main()
    finally:
        shutil.rmtree(FX['dir'], ignore_errors=True)


if __name__ == '__main__':
    main()
