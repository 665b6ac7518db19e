# bench/plot_scale.gp: round time and coordinator peak memory against the number
# of platforms, one line per shared-model size, from the CSV that bench/scale.sh
# writes (platforms,buckets_log2,d,round_s,compute_s,coord_mb,worker_mb,wall_s,deltas_ok).
#   usage: gnuplot -e "in='out/bench-scale/scale.csv'; dir='docs/img'" bench/plot_scale.gp
# writes dir/PREFIX_round_time.png and dir/PREFIX_memory.png (prefix: default
# 'scale'), and dir/PREFIX_overhead.png when the CSV has the overhead columns
# (bench/scale.sh since the FEDMETA_PROFILE figures: column 13 overhead_cpu)
if (!exists("in")) in = 'out/bench-scale/scale.csv'
if (!exists("dir")) dir = 'docs/img'
if (!exists("prefix")) prefix = 'scale'
# the model sizes present in the CSV (buckets_log2), smallest first
buckets = system(sprintf("awk -F, 'NR > 1 { print $2 }' %s | sort -un | tr '\n' ' '", in))
set terminal pngcairo noenhanced size 800,520 font "sans,10"
set datafile separator ","
set logscale x 2
set xtics ("4" 4, "16" 16, "64" 64, "256" 256)
set xrange [3:340]
set xlabel "training platforms (on 2 worker ranks + 1 coordinator rank, 2 cores)"
set key top left
set grid
# rows of one model size (buckets_log2), in platform order; the model's d from the CSV
sel(b) = sprintf("< awk -F, 'NR > 1 && $2 == %s' %s | sort -t, -k1,1n", b, in)
dof(b) = system(sprintf("awk -F, 'NR > 1 && $2 == %s { print $3; exit }' %s", b, in))
lab(b) = sprintf("d = %.2f M (2^%s buckets x 32)", dof(b) / 1e6, b)

set output dir . '/' . prefix . '_round_time.png'
set title "Round time (median of rounds 2..R) against platforms"
set ylabel "seconds per round"
set logscale y
plot for [i = 1:words(buckets)] sel(word(buckets, i)) using 1:4 with linespoints lw 2 pt (i + 5) \
       title lab(word(buckets, i)), \
     in using 1:(strcol(10) eq "sgd" ? $4 : NaN) with points pt 6 ps 2.5 lc rgb "black" \
       title "run with --inner-opt sgd (worker-memory guard of bench/scale.sh)"

set output dir . '/' . prefix . '_memory.png'
set title "Coordinator peak RSS against platforms"
set ylabel "MB (maximum resident set size of rank 0)"
set logscale y
plot for [i = 1:words(buckets)] sel(word(buckets, i)) using 1:6 with linespoints lw 2 pt (i + 5) \
       title lab(word(buckets, i)), \
     in using 1:(strcol(10) eq "sgd" ? $6 : NaN) with points pt 6 ps 2.5 lc rgb "black" \
       title "run with --inner-opt sgd (worker-memory guard of bench/scale.sh)"

has_overhead = system(sprintf("head -1 %s | tr ',' '\\n' | grep -c '^overhead_cpu$'", in)) + 0
if (has_overhead) {
  set output dir . '/' . prefix . '_overhead.png'
  set title "Round overhead: share of the round's CPU work that is not the platforms' compute"
  set ylabel "1 - platforms' compute CPU / job CPU (per round)"
  unset logscale y
  set yrange [0:1]
  set ytics 0.1
  plot for [i = 1:words(buckets)] sel(word(buckets, i)) using 1:13 with linespoints lw 2 pt (i + 5) \
         title lab(word(buckets, i)), \
       0.2 with lines dt 2 lc rgb "black" title "20 % (issue 6)"
}
