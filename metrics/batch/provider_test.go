package batch_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
	"github.com/canaryd/canaryd/metrics/companion"
	"github.com/canaryd/canaryd/metrics/prometheus"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// t0 is the first timestamp of the generated series; points are 15s apart.
var t0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

const (
	points  = 40
	spacing = 15 * time.Second
)

// services are the analysed services; "empty" has no series at all.
var services = []string{"checkout", "payments", "search.v2", "cart", "empty"}

// openMetrics generates, for every service but "empty", two pods per
// track of: a latency histogram, request counters by code, and a memory
// gauge. Values are random but fixed by the seed.
func openMetrics() string {
	r := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	les := []string{"0.05", "0.1", "0.25", "0.5", "1", "+Inf"}
	type series struct {
		name, labels string
		vals         []float64
	}
	var hist, reqs, mem []series
	for _, svc := range services[:len(services)-1] {
		for _, track := range []string{"baseline", "canary"} {
			for _, pod := range []string{"p0", "p1"} {
				base := fmt.Sprintf(`service="%s",track="%s",pod="%s"`, svc, track, pod)
				counts := make([]float64, len(les))
				cv := make([][]float64, len(les))
				for range points {
					inc := 0.0
					for i := range les {
						inc += float64(r.IntN(20))
						counts[i] += inc
						cv[i] = append(cv[i], counts[i])
					}
				}
				for i, le := range les {
					hist = append(hist, series{"bench_latency_seconds_bucket", base + `,le="` + le + `"`, cv[i]})
				}
				var ok, bad, total []float64
				var okc, badc float64
				for range points {
					okc += float64(50 + r.IntN(50))
					badc += float64(r.IntN(3))
					ok, bad = append(ok, okc), append(bad, badc)
					total = append(total, okc+badc)
				}
				_ = total
				reqs = append(reqs, series{"bench_requests_total", base + `,code="200"`, ok}, series{"bench_requests_total", base + `,code="500"`, bad})
				var m []float64
				for range points {
					m = append(m, 1e8+r.Float64()*1e7)
				}
				mem = append(mem, series{"bench_memory_bytes", base, m})
			}
		}
	}
	write := func(family, typ string, ss []series) {
		fmt.Fprintf(&b, "# TYPE %s %s\n", family, typ)
		for _, s := range ss {
			for i, v := range s.vals {
				fmt.Fprintf(&b, "%s{%s} %g %d\n", s.name, s.labels, v, t0.Add(time.Duration(i)*spacing).Unix())
			}
		}
	}
	write("bench_latency_seconds", "histogram", hist)
	write("bench_requests", "counter", reqs)
	write("bench_memory_bytes", "gauge", mem)
	return b.String()
}

// counting is a batch.Source that counts what reaches the server.
type counting struct {
	*prometheus.Source
	single, matrix atomic.Int64
}

func (c *counting) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	c.single.Add(1)
	return c.Source.Fetch(ctx, q)
}

func (c *counting) FetchMatrix(ctx context.Context, q metrics.Query) (model.Matrix, []string, error) {
	c.matrix.Add(1)
	return c.Source.FetchMatrix(ctx, q)
}

// same reports whether two samples are identical, NaN for NaN, bit for bit.
func same(a, b metrics.Samples) bool {
	if a.FreshnessKnown != b.FreshnessKnown || a.LastSample != b.LastSample || !slices.Equal(a.SampleTimes, b.SampleTimes) {
		return false
	}
	if a.Query != b.Query || a.NaN != b.NaN || a.Inf != b.Inf || a.Gaps != b.Gaps ||
		!slices.Equal(a.Times, b.Times) || len(a.Values) != len(b.Values) || !slices.Equal(a.Warnings, b.Warnings) {
		return false
	}
	for i := range a.Values {
		if math.Float64bits(a.Values[i]) != math.Float64bits(b.Values[i]) {
			return false
		}
	}
	return true
}

func TestBatchedEqualsIndividual(t *testing.T) {
	srv := promtest.Start(t, openMetrics(), promtest.Options{LookbackDelta: 20 * time.Second})
	cfg := configs.DefaultPrometheus()
	cfg.URL = srv.URL
	ps, err := prometheus.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ps.Close)

	tests := []struct {
		name, tmpl, aggregate string
		// requests that reach the server per role: batched and single
		wantMatrix, wantSingle int64
	}{
		{name: "histogram quantile", wantMatrix: 1,
			tmpl: `histogram_quantile(0.9, sum by (le) (rate(bench_latency_seconds_bucket{service="{{s}}",track="{{r}}"}[1m])))`},
		{name: "ratio of sums", wantMatrix: 1,
			tmpl: `sum(rate(bench_requests_total{service="{{s}}",track="{{r}}",code=~"5.."}[1m])) / sum(rate(bench_requests_total{service="{{s}}",track="{{r}}"}[1m]))`},
		{name: "gauge summed in Go", aggregate: metrics.AggregateSum, wantMatrix: 1,
			tmpl: `bench_memory_bytes{service="{{s}}",track="{{r}}"}`},
		{name: "gauge max in Go", aggregate: metrics.AggregateMax, wantMatrix: 1,
			tmpl: `bench_memory_bytes{service="{{s}}",track="{{r}}"}`},
		// Only the service with no series is answered by the batch: the
		// others' errors list their series, so they ask alone.
		{name: "gauge, several series and no aggregate", wantMatrix: 1, wantSingle: 4,
			tmpl: `bench_memory_bytes{service="{{s}}",track="{{r}}"}`},
		{name: "topk is refused", wantSingle: 5,
			tmpl: `sum(topk(1, bench_memory_bytes{service="{{s}}",track="{{r}}"}))`},
	}
	start, end, step := t0.Add(2*time.Minute), t0.Add(8*time.Minute), 15*time.Second
	for _, fresh := range []bool{false, true} {
		for _, tt := range tests {
			name := tt.name
			if fresh {
				// With each query's freshness companion, joined to the
				// batch's query: still one request per batch.
				name += " with freshness"
			}
			t.Run(name, func(t *testing.T) {
				for _, role := range []metrics.Role{metrics.Baseline, metrics.Canary} {
					qs := make([]metrics.Query, len(services))
					for i, svc := range services {
						expr := strings.NewReplacer("{{s}}", svc, "{{r}}", string(role)).Replace(tt.tmpl)
						qs[i] = metrics.Query{Metric: tt.name, Role: role, Expr: expr, Start: start, End: end, Step: step, Aggregate: tt.aggregate}
						if fresh {
							if qs[i].Freshness, err = companion.Of(expr); err != nil {
								t.Fatal(err)
							}
						}
					}
					type result struct {
						s   metrics.Samples
						err error
					}
					want := make([]result, len(qs))
					for i, q := range qs {
						want[i].s, want[i].err = ps.Fetch(context.Background(), q)
					}

					src := &counting{Source: ps}
					// A full batch is sent at once: no waiting on the window.
					p := batch.New(src, batch.Options{Window: time.Minute, MaxSize: len(qs)})
					got := make([]result, len(qs))
					var wg sync.WaitGroup
					for i, q := range qs {
						wg.Go(func() { got[i].s, got[i].err = p.Fetch(context.Background(), q) })
					}
					wg.Wait()

					for i := range qs {
						switch {
						case (got[i].err == nil) != (want[i].err == nil):
							t.Errorf("%s %s: batched error %v, alone %v", services[i], role, got[i].err, want[i].err)
						case want[i].err != nil:
							if got[i].err.Error() != want[i].err.Error() {
								t.Errorf("%s %s: batched error %q, alone %q", services[i], role, got[i].err, want[i].err)
							}
						case !same(got[i].s, want[i].s):
							t.Errorf("%s %s: batched %+v\nalone %+v", services[i], role, got[i].s, want[i].s)
						}
					}
					if want[0].err == nil && want[0].s.Len() == 0 {
						t.Errorf("%s: no points for %s; the test data do not exercise the query", tt.name, services[0])
					}
					if fresh && want[0].err == nil && (!want[0].s.FreshnessKnown || want[0].s.LastSample == 0 || slices.Contains(want[0].s.SampleTimes, 0)) {
						t.Errorf("%s: freshness of %s: known %v, sample times %v, last %d", tt.name, services[0], want[0].s.FreshnessKnown, want[0].s.SampleTimes, want[0].s.LastSample)
					}
					if want[len(qs)-1].err == nil && !want[len(qs)-1].s.Empty() {
						t.Errorf("%s: service %q has points", tt.name, services[len(qs)-1])
					}
					if src.matrix.Load() != tt.wantMatrix || src.single.Load() != tt.wantSingle {
						t.Errorf("%d batched and %d single requests for %d queries; want %d and %d",
							src.matrix.Load(), src.single.Load(), len(qs), tt.wantMatrix, tt.wantSingle)
					}
				}
			})
		}
	}
}

// failing is a batch.Source whose batched requests fail.
type failing struct {
	metrics.Provider
}

func (failing) FetchMatrix(context.Context, metrics.Query) (model.Matrix, []string, error) {
	return nil, nil, errors.New("boom")
}

// fixed answers every single query with its own expression.
type fixed struct{ calls atomic.Int64 }

func (f *fixed) Fetch(_ context.Context, q metrics.Query) (metrics.Samples, error) {
	f.calls.Add(1)
	return metrics.Samples{Query: q.Expr, Times: []int64{1}, Values: []float64{float64(len(q.Expr))}}, nil
}

func TestFailedBatchFallsBack(t *testing.T) {
	single := &fixed{}
	p := batch.New(failing{single}, batch.Options{Window: time.Minute, MaxSize: 3})
	var wg sync.WaitGroup
	got := make([]metrics.Samples, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			got[i], errs[i] = p.Fetch(context.Background(), metrics.Query{Metric: "m", Role: metrics.Canary,
				Expr: fmt.Sprintf(`sum(x{service="s%d"})`, i), Start: t0, End: t0.Add(time.Minute), Step: time.Second})
		})
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil || got[i].Query != fmt.Sprintf(`sum(x{service="s%d"})`, i) {
			t.Errorf("query %d: %+v, %v; want its own answer", i, got[i], errs[i])
		}
	}
	if single.calls.Load() != 3 {
		t.Errorf("%d single queries after a failed batch; want 3", single.calls.Load())
	}
}

func TestCallerGivesUp(t *testing.T) {
	single := &fixed{}
	p := batch.New(failing{single}, batch.Options{Window: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Fetch(ctx, metrics.Query{Metric: "m", Role: metrics.Canary, Expr: `x{service="a"}`, Start: t0, End: t0, Step: time.Second})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context: %v; want context.Canceled", err)
	}
}

// recording is a batch.Source that answers batched queries with one
// series per service it is asked for, and records what it was sent.
type recording struct {
	fixed
	mu      sync.Mutex
	batched []string
}

func (r *recording) FetchMatrix(_ context.Context, q metrics.Query) (model.Matrix, []string, error) {
	r.mu.Lock()
	r.batched = append(r.batched, q.Expr)
	r.mu.Unlock()
	var m model.Matrix
	for _, svc := range []string{"a", "b"} {
		if strings.Contains(q.Expr, svc) {
			m = append(m, &model.SampleStream{Metric: model.Metric{"service": model.LabelValue(svc)},
				Values: []model.SamplePair{{Timestamp: model.TimeFromUnix(t0.Unix()), Value: model.SampleValue(len(svc))}}})
		}
	}
	return m, nil, nil
}

func TestBatchShapes(t *testing.T) {
	tests := []struct {
		name        string
		exprs       []string
		window      time.Duration // default: long, so that full batches go at once
		wantBatched int           // requests sent for the batch
		wantSingle  int64
	}{
		{name: "the window sends a batch that is not full", wantBatched: 1, window: 2 * time.Second,
			exprs: []string{`sum(x{service="a"})`, `sum(x{service="b"})`}},
		{name: "identical queries share one request", wantBatched: 1,
			exprs: []string{`sum(x{service="a"})`, `sum(x{service="a"})`}},
		{name: "one label with two values in one query is sent alone", wantBatched: 1, wantSingle: 1,
			exprs: []string{`sum(x{service="a"}) / sum(y{service="b"})`, `sum(x{service="a"}) / sum(y{service="a"})`, `sum(x{service="b"}) / sum(y{service="b"})`}},
		{name: "refused shapes are sent alone", wantSingle: 2,
			exprs: []string{`topk(1, x{service="a"})`, `topk(1, x{service="b"})`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &recording{}
			o := batch.Options{Window: time.Minute, MaxSize: 2}
			if tt.window > 0 {
				o.Window, o.MaxSize = tt.window, 100
			}
			p := batch.New(src, o)
			got := make([]metrics.Samples, len(tt.exprs))
			errs := make([]error, len(tt.exprs))
			var wg sync.WaitGroup
			for i, e := range tt.exprs {
				wg.Go(func() {
					got[i], errs[i] = p.Fetch(context.Background(), metrics.Query{Metric: "m", Role: metrics.Canary, Expr: e,
						Start: t0, End: t0, Step: time.Second})
				})
			}
			wg.Wait()
			for i := range tt.exprs {
				if errs[i] != nil || got[i].Len() != 1 {
					t.Errorf("%s: %+v, %v; want one point", tt.exprs[i], got[i], errs[i])
				}
			}
			if len(src.batched) != tt.wantBatched || src.calls.Load() != tt.wantSingle {
				t.Errorf("sent %d batched %q and %d single; want %d and %d", len(src.batched), src.batched, src.calls.Load(), tt.wantBatched, tt.wantSingle)
			}
		})
	}
}
