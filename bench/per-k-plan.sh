#!/bin/bash
# bench/per-k-plan.sh: fine-tune (or local-only) settings per K from a sweep's CSV
# (bench/sweep.sh), chosen on its validation industries only.
#   usage: bench/per-k-plan.sh CSV ALGO [score]  ->  "K:STEPS:LR ..." (for FT_PLAN /
#          LOCAL_PLAN of bench/p1_real.sh; ALGO local gives local-only's); with "score",
#          "K:STEPS:LR:NDCG" (the chosen setting's mean validation NDCG@10 at K)
# The training settings are the trial with the best mean score (column ndcg10, as
# bench/p1_real.sh picks them); among that trial's rows (one per fine-tune setting),
# each K takes the setting with the best mean NDCG@10 over the validation
# industries at that K (column per_industry: industry@K=value;...).
set -euo pipefail
csv=$1 algo=$2 score=${3:-}
awk -F, -v a="$algo" -v sc="$score" '
  NR == 1 { next }
  $3 == a { key = $9 "|" $10 "|" $11 "|" $4 "|" $5; if (!(key in best) || $14 > best[key]) best[key] = $14
            if ($14 > top) { top = $14; tkey = key }
            row[NR] = $0; rkey[NR] = key }
  END {
    for (r in row) {
      if (rkey[r] != tkey) continue
      split(row[r], f, ","); n = split(f[17], p, ";")
      delete s; delete c
      for (i = 1; i <= n; i++) { split(p[i], kv, "="); split(kv[1], ik, "@"); s[ik[2]] += kv[2]; c[ik[2]]++ }
      for (k in s) { m = s[k] / c[k]; if (!(k in bk) || m > bk[k]) { bk[k] = m; bs[k] = f[12] ":" f[13] } }
    }
    out = ""; for (k in bk) out = out k ":" bs[k] (sc == "score" ? sprintf(":%.4f", bk[k]) : "") " "
    print out
  }' "$csv" | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/^ *//; s/ *$//'
echo
