#!/usr/bin/python3
"""bench/inner_torch.py: fedmeta's inner-loop training step written in PyTorch,
replaying a dump of bench/inner_bench (same settings, same data, same initial
weights, same batches), for bench/inner_vs_torch.sh.

    inner_torch.py DUMP --variant sparse|dense [--threads T] [--check]
                        [--steps S --warmup W --reps R]

The model, loss and optimiser are common/model.h's (see there):
  x_i = mean_t E[h(t)] + Q_i;  f_u = mean_t E[h(t)];  g_u = mean of x_j over
  the user's last L history items, leaving out the target;  z_u = [f; g; P_u];
  w_u = W_u2 relu(W_u1 z + b_u1) + b_u2;  v_i = W_i2 relu(W_i1 x_i + b_i1) + b_i2;
  score(u, i) = w_u . v_i (+ beta log(1 + TRAIN count of i) with the
  popularity prior, --pop-prior on, the default of fedmeta train);
  loss = mean over the batch of the softmax cross-entropy of [score of the
  positive, scores of the N shared negatives], a negative equal to the row's
  positive masked;
  Adam (betas, eps of the dump) on the towers, lazy row-sparse Adam on E (and
  on P, Q at the local rate; frozen when that rate is 0, which leaves them
  unchanged in fedmeta too).

Variants:
  sparse  E (and P, Q) as sparse embeddings (embedding_bag(sparse=True)) with
          torch.optim.SparseAdam, towers with torch.optim.Adam: the same
          maths as fedmeta's lazy Adam (SparseAdam adds eps to sqrt(v) before
          the bias correction, Adam and fedmeta after it; its eps is set to
          eps * sqrt(1 - beta2^t) before step t, which makes them equal: the
          per-token gradients of E are small enough, ~1e-8, for this to show);
  dense   dense embeddings, torch.optim.Adam on everything: NOT the same
          optimiser for the embeddings (Adam moves rows not in the batch while
          their moments decay), reported for reference; its loss drifts from
          fedmeta's slowly.

Everything that depends only on the batch indices (the history of each user
without the target, the distinct items of the batch, padded token lists) is
prepared before the timed loop, so the timed step is forward, backward and
optimiser only (fedmeta's timed step also samples the batch and collects the
histories: the comparison favours PyTorch there).

--check: runs the dump's K batches from the dump's weights and prints
"loss STEP TORCH FEDMETA", then "check max_abs_diff X max_rel_diff Y".
--steps: R repetitions of W warm-up + S timed steps, cycling over the K
batches, each from fresh weights; prints "rep R examples_per_s X" and
"examples_per_s_median X" (wall clock), "examples_per_cpu_s_median X"
(process CPU time, all threads summed).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F



def read_dump(path):
    buf = open(path, "rb").read()
    if buf[:4] != b"FMIB":
        sys.exit(f"{path}: not an inner_bench dump")
    off = 4
    ver = int(np.frombuffer(buf, np.uint32, 1, off)[0])
    if ver != 2:
        sys.exit(f"{path}: version {ver}, expected 2")
    head = np.frombuffer(buf, np.uint32, 12, off)
    off += 48
    fh = np.frombuffer(buf, np.float32, 6, off)
    off += 24
    ver, D, Hd, H, L, B, N, nu, ni, opt, K, pop = (int(v) for v in head)
    arrays = {}
    for name, dt in (("utok_ptr", np.uint32), ("utok", np.uint32), ("itok_ptr", np.uint32),
                     ("itok", np.uint32), ("hist_ptr", np.uint32), ("hist", np.uint32),
                     ("theta", np.float32), ("P", np.float32), ("Q", np.float32),
                     ("pop_input", np.float32),
                     ("batches", np.uint32), ("losses", np.float32)):
        n = int(np.frombuffer(buf, np.uint64, 1, off)[0])
        off += 8
        arrays[name] = np.frombuffer(buf, dt, n, off).copy()
        off += 4 * n
    d = dict(D=D, Hd=Hd, H=H, L=L, B=B, N=N, n_users=nu, n_items=ni, opt=opt, K=K, pop=pop,
             lr=float(fh[0]), lr_local=float(fh[1]), l2=float(fh[2]), beta1=float(fh[3]),
             beta2=float(fh[4]), eps=float(fh[5]))
    d.update(arrays)
    return d


def padded_tokens(ptr, tok, H):
    """(rows, Tmax) int64 bucket ids, padded with H (the padding row)."""
    n = len(ptr) - 1
    cnt = np.diff(ptr.astype(np.int64))
    tmax = max(1, int(cnt.max()) if n else 1)
    out = np.full((n, tmax), H, np.int64)
    for e in range(n):
        a, z = int(ptr[e]), int(ptr[e + 1])
        out[e, : z - a] = tok[a:z].astype(np.int64) % H
    return out


class Batch:
    pass


def prepare(dd, k, upad, ipad):
    """Index tensors of batch k (depend on the indices only, not on weights)."""
    B, N, L = dd["B"], dd["N"], dd["L"]
    raw = dd["batches"][k * (2 * B + N):(k + 1) * (2 * B + N)].astype(np.int64)
    users, pos, neg = raw[:B], raw[B:2 * B], raw[2 * B:]
    hp, hist = dd["hist_ptr"], dd["hist"]
    hitems = np.zeros((B, L), np.int64)
    hcnt = np.zeros(B, np.int64)
    for b in range(B):
        a, z, c = int(hp[users[b]]), int(hp[users[b] + 1]), 0
        for j in range(z - 1, a - 1, -1):
            if c == L:
                break
            if hist[j] != pos[b]:
                hitems[b, c] = hist[j]
                c += 1
        hcnt[b] = c
    # the distinct positives and negatives first (the C columns), then the
    # items that only occur in histories
    cols = np.unique(np.concatenate([pos, neg]))
    hist_only = np.setdiff1d(hitems[hcnt[:, None] > np.arange(L)[None, :]], cols)
    uniq = np.concatenate([cols, hist_only])
    slot = {int(it): s for s, it in enumerate(uniq)}
    hslot = np.zeros((B, L), np.int64)
    hw = np.zeros((B, L), np.float32)
    for b in range(B):
        for c in range(hcnt[b]):
            hslot[b, c] = slot[int(hitems[b, c])]
            hw[b, c] = 1.0 / hcnt[b]
    t = Batch()
    t.users = torch.from_numpy(users)
    t.uniq = torch.from_numpy(uniq)
    t.utok = torch.from_numpy(upad[users])
    t.itok = torch.from_numpy(ipad[uniq])
    t.hslot = torch.from_numpy(hslot)
    t.hw = torch.from_numpy(hw)
    t.rowslot = torch.from_numpy(np.array([slot[int(i)] for i in np.concatenate([pos, neg])],
                                          np.int64))
    t.mask = torch.from_numpy(neg[None, :] == pos[:, None])
    t.target = torch.zeros(B, dtype=torch.int64)
    # columns: cpos (B, 1) the positive's column; bias (B, C) = log(times drawn
    # as a negative), -inf where never drawn and at the row's positive (masked)
    C = len(cols)
    t.C = C
    cpos = np.array([slot[int(i)] for i in pos], np.int64)
    cnt = np.bincount(np.array([slot[int(i)] for i in neg], np.int64), minlength=C)
    with np.errstate(divide="ignore"):
        bias = np.tile(np.log(cnt.astype(np.float32)), (B, 1))
    bias[np.arange(B), cpos] = -np.inf
    t.cpos = torch.from_numpy(cpos[:, None])
    s_in = dd["pop_input"]
    t.s_cols = torch.from_numpy(s_in[cols].astype(np.float32))
    t.s_pos = torch.from_numpy(s_in[pos].astype(np.float32)[:, None])
    t.s_neg = torch.from_numpy(s_in[neg].astype(np.float32))
    t.bias = torch.from_numpy(bias.astype(np.float32))
    return t


class Model:
    def __init__(self, dd, variant, per_row=False):
        self.per_row = per_row
        D, Hd, H = dd["D"], dd["Hd"], dd["H"]
        th = torch.from_numpy(dd["theta"])
        sizes = [H * D, Hd * D, Hd, D * Hd, D, Hd * 3 * D, Hd, D * Hd, D] + ([1] if dd["pop"] else [])
        parts = list(torch.split(th, sizes))
        self.sparse = variant == "sparse"
        self.H, self.B = H, dd["B"]
        E = torch.cat([parts[0].view(H, D), torch.zeros(1, D)])  # row H: padding
        self.E = torch.nn.Parameter(E.clone())
        shapes = [(Hd, D), (Hd,), (D, Hd), (D,), (Hd, 3 * D), (Hd,), (D, Hd), (D,)] + \
            ([(1,)] if dd["pop"] else [])
        self.tower = [torch.nn.Parameter(p.reshape(s).clone()) for p, s in zip(parts[1:], shapes)]
        P = torch.from_numpy(dd["P"]).view(dd["n_users"], D).clone()
        Q = torch.from_numpy(dd["Q"]).view(dd["n_items"], D).clone()
        self.train_local = dd["lr_local"] > 0
        if self.train_local:
            self.P, self.Q = torch.nn.Parameter(P), torch.nn.Parameter(Q)
        else:  # frozen; all zero by default, then skipped (x + 0 = x)
            self.P, self.Q = P, Q
        self.use_local = self.train_local or bool(P.abs().max() > 0) or bool(Q.abs().max() > 0)
        betas, eps = (dd["beta1"], dd["beta2"]), dd["eps"]
        if dd["opt"] != 1 or dd["l2"] != 0:
            sys.exit("inner_torch.py: only Adam with l2 = 0 is implemented")
        emb = [self.E]
        loc = [self.P, self.Q] if self.train_local else []
        self.t, self.eps, self.beta2 = 0, eps, betas[1]
        if self.sparse:
            self.opts = [torch.optim.SparseAdam(emb, lr=dd["lr"], betas=betas, eps=eps),
                         torch.optim.Adam(self.tower, lr=dd["lr"], betas=betas, eps=eps, foreach=True)]
            if loc:
                self.opts.append(torch.optim.SparseAdam(loc, lr=dd["lr_local"], betas=betas,
                                                        eps=eps))
        else:
            self.opts = [torch.optim.Adam(emb + self.tower, lr=dd["lr"], betas=betas, eps=eps,
                                          foreach=True)]
            if loc:
                self.opts.append(torch.optim.Adam(loc, lr=dd["lr_local"], betas=betas, eps=eps))

        self.sparse_opts = [o for o in self.opts if isinstance(o, torch.optim.SparseAdam)]

    def step(self, t):
        wi1, bi1, wi2, bi2, wu1, bu1, wu2, bu2 = self.tower[:8]
        beta = self.tower[8] if len(self.tower) > 8 else None
        sp, H = self.sparse, self.H
        X = F.embedding_bag(t.itok, self.E, mode="mean", sparse=sp, padding_idx=H)
        f = F.embedding_bag(t.utok, self.E, mode="mean", sparse=sp, padding_idx=H)
        if self.use_local:
            X = X + F.embedding(t.uniq, self.Q, sparse=sp)
        g = F.embedding_bag(t.hslot, X, mode="sum", per_sample_weights=t.hw)
        if self.use_local:
            Z = torch.cat([f, g, F.embedding(t.users, self.P, sparse=sp)], 1)
        else:
            Z = torch.cat([f, g, torch.zeros_like(f)], 1)
        wu = F.linear(F.relu(F.linear(Z, wu1, bu1)), wu2, bu2)
        if self.per_row:  # the item tower on the B + N rows, duplicates included
            vi = F.linear(F.relu(F.linear(X.index_select(0, t.rowslot), wi1, bi1)), wi2, bi2)
            B = self.B
            vpos, vneg = vi[:B], vi[B:]
            spos = (wu * vpos).sum(1, keepdim=True)
            sneg = wu @ vneg.t()
            if beta is not None:  # popularity prior: + beta log(1 + count)
                spos = spos + beta * t.s_pos
                sneg = sneg + beta * t.s_neg
            sneg = sneg.masked_fill(t.mask, float("-inf"))
        else:  # once per distinct item, as fedmeta: C columns, negatives by count
            vi = F.linear(F.relu(F.linear(X[:t.C], wi1, bi1)), wi2, bi2)
            S = wu @ vi.t()
            if beta is not None:  # popularity prior: + beta log(1 + count)
                S = S + beta * t.s_cols
            spos = S.gather(1, t.cpos)
            sneg = S + t.bias
        loss = F.cross_entropy(torch.cat([spos, sneg], 1), t.target)
        for o in self.opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        self.t += 1
        for o in self.sparse_opts:  # eps after the bias correction, as in Adam and fedmeta
            o.param_groups[0]["eps"] = self.eps * math.sqrt(1.0 - self.beta2 ** self.t)
        for o in self.opts:
            o.step()
        return loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dump")
    ap.add_argument("--variant", choices=("sparse", "dense"), default="sparse")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-row", action="store_true",
                    help="item tower on every positive and negative row (duplicates included) "
                         "instead of once per distinct item")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dd = read_dump(a.dump)
    upad = padded_tokens(dd["utok_ptr"], dd["utok"], dd["H"])
    ipad = padded_tokens(dd["itok_ptr"], dd["itok"], dd["H"])
    batches = [prepare(dd, k, upad, ipad) for k in range(dd["K"])]
    print(f"torch {torch.__version__} variant {a.variant} threads {torch.get_num_threads()} "
          f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')})")
    if a.check:
        m = Model(dd, a.variant, a.per_row)
        ref = dd["losses"]
        worst_abs = worst_rel = worst10 = 0.0
        for k, t in enumerate(batches):
            lt = m.step(t)
            diff = abs(lt - float(ref[k]))
            worst_abs = max(worst_abs, diff)
            if k < 10:
                worst10 = max(worst10, diff)
            worst_rel = max(worst_rel, diff / abs(float(ref[k])))
            print(f"loss {k} {lt:.9g} {float(ref[k]):.9g}")
        print(f"check steps {len(batches)} max_abs_diff {worst_abs:.3g} max_rel_diff {worst_rel:.3g} "
              f"max_abs_diff_first10 {worst10:.3g} final_torch {lt:.7g} final_fedmeta {float(ref[-1]):.7g}")
    if a.steps:
        rates, cpu_rates = [], []
        for r in range(a.reps):
            m = Model(dd, a.variant, a.per_row)
            for k in range(a.warmup):
                m.step(batches[k % len(batches)])
            t0, c0 = time.perf_counter(), time.process_time()
            for k in range(a.steps):
                m.step(batches[(a.warmup + k) % len(batches)])
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            rates.append(a.steps * dd["B"] / sec)
            cpu_rates.append(a.steps * dd["B"] / cpu)
            print(f"rep {r} examples_per_s {rates[-1]:.1f} seconds {sec:.4f} cpu_seconds {cpu:.4f}")
        rates.sort()
        cpu_rates.sort()
        print(f"examples_per_s_median {rates[len(rates) // 2]:.1f}")
        print(f"examples_per_cpu_s_median {cpu_rates[len(cpu_rates) // 2]:.1f}")


if __name__ == "__main__":
    main()
