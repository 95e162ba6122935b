package stats

import (
	"math"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

// binomialUpper returns P(X ≥ k) for X ~ Binomial(n, p) by direct summation.
func binomialUpper(k, n int, p float64) float64 {
	var s float64
	for x := k; x <= n; x++ {
		lg, _ := math.Lgamma(float64(n + 1))
		l1, _ := math.Lgamma(float64(x + 1))
		l2, _ := math.Lgamma(float64(n - x + 1))
		s += math.Exp(lg - l1 - l2 + float64(x)*math.Log(p) + float64(n-x)*math.Log1p(-p))
	}
	return s
}

// TestRateRatioMatchesBinomial holds the exact rate test, for whole
// counts, to the binomial sums it stands for, and its interval to the
// tests: each bound is the ratio at which the one-sided p-value is alpha.
func TestRateRatioMatchesBinomial(t *testing.T) {
	for _, c := range []struct {
		kc, kb int
		ec, eb float64
		ratio  float64
	}{
		{1, 0, 1, 1, 1.5},
		{2, 0, 1, 1, 1.5},
		{5, 3, 1, 1, 1.5},
		{12, 110, 1, 20, 1.5},
		{40, 12, 2, 1, 1},
		{0, 7, 1, 1, 1.5},
	} {
		theta := c.ratio * c.ec / (c.ratio*c.ec + c.eb)
		n := c.kc + c.kb
		wantUp := 1.0
		if c.kc > 0 {
			wantUp = binomialUpper(c.kc, n, theta)
		}
		if got := RateRatioUpperP(float64(c.kc), float64(c.kb), c.ec, c.eb, c.ratio); !scalar.EqualWithinAbsOrRel(got, wantUp, 1e-12, 1e-9) {
			t.Errorf("RateRatioUpperP(%d, %d, %v, %v, %v) = %v, want %v", c.kc, c.kb, c.ec, c.eb, c.ratio, got, wantUp)
		}
		wantDown := 1 - binomialUpper(c.kc+1, n, theta)
		if got := RateRatioLowerP(float64(c.kc), float64(c.kb), c.ec, c.eb, c.ratio); c.kb > 0 && !scalar.EqualWithinAbsOrRel(got, wantDown, 1e-12, 1e-9) {
			t.Errorf("RateRatioLowerP(%d, %d, %v, %v, %v) = %v, want %v", c.kc, c.kb, c.ec, c.eb, c.ratio, got, wantDown)
		}
		lo, hi := RateRatioCI(float64(c.kc), float64(c.kb), c.ec, c.eb, 0.025)
		if c.kc > 0 {
			if p := RateRatioUpperP(float64(c.kc), float64(c.kb), c.ec, c.eb, lo); !scalar.EqualWithinAbsOrRel(p, 0.025, 1e-9, 1e-6) {
				t.Errorf("%+v: the test at the lower bound %v gives p = %v, want 0.025", c, lo, p)
			}
		} else if lo != 0 {
			t.Errorf("%+v: lower bound %v, want 0 without canary events", c, lo)
		}
		if c.kb > 0 {
			if p := RateRatioLowerP(float64(c.kc), float64(c.kb), c.ec, c.eb, hi); !scalar.EqualWithinAbsOrRel(p, 0.025, 1e-9, 1e-6) {
				t.Errorf("%+v: the test at the upper bound %v gives p = %v, want 0.025", c, hi, p)
			}
		} else if !math.IsInf(hi, 1) {
			t.Errorf("%+v: upper bound %v, want +Inf without baseline events", c, hi)
		}
	}
	if p := RateRatioUpperP(1, 1, 0, 1, 1.5); !math.IsNaN(p) {
		t.Errorf("zero exposure: p = %v, want NaN", p)
	}
}

// TestQuasiPoissonScale checks that a ratio series k/n of sparse events
// over n requests gives the scale 1/n, so that Σx/φ counts the events.
func TestQuasiPoissonScale(t *testing.T) {
	var s Serial
	x := make([]float64, 30)
	x[3], x[17], x[25] = 1.0/200, 1.0/200, 1.0/200
	s.AddBlock(x)
	phi := QuasiPoissonScale(&s)
	// φ = s²/x̄ = (3/200² − 9/(30·200²))/29 / (3/(30·200)) ≈ 0.93/200.
	if want := (3.0 - 9.0/30) / 29 / (3.0 / 30) / 200; !scalar.EqualWithinRel(phi, want, 1e-12) {
		t.Errorf("φ = %v, want %v", phi, want)
	}
	if events := s.Sum / phi; events < 3 || events > 3.5 {
		t.Errorf("Σx/φ = %v events, want about 3", events)
	}
	var empty Serial
	empty.AddBlock(make([]float64, 30))
	if phi := QuasiPoissonScale(&empty); !math.IsNaN(phi) {
		t.Errorf("no events: φ = %v, want NaN", phi)
	}
}
