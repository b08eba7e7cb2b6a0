"""tests/system/x5u/x5u_server.py - a fake x5u certificate repository.

A real HTTPS server (http.server + ssl) on 127.0.0.1 with an OS-chosen
port, serving the cases of the x5u system test from a directory, and
counting requests per path so a test can prove a cache answered without
asking, and TLS connections (each one a handshake) and how many of them
resumed a TLS session, so a test can prove a client reused a connection
or a session.  HTTP/1.1 keep-alive unless the route says otherwise.
Python stdlib only.

Routes (everything else: 404):
  /files/NAME            the file DIR/NAME, Content-Type by suffix
                         (.pem application/pem-certificate-chain,
                         .crl application/pkix-crl, .txt text/plain)
  /hdr/CC/NAME           as /files/NAME with "Cache-Control: CC"
  /close/NAME            as /files/NAME with "Connection: close", and the
                         server closes the connection after it
  /status/N              an empty response with status N
  /redirect/NAME         302 to /files/NAME
  /hang                  200 headers, a few bytes, then nothing until the
                         client leaves or the server stops
  /big                   10 MB of PEM-looking text, no Content-Length
  /bigcl                 10 MB with a Content-Length
  /html                  200 text/html, not PEM
  /_counts               JSON {path: requests} (not counted itself)
"""
import http.server
import json
import os
import socket
import ssl
import threading
import time


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        # One handler per TLS connection: the handshake is already done
        # (the listening socket is wrapped), so this counts handshakes.
        super().setup()
        with self.server.lock:
            self.server.conns += 1
            if self.request.session_reused:
                self.server.resumed += 1

    def _send(self, status, body=b'', ctype='application/octet-stream',
              extra=()):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _file(self, name, extra=()):
        path = os.path.join(self.server.root, os.path.basename(name))
        if not os.path.isfile(path):
            return self._send(404, b'not found\n', 'text/plain')
        with open(path, 'rb') as f:
            body = f.read()
        ctype = {'.pem': 'application/pem-certificate-chain',
                 '.crl': 'application/pkix-crl',
                 '.txt': 'text/plain'}.get(os.path.splitext(name)[1],
                                           'application/octet-stream')
        self._send(200, body, ctype, extra)

    def do_GET(self):
        path = self.path
        if path == '/_counts':
            with self.server.lock:
                body = json.dumps(self.server.counts).encode()
            return self._send(200, body, 'application/json')
        with self.server.lock:
            self.server.counts[path] = self.server.counts.get(path, 0) + 1
        parts = path.split('/')
        if path.startswith('/files/'):
            return self._file(parts[2])
        if path.startswith('/hdr/') and len(parts) == 4:
            return self._file(parts[3], [('Cache-Control', parts[2])])
        if path.startswith('/close/'):
            self.close_connection = True
            return self._file(parts[2], [('Connection', 'close')])
        if path.startswith('/status/'):
            return self._send(int(parts[2]), b'', 'text/plain')
        if path.startswith('/redirect/'):
            return self._send(302, b'', 'text/plain',
                              [('Location', '/files/' + parts[2])])
        if path == '/html':
            return self._send(200, b'<html><body>hello</body></html>\n',
                              'text/html')
        if path in ('/big', '/bigcl'):
            line = b'A' * 63 + b'\n'
            chunk = b'-----BEGIN CERTIFICATE-----\n' + line * 16384
            total = 10 * 1024 * 1024
            self.send_response(200)
            self.send_header('Content-Type',
                             'application/pem-certificate-chain')
            if path == '/bigcl':
                self.send_header('Content-Length', str(total))
            else:
                self.send_header('Connection', 'close')
                self.close_connection = True
            self.end_headers()
            sent = 0
            try:
                while sent < total:
                    part = chunk[:total - sent]
                    self.wfile.write(part)
                    sent += len(part)
            except OSError:
                pass
            return
        if path == '/hang':
            self.send_response(200)
            self.send_header('Content-Type',
                             'application/pem-certificate-chain')
            self.send_header('Content-Length', '2000')
            self.end_headers()
            try:
                self.wfile.write(b'-----BEGIN CERTIFICATE-----\n')
                self.wfile.flush()
                while not self.server.stopping.wait(0.05):
                    self.connection.settimeout(0.05)
                    try:
                        if self.connection.recv(1) == b'':
                            break
                    except (socket.timeout, ssl.SSLWantReadError):
                        continue
            except OSError:
                pass
            self.close_connection = True
            return
        return self._send(404, b'not found\n', 'text/plain')


class X5uServer:
    """Start with X5uServer(root, certfile, keyfile); .port, .url(path),
    .counts(), .tls(), .stop()."""

    def __init__(self, root, certfile, keyfile):
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        srv.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        srv.root = root
        srv.counts = {}
        srv.conns = 0
        srv.resumed = 0
        srv.lock = threading.Lock()
        srv.stopping = threading.Event()
        self.srv = srv
        self.port = srv.server_address[1]
        self.thread = threading.Thread(target=srv.serve_forever,
                                       kwargs={'poll_interval': 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path, host='127.0.0.1'):
        return 'https://%s:%d%s' % (host, self.port, path)

    def counts(self):
        with self.srv.lock:
            return dict(self.srv.counts)

    def count(self, path):
        return self.counts().get(path, 0)

    def tls(self):
        """(TLS connections accepted, of which resumed a session)."""
        with self.srv.lock:
            return self.srv.conns, self.srv.resumed

    def stop(self):
        self.srv.stopping.set()
        self.srv.shutdown()
        self.srv.server_close()


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts and never answers: the x5u
    host that never responds."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                break

    def stop(self):
        self.stopping.set()
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def wait_ready(port, deadline_s=10.0):
    """Poll until 127.0.0.1:port accepts a connection, with a deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), 0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False
