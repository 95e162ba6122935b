package configs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// FuzzLoad feeds arbitrary text to configs.Load. It must not panic; a
// rejected config is a Problems error with a message for every problem; an
// accepted one is complete (templates named and unique, positive
// intervals and steps, parsed queries) and the engine can judge with it
// as it is: a judge and its state build, and judging one interval of
// samples, a failed fetch and an empty one returns without panicking.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range append(seeds, "example.yml") {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, s := range []string{
		"templates: [{name: web, metrics: [{name: m, query: 'up{v=\"{{.Version}}\"}'}]}]",
		"templates:\n  - name: t\n    interval: 1ms\n    steps: [1, 100]\n    metrics:\n      - {name: m, query: 'x', test: threshold, threshold: {max: 1}}\n",
		"templates:\n  - name: t\n    confidence: 0.9999999\n    min_samples: 1\n    metrics:\n      - {name: m, query: 'x', test: burn-rate}\n",
		"templates:\n  - name: t\n    metrics:\n      - {name: m, query: 'x', test: mann-whitney, direction: either, allowed_change: 0}\n",
		"global:\n  prometheus:\n    url: http://p:9090\n    basic_auth: {username: u, password: p}\n  nats:\n    url: nats://n:4222\n    user: u\n    password: p\ntemplates: [{name: t, metrics: [{name: m, query: x}]}]\n",
		"templates: [{name: t, interval: 0s, metrics: [{name: m, query: x}]}]",
		"templates: [{name: t, steps: [.nan], metrics: [{name: m, query: x}]}]",
		"a: &a [*a, *a]\ntemplates: *a",
		"templates: [{name: broken",
		"\t",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := configs.Load(s)
		if err != nil {
			var ps configs.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("Load failed without Problems: %T %v", err, err)
			}
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("a problem without a message: %+v", p)
				}
			}
			return
		}
		if len(cfg.Templates) == 0 {
			t.Fatal("a config without templates loaded")
		}
		seen := map[string]bool{}
		for i := range cfg.Templates {
			tm := &cfg.Templates[i]
			if tm.Name == "" || seen[tm.Name] || cfg.Template(tm.Name) != tm {
				t.Fatalf("template %d: name %q empty, repeated or not found", i, tm.Name)
			}
			seen[tm.Name] = true
			if tm.Interval <= 0 || tm.QueryStep() <= 0 || tm.MaxJudgements() < 1 || len(tm.Steps) == 0 || len(tm.Metrics) == 0 {
				t.Fatalf("template %q: interval %v, step %v, max judgements %d, %d steps, %d metrics",
					tm.Name, tm.Interval, tm.QueryStep(), tm.MaxJudgements(), len(tm.Steps), len(tm.Metrics))
			}
			for _, m := range tm.Metrics {
				if m.QueryTemplate() == nil {
					t.Fatalf("template %q metric %q: no parsed query", tm.Name, m.Name)
				}
			}
			judgeOnce(t, tm)
		}
	})
}

// judgeOnce judges one interval with tm: samples around 100 for the first
// metric, a failed fetch for the second, nothing for the rest.
func judgeOnce(t *testing.T, tm *spec.Template) {
	t.Helper()
	j := analysis.NewJudge(tm)
	st := j.NewState()
	in := make([]analysis.Input, len(tm.Metrics))
	start := time.Unix(1704067200, 0)
	step := time.Second
	for i := range in {
		switch i {
		case 0:
			for k := range 30 {
				ts := start.Add(time.Duration(k) * step).UnixMilli()
				in[i].Baseline.Times = append(in[i].Baseline.Times, ts)
				in[i].Baseline.Values = append(in[i].Baseline.Values, 100+float64(k%7))
				in[i].Canary.Times = append(in[i].Canary.Times, ts)
				in[i].Canary.Values = append(in[i].Canary.Values, 101+float64(k%5))
			}
			in[i].Baseline.Tally(start, start.Add(29*step), step)
			in[i].Canary.Tally(start, start.Add(29*step), step)
		case 1:
			in[i].Err = errors.New("fetch failed")
		default:
			in[i].Baseline, in[i].Canary = metrics.Samples{}, metrics.Samples{}
		}
	}
	var out analysis.Judgement
	if err := j.Judge(st, in, &out); err != nil {
		t.Fatalf("template %q: judge: %v", tm.Name, err)
	}
	j.Explain(&out)
	if out.Reason == "" {
		t.Fatalf("template %q: judgement without a reason", tm.Name)
	}
}
