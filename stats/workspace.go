package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Workspace holds the reusable buffers of a comparison: the sorted copies of
// both samples, the exact null distribution of U, and the per-row bounds of
// the order-statistic selection. The zero value is ready to use. Once its
// buffers have grown to the largest samples seen, MannWhitney and Median
// allocate nothing. A Workspace is not safe for concurrent use: give each
// goroutine its own.
type Workspace struct {
	x, y []float64 // sorted canary; sorted baseline (descending while selecting)
	// dist and dist2 hold the exact distribution of U while it is computed,
	// then dist the cumulative distribution; if distN, distM > 0, its whole
	// lower half for samples of distN and distM values.
	dist, dist2   []float64
	distN, distM  int
	distAscending bool
	table         *ExactTable // shared distributions, if set

	med []float64 // scratch copy for Median

	srt sorter
	sel selector
}

// Median returns the median of x, the mean of the two middle values when
// len(x) is even:
//
//	median = x_(k+1)                 len(x) = 2k+1
//	median = (x_(k) + x_(k+1)) / 2   len(x) = 2k
//
// It does not modify x and allocates nothing once the workspace has grown to
// len(x). Empty input returns an error wrapping ErrEmpty; NaN or ±Inf an error
// wrapping ErrNaN or ErrInf.
func (w *Workspace) Median(x []float64) (float64, error) {
	if err := checkSample("sample", x); err != nil {
		return 0, err
	}
	w.med = growFloats(w.med, len(x))
	copy(w.med, x)
	n := len(x)
	hi := quickselect(w.med, n/2, &w.sel.rng)
	if n%2 == 1 {
		return hi, nil
	}
	// After selection every value left of n/2 is <= hi: the lower middle is
	// their maximum.
	lo := math.Inf(-1)
	for _, v := range w.med[:n/2] {
		lo = max(lo, v)
	}
	return midpoint(lo, hi), nil
}

// OrderStatistic returns the k-th smallest value of x (0-based, 0 ≤ k <
// len(x)) by selection, in expected O(len(x)). It does not modify x and
// allocates nothing once the workspace has grown to len(x). k out of range
// panics; NaN values give an unspecified result (the caller removes them).
func (w *Workspace) OrderStatistic(x []float64, k int) float64 {
	if k < 0 || k >= len(x) {
		panic("stats: OrderStatistic: rank out of range")
	}
	w.med = growFloats(w.med, len(x))
	copy(w.med, x)
	return quickselect(w.med[:len(x)], k, &w.sel.rng)
}

// checkSample reports the first NaN or infinite value in x, or that x is empty.
func checkSample(name string, x []float64) error {
	if len(x) == 0 {
		return fmt.Errorf("stats: %s is %w", name, ErrEmpty)
	}
	for i, v := range x {
		if math.IsNaN(v) {
			return fmt.Errorf("stats: %s[%d] is %w", name, i, ErrNaN)
		}
		if math.IsInf(v, 0) {
			return fmt.Errorf("stats: %s[%d] is %w", name, i, ErrInf)
		}
	}
	return nil
}

// midpoint returns (a+b)/2 without overflowing when a and b are finite.
func midpoint(a, b float64) float64 {
	m := (a + b) / 2
	if math.IsInf(m, 0) && !math.IsInf(a, 0) && !math.IsInf(b, 0) {
		m = a/2 + b/2
	}
	return m
}

func growFloats(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n, n+n/4)
	}
	return b[:n]
}

func growInt32s(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n, n+n/4)
	}
	return b[:n]
}

// quickselect partially orders a so that a[k] holds the value of rank k
// (0-based) with nothing larger before it and nothing smaller after it, and
// returns a[k]. Random pivots keep it expected O(len(a)); each round
// partitions without branching on the data (random values would mispredict
// half the branches), first into < pivot and >= pivot and, when the rank is
// in the upper part, that part into == pivot and > pivot, so that many
// equal values cost nothing extra. Short ranges finish by insertion sort.
func quickselect(a []float64, k int, rng *rand.PCG) float64 {
	lo, hi := 0, len(a) // the rank lies in a[lo:hi]
	for hi-lo > 16 {
		// A pivot uniform in [lo, hi), by multiplying rather than dividing.
		p := a[lo+int((rng.Uint64()>>32)*uint64(hi-lo)>>32)]
		m := lo + partitionBelow(a[lo:hi], p, false)
		if k < m {
			hi = m
			continue
		}
		e := m + partitionBelow(a[m:hi], p, true)
		if k < e {
			return p
		}
		lo = e
	}
	for i := lo + 1; i < hi; i++ {
		v := a[i]
		j := i
		for ; j > lo && a[j-1] > v; j-- {
			a[j] = a[j-1]
		}
		a[j] = v
	}
	return a[k]
}

// partitionBelow moves the values < p (<= p if orEqual) to the front of a,
// keeping the others behind them, and returns how many there are. Every
// step swaps a[i] with the first value not yet known to be below and
// advances that boundary by 0 or 1: no branch depends on the data.
func partitionBelow(a []float64, p float64, orEqual bool) int {
	s := 0
	if orEqual {
		for i, v := range a {
			a[i] = a[s]
			a[s] = v
			s += int(b2i(v <= p))
		}
		return s
	}
	for i, v := range a {
		a[i] = a[s]
		a[s] = v
		s += int(b2i(v < p))
	}
	return s
}
