#!/usr/bin/env python3
"""tests/system/test_metrics_format.py - the metrics exposition through
Prometheus' own checker (lib/sg_metrics.h).

tests/tools/metrics_demo writes the snapshots of two fake stages with every
kind of family into a fresh temporary directory and prints the master's
merged /metrics body; `promtool check metrics` must accept it (exit 0) with
no lint remark at all, and so must one registry's own rendering.  The rest
checks what promtool does not: one HELP/TYPE block per family, cumulative
buckets ending in +Inf == _count, stirgate_up for every expected stage, and
the snapshot files themselves (first line, modes, no temporary files left).

promtool comes from the Debian package `prometheus` (tools/bootstrap.sh
installs it); without it every case fails with that message.  Binaries
from $SG_BUILD, else build/debug.  Prints "N passed, N failed" last.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.environ.get("SG_BUILD", os.path.join(ROOT, "build", "debug"))
if "--build" in sys.argv:
    BUILD = sys.argv[sys.argv.index("--build") + 1]
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
DEMO = os.path.join(BUILD, "tests", "tools", "metrics_demo")
PROMTOOL = shutil.which("promtool")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def promtool_check(text):
    """promtool's exit code and everything it printed."""
    if PROMTOOL is None:
        raise AssertionError("promtool not found: install the Debian package "
                             "prometheus (bash tools/bootstrap.sh test does)")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def demo(*args):
    p = subprocess.run([DEMO] + list(args), capture_output=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stderr.decode())
    return p.stdout.decode("utf-8")


def labels_of(text):
    out = []
    pos = 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad labels: %r" % text
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def families(text):
    """[(name, type, [(sample, labels, value)])] in order of appearance."""
    fams = []
    lines = text.split("\n")
    assert lines[-1] == "", "no final newline"
    for ln in lines[:-1]:
        if ln.startswith("# HELP "):
            fams.append([ln.split(" ")[2], None, []])
        elif ln.startswith("# TYPE "):
            _, _, name, typ = ln.split(" ")
            assert fams and fams[-1][0] == name, ln
            fams[-1][1] = typ
        else:
            m = SAMPLE.match(ln)
            assert m, "not a sample line: %r" % ln
            fams[-1][2].append((m.group(1), labels_of(m.group(2) or ""),
                                m.group(3)))
    return fams


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.tmp = tempfile.mkdtemp(prefix="sg-metrics-")

    def run(self, fn):
        name = fn.__name__
        try:
            fn(self)
            self.passed += 1
            print("ok   " + name, flush=True)
        except Exception:
            self.failed += 1
            print("FAIL " + name, flush=True)
            traceback.print_exc(file=sys.stdout)

    def merged(self, sub="m"):
        d = os.path.join(self.tmp, sub, "metrics")
        os.makedirs(os.path.dirname(d), exist_ok=True)
        return d, demo("merge", d)


def test_promtool_rejects_bad_text(s):
    """The checker's self-test: a lint problem and a syntax error fail."""
    rc, out = promtool_check("# HELP foo_ms x\n# TYPE foo_ms counter\n"
                             "foo_ms 1\n")
    assert rc != 0 and "_total" in out, (rc, out)
    rc, out = promtool_check("garbage{\n")
    assert rc != 0, (rc, out)


def test_merged_passes_promtool(s):
    _, text = s.merged()
    rc, out = promtool_check(text)
    assert rc == 0 and out.strip() == "", (rc, out)


def test_one_registry_passes_promtool(s):
    text = demo("render")
    assert text.startswith("# HELP "), text[:80]
    rc, out = promtool_check(text)
    assert rc == 0 and out.strip() == "", (rc, out)


def test_one_block_per_family_sorted(s):
    _, text = s.merged()
    fams = families(text)
    names = [f[0] for f in fams]
    assert len(names) == len(set(names)), names
    assert names == sorted(names), names
    for name, typ, samples in fams:
        assert typ in ("counter", "gauge", "histogram"), (name, typ)
        assert samples, name
        if typ == "counter":
            assert name.endswith("_total"), name
        for sname, labels, _ in samples:
            keys = [k for k, _ in labels]
            assert keys[:2] == ["stage", "instance"], (sname, keys)
    # Two stages declared stirgate_x5u_fetch_seconds: one block, both.
    fetch = [f for f in fams if f[0] == "stirgate_x5u_fetch_seconds"][0]
    stages = {dict(lb)["stage"] for _, lb, _ in fetch[2]}
    assert stages == {"ingest", "deliver"}, stages


def test_histograms_cumulative(s):
    _, text = s.merged()
    n = 0
    for name, typ, samples in families(text):
        if typ != "histogram":
            continue
        series = {}
        for sname, labels, value in samples:
            key = tuple((k, v) for k, v in labels if k != "le")
            ser = series.setdefault(key, {"b": [], "sum": None, "n": None})
            if sname == name + "_bucket":
                ser["b"].append((dict(labels)["le"], int(value)))
            elif sname == name + "_sum":
                ser["sum"] = float(value)
            else:
                assert sname == name + "_count", sname
                ser["n"] = int(value)
        for key, ser in series.items():
            les = [le for le, _ in ser["b"]]
            counts = [c for _, c in ser["b"]]
            assert les[-1] == "+Inf", (name, les)
            bounds = [float(le) for le in les[:-1]]
            assert bounds == sorted(bounds), (name, les)
            assert counts == sorted(counts), (name, counts)
            assert counts[-1] == ser["n"], (name, key, counts, ser["n"])
            assert ser["sum"] is not None
            n += 1
    assert n >= 4, n


def test_up_for_every_expected_stage(s):
    _, text = s.merged()
    up = {}
    for name, _, samples in families(text):
        if name == "stirgate_up":
            for _, labels, value in samples:
                d = dict(labels)
                up[(d["stage"], d["instance"])] = value
    assert up == {("ingest", "0"): "1", ("deliver", "0"): "1",
                  ("deliver", "1"): "0"}, up
    assert 'stage="deliver",instance="1"' not in text.replace(
        'stirgate_up{stage="deliver",instance="1"} 0', "")


def test_label_escaping_survives(s):
    _, text = s.merged()
    assert 'peer="odd \\"peer\\"\\\\\\nn\u00e9"' in text, text


def test_snapshot_files(s):
    d, _ = s.merged("files")
    # Written twice: the rename replaces, nothing is left behind.
    demo("merge", d)
    names = sorted(os.listdir(d))
    assert names == ["deliver-0.prom", "ingest-0.prom"], names
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for n in names:
        path = os.path.join(d, n)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, n
        with open(path, encoding="utf-8") as f:
            first, rest = f.read().split("\n", 1)
        m = re.match(r"^# stirgate-snapshot (\d+) (\d+)$", first)
        assert m, first
        rc, out = promtool_check(rest)
        assert rc == 0 and out.strip() == "", (n, rc, out)


def main():
    s = Suite()
    try:
        if not os.access(DEMO, os.X_OK):
            print("FAIL %s missing: build with scons" % DEMO)
            s.failed += 1
        else:
            for fn in (test_promtool_rejects_bad_text,
                       test_merged_passes_promtool,
                       test_one_registry_passes_promtool,
                       test_one_block_per_family_sorted,
                       test_histograms_cumulative,
                       test_up_for_every_expected_stage,
                       test_label_escaping_survives,
                       test_snapshot_files):
                s.run(fn)
    finally:
        shutil.rmtree(s.tmp, ignore_errors=True)
    print("%d passed, %d failed" % (s.passed, s.failed))
    return 1 if s.failed or s.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
