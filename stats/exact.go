package stats

import "math"

// exactDist is the cumulative null distribution of U, without ties, for
// samples of n and m values: cdf[k] = P(U <= k) for k = 0..len(cdf)-1, the
// rest by the symmetry P(U <= k) = 1 - P(U <= nm-k-1).
type exactDist struct {
	cdf []float64
	nm  int64
	// ascending reports that cdf never decreases (rounding could make it,
	// in principle): quantiles are then found by binary search.
	ascending bool
}

// has reports whether P(U <= k) is available.
func (d exactDist) has(k int64) bool {
	return k < 0 || k >= d.nm || k < int64(len(d.cdf)) || d.nm-k-1 < int64(len(d.cdf))
}

// le returns P(U <= k). k must satisfy has(k).
func (d exactDist) le(k int64) float64 {
	switch {
	case k < 0:
		return 0
	case k >= d.nm:
		return 1
	case k < int64(len(d.cdf)):
		return d.cdf[k]
	case d.nm-k-1 < int64(len(d.cdf)):
		return 1 - d.cdf[d.nm-k-1]
	}
	panic("stats: internal error: exact distribution truncated below the index needed")
}

// ge returns P(U >= k) = P(U <= nm-k).
func (d exactDist) ge(k int64) float64 { return d.le(d.nm - k) }

// pValue returns the exact p-value of an integer U. Two-sided doubles the
// tail on U's side of the mean nm/2, as R does:
//
//	p = min(1, 2 P(U >= u))  if u > nm/2
//	p = min(1, 2 P(U <= u))  otherwise
func (d exactDist) pValue(u int64, alt Alternative) float64 {
	switch alt {
	case Greater:
		return d.ge(u)
	case Less:
		return d.le(u)
	}
	if 2*u > d.nm {
		return min(1, 2*d.ge(u))
	}
	return min(1, 2*d.le(u))
}

// Limits of the exact method: beyond them a request for Exact falls back to
// Asymptotic. The smaller sample bounds the rounding error of exactCDF
// (see there); n·m bounds its O(nm) memory and O(min(n,m)·nm) time.
const (
	exactMaxSmaller = 300
	exactMaxProduct = 1_000_000
)

// exactFeasible reports whether exactCDF is accurate and affordable for
// samples of n and m values.
func exactFeasible(n, m int) bool {
	return min(n, m) <= exactMaxSmaller && int64(n)*int64(m) <= exactMaxProduct
}

// qwilcoxFuzz is R's allowance for rounding in the cumulative sums of qwilcox.
const qwilcoxFuzz = 10 * 2.220446049250313e-16

// quantile returns R's qwilcox(x, n, m): the smallest q with P(U <= q) >= x
// for x <= 0.5, and by the upper tail otherwise. ok is false when the
// truncated distribution does not reach the quantile.
func (d exactDist) quantile(x float64) (q int64, ok bool) {
	// The stored part of the distribution, read directly: the same values
	// le returns there, without its branches.
	direct := d.cdf[:min(int64(len(d.cdf)), d.nm)]
	if x <= 0.5 {
		x -= qwilcoxFuzz
		if k := d.first(direct, func(c float64) bool { return c >= x }); k < len(direct) {
			return int64(k), true
		}
		for k := int64(len(direct)); k <= d.nm; k++ {
			if !d.has(k) {
				return 0, false
			}
			if d.le(k) >= x {
				return k, true
			}
		}
		return d.nm, true
	}
	// The upper quantile of U is the mirror of a lower one of nm - U.
	x = 1 - x + qwilcoxFuzz
	if k := d.first(direct, func(c float64) bool { return c > x }); k < len(direct) {
		return d.nm - int64(k), true
	}
	for k := int64(len(direct)); k <= d.nm; k++ {
		if !d.has(k) {
			return 0, false
		}
		if d.le(k) > x {
			return d.nm - k, true
		}
	}
	return 0, true
}

// first returns the first index of cdf whose value satisfies ok, or
// len(cdf), ok being monotone in the value: by binary search when the
// values ascend, else by a scan.
func (d exactDist) first(cdf []float64, ok func(float64) bool) int {
	if !d.ascending {
		for k, c := range cdf {
			if ok(c) {
				return k
			}
		}
		return len(cdf)
	}
	lo, hi := 0, len(cdf)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ok(cdf[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lowestNeeded returns the largest array index that le(k) reads, or -1.
func lowestNeeded(nm, k int64) int64 {
	if k < 0 || k >= nm {
		return -1
	}
	return min(k, nm-k-1)
}

// exactDistribution returns the exact distribution of U for samples of n and
// m values and the interval's lower rank qu (R's qwilcox of alpha/2
// two-sided, alpha one-sided, at least 1). The lower half of the
// distribution comes from the workspace's ExactTable if it has one, else
// from its own copy of the last one computed, else it is computed (see
// exactCDF).
//
// The distribution returned reads P(U <= k) directly up to the index that u
// and the quantile need (guessed from the normal approximation) and by the
// symmetry above it, as when only that much was computed: the two sides of
// the symmetry can differ in the last bit, and this keeps every p-value and
// rank what it was when the distribution was truncated there.
func (w *Workspace) exactDistribution(n, m int, u int64, alt Alternative, alpha float64) (exactDist, int64) {
	half := w.exactHalf(n, m)
	nm := half.nm
	k := max(lowestNeeded(nm, u), lowestNeeded(nm, nm-u))
	x := alpha
	if alt == TwoSided {
		x = alpha / 2
	}
	// Guess where the quantile lies from the normal approximation, with a
	// margin; if the guess is short, the full lower half always suffices.
	if tail := min(x, 1-x); tail > 0 {
		sd := math.Sqrt(float64(nm) * float64(n+m+1) / 12)
		g := float64(nm)/2 + NormalQuantile(tail)*sd + sd/2 + 2
		k = max(k, int64(min(max(g, 0), float64(nm/2))))
	}
	d := half
	d.cdf = half.cdf[:max(k, 0)+1]
	qu, ok := d.quantile(x)
	if !ok {
		d = half
		qu, _ = d.quantile(x)
	}
	return d, max(qu, 1)
}

// exactHalf returns the distribution of U for samples of n and m values
// with P(U <= k) stored for k = 0..nm/2.
func (w *Workspace) exactHalf(n, m int) exactDist {
	nm := int64(n) * int64(m)
	if w.table != nil {
		return w.table.half(n, m, w)
	}
	if w.distN != n || w.distM != m {
		w.distAscending = w.exactCDF(n, m, nm/2).ascending
		w.distN, w.distM = n, m
	}
	return exactDist{cdf: w.dist, nm: nm, ascending: w.distAscending}
}

// exactCDF computes P(U <= k) for k = 0..K into w.dist from the Gaussian
// binomial generating function of U (see Workspace.MannWhitney). Each step
// multiplies by one factor (1 - q^(n+i)) / (1 - q^i) and by
// i/(n+i) = C(n+i-1, i-1)/C(n+i, i), which keeps probabilities rather than
// counts, so nothing overflows; values below the smallest float64 underflow
// harmlessly to 0. With a_k the coefficients before step i, s = n+i and
// f = i/(n+i), the new ones are
//
//	b_k = f (a_k - a_(k-s)) + b_(k-i)
//
// (terms of negative index are 0), computed in one ascending pass from one
// buffer into the other; coefficients above n·i are zero after step i and
// are skipped. The loop runs over the smaller sample: O(min(n,m)·K) time,
// O(K) memory. The float64 conversion keeps f·(a_k - a_(k-s)) rounded on its
// own (no fused multiply-add), as the two passes of the first version did:
// the results are the same bit for bit (TestExactCDFMatchesTwoPasses).
//
// The division is a recursive sum whose rounding errors are not divisible
// by the later factors, so they grow with the number of steps: measured as
// the defect of the symmetry P(U <= nm/2 - 1) = P(U >= nm/2 + 1), below
// 1e-14 up to m = 200, 1e-11 at m = 300, 2e-9 at m = 400 (computing only the
// lower half and mirroring it is worse). Hence exactMaxSmaller.
func (w *Workspace) exactCDF(n, m int, K int64) exactDist {
	if m > n {
		n, m = m, n
	}
	nm := int64(n) * int64(m)
	K = max(0, min(K, nm))
	w.distN, w.distM = 0, 0 // w.dist no longer holds a whole lower half
	w.dist = growFloats(w.dist, int(K)+1)
	w.dist2 = growFloats(w.dist2, int(K)+1)
	cur, next := w.dist, w.dist2
	clear(cur)
	clear(next)
	cur[0] = 1
	for i := 1; i <= m; i++ {
		s := n + i
		f := float64(i) / float64(s)
		top := int(min(K, int64(n)*int64(i)))
		// cur is zero above the previous step's top, next above the top of
		// the step before, which is lower.
		a, b := cur[:top+1], next[:top+1]
		lo := min(i, top+1)
		for k := range lo {
			b[k] = f * a[k]
		}
		mid := min(s, top+1)
		for k := lo; k < mid; k++ {
			b[k] = float64(f*a[k]) + b[k-i]
		}
		if mid < len(b) {
			hi, below, back := a[mid:], a[mid-s:len(a)-s], b[mid-i:len(b)-i]
			out := b[mid:]
			// The same lengths, said to the compiler: no bounds checks in
			// the loop that is most of the work.
			hi, below, back = hi[:len(out)], below[:len(out)], back[:len(out)]
			for k := range out {
				out[k] = float64(f*(hi[k]-below[k])) + back[k]
			}
		}
		cur, next = next, cur
	}
	// Keep the result in w.dist.
	w.dist, w.dist2 = cur, next
	res := cur[:K+1]
	ascending := true
	for k := 1; k < len(res); k++ {
		res[k] += res[k-1]
		ascending = ascending && res[k] >= res[k-1]
	}
	return exactDist{cdf: res, nm: nm, ascending: ascending}
}
