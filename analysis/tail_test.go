package analysis_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics"
)

// TestTailTestErrorControl measures how often a metric with the tail test
// (shape: true) rolls back canaries it must not: one exactly at its margin
// (canary and baseline exchangeable once the canary is discounted by
// 1+δ), and one whose spread alone is twice the baseline's (a noisier
// series, median unchanged), over ten looks of 30 points of AR(1) noise.
// Both must stay within α = 5% (with the simulation's error); a canary
// whose tail split off (a fifth of its points doubled) must be rolled
// back in most runs. -v for the figures.
func TestTailTestErrorControl(t *testing.T) {
	tmpl := loadTemplate(t, `
templates:
  - name: t
    interval: 5m
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.05, shape: true}
`)
	runs := 300
	if raceEnabled || testing.Short() {
		runs = 100
	}
	const alpha = 0.05
	limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs))
	kinds := []struct {
		name                string
		shift, spread, bimo float64
		bad                 bool
	}{
		{name: "at the margin", shift: 1.05, spread: 1},
		{name: "spread ×2", shift: 1, spread: 2},
		{name: "a fifth doubled", shift: 1, spread: 1, bimo: 0.2, bad: true},
	}
	for _, phi := range []float64{0, 0.5, 0.9} {
		for ki, k := range kinds {
			rng := rand.New(rand.NewPCG(1414, uint64(100*phi)+uint64(ki)<<8))
			j := analysis.NewJudge(tmpl)
			rolledBack := 0
			for range runs {
				st := j.NewState()
				var out analysis.Judgement
				xb, xc := rng.NormFloat64()*0.15, rng.NormFloat64()*0.15
				for look := range 10 {
					times := make([]int64, 30)
					b, c := make([]float64, 30), make([]float64, 30)
					for i := range times {
						times[i] = int64(look*30+i) * 10_000
						xb = phi*xb + 0.15*math.Sqrt(1-phi*phi)*rng.NormFloat64()
						xc = phi*xc + 0.15*math.Sqrt(1-phi*phi)*rng.NormFloat64()
						b[i] = 100 * math.Exp(xb)
						c[i] = 100 * k.shift * math.Exp(k.spread*xc)
						if rng.Float64() < k.bimo {
							c[i] *= 2
						}
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
			t.Logf("φ = %.1f, %s: rolled back %d/%d (%.1f%%)", phi, k.name, rolledBack, runs, 100*share)
			switch {
			case k.bad && share < 0.5:
				t.Errorf("φ = %.1f, %s: rolled back %.2f, want most", phi, k.name, share)
			case !k.bad && phi <= 0.5 && share > limit:
				t.Errorf("φ = %.1f, %s: rolled back %.3f, want at most α = %v (%.3f with the simulation's error)", phi, k.name, share, alpha, limit)
			case !k.bad && share > limit:
				t.Logf("KNOWN GAP (issue 14): φ = %.1f, %s exceeds α (the paired test's autocorrelation at φ ≥ 0.9)", phi, k.name)
			}
		}
	}
}
