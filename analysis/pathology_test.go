package analysis_test

import (
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
)

var (
	pathologyRuns = flag.Int("pathology.runs", 0, "runs per kind of TestPathologies (0: 100, or 20 under -race or -short)")
	pathologySeed = flag.Uint64("pathology.seed", 14, "first seed of TestPathologies (0: a fresh seed from the clock, printed)")
)

// pathologyKnownGaps are the kinds on which the judge does not yet meet
// issue 14's targets, with what is missing: the test reports them as
// known gaps instead of failing, and fails on every other kind. Remove a
// kind when its method lands.
var pathologyKnownGaps = map[string]string{
	"aa phi0.9":      "the pooled AR(1) fit of 30-point windows still underestimates ρ at 0.9 after the first look (1-3% rolled back); the final p99 estimate's spread over runs (sd 5.5%) is the margin's size: held on latency_p99 when it ends beyond the margin (about 1 in 5)",
	"aa zero-errors": "2-3 canary events against about as many cannot place the rate within a relative margin (final estimate +70% ± 136%): held on error_rate",
	"aa lowtraffic":  "held on latency_p99 (final estimate sd 3.8%) and error_rate (sd 44%): a canary with a twentieth of the traffic measures its rates and tails too roughly for ten intervals",
	"bimodal p99":    "the tail test stands aside while the canary has at least as many points as the baseline alone in the other tail (a spread, as a low-traffic canary has); that count is noisy enough to hide 10-15% of the split tails by the tenth interval",
}

// scenarioTemplate loads the shared scenario template.
func scenarioTemplate(t testing.TB) *spec.Template {
	t.Helper()
	cfg, err := configs.LoadFile(filepath.Join(sharedDir(t), "scenarios", "config.yml"))
	if err != nil {
		t.Fatalf("load scenario config: %v", err)
	}
	return cfg.Template("scenario")
}

// TestPathologies judges simulated canaries of every kind of issue 14
// (pathologyKinds) with the shared scenario template (JudgeRecording: the
// judge over every interval, whatever the rollout plan), and
// holds the judge to the targets: every good kind rolled back in
// under 1% of its runs and promoted in at least 90%; every bad kind rolled
// back in at least 95% and never promoted, gross regressions at a median
// of at most 3 intervals. Run with -v for the table; -pathology.seed=0
// draws fresh seeds.
func TestPathologies(t *testing.T) {
	runs := *pathologyRuns
	if runs == 0 {
		runs = 100
		if raceEnabled || testing.Short() {
			runs = 20
			t.Logf("%d runs per kind (race detector or -short): the targets are checked at that size", runs)
		}
	}
	seed := *pathologySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d, %d runs per kind", seed, runs)
	tmpl := scenarioTemplate(t)

	var table strings.Builder
	fmt.Fprintf(&table, "\n| kind (truth) | rolled back | promoted | held | median interval to rollback |\n|---|---|---|---|---|\n")
	for ki, k := range pathologyKinds {
		tmpl := tmpl
		if k.warmup > 0 {
			w := *tmpl
			w.Warmup = model.Duration(k.warmup)
			tmpl = &w
		}
		var f kindFigures
		reasons := map[string]int{}
		var why heldBy
		for r := range runs {
			rec := simulate(k.opts, seed+uint64(ki)<<32+uint64(r))
			js, err := analysis.JudgeRecording(t.Context(), tmpl, rec)
			if err != nil {
				t.Fatalf("%s run %d: %v", k.name, r, err)
			}
			fin := js[len(js)-1]
			f.runs++
			why.add(tmpl, fin)
			switch fin.Verdict {
			case analysis.Rollback:
				f.rolledBack++
				f.toRollback = append(f.toRollback, fin.Interval+1)
				if k.truth == "good" {
					reasons["rollback: "+fin.Reason]++
				}
			case analysis.Promote:
				f.promoted++
				if k.truth != "good" {
					reasons["promote: "+fin.Reason]++
				}
			default:
				reasons["hold: "+fin.Reason]++
			}
		}
		pct := func(n int) string { return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(f.runs)) }
		med := "-"
		if m := f.median(); m >= 0 {
			med = fmt.Sprintf("%.1f", m)
		}
		fmt.Fprintf(&table, "| %s (%s) | %s | %s | %s | %s |\n", k.name, k.truth,
			pct(f.rolledBack), pct(f.promoted), pct(f.runs-f.rolledBack-f.promoted), med)
		if k.truth != "bad" {
			t.Logf("%s (%s): %s", k.name, k.truth, why.String())
		}

		var problems []string
		switch k.truth {
		case "near":
			continue // no target: reported for the trade-off
		case "good":
			if 100*f.rolledBack >= f.runs { // under 1%
				problems = append(problems, fmt.Sprintf("rolled back %d/%d, want under 1%%", f.rolledBack, f.runs))
			}
			if 10*f.promoted < 9*f.runs {
				problems = append(problems, fmt.Sprintf("promoted %d/%d, want at least 90%%", f.promoted, f.runs))
			}
		default:
			if 100*f.rolledBack < 95*f.runs {
				problems = append(problems, fmt.Sprintf("rolled back %d/%d, want at least 95%%", f.rolledBack, f.runs))
			}
			if f.promoted > 0 {
				problems = append(problems, fmt.Sprintf("promoted %d/%d, want none", f.promoted, f.runs))
			}
			if m := f.median(); k.gross && m > 3 {
				problems = append(problems, fmt.Sprintf("median interval to rollback %.1f, want at most 3", m))
			}
		}
		if len(problems) == 0 {
			if gap, ok := pathologyKnownGaps[k.name]; ok {
				t.Logf("%s: listed as a known gap (%s) but meets its targets on these runs", k.name, gap)
			}
			continue
		}
		for reason, n := range reasons {
			t.Logf("%s: %d× %s", k.name, n, reason)
		}
		msg := fmt.Sprintf("%s: %s", k.name, strings.Join(problems, "; "))
		if gap, ok := pathologyKnownGaps[k.name]; ok {
			t.Logf("KNOWN GAP (issue 14: %s): %s", gap, msg)
			continue
		}
		t.Error(msg)
	}
	t.Log(table.String())
}

// heldBy tallies, over the runs of one kind, what kept the last judgement
// from promoting: for each metric that did not pass, how often, and
// whether its estimate was beyond the margin (a canary that looks worse
// than allowed but is not confirmed so) or within it (the test's own pass
// rule not met: too few samples, or a count test whose events cannot
// place the rate within the margin); and the spread of each metric's
// final estimate over the runs, against its margin: when the estimate's
// run-to-run spread is of the margin's size, no rule that promotes only
// estimates within the margin can promote most good canaries.
type heldBy struct {
	runs    int
	blocked map[string]int
	est     map[string][]float64
	names   []string
	margin  map[string]float64
}

func (h *heldBy) add(tmpl *spec.Template, j analysis.Judgement) {
	if h.blocked == nil {
		h.blocked, h.est, h.margin = map[string]int{}, map[string][]float64{}, map[string]float64{}
		for i := range tmpl.Metrics {
			h.names = append(h.names, tmpl.Metrics[i].Name)
			h.margin[tmpl.Metrics[i].Name] = tmpl.Metrics[i].Margin()
		}
	}
	h.runs++
	for _, m := range j.Metrics {
		if c := float64(m.Change); !math.IsNaN(c) && !math.IsInf(c, 0) {
			h.est[m.Name] = append(h.est[m.Name], c)
		}
		if j.Verdict == analysis.Promote || m.Classification == analysis.Pass {
			continue
		}
		side := "estimate within the margin"
		switch c, d := float64(m.Change), h.margin[m.Name]; {
		case math.IsNaN(c):
			side = "no estimate"
		case m.Direction == spec.DirectionIncrease && c > d,
			m.Direction == spec.DirectionDecrease && c < -d,
			m.Direction == spec.DirectionEither && math.Abs(c) > d:
			side = "estimate beyond the margin"
		}
		h.blocked[fmt.Sprintf("%s %s, %s", m.Name, m.Classification, side)]++
	}
}

func (h *heldBy) String() string {
	var b strings.Builder
	keys := make([]string, 0, len(h.blocked))
	for k := range h.blocked {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("not promoted because of")
	if len(keys) == 0 {
		b.WriteString(" nothing")
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s: %d/%d runs]", k, h.blocked[k], h.runs)
	}
	b.WriteString("; final estimates (mean ± sd over runs, margin)")
	for _, name := range h.names {
		xs := h.est[name]
		if len(xs) < 2 {
			continue
		}
		var s, ss float64
		for _, x := range xs {
			s += x
		}
		m := s / float64(len(xs))
		for _, x := range xs {
			ss += (x - m) * (x - m)
		}
		fmt.Fprintf(&b, " %s %+.1f%% ± %.1f%% (%.0f%%)", name, 100*m, 100*math.Sqrt(ss/float64(len(xs)-1)), 100*h.margin[name])
	}
	return b.String()
}
