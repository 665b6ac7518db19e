# bench/plot_p1_amazon.gp: NDCG@10 against K, one line per method, for each held-out
# Amazon P5 category (beauty, sports, toys; the other two train), from the summary
# that bench/p1_real.sh writes (bench/p1_amazon_attr.sh; seeded methods with ± 1 std).
#   usage: gnuplot -e "in='out/bench-p1-amazon-attr/summary.csv'; out='docs/img/p1-amazon-attr-ndcg-vs-k.png'" bench/plot_p1_amazon.gp
if (!exists("in")) in = 'out/bench-p1-amazon-attr/summary.csv'
if (!exists("out")) out = 'docs/img/p1-amazon-attr-ndcg-vs-k.png'
methods = "popularity itemknn ease local-only fedavg+ft central+ft reptile+ft fomaml+ft"
labels = "popularity ItemKNN EASE local-only fedavg+ft central+ft reptile+ft fomaml+ft"
inds = "beauty sports toys"
set terminal pngcairo noenhanced size 1500,460 font "sans,10"
set output out
set datafile separator ","
set multiplot layout 1,3 title "Amazon P5, protocol P1: NDCG@10 on the held-out category against K (support interactions per user)"
set xlabel "K"
set ylabel "NDCG@10"
set xtics ("1" 1, "5" 5)
set xrange [0.5:5.5]
set yrange [0:*]
set key top left font ",9" spacing 0.9
set grid ytics
# rows of one industry and method, in K order (a method missing from the summary draws nothing)
sel(i, m) = sprintf("< awk -F, '$1 == \"amazon\" && $2 == \"%s\" && $4 == \"%s\"' %s | sort -t, -k3,3n", i, m, in)
do for [j = 1:words(inds)] {
  set title word(inds, j)
  plot for [i = 1:words(methods)] sel(word(inds, j), word(methods, i)) \
       using 3:5:6 with yerrorlines lw 2 pt (i + 3) title word(labels, i)
}
unset multiplot
