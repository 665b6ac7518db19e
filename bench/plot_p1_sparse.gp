# bench/plot_p1_sparse.gp: NDCG@10 against N, the number of users of the new
# industry (log scale), one line per method, for each held-out Amazon P5 category,
# from the summary that bench/p1_sparse.sh writes (mean ± 1 std over seeds).
#   usage: gnuplot -e "in='out/bench-p1-amazon-trans/sparse/summary.csv'; out='docs/img/p1-amazon-sparse.png'" bench/plot_p1_sparse.gp
if (!exists("in")) in = 'out/bench-p1-amazon-trans/sparse/summary.csv'
if (!exists("out")) out = 'docs/img/p1-amazon-sparse.png'
methods = "popularity itemknn ease local-only fedavg+ft central+ft fomaml+ft reptile+ft"
labels = "popularity ItemKNN EASE local-only fedavg+ft central+ft fomaml+ft reptile+ft"
inds = "beauty sports toys"
set terminal pngcairo noenhanced size 1500,460 font "sans,10"
set output out
set datafile separator ","
set multiplot layout 1,3 title "Amazon P5, protocol P1 with K = 5 on a sparse new industry: NDCG@10 against its number of users N"
set xlabel "N (users of the held-out category)"
set ylabel "NDCG@10"
set logscale x
set yrange [0:*]
set key top left font ",9" spacing 0.9
set grid ytics
sel(i, m) = sprintf("< awk -F, '$1 == \"amazon\" && $2 == \"%s\" && $4 == \"%s\"' %s | sort -t, -k3,3n", i, m, in)
do for [j = 1:words(inds)] {
  set title word(inds, j)
  plot for [i = 1:words(methods)] sel(word(inds, j), word(methods, i)) \
       using 3:5:6 with yerrorlines lw 2 pt (i + 3) title word(labels, i)
}
unset multiplot
