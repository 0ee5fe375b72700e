#!/usr/bin/env bash
# Turns loadtest/results/compare.tsv (from compare.sh) into docs/perf.png:
# throughput and p99 against connections, adserver beside the reference.
#   bash loadtest/plot.sh [TSV] [PNG]
set -euo pipefail
cd "$(dirname "$0")/.."
tsv=${1:-loadtest/results/compare.tsv}
png=${2:-docs/perf.png}
# shellcheck source=loadtest/lib.sh
. loadtest/lib.sh
need gnuplot gnuplot-nox
mkdir -p "$(dirname "$png")"
gnuplot <<GNUPLOT
set terminal pngcairo size 1100,420 font ",10"
set output "$png"
set datafile separator "\t"
set key top left
set logscale x 2
set xlabel "connections"
set grid
set multiplot layout 1,2 title "adserver vs bare-hyper reference (server on 1 core, wrk on the other)"
set ylabel "requests/s"
set yrange [0:*]
plot "$tsv" using 1:2 skip 1 with linespoints lw 2 title "adserver", \
     "$tsv" using 1:5 skip 1 with linespoints lw 2 dt 2 title "reference"
set ylabel "p99 latency (µs)"
plot "$tsv" using 1:4 skip 1 with linespoints lw 2 title "adserver", \
     "$tsv" using 1:7 skip 1 with linespoints lw 2 dt 2 title "reference"
unset multiplot
GNUPLOT
echo "wrote $png"
