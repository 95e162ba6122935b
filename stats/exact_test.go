package stats

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"
)

// bigCDF is P(U <= k), k = 0..K, from exact integer counts: the same
// generating function expanded in big integers, then divided by C(n+m, n).
func bigCDF(n, m, K int) []float64 {
	a := make([]*big.Int, K+1)
	for k := range a {
		a[k] = new(big.Int)
	}
	a[0].SetInt64(1)
	for i := 1; i <= m; i++ {
		for k := K; k >= n+i; k-- {
			a[k].Sub(a[k], a[k-n-i])
		}
		for k := i; k <= K; k++ {
			a[k].Add(a[k], a[k-i])
		}
	}
	total := new(big.Int).Binomial(int64(n+m), int64(n))
	cdf := make([]float64, K+1)
	cum := new(big.Int)
	for k := range a {
		cum.Add(cum, a[k])
		cdf[k], _ = new(big.Rat).SetFrac(cum, total).Float64()
	}
	return cdf
}

// TestExactCDFAgainstIntegers: the normalised float recurrence agrees with
// exact integer arithmetic to 1e-12 relative, tails included.
func TestExactCDFAgainstIntegers(t *testing.T) {
	tests := []struct{ n, m, K int }{
		{1, 1, 1}, {1, 7, 7}, {5, 3, 7}, {12, 12, 72}, {49, 49, 1200}, {100, 100, 5000}, {150, 90, 6750}, {200, 200, 1500},
	}
	var w Workspace
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.n, tt.m), func(t *testing.T) {
			want := bigCDF(tt.n, tt.m, tt.K)
			for _, nm := range [][2]int{{tt.n, tt.m}, {tt.m, tt.n}} {
				got := w.exactCDF(nm[0], nm[1], int64(tt.K)).cdf
				if len(got) != len(want) {
					t.Fatalf("len %d, want %d", len(got), len(want))
				}
				for k := range want {
					if !closeRel(got[k], want[k], 1e-12, 0) {
						t.Fatalf("P(U <= %d) = %.17g, want %.17g", k, got[k], want[k])
					}
				}
			}
		})
	}
}

// TestExactLarge: at the limits of the exact method, counts exceed float64
// (C(3300, 300) ~ 1e434) but probabilities do not; the distribution stays
// symmetric to 1e-10 and close to normal in the body.
func TestExactLarge(t *testing.T) {
	var w Workspace
	for _, sz := range [][2]int{{300, 300}, {3300, 300}, {300, 3300}} {
		n, m := sz[0], sz[1]
		if !exactFeasible(n, m) {
			t.Fatalf("%dx%d should be feasible", n, m)
		}
		nm := int64(n) * int64(m)
		d := w.exactCDF(n, m, nm/2)
		for k := 1; k < len(d.cdf); k++ {
			if d.cdf[k] < d.cdf[k-1] || math.IsNaN(d.cdf[k]) {
				t.Fatalf("%dx%d: cdf not monotone at %d: %v, %v", n, m, k, d.cdf[k-1], d.cdf[k])
			}
		}
		// Symmetry about nm/2: P(U <= nm/2 - 1) = P(U >= nm/2 + 1).
		mid := d.cdf[nm/2] - d.cdf[nm/2-1]
		if got := 2*d.cdf[nm/2-1] + mid; math.Abs(got-1) > 1e-10 {
			t.Errorf("%dx%d: total probability %v", n, m, got)
		}
		sd := math.Sqrt(float64(nm) * float64(n+m+1) / 12)
		for _, z := range []float64{-1, -2} {
			k := int64(float64(nm)/2 + z*sd)
			normal := NormalUpperTail(-(float64(k) + 0.5 - float64(nm)/2) / sd)
			if math.Abs(d.cdf[k]-normal) > 1e-2*normal {
				t.Errorf("%dx%d: P(U <= %d) = %v, normal approximation %v", n, m, k, d.cdf[k], normal)
			}
		}
	}
	for _, sz := range [][2]int{{301, 301}, {4000, 300}} {
		if exactFeasible(sz[0], sz[1]) {
			t.Errorf("%dx%d should not be feasible", sz[0], sz[1])
		}
	}
}

// TestExactQuantile checks qwilcox against the textbook recurrence on both
// branches (x <= 0.5 and the upper tail).
func TestExactQuantile(t *testing.T) {
	var w Workspace
	for _, nm := range [][2]int{{1, 1}, {2, 3}, {4, 6}, {9, 9}, {20, 13}} {
		n, m := nm[0], nm[1]
		d := w.exactCDF(n, m, int64(n*m/2))
		for _, p := range []float64{0.001, 0.005, 0.025, 0.05, 0.1, 0.25, 0.5} {
			got, ok := d.quantile(p)
			if !ok {
				t.Fatalf("%dx%d: quantile(%v) not reached", n, m, p)
			}
			if want := bruteQwilcox(p, n, m); max(got, 1) != int64(want) {
				t.Errorf("%dx%d: qwilcox(%v) = %d, want %d", n, m, p, got, want)
			}
			// The upper quantile mirrors the lower one when no value of the
			// cdf sits exactly at the level.
			up, ok := d.quantile(1 - p)
			if !ok {
				t.Fatalf("%dx%d: quantile(%v) not reached", n, m, 1-p)
			}
			if lowOpen := lowestAbove(d, p); up != int64(n*m)-lowOpen {
				t.Errorf("%dx%d: qwilcox(%v) = %d, want %d", n, m, 1-p, up, int64(n*m)-lowOpen)
			}
		}
	}
}

// lowestAbove is the smallest k with P(U <= k) > p (R's upper branch).
func lowestAbove(d exactDist, p float64) int64 {
	for k := int64(0); ; k++ {
		if d.le(k) > p+qwilcoxFuzz {
			return k
		}
	}
}

// TestExactPValueConventions checks R's two-sided rule and the tails on the
// smallest cases, where the distribution is known by hand: n = m = 2 gives
// U in 0..4 with counts 1, 1, 2, 1, 1.
func TestExactPValueConventions(t *testing.T) {
	var w Workspace
	d := w.exactCDF(2, 2, 4)
	tests := []struct {
		u    int64
		alt  Alternative
		want float64
	}{
		{0, Less, 1.0 / 6}, {0, Greater, 1}, {0, TwoSided, 2.0 / 6},
		{2, Less, 4.0 / 6}, {2, Greater, 4.0 / 6}, {2, TwoSided, 1},
		{3, TwoSided, 4.0 / 6}, {4, Greater, 1.0 / 6}, {4, TwoSided, 2.0 / 6},
	}
	for _, tt := range tests {
		if got := d.pValue(tt.u, tt.alt); !closeRel(got, tt.want, 1e-15, 0) {
			t.Errorf("U = %d %v: p = %v, want %v", tt.u, tt.alt, got, tt.want)
		}
	}
}

// exactCDFTwoPasses is the first version of exactCDF (two passes per
// factor, in place), kept to hold the fused pass to it bit for bit.
func exactCDFTwoPasses(n, m int, K int64) exactDist {
	if m > n {
		n, m = m, n
	}
	nm := int64(n) * int64(m)
	K = max(0, min(K, nm))
	a := make([]float64, K+1)
	a[0] = 1
	for i := 1; i <= m; i++ {
		s := n + i
		f := float64(i) / float64(s)
		top := int(min(K, int64(n)*int64(i)))
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

// exactDistributionTruncated is the first version of exactDistribution: the
// distribution truncated at the largest index the p-value of u and a guess
// of the quantile need, extended to the lower half when the guess fell
// short.
func exactDistributionTruncated(n, m int, u int64, alt Alternative, alpha float64) (exactDist, int64) {
	needed := func(nm, k int64) int64 {
		if k < 0 || k >= nm {
			return -1
		}
		return min(k, nm-k-1)
	}
	nm := int64(n) * int64(m)
	k := max(needed(nm, u), needed(nm, nm-u))
	x := alpha
	if alt == TwoSided {
		x = alpha / 2
	}
	if tail := min(x, 1-x); tail > 0 {
		sd := math.Sqrt(float64(nm) * float64(n+m+1) / 12)
		g := float64(nm)/2 + NormalQuantile(tail)*sd + sd/2 + 2
		k = max(k, int64(min(max(g, 0), float64(nm/2))))
	}
	d := exactCDFTwoPasses(n, m, k)
	qu, ok := d.quantile(x)
	if !ok {
		d = exactCDFTwoPasses(n, m, nm/2)
		qu, _ = d.quantile(x)
	}
	return d, max(qu, 1)
}

// TestExactCDFMatchesTwoPasses holds the fused recurrence to the two-pass
// one, bit for bit, truncated or not.
func TestExactCDFMatchesTwoPasses(t *testing.T) {
	var w Workspace
	sizes := [][2]int{{1, 1}, {1, 5}, {5, 1}, {2, 2}, {3, 7}, {12, 12}, {30, 30}, {49, 13}, {100, 100}, {200, 200}, {300, 300}, {1000, 200}}
	for _, sz := range sizes {
		n, m := sz[0], sz[1]
		nm := int64(n) * int64(m)
		Ks := []int64{0, 1, int64(n), nm / 4, nm/2 - 1, nm / 2}
		if nm <= 10_000 {
			Ks = append(Ks, nm)
		}
		for _, K := range Ks {
			want := exactCDFTwoPasses(n, m, K).cdf
			got := w.exactCDF(n, m, K).cdf
			if !slices.EqualFunc(got, want, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }) {
				t.Fatalf("%dx%d K=%d: the fused recurrence differs from the two passes", n, m, K)
			}
		}
	}
}

// TestExactDistributionMatchesTruncated holds the distribution of the lower
// half, whether computed, remembered by the workspace or taken from a
// table, to the truncated one it replaced: the same p-value and interval
// rank for every U, alternative and level.
func TestExactDistributionMatchesTruncated(t *testing.T) {
	table := NewExactTable(1 << 20)
	var plain, memo, shared Workspace
	shared.SetExactTable(table)
	for _, n := range []int{1, 2, 3, 4, 5, 8, 13, 21, 30} {
		for _, m := range []int{1, 2, 3, 7, 10, 19, 30} {
			nm := int64(n) * int64(m)
			// Every U up to 100 pairs, about 100 of them above, and those
			// where le switches sides of the symmetry.
			us := []int64{nm/2 - 1, nm / 2, nm/2 + 1, nm - 1, nm}
			for u := int64(0); u <= nm; u += max(1, nm/100) {
				us = append(us, u)
			}
			for _, alt := range []Alternative{TwoSided, Greater, Less} {
				for _, alpha := range []float64{0.001, 0.01, 0.05, 0.1, 0.5, 0.9} {
					for _, u := range us {
						if u < 0 {
							continue
						}
						want, wantQ := exactDistributionTruncated(n, m, u, alt, alpha)
						wantP := want.pValue(u, alt)
						plain.distN = 0 // forget: compute afresh
						for name, w := range map[string]*Workspace{"computed": &plain, "remembered": &memo, "table": &shared} {
							d, q := w.exactDistribution(n, m, u, alt, alpha)
							if p := d.pValue(u, alt); p != wantP || q != wantQ {
								t.Fatalf("%s %dx%d U=%d %v alpha=%v: p = %v, rank %d; want %v, %d", name, n, m, u, alt, alpha, p, q, wantP, wantQ)
							}
						}
					}
				}
			}
		}
	}
}

// benchmarkExactPValue times an exact p-value (with the interval's
// quantile) at n = m, in the worst case U = nm/2, where the whole lower half
// of the distribution is needed: computed every time (what a first
// comparison of these sizes costs), or, cached, taken from an ExactTable.
func benchmarkExactPValue(b *testing.B, n int, cached bool) {
	var w Workspace
	if cached {
		w.SetExactTable(NewExactTable(64 << 20))
	}
	nm := int64(n) * int64(n)
	w.exactDistribution(n, n, nm/2, TwoSided, 0.05) // grow the workspace
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if !cached {
			w.distN = 0 // forget the last distribution
		}
		d, _ := w.exactDistribution(n, n, nm/2, TwoSided, 0.05)
		if p := d.pValue(nm/2, TwoSided); p != 1 {
			b.Fatalf("p = %v", p)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkExactPValue(b *testing.B) {
	for _, n := range []int{30, 200, 300} {
		b.Run(fmt.Sprintf("n=m=%d", n), func(b *testing.B) { benchmarkExactPValue(b, n, false) })
	}
}

func BenchmarkExactPValueCached(b *testing.B) {
	for _, n := range []int{30, 200, 300} {
		b.Run(fmt.Sprintf("n=m=%d", n), func(b *testing.B) { benchmarkExactPValue(b, n, true) })
	}
}
