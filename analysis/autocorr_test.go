package analysis_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics"
)

// TestAutocorrelationErrorControl measures how often the paired test rolls
// back a canary exactly at its margin (log(c/b) with mean log 1.05 and
// AR(1) noise of coefficient φ) over ten looks of 30 points, for φ from 0
// to 0.95. The guarantee is α = 0.05; the test fails when φ ≤ 0.7 exceeds
// it beyond the simulation's error, and reports every rate above α as a
// known gap of issue 14 (-v for the figures). The first look's
// single-block fit (stats.Serial.Fit) holds its share; the excess left at
// φ ≥ 0.9 comes from the later looks, whose pooled estimate of ρ from
// 30-point windows is still biased low and whose degrees of freedom
// ignore its uncertainty.
func TestAutocorrelationErrorControl(t *testing.T) {
	tmpl := loadTemplate(t, `
templates:
  - name: t
    interval: 5m
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.05}
`)
	runs := 400
	if raceEnabled || testing.Short() {
		runs = 100
	}
	const alpha = 0.05
	limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs))
	for _, phi := range []float64{0, 0.5, 0.7, 0.9, 0.95} {
		rng := rand.New(rand.NewPCG(95, uint64(100*phi)))
		j := analysis.NewJudge(tmpl)
		rolledBack := 0
		for range runs {
			st := j.NewState()
			var out analysis.Judgement
			x := rng.NormFloat64() * 0.2
			for k := range 10 {
				times := make([]int64, 30)
				b, c := make([]float64, 30), make([]float64, 30)
				for i := range times {
					times[i] = int64(k*30+i) * 10_000
					x = phi*x + 0.2*math.Sqrt(1-phi*phi)*rng.NormFloat64()
					b[i] = 100
					c[i] = 100 * 1.05 * math.Exp(x)
				}
				in := []analysis.Input{{
					Baseline: metrics.Samples{Times: times, Values: b},
					Canary:   metrics.Samples{Times: times, Values: c},
				}}
				if err := j.Judge(st, in, &out); err != nil {
					t.Fatal(err)
				}
				if out.Verdict == analysis.Rollback {
					rolledBack++
					break
				}
			}
		}
		share := float64(rolledBack) / float64(runs)
		t.Logf("φ = %.2f: rolled back %d/%d (%.1f%%) at the margin, α = 5%%", phi, rolledBack, runs, 100*share)
		switch {
		case share <= alpha:
		case phi <= 0.7 && share > limit:
			t.Errorf("φ = %.2f: rolled back %.3f of canaries at the margin, want at most α = %v (%.3f with the simulation's error)", phi, share, alpha, limit)
		default:
			t.Logf("KNOWN GAP (issue 14): φ = %.2f exceeds α at the margin", phi)
		}
	}
}
