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
	dist []float64 // exact distribution, then cumulative distribution, of U
	med  []float64 // scratch copy for Median

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
// returns a[k]. Random pivots and a three-way partition keep it expected
// O(len(a)) also with many equal values; short ranges finish by insertion
// sort.
func quickselect(a []float64, k int, rng *rand.PCG) float64 {
	lo, hi := 0, len(a)-1
	for hi-lo > 16 {
		// A pivot uniform in [lo, hi], by multiplying rather than dividing.
		p := a[lo+int((rng.Uint64()>>32)*uint64(hi-lo+1)>>32)]
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := a[i]; {
			case v < p:
				a[lt], a[i] = v, a[lt]
				lt++
				i++
			case v > p:
				a[gt], a[i] = v, a[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	for i := lo + 1; i <= hi; i++ {
		v := a[i]
		j := i
		for ; j > lo && a[j-1] > v; j-- {
			a[j] = a[j-1]
		}
		a[j] = v
	}
	return a[k]
}
