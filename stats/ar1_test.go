package stats

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/floats/scalar"
)

// TestAR1MeanFactorMatchesSum holds the closed form to the double sum it
// replaces.
func TestAR1MeanFactorMatchesSum(t *testing.T) {
	for _, rho := range []float64{0, 0.3, 0.9, 0.99} {
		for _, n := range []int{1, 2, 30, 300} {
			var sum float64
			for i := range n {
				for j := range n {
					sum += math.Pow(rho, math.Abs(float64(i-j)))
				}
			}
			want := sum / float64(n*n)
			if got := AR1MeanFactor(rho, n); !scalar.EqualWithinAbsOrRel(got, want, 1e-12, 1e-9) {
				t.Errorf("AR1MeanFactor(%v, %d) = %v, want %v", rho, n, got, want)
			}
		}
	}
}

// TestExpectedAR1LagMonteCarlo holds the expected sums of squares and lags
// of a demeaned AR(1) window to simulation, and the inversion to a round
// trip.
func TestExpectedAR1LagMonteCarlo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const runs = 40000
	for _, rho := range []float64{0, 0.5, 0.9} {
		const n = 30
		var ss, lag float64
		x := make([]float64, n)
		for range runs {
			v := rng.NormFloat64()
			for i := range x {
				if i > 0 {
					v = rho*v + math.Sqrt(1-rho*rho)*rng.NormFloat64()
				}
				x[i] = v
			}
			var s Serial
			s.AddBlock(x)
			ss += s.WithinSS
			lag += s.WithinLag
		}
		want := lag / ss
		if got := ExpectedAR1Lag(rho, n); math.Abs(got-want) > 0.01 {
			t.Errorf("ExpectedAR1Lag(%v, %d) = %.4f, simulation %.4f", rho, n, got, want)
		}
		g := AR1MeanFactor(rho, n)
		if got := ss / runs / (n * (1 - g)); math.Abs(got-1) > 0.01 {
			t.Errorf("ρ = %v: mean sum of squares / n(1−g) = %.4f, want 1", rho, got)
		}
		if rho > 0 {
			if back := InvertAR1Lag(ExpectedAR1Lag(rho, n), n); math.Abs(back-rho) > 1e-5 {
				t.Errorf("InvertAR1Lag(ExpectedAR1Lag(%v)) = %v", rho, back)
			}
		}
	}
	for _, c := range []struct {
		r    float64
		n    int
		want float64
	}{{-0.5, 30, 0}, {math.NaN(), 30, 0}, {0.99, 30, maxAR1Single}, {0.5, 2, 0}} {
		if got := InvertAR1Lag(c.r, c.n); got != c.want {
			t.Errorf("InvertAR1Lag(%v, %d) = %v, want %v", c.r, c.n, got, c.want)
		}
	}
}

// TestFitSingleBlockLevel checks that a one-sided t-test of one block's
// mean with the single-block fit holds its level for AR(1) series up to
// ρ = 0.95, where the pooled fit's asymptotic error and degrees of freedom
// exceed it several-fold.
func TestFitSingleBlockLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const runs, n, level = 4000, 30, 0.025
	limit := level + 3*math.Sqrt(level*(1-level)/runs)
	x := make([]float64, n)
	for _, rho := range []float64{0, 0.5, 0.9, 0.95} {
		rejected := 0
		for range runs {
			v := rng.NormFloat64()
			for i := range x {
				if i > 0 {
					v = rho*v + math.Sqrt(1-rho*rho)*rng.NormFloat64()
				}
				x[i] = v
			}
			var s Serial
			s.AddBlock(x)
			f := s.Fit()
			if StudentUpperTail(s.Mean()/f.MeanSE(n), f.MeanDF(n)) <= level {
				rejected++
			}
		}
		if rate := float64(rejected) / runs; rate > limit {
			t.Errorf("ρ = %v: rejected %.3f at level %v (limit %.3f)", rho, rate, level, limit)
		}
	}
}
