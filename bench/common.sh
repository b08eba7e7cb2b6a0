# bench/common.sh - set-up shared by bench/report.sh and bench/run_e2e.sh
# (sourced, not run).  Needs $B (the build directory).

# A port free for TCP and UDP on 127.0.0.1 (SIP listens on both).
free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p = s.getsockname()[1]
t.bind(("127.0.0.1", p)); print(p)'
}

# make_pki DIR: the demo PKI the interconnect signs with, and the HTTPS
# certificate (tls.pem, tls.key) the gateway publishes its chain with (x5u
# fetched from our own listener, as in the embedded default: hence the two
# x5u relaxations in the configs).
make_pki() {
    "$B/cli/stirgate" pki demo "$1" >/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1/tls.key" -subj /CN=127.0.0.1 2>/dev/null |
        openssl x509 -req -CA "$1/ca.pem" -CAkey "$1/ca.key" -days 2 \
            -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n') \
            -out "$1/tls.pem" 2>/dev/null
    chmod 600 "$1/tls.key"
}
