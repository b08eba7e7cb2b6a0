#!/bin/bash
# tests/fuzz/run_long.sh - run every libFuzzer target longer than the test
# suite's smoke (tests/run.py gives each 10 s).
#
#   bash tests/fuzz/run_long.sh [SECONDS] [FUZZ_BUILD_DIR]
#
# SECONDS per target (default 300); FUZZ_BUILD_DIR defaults to build/fuzz
# (scons fuzz=1).  Each target runs on a copy of its seed corpus
# tests/fuzz/corpus/<name without fuzz_>/, so the tree stays as committed;
# a crash, leak, timeout or OOM reproducer is kept in FUZZ_BUILD_DIR and the
# target counts as failed.  Executions per target go to
# <FUZZ_BUILD_DIR>/../fuzz-stats-long.txt ("fuzz_x RUNS SECONDS" or
# "fuzz_x crashed").  Exit 1 when any target failed or none ran.
set -uo pipefail

cd "$(dirname "$0")/../.."
secs=${1:-300}
fdir=${2:-build/fuzz}
stats="$(dirname "$fdir")/fuzz-stats-long.txt"
: >"$stats"
failed=0
ran=0
for bin in "$fdir"/tests/fuzz/fuzz_*; do
    case "$bin" in *.o) continue ;; esac
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    tmp=$(mktemp -d /tmp/sg-fuzz-long-XXXXXX)
    seed=tests/fuzz/corpus/${name#fuzz_}
    if [ -d "$seed" ]; then
        cp -r "$seed" "$tmp/corpus"
    else
        mkdir "$tmp/corpus"
    fi
    echo "=== $name ($secs s)"
    (cd "$tmp" && "$OLDPWD/$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
        -artifact_prefix="$tmp/" -print_final_stats=1 corpus) \
        >"$tmp/log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$tmp/log" | tail -1)
    ran=$((ran + 1))
    if [ $rc -ne 0 ] || [ -z "$runs" ]; then
        tail -60 "$tmp/log"
        for a in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
            [ -e "$a" ] || continue
            cp "$a" "$fdir/"
            echo "$name: reproducer kept in $fdir/$(basename "$a")"
        done
        echo "$name crashed" >>"$stats"
        failed=$((failed + 1))
    else
        echo "$name: $runs runs"
        echo "$name $runs $secs" >>"$stats"
    fi
    rm -rf "$tmp"
done
echo "executions per target in $stats"
if [ $ran -eq 0 ]; then
    echo "no fuzz targets in $fdir/tests/fuzz (build with scons fuzz=1)" >&2
    exit 1
fi
[ $failed -eq 0 ]
