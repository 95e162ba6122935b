package analysis_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// benchTemplate is a template of n paired metrics.
func benchTemplate(b testing.TB, n int) *spec.Template {
	return benchTemplateWith(b, n, "")
}

// benchTemplateWith is benchTemplate with extra settings on every metric
// (", shape: true").
func benchTemplateWith(b testing.TB, n int, extra string) *spec.Template {
	var sb strings.Builder
	sb.WriteString("templates:\n  - name: bench\n    interval: 5m\n    metrics:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "      - {name: m%d, query: 'q{track=\"{{.Role}}\"}', allowed_change: 0.05%s}\n", i, extra)
	}
	cfg, err := configs.Load(sb.String())
	if err != nil {
		b.Fatal(err)
	}
	return &cfg.Templates[0]
}

// benchInputs returns one interval of AR(1) log-normal series per metric.
func benchInputs(n, points int, seed uint64) []analysis.Input {
	rng := rand.New(rand.NewPCG(seed, 1))
	in := make([]analysis.Input, n)
	for i := range in {
		times := make([]int64, points)
		bv, cv := make([]float64, points), make([]float64, points)
		load, eb, ec := 0.0, 0.0, 0.0
		for k := 0; k < points; k++ {
			times[k] = int64(k) * 10_000
			load = 0.9*load + 0.1*rng.NormFloat64()
			eb = 0.6*eb + 0.1*rng.NormFloat64()
			ec = 0.6*ec + 0.1*rng.NormFloat64()
			bv[k] = 100 * math.Exp(load+eb)
			cv[k] = 100 * math.Exp(load+ec)
		}
		in[i] = analysis.Input{
			Baseline: metrics.Samples{Times: times, Values: bv},
			Canary:   metrics.Samples{Times: times, Values: cv},
		}
	}
	return in
}

// BenchmarkJudge judges one analysis of 10 metrics with 300 points per
// role per interval, as the daemon does at every interval.
func BenchmarkJudge(b *testing.B) { benchJudge(b, benchTemplate(b, 10)) }

// BenchmarkJudgeTail is BenchmarkJudge with the tail test on every metric
// (shape: true, as latency percentiles have by default).
func BenchmarkJudgeTail(b *testing.B) { benchJudge(b, benchTemplateWith(b, 10, ", shape: true")) }

// BenchmarkJudgeFresh is BenchmarkJudge on 16 different sets of inputs in
// turn, as the daemon sees new points at every interval: judging the same
// inputs again lets the branch predictor learn the sorts' and the
// selections' branches, which makes a judgement look cheaper than it is.
func BenchmarkJudgeFresh(b *testing.B) {
	tmpl := benchTemplate(b, 10)
	ins := make([][]analysis.Input, 16)
	for k := range ins {
		ins[k] = benchInputs(10, 300, uint64(100+k))
	}
	j := analysis.NewJudge(tmpl)
	st := j.NewState()
	var out analysis.Judgement
	for _, in := range ins { // warm the buffers
		if err := j.Judge(st, in, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	k := 0
	for b.Loop() {
		if err := j.Judge(st, ins[k&15], &out); err != nil {
			b.Fatal(err)
		}
		k++
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkJudgeFreshness is BenchmarkJudge with and without the
// freshness that the companion queries bring (issue 21): with it, every
// point of both roles has a raw sample 2 s old, so that every freshness
// check runs and none holds the metric.
func BenchmarkJudgeFreshness(b *testing.B) {
	for _, known := range []bool{false, true} {
		b.Run(fmt.Sprintf("companion=%v", known), func(b *testing.B) {
			in := benchInputs(10, 300, 1)
			if known {
				for i := range in {
					for _, s := range []*metrics.Samples{&in[i].Baseline, &in[i].Canary} {
						s.FreshnessKnown = true
						s.SampleTimes = make([]int64, len(s.Times))
						for k, t := range s.Times {
							s.SampleTimes[k] = t - 2000
						}
						s.LastSample = s.SampleTimes[len(s.SampleTimes)-1]
					}
				}
			}
			benchJudgeInputs(b, benchTemplate(b, 10), in)
		})
	}
}

func benchJudge(b *testing.B, tmpl *spec.Template) {
	benchJudgeInputs(b, tmpl, benchInputs(10, 300, 1))
}

func benchJudgeInputs(b *testing.B, tmpl *spec.Template, in []analysis.Input) {
	j := analysis.NewJudge(tmpl)
	st := j.NewState()
	var out analysis.Judgement
	if err := j.Judge(st, in, &out); err != nil { // warm the buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		if err := j.Judge(st, in, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's CPU time, user and system: unlike ns/op it
// hardly moves when other processes share the cores.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestJudgeAllocatesNothing(t *testing.T) {
	tmpl := benchTemplate(t, 10)
	in := benchInputs(10, 300, 2)
	j := analysis.NewJudge(tmpl)
	st := j.NewState()
	var out analysis.Judgement
	if err := j.Judge(st, in, &out); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := j.Judge(st, in, &out); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Judge allocates %v times per call in steady state, want 0", allocs)
	}
}
