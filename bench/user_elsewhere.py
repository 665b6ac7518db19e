#!/usr/bin/env python3
"""bench/user_elsewhere.py: how much is what a new industry's users did on the
other platforms worth, at most? An offline, privacy-free estimate on Ciao
(docs/BENCHMARKS.md, "What the users' other platforms are worth").

fedmeta moves no interaction between platforms; what a user did elsewhere can
reach a new platform only through the meta-model (the shared user table of
docs/DESIGN.md, `--user-ids on`). This script bounds what that channel could
give by using the data directly, as no federated method may: a user-kNN whose
similarity is the cosine of two users' item sets on the *training* categories,
scored for the held-out category from the users whose K-shot support holds the
item. It is blended (z-scores per user, weight w) with what the new platform
has on its own: popularity and an ItemKNN of the support.

Cleaning and splits as `fedmeta prepare` / P1 do them (rating 0 dropped,
duplicates kept once at their first time, a global 5-core; per held-out user
the first K interactions in time order are the support, the rest the query);
full ranking over the category's items minus the user's support; NDCG@10.
Standard library only; a few minutes on one core.

With a sketch size D (env SKETCH=D) the similarity is instead the cosine of
two users' rows of a D-column table that a secure sum could build without
moving any interaction: each platform adds, for each of its users, +-1 at a
bucket of each of the user's items, bucket and sign from a hash keyed by a
secret of the platform's own (so the table names no item, and two platforms'
items only add noise to each other's inner products).

On top of fedmeta's own model: with TOPN_DIR=DIR and PREPARED=out/ciao (the
`fedmeta prepare` folder, for its users.tsv, items.tsv and manifest.txt), each
DIR/top-cC-kK.tsv written by `fedmeta eval --platform cC --kshot K --write-topn
FILE --topn 100` is scored as it is (its NDCG@10 should be the eval's, a check
that the two splits agree) and reranked by z(model score) + w z(elsewhere)
within the model's top N: what the users' other platforms would add to the model.

  usage: bench/user_elsewhere.py [ciao rating_with_timestamp.tsv] [categories] [Ks]
    default ../shared/data/ciao/derived/rating_with_timestamp.tsv, "8,24"
    (the validation categories), "1,5,10". The categories named and 3 and 6
    (the test ones) are left out of the similarity.
"""
import hashlib
import math
import os
import sys
from collections import defaultdict


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            p = line.rstrip("\n").split("\t")
            if len(p) < 6:
                sys.exit(f"{path}:{n}: expected 6 tab-separated fields, got {len(p)}")
            try:
                u, i, c, r, t = int(p[0]), int(p[1]), int(p[2]), float(p[3]), int(p[5])
            except ValueError:
                sys.exit(f"{path}:{n}: expected integers user, item, category, time and a number rating")
            if r <= 0:
                continue
            rows.append((t, n, u, i, c))
    rows.sort()
    seen, out = set(), []
    for t, n, u, i, c in rows:  # duplicates: the first in time order
        if (u, i) not in seen:
            seen.add((u, i))
            out.append((t, n, u, i, c))
    while True:  # global 5-core
        cu, ci = defaultdict(int), defaultdict(int)
        for _, _, u, i, _ in out:
            cu[u] += 1
            ci[i] += 1
        keep = [r for r in out if cu[r[2]] >= 5 and ci[r[3]] >= 5]
        if len(keep) == len(out):
            return out
        out = keep


def bucket(secret, item, d):
    """A platform's keyed hash of an item: (bucket < d, sign +-1)."""
    h = int.from_bytes(hashlib.blake2b(f"{item}".encode(), key=secret, digest_size=8).digest(), "little")
    return h % d, 1.0 if (h >> 40) & 1 else -1.0


def zscore(s):
    if not s:
        return s
    m = sum(s.values()) / len(s)
    v = sum((x - m) ** 2 for x in s.values()) / len(s)
    sd = math.sqrt(v) or 1.0
    return {k: (x - m) / sd for k, x in s.items()}


def ndcg10(scores, query):
    top = sorted(scores, key=lambda i: (-scores[i], i))[:10]
    dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(top) if i in query)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(query), 10)))
    return dcg / idcg


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "..", "..", "shared", "data", "ciao", "derived", "rating_with_timestamp.tsv")
    cats = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "8,24").split(",")]
    ks = [int(x) for x in (sys.argv[3] if len(sys.argv) > 3 else "1,5,10").split(",")]
    weights = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0]
    rows = load(path)
    left_out = set(cats) | {3, 6}
    # a user's items on the training categories (what other platforms hold)
    elsewhere = defaultdict(set)
    for _, _, u, i, c in rows:
        if c not in left_out:
            elsewhere[u].add(i)
    d = int(os.environ.get("SKETCH", "0"))
    if d:  # the secure sum of the platforms' keyed sketches, one dict row per user
        table = defaultdict(lambda: defaultdict(float))
        for _, _, u, i, c in rows:
            if c not in left_out:
                b, sgn = bucket(f"platform-{c}".encode(), i, d)
                table[u][b] += sgn
        norm = {u: math.sqrt(sum(x * x for x in r.values())) for u, r in table.items()}

        def similarity(u, v):
            if u not in table or v not in table or not norm[u] or not norm[v]:
                return 0.0
            a, b = table[u], table[v]
            if len(a) > len(b):
                a, b = b, a
            return sum(x * b.get(k, 0.0) for k, x in a.items()) / (norm[u] * norm[v])
    else:
        def similarity(u, v):
            mine, theirs = elsewhere.get(u, set()), elsewhere.get(v, set())
            return len(mine & theirs) / math.sqrt(len(mine) * len(theirs)) if mine and theirs else 0.0
    print(f"# {len(rows)} interactions after cleaning; similarity from categories other than {sorted(left_out)}"
          f"; {'a sketch of ' + str(d) + ' columns' if d else 'exact item sets'}")
    topn_dir, prepared = os.environ.get("TOPN_DIR"), os.environ.get("PREPARED")
    raw_user, raw_item, platform_of = {}, {}, {}
    if topn_dir:
        if not prepared:
            sys.exit("TOPN_DIR needs PREPARED=the fedmeta prepare folder (its users.tsv, items.tsv, manifest.txt)")
        with open(os.path.join(prepared, "users.tsv")) as f:
            for line in f:
                if not line.startswith("#"):
                    g, r = line.split()
                    raw_user[int(g)] = int(r)
        with open(os.path.join(prepared, "items.tsv")) as f:
            for line in f:
                if not line.startswith("#"):
                    pl, li, r = line.split()
                    raw_item[(int(pl), int(li))] = int(r)
        with open(os.path.join(prepared, "manifest.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) == 6 and p[0].isdigit():
                    platform_of[p[1]] = int(p[0])
    print("category,K,users,popularity,pop+elsewhere(best w),w,pop+itemknn,pop+itemknn+elsewhere(best w),w"
          + (",model top-N users,model,model+elsewhere(best w),w" if topn_dir else ""))
    for cat in cats:
        hist = defaultdict(list)
        for t, n, u, i, c in rows:
            if c == cat:
                hist[u].append(i)
        items = sorted({i for h in hist.values() for i in h})
        for k in ks:
            sup = {u: h[:k] for u, h in hist.items() if len(h) > k}
            qry = {u: set(h[k:]) - set(h[:k]) for u, h in hist.items() if len(h) > k}
            pop = defaultdict(int)
            users_of = defaultdict(list)
            for u, s in sup.items():
                for i in s:
                    pop[i] += 1
                    users_of[i].append(u)
            # ItemKNN on the support: cosine of the items' support-user sets
            co = defaultdict(lambda: defaultdict(int))
            for s in sup.values():
                for a in s:
                    for b in s:
                        if a != b:
                            co[a][b] += 1
            res = defaultdict(list)  # (method, w) -> per-user NDCG@10
            for u, s in sup.items():
                q = qry[u]
                if not q:
                    continue
                cand = [i for i in items if i not in s]
                sp = zscore({i: float(pop[i]) for i in cand})
                knn = {i: 0.0 for i in cand}
                for j in s:
                    for i, n_ij in co[j].items():
                        if i in knn:
                            knn[i] += n_ij / math.sqrt(pop[i] * pop[j])
                sk = zscore(knn)
                mine = elsewhere.get(u, set())
                ext = {i: 0.0 for i in cand}
                if mine:
                    sim = {}
                    for i in cand:
                        tot = 0.0
                        for v in users_of.get(i, ()):
                            if v == u:
                                continue
                            if v not in sim:
                                sim[v] = similarity(u, v)
                            tot += sim[v]
                        ext[i] = tot
                se = zscore(ext)
                for w in weights:
                    res[("pop", w)].append(ndcg10({i: sp[i] + w * se[i] for i in cand}, q))
                    res[("pop+knn", w)].append(ndcg10({i: sp[i] + 0.5 * sk[i] + w * se[i] for i in cand}, q))
            extra = ""
            path = os.path.join(topn_dir, f"top-c{cat}-k{k}.tsv") if topn_dir else None
            if path and os.path.exists(path):
                pl = platform_of[f"c{cat}"]
                lists = defaultdict(list)
                with open(path) as f:
                    for line in f:
                        if not line.startswith("#"):
                            g, _, li, sc = line.split()
                            lists[raw_user[int(g)]].append((raw_item[(pl, int(li))], float(sc)))
                for u, lst in lists.items():
                    q = qry.get(u)
                    if not q:
                        continue
                    sm = zscore({i: sc for i, sc in lst})
                    se = zscore({i: sum(similarity(u, v) for v in users_of.get(i, ()) if v != u) for i, _ in lst})
                    for w in weights:
                        res[("model", w)].append(ndcg10({i: sm[i] + w * se[i] for i, _ in lst}, q))
                bm = max(weights, key=lambda w: sum(res[("model", w)]) / len(res[("model", w)]))
                mm = {w: sum(res[("model", w)]) / len(res[("model", w)]) for w in weights}
                extra = f",{len(res[('model', 0.0)])},{mm[0.0]:.4f},{mm[bm]:.4f},{bm}"
            mean = {key: sum(v) / len(v) for key, v in res.items()}
            bp = max(weights, key=lambda w: mean[("pop", w)])
            bk = max(weights, key=lambda w: mean[("pop+knn", w)])
            n_users = len(res[("pop", 0.0)])
            print(f"c{cat},{k},{n_users},{mean[('pop', 0.0)]:.4f},{mean[('pop', bp)]:.4f},{bp},"
                  f"{mean[('pop+knn', 0.0)]:.4f},{mean[('pop+knn', bk)]:.4f},{bk}{extra}", flush=True)


if __name__ == "__main__":
    main()
