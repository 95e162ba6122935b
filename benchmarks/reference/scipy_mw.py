"""SciPy's figures for the sizes of canaryd's stats benchmarks.

Run by benchmarks/reference/run.sh with Debian's python3 (python3-scipy).
Prints one line per case: name, CPU seconds per operation (process time,
median of the repeats), repeats.
"""
import sys
import time

import numpy as np
from scipy import stats


def cpu_per_op(fn, min_seconds=1.0, max_repeats=1000):
    fn()  # warm up
    times = []
    total = 0.0
    while total < min_seconds and len(times) < max_repeats:
        t0 = time.process_time()
        fn()
        dt = time.process_time() - t0
        times.append(dt)
        total += dt
    times.sort()
    return times[len(times) // 2], len(times)


def samples(n, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n) + 0.2, rng.standard_normal(n)


def main():
    slow = "--slow" in sys.argv
    cases = []
    for name, n, method in [
        ("small", 30, "exact"),
        ("judge", 300, "asymptotic"),
        ("medium", 1000, "asymptotic"),
        ("huge", 100000, "asymptotic"),
    ]:
        x, y = samples(n, n)
        cases.append((f"scipy mannwhitneyu {name} n=m={n} {method}",
                      lambda x=x, y=y, method=method: stats.mannwhitneyu(x, y, method=method)))
    x, y = samples(100000, 7)
    both = np.concatenate([x, y])
    cases.append(("numpy sort 200000 values", lambda: np.sort(both)))
    if slow:
        # SciPy's exact distribution at n = m = 200 takes minutes: one run.
        x, y = samples(200, 200)
        cases.append(("scipy mannwhitneyu n=m=200 exact", lambda: stats.mannwhitneyu(x, y, method="exact")))
    for name, fn in cases:
        sec, reps = cpu_per_op(fn, min_seconds=0.0 if "n=m=200 exact" in name else 1.0)
        print(f"{name}\t{sec:.6g} s\t{reps} runs", flush=True)


if __name__ == "__main__":
    print(f"# python {sys.version.split()[0]}, numpy {np.__version__}, scipy {__import__('scipy').__version__}")
    main()
