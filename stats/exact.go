package stats

import "math"

// exactDist is the cumulative null distribution of U, without ties, for
// samples of n and m values: cdf[k] = P(U <= k) for k = 0..len(cdf)-1, the
// rest by the symmetry P(U <= k) = 1 - P(U <= nm-k-1).
type exactDist struct {
	cdf []float64
	nm  int64
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
	if x <= 0.5 {
		x -= qwilcoxFuzz
		for k := int64(0); k <= d.nm; k++ {
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
	for k := int64(0); k <= d.nm; k++ {
		if !d.has(k) {
			return 0, false
		}
		if d.le(k) > x {
			return d.nm - k, true
		}
	}
	return 0, true
}

// lowestNeeded returns the largest array index that le(k) reads, or -1.
func lowestNeeded(nm, k int64) int64 {
	if k < 0 || k >= nm {
		return -1
	}
	return min(k, nm-k-1)
}

// exactDistribution returns the exact distribution of U for samples of n and
// m values, truncated where the p-value of u and the interval's quantile no
// longer need it, and the interval's lower rank qu (R's qwilcox of alpha/2
// two-sided, alpha one-sided, at least 1).
func (w *Workspace) exactDistribution(n, m int, u int64, alt Alternative, alpha float64) (exactDist, int64) {
	nm := int64(n) * int64(m)
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
	d := w.exactCDF(n, m, k)
	qu, ok := d.quantile(x)
	if !ok {
		d = w.exactCDF(n, m, nm/2)
		qu, _ = d.quantile(x)
	}
	return d, max(qu, 1)
}

// exactCDF computes P(U <= k) for k = 0..K from the Gaussian binomial
// generating function of U (see Workspace.MannWhitney). Each factor
// (1 - q^(n+i)) / (1 - q^i) is applied in place: a descending pass subtracts
// the coefficients n+i below, an ascending pass adds those i below. Scaling
// each step by i/(n+i) = C(n+i-1, i-1)/C(n+i, i) keeps probabilities rather
// than counts, so nothing overflows; values below the smallest float64
// underflow harmlessly to 0. Coefficients above n·i are zero after step i
// and are skipped. The loop runs over the smaller sample.
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
	w.dist = growFloats(w.dist, int(K)+1)
	a := w.dist
	clear(a)
	a[0] = 1
	for i := 1; i <= m; i++ {
		s := n + i
		f := float64(i) / float64(s)
		top := int(min(K, int64(n)*int64(i)))
		// Multiply by (1 - q^s) and scale: old coefficients are read from
		// below, so go downwards.
		if top >= s {
			up := a[s : top+1]
			down := a[:len(up)]
			for k := len(up) - 1; k >= 0; k-- {
				up[k] = f * (up[k] - down[k])
			}
		}
		for k := range a[:min(s, top+1)] {
			a[k] *= f
		}
		// Divide by (1 - q^i): new coefficients are read from below, so go
		// upwards.
		if top >= i {
			up := a[i : top+1]
			down := a[:len(up)]
			for k := range up {
				up[k] += down[k]
			}
		}
	}
	for k := 1; k < len(a); k++ {
		a[k] += a[k-1]
	}
	return exactDist{cdf: a, nm: nm}
}
