package analysis_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

func loadTemplate(t *testing.T, yaml string) *spec.Template {
	t.Helper()
	cfg, err := configs.Load(yaml)
	if err != nil {
		t.Fatal(err)
	}
	return &cfg.Templates[0]
}

// scaled returns inputs whose canary values are multiplied by mult.
func scaled(in []analysis.Input, mult float64) []analysis.Input {
	out := make([]analysis.Input, len(in))
	for i := range in {
		out[i] = in[i]
		c := in[i].Canary.Clone()
		for k := range c.Values {
			c.Values[k] *= mult
		}
		out[i].Canary = c
	}
	return out
}

func judgeOnce(t *testing.T, tmpl *spec.Template, in []analysis.Input) analysis.Judgement {
	t.Helper()
	j := analysis.NewJudge(tmpl)
	var out analysis.Judgement
	if err := j.Judge(j.NewState(), in, &out); err != nil {
		t.Fatal(err)
	}
	j.Explain(&out)
	return out
}

const twoMetrics = `
templates:
  - name: t
    interval: 5m
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.05}
      - {name: cpu, query: 'q{track="{{.Role}}"}', allowed_change: 0.1, critical: false}
`

func TestJudgeVerdicts(t *testing.T) {
	tmpl := loadTemplate(t, twoMetrics)
	base := benchInputs(2, 60, 7)

	good := judgeOnce(t, tmpl, base)
	if good.Verdict != analysis.Promote {
		t.Errorf("identical distributions: %s (%s), want promote", good.Verdict, good.Reason)
	}

	bad := judgeOnce(t, tmpl, scaled(base, 2))
	if bad.Verdict != analysis.Rollback || bad.Metrics[0].Classification != analysis.High {
		t.Fatalf("canary twice as slow: %s, latency %s, want rollback on latency high", bad.Verdict, bad.Metrics[0].Classification)
	}
	if !strings.Contains(bad.Reason, "latency") || !strings.Contains(bad.Metrics[0].Reason, "allowed 5.0%") {
		t.Errorf("the reason must name the deciding metric and its margin: %q / %q", bad.Reason, bad.Metrics[0].Reason)
	}
	if !(bad.Metrics[0].Change > 0.5) || !(float64(bad.Metrics[0].PValue) < 1e-4) || !(bad.Metrics[0].HLShift > 0) {
		t.Errorf("evidence missing: %+v", bad.Metrics[0])
	}

	// Only the non-critical metric regresses: 50 < marginal 75 still rolls back.
	onlyCPU := []analysis.Input{base[0], scaled(base[1:], 2)[0]}
	res := judgeOnce(t, tmpl, onlyCPU)
	if res.Verdict != analysis.Rollback || res.Score != 50 {
		t.Errorf("non-critical regression: %s score %v, want rollback with score 50", res.Verdict, res.Score)
	}
}

func TestJudgeMissingDataNeverPromotes(t *testing.T) {
	tmpl := loadTemplate(t, twoMetrics)
	base := benchInputs(2, 60, 8)
	for name, in := range map[string][]analysis.Input{
		"no data":     {base[0], {Baseline: metrics.Samples{}, Canary: metrics.Samples{}}},
		"query error": {base[0], {Err: errors.New("prometheus unreachable")}},
		"few samples": benchInputs(2, 5, 9),
		"all NaN": {base[0], {
			Baseline: metrics.Samples{Times: []int64{1, 2, 3}, Values: []float64{math.NaN(), math.NaN(), math.NaN()}},
			Canary:   metrics.Samples{Times: []int64{1, 2, 3}, Values: []float64{1, 2, 3}},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			res := judgeOnce(t, tmpl, in)
			if res.Verdict != analysis.Hold {
				t.Errorf("verdict %s (%s), want hold", res.Verdict, res.Reason)
			}
			if !strings.Contains(res.Reason, "waiting on") && !strings.Contains(res.Reason, "no data for cpu") {
				t.Errorf("reason %q should say what it waits on", res.Reason)
			}
		})
	}
}

// TestJudgeNoDataSaysWhy holds the hold reason when queries match no series:
// which metric, which roles, and the query; and no score when no metric
// could be judged at all.
func TestJudgeNoDataSaysWhy(t *testing.T) {
	tmpl := loadTemplate(t, twoMetrics)
	base := benchInputs(2, 60, 8)
	empty := func(q string) metrics.Samples { return metrics.Samples{Query: q} }
	for _, c := range []struct {
		name   string
		in     []analysis.Input
		reason string
		score  bool
	}{
		{"one metric, both roles", []analysis.Input{base[0], {Baseline: empty(`cpu{track="baseline"}`), Canary: empty(`cpu{track="canary"}`)}},
			`hold: no data for cpu (baseline and canary): the query matched no series (query: cpu{track="canary"}); score 100`, true},
		{"one metric, the baseline", []analysis.Input{base[0], {Baseline: empty(`cpu{track="baseline"}`), Canary: base[1].Canary}},
			`hold: no data for cpu (baseline): the query matched no series (query: cpu{track="baseline"}); score 100`, true},
		{"every metric", []analysis.Input{{Baseline: empty("lat_b"), Canary: empty("lat_c")}, {Err: errors.New("prometheus unreachable")}},
			`hold: no data for latency (baseline and canary): the query matched no series (query: lat_c); waiting on cpu (error); no metric could be judged, so there is no score`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := judgeOnce(t, tmpl, c.in)
			if res.Verdict != analysis.Hold || res.Reason != c.reason {
				t.Errorf("%s: %s\nwant hold: %s", res.Verdict, res.Reason, c.reason)
			}
			if scored := !math.IsNaN(float64(res.Score)); scored != c.score {
				t.Errorf("score %v, want a score: %v", res.Score, c.score)
			}
		})
	}
}

func TestJudgeNaNPolicy(t *testing.T) {
	in := benchInputs(1, 40, 10)
	in[0].Canary = in[0].Canary.Clone()
	in[0].Canary.Values[3] = math.NaN()
	for policy, want := range map[string]analysis.Classification{"drop": analysis.Pass, "fail": analysis.Error} {
		tmpl := loadTemplate(t, `templates: [{name: t, metrics: [{name: m, query: q, allowed_change: 0.1, nan_policy: `+policy+`}]}]`)
		res := judgeOnce(t, tmpl, in)
		if got := res.Metrics[0].Classification; got != want {
			t.Errorf("nan_policy %s: %s (%s), want %s", policy, got, res.Metrics[0].Reason, want)
		}
		if policy == "drop" && res.Metrics[0].Dropped != 1 {
			t.Errorf("nan_policy drop: %d dropped, want 1", res.Metrics[0].Dropped)
		}
	}
}

func TestJudgeDirectionAndDryRun(t *testing.T) {
	tmpl := loadTemplate(t, `
templates:
  - name: t
    metrics:
      - {name: throughput, query: q, direction: decrease, allowed_change: 0.1}
      - {name: shadow, query: q, allowed_change: 0.1, dry_run: true}
`)
	base := benchInputs(2, 60, 11)
	in := []analysis.Input{scaled(base[:1], 0.5)[0], scaled(base[1:], 3)[0]}
	res := judgeOnce(t, tmpl, in)
	if res.Metrics[0].Classification != analysis.Low || res.Verdict != analysis.Rollback {
		t.Errorf("throughput halved: %s / %s, want low and rollback", res.Metrics[0].Classification, res.Verdict)
	}
	if res.Metrics[1].Classification != analysis.High || !strings.HasPrefix(res.Metrics[1].Reason, "dry run") {
		t.Errorf("dry-run metric must be judged and marked: %s %q", res.Metrics[1].Classification, res.Metrics[1].Reason)
	}

	// The dry-run regression alone never counts.
	in = []analysis.Input{base[0], scaled(base[1:], 3)[0]}
	if res := judgeOnce(t, tmpl, in); res.Verdict != analysis.Promote || res.Score != 100 {
		t.Errorf("dry-run regression counted: %s score %v", res.Verdict, res.Score)
	}
}

func TestJudgeStateMismatch(t *testing.T) {
	tmpl := loadTemplate(t, twoMetrics)
	j := analysis.NewJudge(tmpl)
	other := analysis.NewJudge(loadTemplate(t, `templates: [{name: t, metrics: [{name: x, query: q}]}]`))
	var out analysis.Judgement
	if err := j.Judge(other.NewState(), benchInputs(2, 30, 1), &out); !errors.Is(err, analysis.ErrStateMismatch) {
		t.Errorf("Judge with another template's state: %v, want ErrStateMismatch", err)
	}
}

func TestJudgeAllZeroErrorsPromote(t *testing.T) {
	tmpl := loadTemplate(t, `templates: [{name: t, metrics: [{name: errors, query: q, allowed_change: 0.5}]}]`)
	zeros := func() metrics.Samples {
		s := metrics.Samples{Times: make([]int64, 30), Values: make([]float64, 30)}
		for i := range s.Times {
			s.Times[i] = int64(i)
		}
		return s
	}
	res := judgeOnce(t, tmpl, []analysis.Input{{Baseline: zeros(), Canary: zeros()}})
	if res.Verdict != analysis.Promote || res.Metrics[0].Classification != analysis.Pass {
		t.Errorf("no errors on either side: %s / %s (%s), want promote", res.Verdict, res.Metrics[0].Classification, res.Metrics[0].Reason)
	}
}

// TestJudgeWarmup checks that the judgements inside a template's warm-up
// hold, say so, and leave the evidence untouched, so that a canary twice
// as slow while it warms up is judged on what follows only; and that
// error spending starts after the warm-up.
func TestJudgeWarmup(t *testing.T) {
	tmpl := loadTemplate(t, `
templates:
  - name: t
    interval: 5m
    warmup: 6m
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.05}
`)
	if got := tmpl.WarmupIntervals(); got != 2 {
		t.Fatalf("WarmupIntervals() = %d, want 2 (6m rounded up to intervals of 5m)", got)
	}
	j := analysis.NewJudge(tmpl)
	st := j.NewState()
	var out analysis.Judgement
	for k := range 4 {
		in := benchInputs(1, 60, uint64(40+k))
		if k < 2 {
			in = scaled(in, 2) // a cold canary: twice as slow
		}
		if err := j.Judge(st, in, &out); err != nil {
			t.Fatal(err)
		}
		j.Explain(&out)
		r := out.Metrics[0]
		if k < 2 {
			if out.Verdict != analysis.Hold || r.Classification != analysis.Inconclusive {
				t.Fatalf("judgement %d inside the warm-up: %s / %s, want hold / inconclusive", k, out.Verdict, r.Classification)
			}
			if !strings.Contains(out.Reason, "warming up") || !strings.Contains(r.Reason, "warming up") {
				t.Errorf("judgement %d: reasons %q and %q should say the canary is warming up", k, out.Reason, r.Reason)
			}
			if st.Metrics[0].Up.N != 0 {
				t.Fatalf("judgement %d: the warm-up added %d points to the evidence", k, st.Metrics[0].Up.N)
			}
			continue
		}
		if out.Interval != k {
			t.Errorf("judgement %d numbered %d", k, out.Interval)
		}
		if r.TotalPairs != 60*(k-1) {
			t.Errorf("judgement %d: %d pairs judged, want %d (the warm-up's excluded)", k, r.TotalPairs, 60*(k-1))
		}
		if want := 0.05 / float64((k-1)*k); math.Abs(float64(r.Alpha)-want) > 1e-12 {
			t.Errorf("judgement %d: level %v, want %v (spending starts after the warm-up)", k, r.Alpha, want)
		}
		if out.Verdict != analysis.Promote {
			t.Errorf("judgement %d: %s (%s), want promote: the slow start is not evidence", k, out.Verdict, out.Reason)
		}
	}
}

// TestSettledPassRule: without a template warmup, the pass rule sets
// aside a first interval worse than the rest (at the template's level)
// and holds the change after it within the margin. A canary whose first
// four points are e⁴ (55) times higher (a cold start, not confirmed as a
// regression at the first look) and that is equal afterwards passes at
// the eighth look though its cumulative estimate is still beyond the
// margin; a canary whose start is like the rest keeps the cumulative
// estimate; with the template's warmup the start is not judged at all.
func TestSettledPassRule(t *testing.T) {
	const yaml = `
templates:
  - name: t
    interval: 5m%s
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.05}
`
	interval := func(k int, level, start float64) []analysis.Input {
		times := make([]int64, 30)
		b, c := make([]float64, 30), make([]float64, 30)
		for i := range times {
			times[i] = int64(k*30+i) * 10_000
			swing := 0.1
			if i%2 == 1 {
				swing = -swing
			}
			x := level + swing
			if k == 0 && i < 4 {
				x += start
			}
			b[i], c[i] = 100, 100*math.Exp(x)
		}
		return []analysis.Input{{Baseline: metrics.Samples{Times: times, Values: b}, Canary: metrics.Samples{Times: times, Values: c}}}
	}
	for _, c := range []struct {
		name             string
		warmup           string
		level, start     float64
		looks            int
		cumBeyond, setAs bool
	}{
		{"cold start", "", 0, 4, 8, true, true},
		{"no start", "", 0.03, 0, 2, false, false},
		{"warmup set", "\n    warmup: 1m", 0, 4, 9, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmpl := loadTemplate(t, fmt.Sprintf(yaml, c.warmup))
			j := analysis.NewJudge(tmpl)
			st := j.NewState()
			var out analysis.Judgement
			for k := range c.looks {
				if err := j.Judge(st, interval(k, c.level, c.start), &out); err != nil {
					t.Fatal(err)
				}
				if out.Verdict == analysis.Rollback {
					t.Fatalf("rolled back at look %d", k+1)
				}
			}
			j.Explain(&out)
			r := out.Metrics[0]
			if r.Classification != analysis.Pass {
				t.Fatalf("classification %s, want pass: %s", r.Classification, r.Reason)
			}
			if beyond := float64(r.Change) > 0.05; beyond != c.cumBeyond {
				t.Errorf("cumulative change %+.3f, want beyond the margin %v", float64(r.Change), c.cumBeyond)
			}
			if got := strings.Contains(r.Reason, "after its first interval"); got != c.setAs {
				t.Errorf("reason %q: sets the start aside %v, want %v", r.Reason, got, c.setAs)
			}
		})
	}
}
