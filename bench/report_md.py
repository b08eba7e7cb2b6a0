#!/usr/bin/env python3
"""bench/report_md.py - turn bench/report.sh's JSON into REPORT.md and
PNG plots (gnuplot).  Called by report.sh; stdlib only.

  report_md.py OUT LOAD0 LOAD1 CORES KERNEL SECONDS RATES SIGNED_RATES Q1 Q2
               CERTS
"""
import json
import os
import subprocess
import sys

(out, load0, load1, cores, kernel, secs, rates, srates, q1, q2,
 certs) = sys.argv[1:12]
J = os.path.join(out, 'json')


def get(name):
    try:
        with open(os.path.join(J, name + '.json')) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def stage_cpu(r):
    """CPU us per accepted message, summed by stage kind."""
    by = {}
    for name, p in (r or {}).get('procs', {}).items():
        kind = name.split('-')[0]
        by[kind] = by.get(kind, 0.0) + p['cpu_us_per_msg']
    return by


def fmt(x, d=0):
    return '-' if x is None else f'{x:,.{d}f}'


def sweep(prefix, rs):
    rows = []
    for r in rs.split() + ['0']:
        j = get(f'{prefix}-{r}')
        if j:
            rows.append((int(r), j))
    return rows


stir, store = get('ref-stir') or {}, get('ref-store') or {}
raw_runs = [j['raw_verify_per_s'] for j in
            (get(n[:-5]) for n in sorted(os.listdir(J)) if n.endswith('.json'))
            if j and 'raw_verify_per_s' in j]
ver, sig = sweep('verified', rates), sweep('signed', srates)
gp = []


def plot(name, title, xlabel, ylabel, series, logx=False):
    """series: (title, [(x, y)...]); x = 0 (as fast as possible) is put
    right of the largest rate and labelled 'max'."""
    data = os.path.join(J, name + '.dat')
    xs = sorted({x for _, pts in series for x, _ in pts if x})
    xmax = (max(xs) * 1.25) if xs else 1
    with open(data, 'w') as f:
        for t, pts in series:
            f.write(f'# {t}\n')
            for x, y in sorted(pts, key=lambda p: p[0] or xmax):
                f.write(f'{x or xmax} {y}\n')
            f.write('\n\n')
    tics = ', '.join(f'"{x:g}" {x}' for x in xs) + (f', "max" {xmax}'
                                                   if any(x == 0 for _, p in series for x, _ in p) else '')
    cmds = [
        'set terminal pngcairo size 800,480 font "sans,10"' ,
        f'set output "{os.path.join(out, name + ".png")}"',
        f'set title "{title}"', f'set xlabel "{xlabel}"',
        f'set ylabel "{ylabel}"', 'set key left top', 'set grid',
    ]
    if logx:
        cmds.append('set logscale x')
    elif tics:
        cmds.append(f'set xtics ({tics})')
    plots = [f'"{data}" index {i} with linespoints title "{t}"'
             for i, (t, _) in enumerate(series)]
    cmds.append('plot ' + ', '.join(plots))
    gp.append('\n'.join(cmds))
    return name + '.png'


pngs = []
if ver or sig:
    pngs.append(plot('throughput', 'Throughput against offered load (end to end)',
                     'offered msg/s', 'msg/s', [
                         ('verified: accepted', [(r, j['accepted_per_s']) for r, j in ver]),
                         ('verified: delivered', [(r, j.get('delivered_per_s', 0)) for r, j in ver]),
                         ('signed: accepted', [(r, j['accepted_per_s']) for r, j in sig]),
                         ('signed: delivered', [(r, j.get('delivered_per_s', 0)) for r, j in sig]),
                         ('offered', [(r, r) for r, j in ver if r])]))
    pngs.append(plot('latency', 'Latency against offered load (verified, end to end)',
                     'offered msg/s', 'ms (log)', [
                         (f'send->202 {p}', [(r, max(j['t202_ms'][p], 0.01)) for r, j in ver])
                         for p in ('p50', 'p90', 'p99', 'p999')] + [
                         (f'send->delivery {p}', [(r, max(j['delivery_ms'][p], 0.01)) for r, j in ver if 'delivery_ms' in j])
                         for p in ('p50', 'p99')]))
    gp[-1] = gp[-1].replace('set grid', 'set grid\nset logscale y')
    pngs.append(plot('cpu', 'Gateway CPU per accepted message by stage',
                     'offered msg/s', 'us per message', [
                         (f'{kind}: {st}', [(r, stage_cpu(j).get(st, 0)) for r, j in rows])
                         for kind, rows in (('verified', ver), ('signed', sig))
                         for st in ('ingest', 'store', 'deliver')]))
qs = [(0, get('queued-0')), (int(q1), get(f'queued-{q1}')),
      (int(q2), get(f'queued-{q2}'))]
qs = [(q, j) for q, j in qs if j]
cs = [(int(c), get(f'certs-{c}')) for c in certs.split()]
cs = [(c, j) for c, j in cs if j]
if qs:
    pngs.append(plot('queued', 'Cost per delivered message against queued messages',
                     'messages queued (downstream down)', 'us per message', [
                         (st, [(q, stage_cpu(j).get(st, 0)) for q, j in qs])
                         for st in ('ingest', 'store', 'deliver')] + [
                         ('all stages', [(q, j['gateway_cpu_us_per_msg']) for q, j in qs])]))
    gp[-1] = gp[-1].replace('set xtics', '#')
if cs:
    pngs.append(plot('certs', 'Cost per message against distinct cached chains',
                     'distinct certificates (chains cached)', 'us per message', [
                         (st, [(c, stage_cpu(j).get(st, 0)) for c, j in cs])
                         for st in ('ingest', 'store', 'deliver')] + [
                         ('all stages', [(c, j['gateway_cpu_us_per_msg']) for c, j in cs])],
                     logx=True))
for g in gp:
    subprocess.run(['gnuplot'], input=g.encode(), check=False)

L = []
w = L.append
w('# stirgate performance report')
w('')
w('Written by `bash bench/report.sh` (bench/report_md.py); every figure below '
  'comes from that one run, on this machine, everything on 127.0.0.1.  '
  'JSON of every run: `json/`.  Not a test: nothing here is asserted.')
w('')
w('| machine | |')
w('|---|---|')
w(f'| cores | {cores} |')
w(f'| kernel | {kernel} |')
w(f'| load average (1, 5, 15 min) at start / end | {load0} / {load1} |')
w(f'| raw ECDSA P-256 verify, one core, at start (bench_stir) | {fmt(stir.get("raw_verify"))}/s |')
if raw_runs:
    w(f'| the same, measured after each load run (min .. max) | {fmt(min(raw_runs))} .. {fmt(max(raw_runs))}/s |')
w(f'| report run time | {secs} s |')
w('')
w('The machine is a virtual machine on a shared host: the speed of its '
  'cores swings from run to run (the raw verify rate measured after each '
  'run, last column of the tables).  An idle core of the machine DESIGN.md 7 '
  'was measured on verifies ~24,500/s; the raw verify rate '
  'above says how much of a core the gateway could get while measured, '
  'so read the gateway figures as ratios to it.')
w('')
w('## References (same run)')
w('')
w('| what | per core | ratio |')
w('|---|---|---|')
w(f'| raw ECDSA P-256 verify | {fmt(stir.get("raw_verify"))}/s | |')
w(f'| raw ECDSA P-256 sign | {fmt(stir.get("raw_sign"))}/s | |')
w(f'| PASSporT verify (full, cached chain, the key\'s table built) | {fmt(stir.get("passport_verify"))}/s | {fmt(stir.get("verify_ratio"), 3)} of raw |')
w(f'| PASSporT verify (the same, key tables off) | {fmt(stir.get("passport_verify_no_table"))}/s | {fmt(stir.get("verify_no_table_ratio"), 3)} of raw |')
w(f'| PASSporT sign (full) | {fmt(stir.get("passport_sign"))}/s | {fmt(stir.get("sign_ratio"), 3)} of raw |')
w(f'| LMDB durable commit, 1 record per txn | {fmt(store.get("lmdb_single_commit_per_s"))}/s | |')
w(f'| STORE->STORED through stirgate-store (group commit) | {fmt(store.get("store_rate_per_s"))}/s | {fmt(store.get("ratio"), 1)}x single commits |')
w('')


def table(title, rows, note=''):
    w(f'## {title}')
    w('')
    if note:
        w(note)
        w('')
    w('| offered msg/s | accepted/s | delivered/s | 202 p50 / p90 / p99 / p99.9 ms | delivery p50 / p99 ms | lost | unexpected | CPU us/msg ingest / store / deliver | raw verify/s |')
    w('|---|---|---|---|---|---|---|---|---|')
    for r, j in rows:
        t, d, c = j['t202_ms'], j.get('delivery_ms', {}), stage_cpu(j)
        lab = r if isinstance(r, str) else (fmt(r) if r else 'max')
        w(f'| {lab} | {fmt(j["accepted_per_s"])} | '
          f'{fmt(j.get("delivered_per_s"))} | {t["p50"]:.2f} / {t["p90"]:.2f} / '
          f'{t["p99"]:.2f} / {t["p999"]:.2f} | {d.get("p50", 0):.1f} / {d.get("p99", 0):.1f} | '
          f'{j.get("lost", "-")} | {j["unexpected"]} | '
          f'{c.get("ingest", 0):.0f} / {c.get("store", 0):.0f} / {c.get("deliver", 0):.0f} | '
          f'{fmt(j["raw_verify_per_s"])} |')
    w('')


def deep_row(name):
    """The 2,000-outstanding run of a sweep, labelled with how many SIP
    retransmissions reached the UAS; [] when it was not run."""
    j = get(name)
    return ([(f'max, 2,000 outstanding ({fmt(j.get("dups_same_id", 0))} '
              'SIP retransmissions received twice)', j)] if j else [])


notab = get('verified-notab-0')
table('Verified PASSporTs end to end',
      ver + deep_row('verified-deep-0') +
      ([('max, key tables off', notab)] if notab else []),
      'SIP MESSAGE over UDP from an interconnect, 160-byte bodies, each with its '
      'own PASSporT signed by one of 300 leaf certificates (chains cached: '
      'seeded into the x5u cache directory before the gateway starts and '
      'loaded ahead by every ingest process, x5u.warm; the keys\' '
      'verification tables built by 64 messages per certificate sent before '
      'the measured runs, verify.key_table_after 16), 2 ingest '
      'processes, durable store, 2 delivery workers, SIP over UDP to '
      'sg_load\'s UAS.  "max" is as fast as 400 outstanding requests allow; '
      '"2,000 outstanding" is the ceiling, past the load at which the time to '
      '202 stays short (at hundreds of milliseconds deliver\'s SIP '
      'retransmissions, T1 = 500 ms, reach the UAS: at-least-once, the same '
      'Call-ID); the last row is the same gateway restarted with '
      'verify.key_tables 0.')
table('Gateway-signed messages end to end', sig + deep_row('signed-deep-0'),
      'The same, from a customer: no Identity, the gateway signs each message.')
for p in pngs[:3]:
    w(f'![{p[:-4]}]({p})')
    w('')
mix = [(n, get('mix-' + n)) for n in ('udp', 'tcp', 'http')]
w('## The realistic mix over each transport')
w('')
w('300 interconnect certificates, 20% customer messages (signed), 4% invalid '
  '(half a tampered body, half an iat 10 minutes old: both must be refused), '
  'bodies uniform in 160..4096 bytes, at a fixed rate.  HTTP: POST /v1/messages '
  'over 64 keep-alive connections, delivered to sg_load\'s webhook sink.')
w('')
w('| transport | offered/s | accepted/s | delivered/s | 202 p50 / p99 ms | delivery p50 / p99 ms | answers (kind: code x n) | unexpected | lost | CPU us/msg ingest / store / deliver |')
w('|---|---|---|---|---|---|---|---|---|---|')
for n, j in mix:
    if not j:
        continue
    ans = '; '.join(f'{k}: ' + ', '.join(f'{c} x {v}' for c, v in cs_.items())
                    for k, cs_ in j['answers'].items() if cs_)
    c, d = stage_cpu(j), j.get('delivery_ms', {})
    w(f'| {n} | {fmt(j["rate"])} | {fmt(j["accepted_per_s"])} | {fmt(j.get("delivered_per_s"))} | '
      f'{j["t202_ms"]["p50"]:.2f} / {j["t202_ms"]["p99"]:.2f} | {d.get("p50", 0):.1f} / {d.get("p99", 0):.1f} | '
      f'{ans} | {j["unexpected"]} | {j.get("lost", "-")} | '
      f'{c.get("ingest", 0):.0f} / {c.get("store", 0):.0f} / {c.get("deliver", 0):.0f} |')
w('')
qd = get('queue-disk') or {}
w('## Downstream down: memory and disk with messages queued')
w('')
w(f'Messages to a route whose next hop refuses connections (retry an hour '
  f'later) pile up in the store: {q1}, then {q2} in all.  Between the '
  f'fills, 20,000 verified messages go end to end to the UAS and their '
  f'cost is measured.  The store\'s resident memory is mostly LMDB\'s '
  f'mapped file pages (clean pages the kernel can drop); the other '
  f'processes hold no per-queued-message state.')
w('')
if qd:
    per = (qd['du_q2'] - qd['du_before_fill2']) / max(1, int(q2) - int(q1))
    w(f'- store file (data.mdb): {fmt(qd["du_0"] / 2**20, 1)} MiB before, '
      f'{fmt(qd["du_q1"] / 2**20, 1)} MiB with {q1} queued (+ the delivered '
      f'ones kept for status), {fmt(qd["du_q2"] / 2**20, 1)} MiB with {q2} '
      f'queued: **{fmt(per)} bytes per queued 160-byte message** (the '
      f'{int(q2) - int(q1)} of the second fill: record with its envelope and '
      f'PASSporT, due and expire index entries, replay keys, B-tree slack).')
    w('')
w('| messages queued | CPU us/msg ingest / store / deliver | all | delivered/s | peak RSS kB by process (after the run; anonymous memory now, i.e. not mapped file pages, in brackets) | raw verify/s |')
w('|---|---|---|---|---|---|')
for q, j in qs:
    c = stage_cpu(j)
    rss = ', '.join(f'{n} {p["peak_rss_kb"]:,}' + (f' ({p["anon_kb"]:,} anon)' if p.get('anon_kb', -1) >= 0 else '')
                    for n, p in sorted(j['procs'].items()))
    w(f'| {fmt(q)} | {c.get("ingest", 0):.0f} / {c.get("store", 0):.0f} / {c.get("deliver", 0):.0f} | '
      f'{j["gateway_cpu_us_per_msg"]:.0f} | {fmt(j.get("delivered_per_s"))} | {rss} | {fmt(j["raw_verify_per_s"])} |')
w('')
w('## Distinct cached chains')
w('')
w('A fresh gateway per point; the chains are seeded into its x5u cache '
  'directory before it starts, every ingest process loads them all ahead '
  '(x5u.warm; the report waits for stirgate_x5u_cache_warmed_total to '
  'reach the count in each), then 20,000 verified messages cycle over all '
  'the certificates.  The cache\'s in-memory table is a hash table '
  '(verify/verify_x5u_cache.c, `s_find`, doubled as it grows), so a lookup '
  'costs the same at any size; what grows is memory (the RSS column: the '
  'parsed chain, its PEM and the ready verification key of every entry, '
  'bounded by x5u.cache_entries).  Key tables are off in this section '
  '(verify.key_tables 0), so the curve is the cost of finding one chain '
  'among N and nothing else.')
w('')
w('| distinct certificates | CPU us/msg ingest / store / deliver | all | delivered/s | ingest peak RSS kB | raw verify/s |')
w('|---|---|---|---|---|---|')
for c_, j in cs:
    c = stage_cpu(j)
    rss = ', '.join(f'{p["peak_rss_kb"]:,}' for n, p in sorted(j['procs'].items()) if n.startswith('ingest'))
    w(f'| {fmt(c_)} | {c.get("ingest", 0):.0f} / {c.get("store", 0):.0f} / {c.get("deliver", 0):.0f} | '
      f'{j["gateway_cpu_us_per_msg"]:.0f} | {fmt(j.get("delivered_per_s"))} | {rss} | {fmt(j["raw_verify_per_s"])} |')
w('')
for p in pngs[3:]:
    w(f'![{p[:-4]}]({p})')
    w('')
with open(os.path.join(out, 'REPORT.md'), 'w') as f:
    f.write('\n'.join(L))
