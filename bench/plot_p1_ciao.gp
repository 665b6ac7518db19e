# bench/plot_p1_ciao.gp: NDCG@10 against K, one line per method, for the two
# held-out Ciao industries (c3 Beauty, c6 Food & Drink), from the summary that
# bench/p1_real.sh writes (seeded methods with ± 1 std error bars).
#   usage: gnuplot -e "in='out/bench-p1-real/summary.csv'; out='docs/img/p1-ciao-ndcg-vs-k.png'" bench/plot_p1_ciao.gp
if (!exists("in")) in = 'out/bench-p1-real/summary.csv'
if (!exists("out")) out = 'docs/img/p1-ciao-ndcg-vs-k.png'
methods = "popularity itemknn ease local-only fedavg+ft central+ft reptile+ft fomaml+ft"
labels = "popularity ItemKNN EASE local-only fedavg+ft central+ft reptile+ft fomaml+ft"
inds = "c3 c6"
names = "'Beauty (c3)' 'Food & Drink (c6)'"
set terminal pngcairo noenhanced size 1200,480 font "sans,10"
set output out
set datafile separator ","
set multiplot layout 1,2 title "Ciao, protocol P1: NDCG@10 on a held-out industry against K (support interactions per user)"
set xlabel "K"
set ylabel "NDCG@10"
set logscale x 2
set xtics ("1" 1, "5" 5, "10" 10)
set xrange [0.8:12.5]
set key top left font ",9" spacing 0.9
set grid ytics
# rows of one industry and method, in K order
sel(i, m) = sprintf("< awk -F, '$1 == \"ciao\" && $2 == \"%s\" && $4 == \"%s\"' %s | sort -t, -k3,3n", i, m, in)
do for [j = 1:words(inds)] {
  set title word(names, j)
  plot for [i = 1:words(methods)] sel(word(inds, j), word(methods, i)) \
       using 3:5:6 with yerrorlines lw 2 pt (i + 3) title word(labels, i)
}
unset multiplot
