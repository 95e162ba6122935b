#!/bin/sh
# Runs SciPy's and R's figures for the sizes of the stats benchmarks, then
# canaryd's, in one run so that all see the same machine load. From the
# repository root:
#
#	benchmarks/reference/run.sh [--slow]
#
# Needs Debian's python3-scipy and r-base-core (apt-get install -y
# python3-scipy r-base-core). --slow adds SciPy's exact p-value at
# n = m = 200 (minutes). Output: tab-separated lines, CPU time per operation.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3 # Debian's, where python3-scipy is installed
"$PY" benchmarks/reference/scipy_mw.py "$@"
Rscript benchmarks/reference/r_wilcox.R
go test -run '^$' -bench 'MannWhitney$|ExactPValue|Sort200000' -benchmem -count 1 ./stats/ |
	awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($i == "cpu-ns/op") printf "canaryd %s\t%.6g s\n", $1, $(i-1) / 1e9 }'
