#!/usr/bin/env python3
"""System tests of stirgate-store (issue 4): the real store process, the
test client tests/tools/store_client and the queue tool `stirgate queue`.

Every test runs in a fresh temporary directory; readiness is polled with a
deadline, never slept for.  Binaries come from build/debug, or from the
build directory named by $SG_BUILD.  Prints "N passed, N failed" last.
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgtest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SG_BUILD", os.path.join(ROOT, "build", "debug"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
STORE = os.path.join(BUILD, "store", "stirgate-store")
CLIENT = os.path.join(BUILD, "tests", "tools", "store_client")
CLI = os.path.join(BUILD, "cli", "stirgate")


class Store:
    """One stirgate-store in `base`, its log in base/store.log."""

    def __init__(self, base, *extra):
        self.base = base
        self.db = os.path.join(base, "db")
        self.run = os.path.join(base, "run")
        self.ep = "ipc://" + os.path.join(self.run, "store.sock")
        self.extra = list(extra)
        self.log = os.path.join(base, "store.log")
        self.proc = None

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [STORE, "--dir", self.db, "--run-dir", self.run] + self.extra,
            stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("store exited: " + self.logtext()[-800:])
            if self.queue("stats", timeout=300).returncode == 0:
                return self
        raise AssertionError("store not ready within 10 s")

    def queue(self, *args, timeout=3000):
        return subprocess.run([CLI, "queue"] + list(args) +
                              ["--run-dir", self.run, "--timeout", str(timeout)],
                              capture_output=True, text=True)

    def qjson(self, *args):
        r = self.queue(*args, "--json")
        assert r.returncode == 0, (args, r.stderr)
        return json.loads(r.stdout)

    def client(self, *args, **kw):
        return subprocess.run([CLIENT, "-e", self.ep] + list(args),
                              capture_output=True, text=True, **kw)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def alive(self):
        return self.proc.poll() is None

    def logtext(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def errors(self):
        """Log lines at error or fatal level (the log scanner)."""
        return [l for l in self.logtext().splitlines()
                if " error " in l or " fatal " in l or "Sanitizer" in l
                or "runtime error" in l]


def stored_ids(out):
    return [l.split()[1] for l in out.splitlines() if l.startswith("STORED ")]


def wait_for(pred, what, limit=15):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
    raise AssertionError("timed out waiting for " + what)


# --- the tests -------------------------------------------------------------

def t_log_scanner_self_test(base):
    """The scanner that fails tests on error lines must see one."""
    s = Store(base)
    with open(s.log, "w") as f:
        f.write("2026-01-01T00:00:00.000Z stirgate-store[1] error store: x\n")
        f.write("2026-01-01T00:00:00.000Z stirgate-store[1] info store: y\n")
    assert len(s.errors()) == 1


def t_kill9_mid_burst(base):
    s = Store(base).start()
    p = subprocess.Popen([CLIENT, "-e", s.ep, "burst", "8000", "-w", "64",
                          "-b", "300", "-t", "3000"],
                         stdout=subprocess.PIPE, text=True)
    acked = []
    for line in p.stdout:
        if line.startswith("STORED "):
            acked.append(line.split()[1])
        if len(acked) == 1500:
            s.kill9()                 # in the middle of the burst
    acked += []                       # the rest of the stream was read above
    p.wait()
    assert 1500 <= len(acked) < 8000, len(acked)
    s.start()
    listed = {m["id"]: m for m in s.qjson("list", "--limit", "100000")}
    missing = [i for i in acked if i not in listed]
    assert not missing, "%d acknowledged ids lost" % len(missing)
    for i in random.sample(acked, 20):
        m = s.qjson("show", i)
        assert m["body_len"] == 300 and m["state"] == "queued", m
    assert s.qjson("stats")["quarantined"] == 0
    s.stop()
    assert not s.errors(), s.errors()


def t_idempotent_store(base):
    s = Store(base).start()
    the_id = "0190f3c2a1b27000800000000000abcd"
    r = s.client("burst", "5", "-i", the_id, "-w", "1")
    assert r.returncode == 0 and stored_ids(r.stdout) == [the_id] * 5, r.stdout
    ids = [m["id"] for m in s.qjson("list")]
    assert ids.count(the_id) == 1 and len(ids) == 1, ids
    s.stop()


def t_dead_worker_lease_returns(base):
    s = Store(base, "--lease", "1s").start()
    the_id = stored_ids(s.client("burst", "1").stdout)[0]
    r = s.client("worker", "-o", "die", "-n", "1", "-t", "5000")
    j1 = r.stdout.split()
    assert j1[:3] == ["JOB", the_id, "1"], r.stdout
    m = s.qjson("show", the_id)
    assert m["state"] == "leased"
    r = s.client("worker", "-o", "delivered", "-n", "1", "-t", "15000")
    j2 = r.stdout.split()
    assert j2[:3] == ["JOB", the_id, "2"], r.stdout
    # Not before the lease ran out (the worker prints its receive time).
    assert int(j2[3]) >= m["lease_until_ms"], (m, j2)
    wait_for(lambda: s.qjson("show", the_id)["state"] == "done", "done")
    s.stop()
    assert not s.errors(), s.errors()


def t_retry_backoff_bounded_and_jittered(base):
    s = Store(base, "--backoff-min", "400ms", "--backoff-max", "5s").start()
    ids = stored_ids(s.client("burst", "6", "-w", "6").stdout)
    assert len(ids) == 6
    r = s.client("worker", "-c", "6", "-o", "retry", "-n", "6", "-t", "10000")
    assert r.stdout.count("JOB ") == 6, r.stdout
    def all_queued():
        ms = [s.qjson("show", i) for i in ids]
        return ms if all(m["state"] == "queued" and m["attempts"] == 1
                         for m in ms) else None
    ms = wait_for(all_queued, "retries applied")
    delays = [m["next_due_ms"] - m["updated_ms"] for m in ms]
    # attempt 1: uniform in [min, 2*min] (store/store_sched.h)
    assert all(400 <= d <= 800 for d in delays), delays
    assert len(set(delays)) > 1, "no jitter: %r" % delays
    assert all(m["last_error"] == "test outcome" for m in ms)
    # Round two: each comes back no earlier than due, as attempt 2.
    r = s.client("worker", "-c", "6", "-o", "retry", "-n", "6", "-t", "10000")
    first = {}
    for l in r.stdout.splitlines():
        f = l.split()
        first.setdefault(f[1], f)
    assert set(first) == set(ids), r.stdout
    due = {m["id"]: m["next_due_ms"] for m in ms}
    for i, f in first.items():
        assert f[2] == "2" and int(f[3]) >= due[i], (f, due[i])
    s.stop()


def t_map_full_refuses_and_keeps(base):
    s = Store(base, "--map-size", "1M", "--map-max", "2M").start()
    r = s.client("burst", "1500", "-w", "16", "-b", "4000", "-t", "10000")
    assert r.returncode == 0, r.stderr
    acked = stored_ids(r.stdout)
    refused = [l for l in r.stdout.splitlines() if l.startswith("REFUSED ")]
    assert refused and all(l.split()[2] == "1" for l in refused), r.stdout[-300:]
    assert acked, "nothing stored before the map filled"
    assert s.alive(), "store died at map full"
    listed = {m["id"] for m in s.qjson("list", "--limit", "100000")}
    assert set(acked) <= listed
    for i in acked[:5] + acked[-5:]:
        assert s.qjson("show", i)["body_len"] == 4000
    # Draining frees the space: deliveries still complete at the maximum.
    w = s.client("worker", "-c", "50", "-n", "50", "-t", "10000")
    assert w.stdout.count("JOB ") == 50, w.stderr
    assert s.alive()
    s.stop()
    assert "map full" in s.logtext()


def t_corrupt_record_quarantined(base):
    s = Store(base).start()
    mark = "CORRUPT-%08x" % random.getrandbits(32)
    bad = stored_ids(s.client("burst", "1", "-m", mark, "-b", "200").stdout)
    good = stored_ids(s.client("burst", "3", "-b", "200").stdout)
    assert len(bad) == 1 and len(good) == 3
    s.stop()
    path = os.path.join(s.db, "data.mdb")
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        needle = mark.encode()
        at, hits = data.find(needle), 0
        while at >= 0:                # every copy, live or in a free page
            data[at + 2] ^= 0x20
            hits += 1
            at = data.find(needle, at + 1)
        assert hits >= 1
        f.seek(0)
        f.write(data)
    s.start()
    listed = {m["id"] for m in s.qjson("list")}
    assert bad[0] not in listed and set(good) <= listed, listed
    r = s.queue("show", bad[0])
    assert r.returncode == 1 and "no such message" in r.stderr
    assert s.qjson("stats")["quarantined"] == 1
    w = s.client("worker", "-c", "5", "-n", "3", "-t", "10000")
    assert sorted(l.split()[1] for l in w.stdout.splitlines()) == sorted(good)
    assert s.alive()
    s.stop()
    errs = s.errors()
    assert len(errs) == 1 and "quarantined" in errs[0], errs


def t_queue_tool_every_command(base):
    s = Store(base).start()
    a, b = stored_ids(s.client("burst", "2", "-w", "1").stdout)
    r = s.queue("list")
    assert r.returncode == 0 and a in r.stdout and b in r.stdout, r
    assert "2 messages" in r.stdout
    assert {m["id"] for m in s.qjson("list", "--state", "queued")} == {a, b}
    r = s.queue("show", a)
    assert r.returncode == 0 and "state" in r.stdout and "queued" in r.stdout
    m = s.qjson("show", a)
    assert m["id"] == a and m["from"] == "+12025550100" and \
        m["content_type"] == "text/plain"
    assert s.queue("hold", a).returncode == 0
    assert [m["id"] for m in s.qjson("list", "--state", "held")] == [a]
    r = s.queue("release", b)
    assert r.returncode == 1 and "not held" in r.stderr
    assert s.queue("release", a).returncode == 0
    assert s.qjson("show", a)["state"] == "queued"
    assert s.queue("requeue", a).returncode == 0
    assert s.qjson("requeue", "--all")["changed"] >= 0
    assert s.queue("delete", b).returncode == 0
    r = s.queue("show", b)
    assert r.returncode == 1 and "no such message" in r.stderr
    r = s.queue("delete", b)
    assert r.returncode == 1
    r = s.queue("show", "nothex")
    assert r.returncode == 2
    r = s.queue("list", "--state", "bogus")
    assert r.returncode == 2
    st = s.qjson("stats")
    assert st["total"] == 1 and st["queued"] == 1
    s.stop()
    # The store is down: a clear error and exit 2 after the timeout.
    r = s.queue("list", timeout=500)
    assert r.returncode == 2 and "no answer" in r.stderr, r
    assert not s.errors(), s.errors()


def t_replay_window(base):
    s = Store(base).start()
    key = "%064x" % random.getrandbits(256)
    assert s.client("replay", key, "60").stdout.strip() == "NEW"
    assert s.client("replay", key, "60").stdout.strip() == "SEEN"
    s.stop()
    s.start()                     # the table is durable
    assert s.client("replay", key, "60").stdout.strip() == "SEEN"
    s.stop()


def t_malformed_input_dropped(base):
    s = Store(base).start()
    s.client("raw", "53475701", "0100", "00")                 # short header
    s.client("raw", "58585801", "00" * 16, "")                # bad magic
    s.client("raw", "53475701", "6300" + "00" * 14, "")       # unknown cmd
    # A STORE whose envelope is garbage: REFUSED(invalid), nothing stored.
    wait_for(lambda: s.logtext().count("malformed message dropped") >= 3,
             "three drops logged")
    assert s.alive() and s.queue("stats").returncode == 0
    assert s.qjson("stats")["total"] == 0
    s.stop()


def t_restart_requeues_leased(base):
    s = Store(base, "--lease", "1h").start()
    ids = stored_ids(s.client("burst", "3", "-w", "3").stdout)
    r = s.client("worker", "-c", "3", "-o", "die", "-n", "1", "-t", "5000")
    assert r.stdout.startswith("JOB ")
    wait_for(lambda: any(m["state"] == "leased" for m in s.qjson("list")),
             "a lease")
    s.kill9()
    s.start()
    # A one-hour lease, yet after the restart every message is due now.
    assert all(m["state"] == "queued" for m in s.qjson("list"))
    w = s.client("worker", "-c", "3", "-n", "3", "-t", "10000")
    assert sorted(l.split()[1] for l in w.stdout.splitlines()) == sorted(ids)
    s.stop()


def t_commit_delay_holds_and_answers_on_stop(base):
    """--commit-delay-us: message traffic waits for the delay before its
    commit (and its STORED); requests held when SIGTERM comes are still
    committed and answered; an operator's request is not held and takes
    the held ones with it."""
    s = Store(base, "--commit-delay-us", "3000000").start()

    def burst(n):
        return subprocess.Popen([CLIENT, "-e", s.ep, "burst", str(n), "-w",
                                 str(n), "-t", "20000"],
                                stdout=subprocess.PIPE, text=True)
    p = burst(5)
    time.sleep(1.0)  # well inside the 3 s hold
    assert p.poll() is None, "answered before the delay"
    s.stop()
    out, _ = p.communicate(timeout=20)
    got = stored_ids(out)
    assert len(got) == 5, out
    s.start()
    listed = {m["id"] for m in s.qjson("list", "--limit", "100")}
    assert listed == set(got), listed
    p = burst(1)
    time.sleep(1.0)
    assert p.poll() is None, "answered before the delay"
    t0 = time.monotonic()
    assert s.qjson("stats")["queued"] == 6
    out, _ = p.communicate(timeout=20)
    assert len(stored_ids(out)) == 1, out
    # Answered with the stats request, not at the end of the hold.
    assert time.monotonic() - t0 < 1.5
    s.stop()
    assert not s.errors(), s.errors()


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("t_")]


def main():
    for b in (STORE, CLIENT, CLI):
        if not os.path.exists(b):
            print("missing binary %s (set SG_BUILD)" % b)
            print("0 passed, 1 failed")
            return 1
    only = sys.argv[1] if len(sys.argv) > 1 else None
    passed = failed = 0
    for t in TESTS:
        if only and only not in t.__name__:
            continue
        base = tempfile.mkdtemp(prefix="sg-store-")
        try:
            t(base)
            print("ok   " + t.__name__)
            passed += 1
        except Exception:
            print("FAIL " + t.__name__)
            traceback.print_exc()
            failed += 1
        finally:
            subprocess.run(["pkill", "-TERM", "-f", "--", "--dir " +
                            os.path.join(base, "db")], capture_output=True)
        # Sanitizer reports (leaks are reported at exit) fail the test,
        # read once the stores it started are gone.
        try:
            sgtest.wait_for(lambda: subprocess.run(
                ["pgrep", "-f", "--", "--dir " + os.path.join(base, "db")],
                capture_output=True).returncode != 0, "the stores to exit",
                30, 0.1)
            san = []
            for log in glob.glob(os.path.join(base, "*.log")):
                with open(log, errors="replace") as f:
                    san += sgtest.sanitizer_lines(f.read())
            assert not san, san[:5]
        except AssertionError as e:
            print("FAIL %s: sanitizer report or store still running: %s"
                  % (t.__name__, e))
            failed += 1
        shutil.rmtree(base, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
