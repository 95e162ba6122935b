package stats

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors for unusable input. They are returned wrapped with the
// sample and index, e.g. "stats: canary[3] is NaN"; test with errors.Is.
var (
	// ErrEmpty reports a sample without values.
	ErrEmpty = errors.New("empty")
	// ErrNaN reports a NaN value.
	ErrNaN = errors.New("NaN")
	// ErrInf reports an infinite value.
	ErrInf = errors.New("infinite")
)

// Alternative is the alternative hypothesis of a test. The zero value is
// TwoSided.
type Alternative int

const (
	// TwoSided: the canary and the baseline differ in location.
	TwoSided Alternative = iota
	// Greater: the canary tends to be larger than the baseline.
	Greater
	// Less: the canary tends to be smaller than the baseline.
	Less
)

// ParseAlternative parses "two-sided", "greater" or "less".
func ParseAlternative(s string) (Alternative, error) {
	switch s {
	case "two-sided":
		return TwoSided, nil
	case "greater":
		return Greater, nil
	case "less":
		return Less, nil
	}
	return 0, fmt.Errorf("stats: unknown alternative %q (want two-sided, greater or less)", s)
}

// String returns "two-sided", "greater" or "less".
func (a Alternative) String() string {
	switch a {
	case TwoSided:
		return "two-sided"
	case Greater:
		return "greater"
	case Less:
		return "less"
	}
	return fmt.Sprintf("Alternative(%d)", int(a))
}

// Method selects how the p-value and the interval are computed. The zero
// value is Auto.
type Method int

const (
	// Auto is Exact when there are no ties and both samples have fewer than
	// 50 values, Asymptotic otherwise (R's rule).
	Auto Method = iota
	// Exact uses the exact null distribution of U. It assumes no ties: with
	// ties the comparison falls back to Asymptotic, and Result.Method says
	// so. It also falls back when the smaller sample exceeds 300 values or
	// n·m exceeds 10^6, where the float64 recurrence would lose precision or
	// take too long.
	Exact
	// Asymptotic uses the normal approximation with tie-corrected variance
	// and a continuity correction.
	Asymptotic
)

// ParseMethod parses "auto", "exact" or "asymptotic".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "exact":
		return Exact, nil
	case "asymptotic":
		return Asymptotic, nil
	}
	return 0, fmt.Errorf("stats: unknown method %q (want auto, exact or asymptotic)", s)
}

// String returns "auto", "exact" or "asymptotic".
func (m Method) String() string {
	switch m {
	case Auto:
		return "auto"
	case Exact:
		return "exact"
	case Asymptotic:
		return "asymptotic"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// exactLimit is Auto's sample size bound: exact when both n and m are below it.
const exactLimit = 50

// Options configure MannWhitney. The zero value is a two-sided test with
// method Auto and a 95% interval.
type Options struct {
	Alternative Alternative
	Method      Method
	// Confidence is the confidence level of the interval, in (0, 1);
	// 0 means 0.95.
	Confidence float64
}

func (o Options) confidence() (float64, error) {
	c := o.Confidence
	if c == 0 {
		return 0.95, nil
	}
	if !(c > 0 && c < 1) {
		return 0, fmt.Errorf("stats: confidence %v not in (0, 1)", c)
	}
	return c, nil
}

// Result is the outcome of a Mann-Whitney comparison of canary against
// baseline.
type Result struct {
	NCanary, NBaseline int
	// Method is the method actually used: Exact or Asymptotic, never Auto.
	Method Method
	// U counts the pairs where the canary is larger, ties counting half:
	//
	//	U = #{(i, j): c_i > b_j} + 0.5 #{(i, j): c_i = b_j}
	U float64
	// PValue is the p-value for the requested alternative.
	PValue float64
	// Shift is the Hodges-Lehmann estimate of the location shift, the median
	// of all n·m differences (the mean of the two middle ones when n·m is
	// even):
	//
	//	Shift = median{c_i - b_j}
	Shift float64
	// Lower and Upper bound the confidence interval for the shift: order
	// statistics of the differences, -Inf or +Inf on an unbounded side.
	Lower, Upper float64
	// Ties reports whether any two values of the pooled sample are equal.
	Ties bool
	// BaselineMedian is the median of the baseline, the mean of its two
	// middle values when m is even (as Workspace.Median), read from its
	// sorted copy: the scale RelativeShift needs, at no extra cost.
	BaselineMedian float64
}

// A returns the Vargha-Delaney common-language effect size, the probability
// that a random canary value exceeds a random baseline value, ties counting
// half:
//
//	A = U / (n m)
//
// 0.5 means no effect.
func (r Result) A() float64 {
	return r.U / (float64(r.NCanary) * float64(r.NBaseline))
}

// MannWhitney compares canary with baseline using a fresh Workspace; see
// Workspace.MannWhitney. Use a Workspace to compare without allocating.
func MannWhitney(canary, baseline []float64, o Options) (Result, error) {
	var w Workspace
	return w.MannWhitney(canary, baseline, o)
}

// MannWhitney runs the Mann-Whitney U test of canary (x, size n) against
// baseline (y, size m) and estimates the Hodges-Lehmann shift and its
// confidence interval. The inputs are copied and not modified: sorted copies,
// by their bit patterns from 64 values on (buckets or a radix sort, see
// sorter.sortInto), from which U and the tie term come in one merge, O(n+m).
//
// Exact p-values come from the null distribution of U without ties, whose
// generating function is the Gaussian binomial coefficient
//
//	sum_k #{U = k} q^k = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i)
//
// expanded factor by factor, normalised by C(n+i, i) at each step so that it
// holds probabilities and never overflows, up to K = nm/2 (the upper half by
// symmetry): O(min(n,m)·nm) time, O(nm) memory, once per pair of sizes when
// the workspace has an ExactTable or compares the same sizes again. Two-sided
// p-values double the smaller tail (R's convention).
//
// Asymptotic p-values use the normal approximation with tie-corrected
// variance and a continuity correction c of 0.5 (sign(U - nm/2)·0.5
// two-sided, +0.5 greater, -0.5 less, as R):
//
//	sigma^2 = (nm/12) ((N+1) - sum_t (t^3 - t) / (N(N-1))),  N = n+m
//	z       = (U - nm/2 - c) / sigma
//
// with tails through erfc; when every value is tied (sigma = 0) the p-value
// is 1.
//
// The Hodges-Lehmann shift and interval are order statistics d_(k) of the
// n·m differences, selected in the implicit matrix d_ij = x_(i) - y_(m+1-j),
// whose rows and columns are sorted, in O((n+m) log(n+m)) expected time and
// O(n+m) memory (see selector); only when n·m <= 1024 are differences
// formed, those between two pivots that bracket the ranks (see
// hodgesLehmannSmall), which is faster at that size. Exact intervals follow R: two-sided
// [d_(qu), d_(nm-qu+1)] with qu = qwilcox(alpha/2, n, m), one-sided
// qu = qwilcox(alpha, n, m), qu at least 1. Asymptotic intervals follow
// Hollander and Wolfe's large-sample rule:
//
//	C = round(nm/2 - z_(1-a) sqrt(nm(n+m+1)/12)), clamped to [1, nm]
//
// with a = alpha/2 two-sided and alpha one-sided, giving [d_(C), d_(nm+1-C)].
//
// Method Auto uses Exact when there are no ties and n, m < 50; Exact with
// ties, or beyond min(n, m) = 300 or n·m = 10^6, falls back to Asymptotic.
// Result.Method reports the method used.
func (w *Workspace) MannWhitney(canary, baseline []float64, o Options) (Result, error) {
	if err := checkSample("canary", canary); err != nil {
		return Result{}, err
	}
	if err := checkSample("baseline", baseline); err != nil {
		return Result{}, err
	}
	conf, err := o.confidence()
	if err != nil {
		return Result{}, err
	}
	if o.Alternative < TwoSided || o.Alternative > Less {
		return Result{}, fmt.Errorf("stats: invalid alternative %v", o.Alternative)
	}
	if o.Method < Auto || o.Method > Asymptotic {
		return Result{}, fmt.Errorf("stats: invalid method %v", o.Method)
	}
	n, m := len(canary), len(baseline)
	if n > math.MaxInt32 || m > math.MaxInt32 {
		return Result{}, fmt.Errorf("stats: samples of %d and %d values are too large", n, m)
	}

	w.x = growFloats(w.x, n)
	w.y = growFloats(w.y, m)
	w.srt.sortInto(w.x, canary)
	w.srt.sortInto(w.y, baseline)

	r := Result{NCanary: n, NBaseline: m, BaselineMedian: w.y[m/2]}
	if m%2 == 0 {
		r.BaselineMedian = midpoint(w.y[m/2-1], w.y[m/2])
	}
	var tieSum float64
	r.U, tieSum, r.Ties = rankSum(w.x, w.y)

	r.Method = o.Method
	if r.Method == Auto {
		r.Method = Asymptotic
		if n < exactLimit && m < exactLimit {
			r.Method = Exact
		}
	}
	if r.Ties || !exactFeasible(n, m) {
		r.Method = Asymptotic
	}

	alpha := 1 - conf
	var lo int64 // rank of the interval's lower bound, 1-based
	if r.Method == Exact {
		var d exactDist
		d, lo = w.exactDistribution(n, m, int64(r.U), o.Alternative, alpha)
		r.PValue = d.pValue(int64(r.U), o.Alternative)
	} else {
		r.PValue = asymptoticPValue(r.U, n, m, tieSum, o.Alternative)
		lo = asymptoticRank(n, m, o.Alternative, alpha)
	}
	r.Shift, r.Lower, r.Upper = w.hodgesLehmann(o.Alternative, lo)
	return r, nil
}

// rankSum returns U for sorted x against sorted y, the tie term
// sum_t (t^3 - t) over groups of equal values in the pooled sample, and
// whether there are any ties. O(n+m).
//
// Without ties U is the number of pairs with y_j < x_i, which one merge
// counts without branching on the data (rankSumDistinct); with fresh data
// the branches of a merge are mispredicted about once per value. Only when
// it finds a tie are the groups of equal values counted (rankSumTied).
func rankSum(x, y []float64) (u, tieSum float64, ties bool) {
	if below, ok := rankSumDistinct(x, y); ok {
		return float64(below), 0, false
	}
	return rankSumTied(x, y)
}

// rankSumDistinct returns #{(i, j): y_j < x_i} for sorted x and y, and
// whether the pooled sample is free of ties (when it is not, the count is
// not U). Each step of the merge compares x_i with the first y not yet
// known to be below it and either moves past that y or closes row i,
// adding the y below x_i; a tie is an x_i equal to the y it stops at, or
// two equal neighbours within x or within y.
func rankSumDistinct(x, y []float64) (below int64, ok bool) {
	n, m := len(x), len(y)
	var eq int32
	for k := 1; k < n; k++ {
		eq |= b2i(x[k] == x[k-1])
	}
	for k := 1; k < m; k++ {
		eq |= b2i(y[k] == y[k-1])
	}
	if m == 0 {
		return 0, eq == 0
	}
	i, j := 0, 0
	for i < n {
		xi := x[i]
		yj := y[min(j, m-1)]
		in := b2i(j < m)
		c := in & b2i(yj < xi) // y_j is below x_i: move past it
		j += int(c)
		closed := 1 - c
		eq |= closed & in & b2i(yj == xi)
		below += int64(closed) * int64(j)
		i += int(closed)
	}
	return below, eq == 0
}

// rankSumTied is rankSum by groups of equal values.
func rankSumTied(x, y []float64) (u, tieSum float64, ties bool) {
	var below int64 // #{y_j < current value}
	var twiceU int64
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		var v float64
		switch {
		case i == len(x):
			v = y[j]
		case j == len(y):
			v = x[i]
		default:
			v = min(x[i], y[j])
		}
		var a, b int64
		for i < len(x) && x[i] == v {
			i++
			a++
		}
		for j < len(y) && y[j] == v {
			j++
			b++
		}
		twiceU += 2*a*below + a*b
		below += b
		if t := a + b; t > 1 {
			ties = true
			tf := float64(t)
			tieSum += tf*tf*tf - tf
		}
	}
	return float64(twiceU) / 2, tieSum, ties
}
