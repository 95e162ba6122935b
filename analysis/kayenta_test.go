package analysis_test

import (
	"math"
	"sort"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/stats"
)

// kayentaReplay is a re-implementation of Kayenta's judge, for comparison
// only: per metric, a Mann-Whitney test of the growing window at 98%
// confidence, NaN removed; High when the interval's lower bound exceeds
// 0.25·|estimate| (Low mirrored); score = percentage of passing metrics
// (equal weights); any interval scoring at or below marginal fails fast;
// otherwise the last interval's score decides.
func kayentaReplay(t *spec.Template, rec *metrics.Recording) (analysis.Verdict, int) {
	cum := map[string][2][]float64{}
	var ws stats.Workspace
	last := analysis.Hold
	for k, iv := range rec.Intervals {
		pass := 0
		for _, m := range t.Metrics {
			c := cum[m.Name]
			for ri, role := range []metrics.Role{metrics.Baseline, metrics.Canary} {
				for _, v := range iv.Metrics[m.Name][role].Values {
					if !math.IsNaN(v) && !math.IsInf(v, 0) {
						c[ri] = append(c[ri], v)
					}
				}
			}
			cum[m.Name] = c
			res, err := ws.MannWhitney(c[1], c[0], stats.Options{Confidence: 0.98})
			if err != nil {
				continue // NoData counts as not passing
			}
			tol := 0.25 * math.Abs(res.Shift)
			high := res.Lower > tol && res.Lower > 0
			low := res.Upper < -tol && res.Upper < 0
			bad := (high && m.Direction != spec.DirectionDecrease) || (low && m.Direction != spec.DirectionIncrease)
			if !bad {
				pass++
			}
		}
		score := 100 * float64(pass) / float64(len(t.Metrics))
		if score <= t.Scoring.Marginal {
			return analysis.Rollback, k
		}
		last = analysis.Hold
		if score >= t.Scoring.Pass {
			last = analysis.Promote
		}
	}
	return last, len(rec.Intervals) - 1
}

// TestKayentaComparison replays the shared scenarios with the
// Kayenta-style judge and logs its figures beside canaryd's; it asserts
// what the comparison is for: canaryd rolls back fewer good canaries and
// at least as many bad ones.
func TestKayentaComparison(t *testing.T) {
	tmpl, scs := loadScenarios(t)
	type figs struct {
		runs, ours, theirs int
		oursAt, theirsAt   []int
	}
	byKind := map[string]*figs{}
	for _, s := range scs {
		f := byKind[s.Kind]
		if f == nil {
			f = &figs{}
			byKind[s.Kind] = f
		}
		f.runs++
		js, err := analysis.JudgeRecording(t.Context(), tmpl, s.rec)
		if err != nil {
			t.Fatal(err)
		}
		if fin := js[len(js)-1]; fin.Verdict == analysis.Rollback {
			f.ours++
			f.oursAt = append(f.oursAt, fin.Interval)
		}
		if v, at := kayentaReplay(tmpl, s.rec); v == analysis.Rollback {
			f.theirs++
			f.theirsAt = append(f.theirsAt, at)
		}
	}
	median := func(x []int) float64 {
		if len(x) == 0 {
			return math.NaN()
		}
		sort.Ints(x)
		if len(x)%2 == 1 {
			return float64(x[len(x)/2])
		}
		return float64(x[len(x)/2-1]+x[len(x)/2]) / 2
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	t.Logf("| kind | runs | canaryd rolled back | canaryd median interval | Kayenta-style rolled back | Kayenta-style median interval |")
	var oursGood, theirsGood, oursBad, theirsBad int
	for _, k := range kinds {
		f := byKind[k]
		t.Logf("| %s | %d | %d | %.1f | %d | %.1f |", k, f.runs, f.ours, median(f.oursAt), f.theirs, median(f.theirsAt))
		if k == "A/A" {
			oursGood, theirsGood = f.ours, f.theirs
		} else {
			oursBad += f.ours
			theirsBad += f.theirs
		}
	}
	if oursGood > theirsGood {
		t.Errorf("canaryd rolled back %d good canaries, the Kayenta-style judge %d", oursGood, theirsGood)
	}
	if oursBad < theirsBad {
		t.Errorf("canaryd rolled back %d bad canaries, the Kayenta-style judge %d", oursBad, theirsBad)
	}
}
