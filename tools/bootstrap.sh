#!/bin/bash
# tools/bootstrap.sh - set up a fresh Debian 12 machine and build stirgate.
#
#   bash tools/bootstrap.sh run    install what is missing, build, start the
#                                  gateway on its embedded default
#                                  (stirgate run; the offline demo stays
#                                  build/debug/cli/stirgate demo)
#   bash tools/bootstrap.sh test   install what is missing, build every mode,
#                                  run the whole test suite
#
# Packages are installed only when one is missing, so a second run does not
# touch the network.  Needs root (or sudo) only in that case.
set -euo pipefail

cd "$(dirname "$0")/.."

# What building and running need; the test suite needs the second list too
# (sipp, libFuzzer, valgrind, promtool, clang-format).  The test-only tools
# stay off a machine that only runs the gateway: the prometheus package, for
# one, brings a server of its own.
PKGS="scons pkg-config libzmq3-dev liblmdb-dev lmdb-utils libssl-dev openssl
libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev python3"
TEST_PKGS="clang libclang-rt-14-dev clang-format sip-tester gnuplot-nox
valgrind prometheus faketime"

usage() {
    echo "usage: bash tools/bootstrap.sh run|test" >&2
    exit 2
}

install_missing() {
    local missing=() p st
    for p in $PKGS; do
        # "install ok installed" is the only state in which a package is
        # usable; anything else (absent, half-configured, removed) counts as
        # missing.
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        if [ "$st" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    echo "bootstrap: installing ${missing[*]}" >&2
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y "${missing[@]}"
}

[ $# -eq 1 ] || usage
case "$1" in
run)
    install_missing
    scons -Q -j2
    exec build/debug/cli/stirgate run
    ;;
test)
    PKGS="$PKGS $TEST_PKGS"
    install_missing
    # A mode that fails to build is a failure of the suite, but the other
    # modes still run, and the run still ends with "N passed, N failed".
    # Each build's time goes to tests/run.py (SG_BUILD_TIMES), which prints
    # it with the steps' times: the whole run must fit the CI budget.
    failed=()
    times=()
    t=$SECONDS
    scons -Q -j2 || failed+=(--failed-build debug)
    times+=("debug=$((SECONDS - t))")
    t=$SECONDS
    scons -Q -j2 mode=asan || failed+=(--failed-build asan)
    times+=("asan=$((SECONDS - t))")
    t=$SECONDS
    scons -Q -j2 fuzz=1 || failed+=(--failed-build fuzz)
    times+=("fuzz=$((SECONDS - t))")
    SG_BUILD_TIMES="${times[*]}" exec python3 tests/run.py "${failed[@]}"
    ;;
*)
    usage
    ;;
esac
