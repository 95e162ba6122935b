package stats

import (
	"math"
	"testing"
)

// upperTailSeries is the asymptotic expansion of P(Z > z) for large z,
//
//	phi(z)/z (1 - 1/z^2 + 3/z^4 - 15/z^6 + ...)
//
// an independent reference far in the tail (z >= 10: terms shrink fast).
func upperTailSeries(z float64) float64 {
	phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
	sum, term := 1.0, 1.0
	for k := 1; k < 30; k++ {
		term *= -float64(2*k-1) / (z * z)
		sum += term
	}
	return phi / z * sum
}

func TestNormalUpperTail(t *testing.T) {
	tests := []struct{ z, want float64 }{
		{0, 0.5},
		{1.959963984540054, 0.025},
		{-1.959963984540054, 0.975},
		{math.Inf(1), 0},
		{math.Inf(-1), 1},
	}
	for _, tt := range tests {
		if got := NormalUpperTail(tt.z); !closeRel(got, tt.want, 1e-14, 0) {
			t.Errorf("NormalUpperTail(%v) = %v, want %v", tt.z, got, tt.want)
		}
	}
	for z := 10.0; z <= 37; z += 0.5 { // values down to 1e-300, above the subnormals
		got, want := NormalUpperTail(z), upperTailSeries(z)
		if !closeRel(got, want, 1e-12, 0) {
			t.Errorf("NormalUpperTail(%v) = %v, series %v", z, got, want)
		}
	}
	// Far in the tail the value must not underflow while it is above 1e-300
	// (gonum's Survival returns 0 already at z = 10).
	if got := NormalUpperTail(37); !(got > 1e-300) {
		t.Errorf("NormalUpperTail(37) = %v, want about 5.7e-300", got)
	}
	if got := NormalUpperTail(math.NaN()); !math.IsNaN(got) {
		t.Errorf("NormalUpperTail(NaN) = %v", got)
	}
	for _, z := range []float64{0.3, 1, 2.5, 6} {
		if s := NormalUpperTail(z) + NormalUpperTail(-z); math.Abs(s-1) > 1e-15 {
			t.Errorf("tails at ±%v sum to %v", z, s)
		}
	}
}

func TestNormalQuantile(t *testing.T) {
	tests := []struct{ p, want float64 }{
		{0.5, 0},
		{0.975, 1.959963984540054},
		{0.025, -1.959963984540054},
		{0.95, 1.6448536269514722},
		{0.995, 2.5758293035489004},
		{0, math.Inf(-1)},
		{1, math.Inf(1)},
	}
	for _, tt := range tests {
		if got := NormalQuantile(tt.p); !closeRel(got, tt.want, 1e-14, 1e-300) {
			t.Errorf("NormalQuantile(%v) = %.17g, want %.17g", tt.p, got, tt.want)
		}
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if got := NormalQuantile(p); !math.IsNaN(got) {
			t.Errorf("NormalQuantile(%v) = %v, want NaN", p, got)
		}
	}
	// Round trip through the tail, lower and upper, across every branch of
	// the approximation. A relative error e in z moves the tail by about
	// z^2 e relatively, hence the tolerance.
	for e := -300.0; e <= -0.31; e += 0.37 {
		p := math.Pow(10, e)
		z := NormalQuantile(p)
		if got := NormalUpperTail(-z); !closeRel(got, p, 2e-15*(1+z*z), 0) {
			t.Errorf("P(Z <= NormalQuantile(%v)) = %v", p, got)
		}
		q := 1 - p // rounded: the upper tail to match is 1 - q, exact
		z = NormalQuantile(q)
		if got := NormalUpperTail(z); !closeRel(got, 1-q, 2e-15*(1+z*z), 0) {
			t.Errorf("P(Z > NormalQuantile(%v)) = %v, want %v", q, got, 1-q)
		}
	}
}
