# Latency vs offered load for chirpd and the minimal relay, from chirp-bench --dat files.
# gnuplot -e "dir='bench-results/latest'; name='fanout'; ext='svg'" scripts/bench/latency.gp
# (ext 'png' for PNG). Columns: rate p50 p90 p99 p999 max deliveries_per_s lost server_cpu_pct
if (!exists("ext")) ext = 'svg'
if (ext eq 'png') {
    set terminal pngcairo size 900,560 enhanced font 'sans,10' background '#ffffff'
} else {
    set terminal svg size 900,560 dynamic enhanced font 'sans,12' background '#ffffff'
}
set output dir.'/'.name.'-latency.'.ext
set title sprintf('%s: delivery latency vs load (p50 and p99; ladder stops after failures)', name)
set xlabel 'tweets per second'
set ylabel 'latency (ms, log scale)'
set logscale y
set grid
set key top left
set datafile commentschars '#'
chirpd = dir.'/'.name.'.dat'
relay = dir.'/'.name.'-relay.dat'
plot chirpd using 1:4 with linespoints lw 2 pt 7 lc rgb '#c0392b' title 'chirpd p99', \
     chirpd using 1:2 with linespoints lw 1 pt 6 lc rgb '#e67e22' title 'chirpd p50', \
     relay using 1:4 with linespoints lw 2 pt 5 lc rgb '#2c3e50' title 'relay p99', \
     relay using 1:2 with linespoints lw 1 pt 4 lc rgb '#7f8c8d' title 'relay p50', \
     100 with lines dt 2 lc rgb '#27ae60' title '100 ms'

set output dir.'/'.name.'-throughput.'.ext
set title sprintf('%s: deliveries per second vs load', name)
set ylabel 'deliveries per second'
unset logscale y
plot chirpd using 1:7 with linespoints lw 2 pt 7 lc rgb '#c0392b' title 'chirpd', \
     relay using 1:7 with linespoints lw 2 pt 5 lc rgb '#2c3e50' title 'relay'
