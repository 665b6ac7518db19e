#!/usr/bin/env python3
"""bench/p1_glance.py ciao|amazon [search-rows.csv]: the rows of the tables of
docs/BENCHMARKS.md, "Issue 3 at a glance", from the committed result files of
bench/results/ (each named in that section); nothing is run. NDCG@10 means over
the seeds; the relative differences are of those means."""
import csv, collections, statistics as st, sys
R = 'bench/results/'
def mean_of(rows, key, val='ndcg10'):
    d = collections.defaultdict(list)
    for r in rows: d[key(r)].append(float(r[val]))
    return {k: (st.mean(v), st.pstdev(v), len(v)) for k, v in d.items()}
def rd(p): return list(csv.DictReader(open(R + p)))
LABEL = {'popularity': 'pop.', 'itemknn': 'ItemKNN', 'ease': 'EASE'}  # the baselines, best of them named
def fmt(m): return "%.4f ± %.4f" % (m[0], m[1]) if m[2] > 1 else "%.4f" % m[0]
if len(sys.argv) < 2 or sys.argv[1] not in ('ciao', 'amazon'):
    sys.exit('usage: bench/p1_glance.py ciao|amazon [search-rows.csv]')
which = sys.argv[1]
if which == 'ciao':
    loo = {(r['industry'], r['k'], r['method']): r for r in rd('p1-ciao-loo-summary.csv')}
    tr = {(r['industry'], r['k'], r['method']): r for r in rd('p1-ciao-trans-summary.csv')}
    se = mean_of(rd('p1-search-ciao-rows.csv'), lambda r: (r['category'], r['k'], r['method']))
    iv = collections.defaultdict(list)
    for r in rd('p1-search-ciao-rows.csv'):
        if r['paired_vs_local'] and r['seed'] == '1': iv[(r['category'], r['k'], r['method'])].append(r['paired_vs_local'])
    users = {(r['category'], r['k']): r['users'] for r in rd('p1-search-ciao-rows.csv')}
    for c in ['c3', 'c6']:
        for k in ['1', '5', '10']:
            g = lambda m, t=loo: float(t[(c, k, m)]['ndcg10_mean'])
            b = max(LABEL, key=g)
            lo, rp, rs = g('local-only'), g('reptile+ft'), se[(c, k, 'reptile+search')][0]
            print("| %s | %s | %s | %.4f (%s) | %.4f | %.4f | %.4f | %.4f | %.4f | %.4f | %+.0f %% | %+.1f %% %s | %+.1f %% |" % (
                c, k, users[(c, k)], g(b), LABEL[b], lo, rp, rs,
                g('fedavg+ft', tr), g('central+ft', tr), g('fomaml+ft', tr), 100 * (rp / g(b) - 1), 100 * (rp / lo - 1),
                iv[(c, k, 'reptile (ft 0)')][0].split(' ', 2)[2], 100 * (rs / lo - 1)))
else:
    loo = {(r['industry'], r['k'], r['method']): r for r in rd('p1-amazon-loo-summary.csv')}
    me = mean_of(rd('p1-amazon-loo-methods-rows.csv'), lambda r: (r['industry'], r['k'], r['method']))
    # the search's rows: K = 5 over 3 seeds (p1-search-amazon-rows.csv) and the K = 1, 5 run
    # (its K = 5 rows are byte-identical to the first file's for the same seed); a row once
    seen, srows = set(), []
    for r in rd('p1-search-amazon-rows.csv') + (list(csv.DictReader(open(sys.argv[2]))) if len(sys.argv) > 2
                                                 else rd('p1-search-amazon-k15-rows.csv')):
        key = (r['category'], r['k'], r['seed'], r['method'])
        if key not in seen:
            seen.add(key)
            srows.append(r)
    se = mean_of(srows, lambda r: (r['category'], r['k'], r['method']))
    iv = collections.defaultdict(list)
    for r in srows:
        if r['method'] == 'reptile+search' and r['seed'] == '1': iv[(r['category'], r['k'])].append(r['paired_vs_local'])
    for c in ['beauty', 'sports', 'toys']:
        for k in ['1', '5']:
            g = lambda m: float(loo[(c, k, m)]['ndcg10_mean'])
            b = max(LABEL, key=g)
            lo, rp = g('local-only'), g('reptile+ft')
            s = se.get((c, k, 'reptile+search'))
            ivs = iv.get((c, k), [])
            print("| %s | %s | %.4f (%s) | %.4f | %.4f | %s | %.4f | %.4f | %.4f | %+.0f %% | %+.1f %% | %s |" % (
                c, k, g(b), LABEL[b], lo, rp,
                fmt(s) + (" (%d seeds)" % s[2] if s[2] > 1 else " (1 seed)") if s else "—", me[(c, k, 'fedavg+ft')][0], me[(c, k, 'central+ft')][0],
                me[(c, k, 'fomaml+ft')][0], 100 * (rp / g(b) - 1), 100 * (rp / lo - 1),
                ("%+.1f %% %s" % (100 * (s[0] / lo - 1), ivs[0][ivs[0].index('['):])) if s else "—"))
