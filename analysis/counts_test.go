package analysis_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics"
)

// simErrorRatio returns one interval of error ratios k/n per role, as
// Prometheus' rate(errors[w])/rate(requests[w]) sampled every step: each
// point sums `overlap` consecutive sub-steps of requests and errors (1: no
// overlap), so that with overlap > 1 neighbouring points share events.
func simErrorRatio(rng *rand.Rand, points, overlap int, reqs [2]float64, p [2]float64) (b, c []float64) {
	out := [2][]float64{make([]float64, points), make([]float64, points)}
	for role := range 2 {
		n := make([]int, points+overlap)
		k := make([]int, points+overlap)
		for i := range n {
			n[i] = poisson(rng, reqs[role]/float64(overlap))
			k[i] = binomial(rng, n[i], p[role])
		}
		for t := range points {
			var sn, sk int
			for i := t; i < t+overlap; i++ {
				sn, sk = sn+n[i], sk+k[i]
			}
			out[role][t] = float64(sk) / float64(max(sn, 1))
		}
	}
	return out[0], out[1]
}

// TestCountTestErrorControl holds the count test of rates (and its burst
// scan) to its guarantee: a canary whose error rate is exactly at the
// margin (1 + allowed_change times the baseline's) is rolled back in at
// most α of its analyses over ten looks, with equal traffic, with a
// low-traffic canary, and with events counted by overlapping windows
// (rate over 1m every 10 s); a canary at 3 times the baseline's rate is
// rolled back.
func TestCountTestErrorControl(t *testing.T) {
	tmpl := loadTemplate(t, `
templates:
  - name: t
    interval: 5m
    metrics:
      - {name: error_rate, query: 'q{track="{{.Role}}"}', allowed_change: 0.5}
`)
	runs := 400
	if raceEnabled || testing.Short() {
		runs = 100
	}
	const alpha = 0.05
	for _, c := range []struct {
		name    string
		overlap int
		reqs    [2]float64
		mult    float64
		wantMin float64 // least share rolled back (power)
	}{
		{"equal traffic at the margin", 1, [2]float64{200, 200}, 1.5, 0},
		{"low-traffic canary at the margin", 1, [2]float64{200, 10}, 1.5, 0},
		{"overlapping windows at the margin", 6, [2]float64{200, 200}, 1.5, 0},
		{"equal traffic x3", 1, [2]float64{200, 200}, 3, 0.95},
		{"low-traffic canary x10", 1, [2]float64{200, 10}, 10, 0.95},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(21, uint64(len(c.name))))
			j := analysis.NewJudge(tmpl)
			rolledBack := 0
			for range runs {
				st := j.NewState()
				var out analysis.Judgement
				for k := range 10 {
					b, cv := simErrorRatio(rng, 30, c.overlap, c.reqs, [2]float64{0.002, 0.002 * c.mult})
					times := make([]int64, 30)
					for i := range times {
						times[i] = int64(k*30+i) * 10_000
					}
					in := []analysis.Input{{
						Baseline: metrics.Samples{Times: times, Values: b},
						Canary:   metrics.Samples{Times: times, Values: cv},
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
			t.Logf("%s: rolled back %d/%d", c.name, rolledBack, runs)
			if c.wantMin == 0 {
				// α plus three standard errors of the simulation.
				if limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/float64(runs)); share > limit {
					t.Errorf("rolled back %.3f of canaries at the margin, want at most α = %v (%.3f with the simulation's error)", share, alpha, limit)
				}
				return
			}
			if share < c.wantMin {
				t.Errorf("rolled back %s of canaries, want at least %.0f%%", fmt.Sprintf("%.3f", share), 100*c.wantMin)
			}
		})
	}
}
