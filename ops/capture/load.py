#!/usr/bin/env python3
"""ops/capture/load.py - small traffic helpers for ops/capture/capture.sh.

Python standard library only; everything on the addresses given (the
capture script uses 127.0.0.1 and friends).  Not a benchmark: the
gateway's speed is measured by bench/run_e2e.sh with bench/sg_load.

  load.py hook --listen IP:PORT [--fail P] [--reject P]
      A webhook receiver that answers 200, or 503 with probability
      --fail (the gateway retries), or 400 with probability --reject (a
      permanent failure).  Runs until killed.

  load.py api --url http://IP:PORT --token-file F --rate R --secs S
              [--unauthorized P] [--unroutable P]
      POST /v1/messages as a customer at R per second for S seconds.
      With probability --unauthorized the sender is +14155550100
      (outside the customer's numbers: 403); with --unroutable the
      recipient is +447700900123 (no route matches: a failed delivery).

  load.py sip --to IP:PORT --transport udp|tcp --src IP --rate R --secs S
              [--dest TN]
      SIP MESSAGEs without an Identity header from --src (a customer's
      address: the gateway signs them; an interconnect's that requires
      an Identity: 428).

Each prints one line at the end: how many requests got which answer.
"""
import argparse
import collections
import http.client
import http.server
import json
import os
import random
import socket
import socketserver
import sys
import time


def pace(rate, secs):
    """Yield request numbers at `rate` per second for `secs` seconds."""
    t0 = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - t0 >= secs:
            return
        due = t0 + n / rate
        if due > now:
            time.sleep(due - now)
        yield n
        n += 1


# ---- hook -------------------------------------------------------------------

class Hook(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    fail = 0.0
    reject = 0.0

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        self.rfile.read(n)
        r = random.random()
        if r < self.reject:
            code = 400
        elif r < self.reject + self.fail:
            code = 503
        else:
            code = 200
        body = b'{}'
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def cmd_hook(a):
    host, port = a.listen.rsplit(':', 1)
    Hook.fail = a.fail
    Hook.reject = a.reject
    srv = Server((host, int(port)), Hook)
    print('load.py hook: listening on http://%s/ (fail %.2f, reject %.2f)'
          % (a.listen, a.fail, a.reject), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# ---- api --------------------------------------------------------------------

def cmd_api(a):
    host, port = a.url.split('//', 1)[1].rsplit(':', 1)
    with open(a.token_file) as f:
        token = f.read().strip()
    got = collections.Counter()
    conn = None
    for n in pace(a.rate, a.secs):
        sender = '+12025550100'
        to = '+1202555%04d' % (n % 10000)
        r = random.random()
        if r < a.unauthorized:
            sender = '+14155550100'
        elif r < a.unauthorized + a.unroutable:
            to = '+447700900123'
        body = json.dumps({'from': sender, 'to': to,
                           'body': 'capture %d' % n}).encode()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            conn.request('POST', '/v1/messages', body,
                         {'Authorization': 'Bearer ' + token,
                          'Content-Type': 'application/json'})
            resp = conn.getresponse()
            resp.read()
            got[resp.status] += 1
        except (OSError, http.client.HTTPException) as e:
            got[type(e).__name__] += 1
            if conn is not None:
                conn.close()
            conn = None
    print('load.py api: %s' % dict(sorted(got.items(), key=str)), flush=True)
    return 0


# ---- sip --------------------------------------------------------------------

def sip_message(a, n, lport, transport):
    body = b'capture message %d' % n
    host, port = a.to.rsplit(':', 1)
    head = (
        'MESSAGE sip:%(dest)s@%(host)s:%(port)s SIP/2.0\r\n'
        'Via: SIP/2.0/%(tp)s %(src)s:%(lport)d;branch=z9hG4bK-cap-%(n)d-%(r)x\r\n'
        'Max-Forwards: 70\r\n'
        'From: <sip:12025550100@%(src)s>;tag=cap%(n)d\r\n'
        'To: <sip:%(dest)s@%(host)s:%(port)s>\r\n'
        'Call-ID: cap-%(r)x-%(n)d@%(src)s\r\n'
        'CSeq: 1 MESSAGE\r\n'
        'Content-Type: text/plain\r\n'
        'Content-Length: %(len)d\r\n\r\n'
        % {'dest': a.dest, 'host': host, 'port': port, 'tp': transport,
           'src': a.src, 'lport': lport, 'n': n, 'r': a.nonce,
           'len': len(body)})
    return head.encode() + body


def sip_status(data):
    try:
        return int(data.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return 'garbled'


def cmd_sip(a):
    host, port = a.to.rsplit(':', 1)
    dst = (host, int(port))
    a.nonce = random.getrandbits(32)
    got = collections.Counter()
    sock = None
    buf = b''
    for n in pace(a.rate, a.secs):
        try:
            if a.transport == 'udp':
                if sock is None:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sock.bind((a.src, 0))
                    sock.settimeout(5)
                sock.sendto(sip_message(a, n, sock.getsockname()[1], 'UDP'),
                            dst)
                while True:
                    data = sock.recv(65536)
                    code = sip_status(data)
                    if code == 'garbled' or code >= 200:
                        break
                got[code] += 1
            else:
                if sock is None:
                    sock = socket.create_connection(dst, 5,
                                                    source_address=(a.src, 0))
                    buf = b''
                sock.sendall(sip_message(a, n, sock.getsockname()[1], 'TCP'))
                while True:
                    while b'\r\n\r\n' not in buf:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError('closed')
                        buf += chunk
                    head, _, rest = buf.partition(b'\r\n\r\n')
                    clen = 0
                    for line in head.split(b'\r\n'):
                        k, _, v = line.partition(b':')
                        if k.strip().lower() in (b'content-length', b'l'):
                            clen = int(v.strip() or 0)
                    while len(rest) < clen:
                        chunk = sock.recv(65536)
                        if not chunk:
                            raise ConnectionError('closed')
                        rest += chunk
                    buf = rest[clen:]
                    code = sip_status(head)
                    if code == 'garbled' or code >= 200:
                        break
                got[code] += 1
        except (OSError, ConnectionError) as e:
            got[type(e).__name__] += 1
            if sock is not None:
                sock.close()
            sock = None
    print('load.py sip %s from %s: %s' % (a.transport, a.src,
                                          dict(sorted(got.items(), key=str))),
          flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    h = sub.add_parser('hook')
    h.add_argument('--listen', required=True)
    h.add_argument('--fail', type=float, default=0.0)
    h.add_argument('--reject', type=float, default=0.0)
    p = sub.add_parser('api')
    p.add_argument('--url', required=True)
    p.add_argument('--token-file', required=True)
    p.add_argument('--rate', type=float, default=10)
    p.add_argument('--secs', type=float, default=60)
    p.add_argument('--unauthorized', type=float, default=0.0)
    p.add_argument('--unroutable', type=float, default=0.0)
    s = sub.add_parser('sip')
    s.add_argument('--to', required=True)
    s.add_argument('--transport', choices=('udp', 'tcp'), default='udp')
    s.add_argument('--src', default='127.0.0.1')
    s.add_argument('--rate', type=float, default=5)
    s.add_argument('--secs', type=float, default=60)
    s.add_argument('--dest', default='12025550199')
    a = ap.parse_args()
    random.seed(os.getpid() ^ int(time.time()))
    return {'hook': cmd_hook, 'api': cmd_api, 'sip': cmd_sip}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
