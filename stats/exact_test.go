package stats

import (
	"fmt"
	"math"
	"math/big"
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

// benchmarkExactPValue times an exact p-value (with the interval's
// quantile) at n = m, in the worst case U = nm/2, where the whole lower half
// of the distribution is needed.
func benchmarkExactPValue(b *testing.B, n int) {
	var w Workspace
	nm := int64(n) * int64(n)
	w.exactDistribution(n, n, nm/2, TwoSided, 0.05) // grow the workspace
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		d, _ := w.exactDistribution(n, n, nm/2, TwoSided, 0.05)
		if p := d.pValue(nm/2, TwoSided); p != 1 {
			b.Fatalf("p = %v", p)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkExactPValue(b *testing.B) {
	for _, n := range []int{30, 200, 300} {
		b.Run(fmt.Sprintf("n=m=%d", n), func(b *testing.B) { benchmarkExactPValue(b, n) })
	}
}
