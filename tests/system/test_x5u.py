#!/usr/bin/env python3
"""tests/system/test_x5u.py - x5u fetching, caching, CRL and the SSRF policy
against a real HTTPS repository on 127.0.0.1 (DESIGN.md 3.7, 3.8).

Runs the real binaries (`stirgate cert fetch`, `stirgate passport sign`,
`stirgate passport verify`) in a fresh temporary directory.  The PKI is the
product's own `stirgate pki demo`; the leaves with odd validity or CRL
Distribution Points and the CRL come from the openssl CLI (`openssl ca`),
signed by the demo intermediate; the repository's TLS certificate comes
from a separate test TLS CA handed over with --x5u-tls-ca.  The server
counts requests per path, so "answered from the cache" is proved by a
count that did not move.  No traffic ever leaves 127.0.0.1: the refusal
cases are refused before any connection (the URL policy, or the address
policy on the address curl is about to connect to).

Binaries from $SG_BUILD, else $STIRGATE_BUILD, else build/debug.  Prints
one line per case and ends with "N passed, N failed"; exit 1 on failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, 'x5u'))
import x5u_server  # noqa: E402
sys.path.insert(0, HERE)
import sgtest  # noqa: E402

BUILD = os.environ.get('SG_BUILD') or os.environ.get('STIRGATE_BUILD') or \
    os.path.join(ROOT, 'build', 'debug')
if '--build' in sys.argv:
    BUILD = sys.argv[sys.argv.index('--build') + 1]
STIRGATE = os.path.join(os.path.abspath(BUILD), 'cli', 'stirgate')

ORIG = '12025550001'
DEST = '12025551234'


def run(argv, check=True, timeout=60, cwd=None):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    # Under the asan build a report exits 1, which a case expecting exit 1
    # (an invalid verdict) would take: any report fails the case.
    san = sgtest.sanitizer_lines(p.stderr.decode('utf-8', 'replace'))
    if san:
        raise RuntimeError('%s: sanitizer report\n%s' % (
            ' '.join(argv), p.stderr.decode('utf-8', 'replace')[-4000:]))
    if check and p.returncode != 0:
        raise RuntimeError('%s: exit %d\n%s' % (' '.join(argv), p.returncode,
                                                 p.stderr.decode()))
    return p


def tlv(tag, content):
    assert len(content) < 128
    return bytes([tag, len(content)]) + content


def tnauth_range_der(start, count):
    n = count.to_bytes((count.bit_length() + 8) // 8, 'big')
    rng = tlv(0x30, tlv(0x16, start.encode()) + tlv(0x02, n))
    return tlv(0x30, tlv(0xA1, rng))


class Pki:
    """The demo PKI plus openssl-made leaves and a CRL."""

    def __init__(self, tmp, www, port):
        self.tmp = tmp
        self.pki = os.path.join(tmp, 'pki')
        self.www = www
        run([STIRGATE, 'pki', 'demo', self.pki])
        self.ca = os.path.join(self.pki, 'ca.pem')
        self.inter = os.path.join(self.pki, 'intermediate.pem')
        self.inter_key = os.path.join(self.pki, 'intermediate.key')
        self._openssl_ca(port)
        shutil.copy(os.path.join(self.pki, 'chain.pem'),
                    os.path.join(self.www, 'good.pem'))
        shutil.copy(os.path.join(self.pki, 'chain.pem'),
                    os.path.join(self.www, 'good.txt'))
        for i in range(4):
            shutil.copy(os.path.join(self.pki, 'chain.pem'),
                        os.path.join(self.www, 'good%d.pem' % i))
        shutil.copy(os.path.join(self.pki, 'signer.pem'),
                    os.path.join(self.www, 'nointer.pem'))

    def _openssl_ca(self, port):
        d = os.path.join(self.tmp, 'ossl')
        os.makedirs(os.path.join(d, 'new'))
        open(os.path.join(d, 'index.txt'), 'w').close()
        with open(os.path.join(d, 'serial'), 'w') as f:
            f.write('1000\n')
        with open(os.path.join(d, 'crlnumber'), 'w') as f:
            f.write('01\n')
        tn = tnauth_range_der('12025550000', 10000).hex().upper()
        base = ('basicConstraints = critical,CA:FALSE\n'
                'keyUsage = critical,digitalSignature\n'
                'subjectKeyIdentifier = hash\n'
                'authorityKeyIdentifier = keyid\n'
                '1.3.6.1.5.5.7.1.26 = DER:%s\n' % tn)
        crl_ok = 'https://127.0.0.1:%d/files/inter.crl' % port
        crl_dead = 'https://127.0.0.1:%d/status/503' % port
        cnf = os.path.join(d, 'ca.cnf')
        with open(cnf, 'w') as f:
            f.write('[ca]\ndefault_ca = c\n[c]\ndir = %s\n'
                    'database = $dir/index.txt\nnew_certs_dir = $dir/new\n'
                    'serial = $dir/serial\ncrlnumber = $dir/crlnumber\n'
                    'default_md = sha256\npolicy = pol\nunique_subject = no\n'
                    'default_crl_days = 2\n'
                    '[pol]\ncommonName = supplied\n'
                    '[plain]\n%s'
                    '[cdp]\n%scrlDistributionPoints = URI:%s\n'
                    '[cdpdead]\n%scrlDistributionPoints = URI:%s\n'
                    % (d, base, base, crl_ok, base, crl_dead))
        self.cnf = cnf
        now = time.time()

        def stamp(t):
            return time.strftime('%Y%m%d%H%M%SZ', time.gmtime(t))

        def leaf(name, ext, start, end):
            key = os.path.join(d, name + '.key')
            run(['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
                 'ec_paramgen_curve:P-256', '-out', key])
            os.chmod(key, 0o600)
            csr = os.path.join(d, name + '.csr')
            run(['openssl', 'req', '-new', '-key', key, '-subj',
                 '/CN=x5u test ' + name, '-out', csr])
            pem = os.path.join(d, name + '.pem')
            run(['openssl', 'ca', '-config', cnf, '-batch', '-notext',
                 '-in', csr, '-cert', self.inter, '-keyfile',
                 self.inter_key, '-startdate', stamp(start), '-enddate',
                 stamp(end), '-extensions', ext, '-out', pem])
            with open(pem) as a, open(self.inter) as b, \
                    open(os.path.join(self.www, name + '.pem'), 'w') as o:
                o.write(a.read() + b.read())
            return key, pem

        self.keys = {}
        self.keys['expired'], _ = leaf('expired', 'plain', now - 86400 * 30,
                                       now - 86400)
        self.keys['cdpok'], _ = leaf('cdpok', 'cdp', now - 3600,
                                     now + 86400 * 30)
        self.keys['revoked'], rev = leaf('revoked', 'cdp', now - 3600,
                                         now + 86400 * 30)
        self.keys['crldead'], _ = leaf('crldead', 'cdpdead', now - 3600,
                                       now + 86400 * 30)
        run(['openssl', 'ca', '-config', cnf, '-batch', '-revoke', rev,
             '-cert', self.inter, '-keyfile', self.inter_key])
        crl_pem = os.path.join(d, 'inter.crl.pem')
        run(['openssl', 'ca', '-config', cnf, '-batch', '-gencrl', '-cert',
             self.inter, '-keyfile', self.inter_key, '-out', crl_pem])
        run(['openssl', 'crl', '-in', crl_pem, '-outform', 'DER', '-out',
             os.path.join(self.www, 'inter.crl')])
        self.keys['good'] = os.path.join(self.pki, 'signer.key')


class Tls:
    """A test TLS CA and the repository's server certificate."""

    def __init__(self, tmp):
        d = os.path.join(tmp, 'tls')
        os.makedirs(d)
        self.ca = os.path.join(d, 'tls-ca.pem')
        ca_key = os.path.join(d, 'tls-ca.key')
        run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-keyout', ca_key, '-out',
             self.ca, '-subj', '/CN=x5u test TLS CA', '-days', '2'])
        self.key = os.path.join(d, 'server.key')
        csr = os.path.join(d, 'server.csr')
        run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:P-256', '-nodes', '-keyout', self.key,
             '-out', csr, '-subj', '/CN=127.0.0.1'])
        ext = os.path.join(d, 'ext.cnf')
        with open(ext, 'w') as f:
            f.write('subjectAltName = IP:127.0.0.1, DNS:localhost\n'
                    'basicConstraints = CA:FALSE\n'
                    'extendedKeyUsage = serverAuth\n')
        self.cert = os.path.join(d, 'server.pem')
        run(['openssl', 'x509', '-req', '-in', csr, '-CA', self.ca,
             '-CAkey', ca_key, '-CAcreateserial', '-days', '2', '-extfile',
             ext, '-out', self.cert])


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, info=''):
        if cond:
            self.passed += 1
            print('ok   %s' % name)
        else:
            self.failed += 1
            print('FAIL %s %s' % (name, info))
        sys.stdout.flush()


def main():
    s = Suite()
    tmp = tempfile.mkdtemp(prefix='sg-x5u-')
    srv = silent = None
    try:
        # The TLS pair does not depend on the port; the certificates whose
        # CRL Distribution Points name the port are made once it is bound.
        tls = Tls(tmp)
        www = os.path.join(tmp, 'www')
        os.makedirs(www)
        srv = x5u_server.X5uServer(www, tls.cert, tls.key)
        silent = x5u_server.SilentServer()
        s.check('server ready', x5u_server.wait_ready(srv.port))
        pki = Pki(tmp, www, srv.port)
        pki.tls_ca = tls.ca
        cases(s, srv, silent, pki, tmp)
    finally:
        if srv:
            srv.stop()
        if silent:
            silent.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed' % (s.passed, s.failed))
    return 1 if s.failed or s.passed == 0 else 0


def cases(s, srv, silent, pki, tmp):
    relax = ['--x5u-allow-loopback', '--x5u-tls-ca', pki.tls_ca]

    def fetch(url, extra=(), relaxed=True, trust=True):
        argv = [STIRGATE, 'cert', 'fetch', url, '--json']
        if relaxed:
            argv += relax
        if trust:
            argv += ['--trust', pki.ca]
        p = run(argv + list(extra), check=False)
        try:
            out = json.loads(p.stdout.decode())
        except ValueError:
            out = {}
        return p.returncode, out, p.stderr.decode()

    def sign(url, key='good'):
        p = run([STIRGATE, 'passport', 'sign', '--key', pki.keys[key],
                 '--x5u', url, '--orig', ORIG, '--dest', DEST])
        return p.stdout.decode().strip()

    def verify(url, key='good', extra=(), relaxed=True):
        tok = sign(url, key)
        argv = [STIRGATE, 'passport', 'verify', '--token', tok, '--trust',
                pki.ca]
        if relaxed:
            argv += relax
        p = run(argv + list(extra), check=False)
        try:
            out = json.loads(p.stdout.decode())
        except ValueError:
            out = {}
        return p.returncode, out, p.stderr.decode()

    # -- a good chain, by cert fetch and by passport verify
    u = srv.url('/files/good.pem')
    rc, out, err = fetch(u)
    s.check('good: cert fetch exit 0', rc == 0, (rc, out, err))
    s.check('good: reason ok', out.get('reason') == 'ok', out)
    s.check('good: two certificates with subjects',
            len(out.get('chain', [])) == 2 and
            all(c.get('subject') for c in out.get('chain', [])), out)
    tl = (out.get('chain') or [{}])[0].get('tnauthlist') or []
    s.check('good: TNAuthList shown', any(e.get('type') == 'range' and
                                          e.get('start') == '12025550000'
                                          for e in tl), tl)
    s.check('good: 24 h floor without caching directive',
            86000 <= out.get('ttl_seconds', 0) <= 86405 and
            '24 h floor' in out.get('ttl_why', ''), out)
    s.check('good: content type', out.get('content_type') ==
            'application/pem-certificate-chain', out)
    s.check('good: relaxations logged', 'x5u relaxation used: loopback'
            in err and 'x5u.tls_ca' in err, err)
    rc, out, err = verify(u)
    s.check('good: passport verify valid', rc == 0 and
            out.get('valid') is True, (rc, out, err))

    # -- text/plain is accepted with a log line
    rc, out, err = fetch(srv.url('/files/good.txt'))
    s.check('text/plain accepted', rc == 0 and out.get('reason') == 'ok',
            out)
    s.check('text/plain logged', 'not application/pem-certificate-chain'
            in err, err)

    # -- failures: chain missing its intermediate, 404, 500, timeout
    rc, out, err = verify(srv.url('/files/nointer.pem'))
    s.check('no intermediate: cert_untrusted', rc == 1 and
            out.get('reason') == 'cert_untrusted', (rc, out))
    for code in (404, 500):
        n0 = srv.count('/status/%d' % code)
        rc, out, err = verify(srv.url('/status/%d' % code))
        s.check('HTTP %d: x5u_fetch_failed' % code, rc == 1 and
                out.get('reason') == 'x5u_fetch_failed', (rc, out))
        s.check('HTTP %d: requested once' % code,
                srv.count('/status/%d' % code) == n0 + 1)
    rc, out, err = fetch(srv.url('/status/404'))
    s.check('HTTP 404: transient in cert fetch', out.get('transient') is
            True and out.get('reason') == 'x5u_fetch_failed', out)
    rc, out, err = verify(srv.url('/hang'))
    s.check('body that never ends: x5u_fetch_failed', rc == 1 and
            out.get('reason') == 'x5u_fetch_failed', (rc, out))
    s.check('body that never ends: timed out', 'timed out' in err, err)

    # -- refusals by what the server does
    for path in ('/big', '/bigcl'):
        rc, out, err = fetch(srv.url(path))
        s.check('10 MB %s: x5u_policy' % path, rc == 1 and
                out.get('reason') == 'x5u_policy' and 'cap' in
                out.get('detail', ''), out)
    n0 = srv.count('/files/good.pem')
    rc, out, err = verify(srv.url('/redirect/good.pem'))
    s.check('redirect: x5u_policy', rc == 1 and
            out.get('reason') == 'x5u_policy', (rc, out))
    s.check('redirect: not followed', srv.count('/files/good.pem') == n0)
    rc, out, err = verify(srv.url('/html'))
    s.check('non-PEM: x5u_policy', rc == 1 and
            out.get('reason') == 'x5u_policy', (rc, out))

    # -- Cache-Control: max-age and the cache across processes
    cdir = os.path.join(tmp, 'cache')
    mu = srv.url('/hdr/max-age=172800/good0.pem')
    rc, out, err = fetch(mu, ['--cache-dir', cdir])
    s.check('max-age: honoured above the floor',
            172000 <= out.get('ttl_seconds', 0) <= 172805 and
            'max-age=172800' in out.get('ttl_why', ''), out)
    rc, out, err = verify(mu, extra=['--cache-dir', cdir])
    s.check('max-age: verify valid', rc == 0, (rc, out, err))
    s.check('max-age: second verification made no request',
            srv.count('/hdr/max-age=172800/good0.pem') == 1,
            srv.counts())
    rc, out, err = fetch(srv.url('/hdr/max-age=60/good1.pem'))
    s.check('max-age below 24 h: floor', 86000 <= out.get('ttl_seconds', 0)
            <= 86405 and 'below the 24 h floor' in out.get('ttl_why', ''),
            out)
    rc, out, err = fetch(srv.url('/hdr/no-store/good2.pem'))
    s.check('no-store: floor', 86000 <= out.get('ttl_seconds', 0) <= 86405,
            out)

    # -- restart: a new process answers from the directory
    ru = srv.url('/files/good3.pem')
    rc, out, err = fetch(ru, ['--cache-dir', cdir])
    s.check('restart: first fetch from the network',
            out.get('source') == 'network' and srv.count(
                '/files/good3.pem') == 1, out)
    rc, out, err = fetch(ru, ['--cache-dir', cdir])
    s.check('restart: answered from disk', out.get('source') == 'disk' and
            srv.count('/files/good3.pem') == 1, out)
    rc, out, err = verify(ru, extra=['--cache-dir', cdir])
    s.check('restart: verify valid without a request', rc == 0 and
            srv.count('/files/good3.pem') == 1, (rc, out, srv.counts()))
    # A corrupt cache file is ignored and refetched.
    files = [f for f in os.listdir(cdir) if f.endswith('.x5u')]
    for f in files:
        with open(os.path.join(cdir, f), 'r+b') as fh:
            fh.seek(0)
            fh.write(b'garbage!')
    rc, out, err = verify(ru, extra=['--cache-dir', cdir])
    s.check('corrupt cache file: refetched and valid', rc == 0 and
            srv.count('/files/good3.pem') == 2, (rc, out, srv.counts()))
    s.check('corrupt cache file: logged', 'ignoring cache file' in err, err)

    # -- expired leaf
    eu = srv.url('/files/expired.pem')
    rc, out, err = verify(eu, key='expired')
    s.check('expired leaf: cert_expired', rc == 1 and
            out.get('reason') == 'cert_expired', (rc, out))
    rc, out, err = fetch(eu)
    s.check('expired leaf: not cached past notAfter',
            out.get('ttl_seconds', 99999) <= 60 and
            'leaf expired' in out.get('ttl_why', ''), out)

    # -- CRL at the distribution point
    rc, out, err = verify(srv.url('/files/revoked.pem'), key='revoked')
    s.check('revoked leaf: cert_revoked', rc == 1 and
            out.get('reason') == 'cert_revoked', (rc, out, err))
    s.check('revoked leaf: CRL fetched', srv.count('/files/inter.crl') >= 1)
    rc, out, err = verify(srv.url('/files/cdpok.pem'), key='cdpok')
    s.check('leaf with CRL, not revoked: valid', rc == 0, (rc, out, err))
    rc, out, err = fetch(srv.url('/files/cdpok.pem'))
    s.check('cert fetch reports the CRL check',
            'not revoked' in out.get('crl', ''), out)

    # -- the fetcher's connections: the CRL lives on the chain's repository,
    # so one process fetches two URLs from one host.  Kept alive, both go
    # over one TLS connection; when the repository closes after the chain,
    # the second connection resumes the first one's TLS session.
    c0, r0 = srv.tls()
    n0 = srv.count('/files/inter.crl')
    rc, out, err = fetch(srv.url('/files/cdpok.pem'))
    c1, r1 = srv.tls()
    s.check('same repository: chain and CRL fetched', rc == 0 and
            'not revoked' in out.get('crl', '') and
            srv.count('/files/inter.crl') == n0 + 1, (rc, out, err))
    s.check('same repository: one TLS handshake for two URLs',
            c1 - c0 == 1, (c0, c1))
    rc, out, err = fetch(srv.url('/close/cdpok.pem'))
    c2, r2 = srv.tls()
    s.check('repository closes: chain and CRL fetched', rc == 0 and
            'not revoked' in out.get('crl', '') and
            srv.count('/files/inter.crl') == n0 + 2, (rc, out, err))
    s.check('repository closes: the new connection resumes the TLS session',
            c2 - c1 == 2 and r2 - r1 == 1, (c1, r1, c2, r2))

    rc, out, err = verify(srv.url('/files/crldead.pem'), key='crldead')
    s.check('unreachable CRL: accepted by default', rc == 0, (rc, out, err))
    s.check('unreachable CRL: logged', 'crl policy accept' in err, err)

    # -- policy refusals without the relaxation flags: no request at all
    before = sum(srv.counts().values())
    port = srv.port
    refusals = [
        ('http scheme', 'http://127.0.0.1:%d/files/good.pem' % port,
         'scheme'),
        ('port 8080', 'https://127.0.0.1:8080/files/good.pem', 'port'),
        ('query string', 'https://example.com/files/good.pem?x=1', 'query'),
        ('userinfo', 'https://user@example.com/files/good.pem', 'userinfo'),
        ('address literal', 'https://127.0.0.1/files/good.pem', 'loopback'),
        ('name resolving to loopback', 'https://localhost/files/good.pem',
         'loopback'),
    ]
    for name, url, word in refusals:
        rc, out, err = verify(url, relaxed=False)
        s.check('refused %s: x5u_policy' % name, rc == 1 and
                out.get('reason') == 'x5u_policy', (rc, out, err))
        rc, out, err = fetch(url, relaxed=False)
        s.check('refused %s: why' % name, word in out.get('detail', ''),
                out)
    # The relaxation keeps https: http is refused even with it.
    rc, out, err = fetch('http://127.0.0.1:%d/files/good.pem' % port)
    s.check('relaxed: http still refused', out.get('reason') ==
            'x5u_policy', out)
    s.check('refusals sent no request',
            sum(srv.counts().values()) == before, srv.counts())

    # -- a host that never answers: bounded by the timeouts, transient
    rc, out, err = fetch('https://127.0.0.1:%d/x.pem' % silent.port)
    s.check('silent host: x5u_fetch_failed', out.get('reason') ==
            'x5u_fetch_failed' and out.get('transient') is True, out)


if __name__ == '__main__':
    sys.exit(main())
