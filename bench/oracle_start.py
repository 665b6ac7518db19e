#!/usr/bin/env python3
"""bench/oracle_start.py: how good can ANY start of the towers-off model be on an
industry? A ceiling for what a meta-learned start (or any initialisation) could
add over local-only, measured by choosing the term weights WITH THE ANSWERS.

For every point of a grid over the model's term weights (a copy of MODEL with
those weights set), `fedmeta eval --ft-steps 0` scores it on each (platform, K)
cell: full-ranking NDCG@10 on the query users, the weights applied as they are.
Scores do not change when every weight is multiplied by the same positive
number, so beta (popularity) stays at 1 and the others are relative to it:

  gamma  the co-occurrence filter (every weight the same), GAMMA values
  tau    the time kernel A * exp(-|j| / W) over lags -J..J, A in TAU_A, W in TAU_W
  kappa  the transition weight, KAPPA values
  alpha, eta  the attribute and EASE weights, ALPHA and ETA values (Amazon)

A view the model does not have is skipped. Prints, per cell, the model as it
is, the best grid point of that cell (the oracle: chosen on the very users it
is scored on, so an upper bound, not a method) and the one grid point best on
the mean over all cells; writes every point's scores to OUT (CSV).

  usage: bench/oracle_start.py BIN DATA MODEL PLATFORMS KS OUT [extra eval flags...]
         bench/oracle_start.py --transfer CHOOSE.csv SCORE.csv
    the second form: the grid point best on CHOOSE's cells (mean of its ratios to the
    model as it is, each cell counting the same), over all K and per K, and what it
    gives on SCORE's cells (two outputs of the first form, the same grid): does a
    start chosen by the metric on some industries carry over to others?
    e.g. bench/oracle_start.py build/fedmeta out/ciao out/or/ciao-start/meta-model.pb
           c8,c24 1,5,10 out/or/ciao-oracle.csv
  env: GAMMA="0 0.25 0.5 1 2 4"  TAU_A="0 0.25 0.5 1 2 4"  TAU_W="0.5 1 2 4"
       KAPPA="-0.5 -0.1 0 0.1 0.5 1"  ALPHA="0 0.1 0.3 1 3"  ETA="0 0.3 1 3 10"
       JOBS=2 (evaluations run side by side)  BATCH=64 (models per fedmeta eval --model-list)
Validation industries only: choosing anything on a test industry's answers is
what P1 forbids; the point here is the ceiling, and it is measured where
settings may be chosen."""
import itertools
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ckview import views_of  # noqa: E402


def floats(name, default):
    return [float(x) for x in os.environ.get(name, default).split()]


def transfer(choose, score):
    import csv
    tr = list(csv.DictReader(open(choose)))
    va = list(csv.DictReader(open(score)))
    by_point = {r["point"]: r for r in va}
    ks = sorted({int(c.split("@")[1]) for c in tr[0] if "@" in c})
    for k in [None] + ks:
        tc = [c for c in tr[0] if "@" in c and (k is None or c.endswith("@%d" % k))]
        vc = [c for c in va[0] if "@" in c and (k is None or c.endswith("@%d" % k))]
        best = max(tr[1:], key=lambda r: sum(float(r[c]) / float(tr[0][c]) for c in tc))
        gain = sum(float(best[c]) / float(tr[0][c]) for c in tc) / len(tc) - 1
        v = by_point[best["point"]]
        print("K = %-3s chosen: %-40s %+5.1f %% there; on the others: %s" % (
            "all" if k is None else k, best["point"], 100 * gain,
            " ".join("%s %+.1f %%" % (c, 100 * (float(v[c]) / float(va[0][c]) - 1)) for c in vc)))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--transfer":
        return transfer(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 7:
        sys.exit(__doc__)
    bin_, data, model, plats, ks, out = sys.argv[1:7]
    extra = sys.argv[7:]
    plats, ks = plats.split(","), [int(k) for k in ks.split(",")]
    base = bytearray(open(model, "rb").read())
    views, theta = views_of(base, model)
    have = {n for n, (o, c) in views.items() if c}
    if "beta" not in have or "gamma_c" in have:
        sys.exit("oracle_start: %s: needs the popularity term (beta) and a free co-occurrence filter "
                 "(not --spectral-basis); the towers must be off (--towers off) for the weights to be the whole "
                 "score" % model)
    axes = []  # (label, values)
    if "gamma" in have:
        axes.append(("gamma", floats("GAMMA", "0 0.25 0.5 1 2 4")))
    if "tau" in have:
        n = views["tau"][1]
        J = (n - 1) // 2
        pts = [(a, w) for a in floats("TAU_A", "0 0.25 0.5 1 2 4") if a != 0
               for w in floats("TAU_W", "0.5 1 2 4")] + [(0.0, 1.0)]
        axes.append(("tau", pts))
    if "kappa" in have:
        axes.append(("kappa", floats("KAPPA", "-0.5 -0.1 0 0.1 0.5 1")))
    if "alpha" in have:
        axes.append(("alpha", floats("ALPHA", "0 0.1 0.3 1 3")))
    if "eta" in have:
        axes.append(("eta", floats("ETA", "0 0.3 1 3 10")))
    tmpdir = tempfile.mkdtemp(prefix="oracle-")

    def write_point(idx, point):
        b = bytearray(base)

        def put(name, vals):
            o, c = views[name]
            for q in range(c):
                struct.pack_into("<f", b, theta + 4 * (o + q), vals[q] if len(vals) > 1 else vals[0])
        put("beta", [1.0])
        for (label, _), v in zip(axes, point):
            if label == "tau":
                a, w = v
                put("tau", [a * math.exp(-abs(j - J) / w) for j in range(views["tau"][1])])
            else:
                put(label, [v])
        path = os.path.join(tmpdir, "p%d.pb" % idx)
        open(path, "wb").write(b)
        return path

    def score(paths, p, k, lst):
        """NDCG@10 of each model in paths on (p, k): one fedmeta eval --model-list (file lst)."""
        with open(lst, "w") as f:
            f.write("\n".join(paths) + "\n")
        r = subprocess.run([bin_, "eval", "--data", data, "--model-list", lst, "--platform", p, "--kshot", str(k),
                            "--ft-steps", "0", "--local-steps", "0", "--boot", "0", "--seed", "1",
                            "--verbose", "0"] + extra, capture_output=True, text=True)
        os.remove(lst)
        if r.returncode:
            sys.exit("oracle_start: eval failed: %s" % r.stderr.strip())
        got = {}
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                got[d["model_file"]] = d["model"]["ndcg10"]
        return [got[x] for x in paths]

    cells = [(p, k) for p in plats for k in ks]
    grid = list(itertools.product(*[vals for _, vals in axes]))
    print("oracle_start: %d grid points x %d cells (axes: %s)" % (len(grid), len(cells),
          ", ".join(label for label, _ in axes)), flush=True)
    jobs = int(os.environ.get("JOBS", "2"))
    batch = int(os.environ.get("BATCH", "64"))
    scores = [[None] * len(cells) for _ in grid]
    as_is = {}
    try:  # the copies live in tmpdir until scored; it goes whatever happens
        with ThreadPoolExecutor(jobs) as ex:
            for b0 in range(0, len(grid), batch):
                idx = range(b0, min(b0 + batch, len(grid)))
                paths = [write_point(i, grid[i]) for i in idx]
                if b0 == 0:  # the model as it is, first in the first batch
                    paths.insert(0, model)
                futs = [(ci, ex.submit(score, paths, c[0], c[1], os.path.join(tmpdir, "b%d-%d.list" % (b0, ci))))
                        for ci, c in enumerate(cells)]
                for ci, f in futs:
                    res = f.result()
                    if b0 == 0:
                        as_is[cells[ci]] = res.pop(0)
                    for i, x in zip(idx, res):
                        scores[i][ci] = x
                for x in paths:
                    if x != model:
                        os.remove(x)
                print("  %d / %d points" % (idx[-1] + 1, len(grid)), flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    rows = list(zip(grid, scores))

    def label(point):
        parts = []
        for (name, _), v in zip(axes, point):
            parts.append("tau=%g*exp(-|j|/%g)" % v if name == "tau" else "%s=%g" % (name, v))
        return " ".join(parts)

    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("point," + ",".join("%s@%d" % c for c in cells) + ",mean\n")
        f.write("as-is," + ",".join("%.4f" % as_is[c] for c in cells) + ",%.4f\n" % (sum(as_is.values()) / len(cells)))
        for point, s in rows:
            f.write("%s,%s,%.4f\n" % (label(point), ",".join("%.4f" % x for x in s), sum(s) / len(s)))
    os.replace(tmp, out)
    best_all = max(rows, key=lambda r: sum(r[1]))
    print("cell      as-is   oracle (best point of the cell)                      one point for all cells")
    for ci, c in enumerate(cells):
        bp = max(rows, key=lambda r: r[1][ci])
        print("%-4s K=%-2d %.4f  %.4f %+6.1f %%  %-40s %.4f %+6.1f %%" % (
            c[0], c[1], as_is[c], bp[1][ci], 100 * (bp[1][ci] / as_is[c] - 1), label(bp[0]),
            best_all[1][ci], 100 * (best_all[1][ci] / as_is[c] - 1)))
    print("one point for all cells: %s" % label(best_all[0]))


if __name__ == "__main__":
    main()
