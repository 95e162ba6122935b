package prometheus_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/prometheus"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// t0 is the first timestamp of testdata/prometheus/series.om; its series
// have ten steps of a minute.
var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// step returns the unix ms time of step i of the test series.
func step(i int) int64 { return t0.Add(time.Duration(i) * time.Minute).UnixMilli() }

func steps(is ...int) []int64 {
	out := make([]int64, len(is))
	for j, i := range is {
		out[j] = step(i)
	}
	return out
}

// closeTo compares float64 slices: NaN matches NaN, infinities match
// exactly, finite values within a relative 1e-12.
func closeTo(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				return false
			}
		case math.IsInf(w, 0) || w == 0:
			if g != w {
				return false
			}
		case math.Abs(g-w) > 1e-12*math.Abs(w):
			return false
		}
	}
	return true
}

func newSource(t *testing.T, url string, edit func(*configs.Prometheus)) *prometheus.Source {
	t.Helper()
	cfg := configs.DefaultPrometheus()
	cfg.URL = url
	if edit != nil {
		edit(&cfg)
	}
	src, err := prometheus.New(cfg, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(src.Close)
	return src
}

// TestRealPrometheus queries a real Prometheus server over the series in
// testdata/prometheus and checks every sample it returns. Expected values
// are worked out by hand from series.om.
func TestRealPrometheus(t *testing.T) {
	// Samples are a minute apart; a 30s lookback shows a missing sample as
	// a missing step instead of repeating the one before.
	srv := promtest.StartFile(t, promtest.RepoFile(t, "testdata/prometheus/series.om"), promtest.Options{LookbackDelta: 30 * time.Second})
	src := newSource(t, srv.URL, nil)

	// histogram_quantile interpolates linearly inside the bucket that holds
	// the rank q*total: lower + (upper-lower) * (rank - below) / in_bucket,
	// with 0 as the lower bound of the first bucket; a rank in the +Inf
	// bucket gives the highest finite bound. Bucket counts per step for
	// le = 0.1, 0.25, 0.5, 1, +Inf:
	//   0: 10 30 36 39 40   1: 12 35 45 49 50   2: 0 0 20 40 40
	//   3: 5 5 5 5 10       4: 100 100 100 100 100
	p50 := []float64{
		0.1 + (0.25-0.1)*(20.0-10)/(30-10), // rank 20
		0.1 + (0.25-0.1)*(25.0-12)/(35-12), // rank 25
		0.25 + (0.5-0.25)*(20.0-0)/(20-0),  // rank 20
		0 + (0.1-0)*5.0/5,                  // rank 5
		0 + (0.1-0)*50.0/100,               // rank 50
	}
	p90 := []float64{
		0.25 + (0.5-0.25)*(36.0-30)/(36-30), // rank 36
		0.25 + (0.5-0.25)*(45.0-35)/(45-35), // rank 45
		0.5 + (1-0.5)*(36.0-20)/(40-20),     // rank 36
		1,                                   // rank 9 is in the +Inf bucket
		0 + (0.1-0)*90.0/100,                // rank 90
	}
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name      string
		template  string
		role      metrics.Role
		aggregate string
		from, to  int // steps
		every     time.Duration
		times     []int64
		values    []float64
		nan, inf  int
		gaps      int
	}{
		{name: "gauge, canary", template: `canaryd_test_gauge{service="{{.Service}}",track="{{.Role}}"}`, role: metrics.Canary,
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{12.3, 12.5, 11.9, 13, 12.75, 0.1, 0.001, 123456.789, -4.5, 12.3}},
		{name: "gauge, baseline", template: `canaryd_test_gauge{service="{{.Service}}",track="{{.Role}}"}`, role: metrics.Baseline,
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{10, 10.5, 9.75, 11, 10.25, 10, 10.125, 9.5, 10.75, 10}},
		{name: "gauge, inner window", template: `canaryd_test_gauge{track="{{.Role}}"}`, role: metrics.Canary, from: 2, to: 4,
			times: steps(2, 3, 4), values: []float64{11.9, 13, 12.75}},
		{name: "gauge, two-minute step", template: `canaryd_test_gauge{track="{{.Role}}"}`, role: metrics.Canary, every: 2 * time.Minute,
			times: steps(0, 2, 4, 6, 8), values: []float64{12.3, 11.9, 12.75, 0.001, -4.5}},
		{name: "histogram p50", template: `histogram_quantile(0.5, canaryd_test_latency_seconds_bucket{service="{{.Service}}"})`,
			times: steps(0, 1, 2, 3, 4), values: p50, gaps: 5},
		{name: "histogram p90", template: `histogram_quantile(0.9, sum by (le) (canaryd_test_latency_seconds_bucket{service="{{.Service}}"}))`,
			times: steps(0, 1, 2, 3, 4), values: p90, gaps: 5},
		{name: "NaN and Inf points", template: `canaryd_test_special`,
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{1, nan, 2, inf, 3, -inf, nan, 4, 5, 6}, nan: 2, inf: 2},
		{name: "gap", template: `canaryd_test_gappy`,
			times: steps(0, 1, 2, 3, 7, 8, 9), values: []float64{1, 2, 3, 4, 8, 9, 10}, gaps: 3},
		{name: "empty result", template: `canaryd_test_gauge{service="{{.Service}}",track="nonexistent"}`, gaps: 10},
		{name: "sum over pods", template: `canaryd_test_pods`, aggregate: "sum",
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{111, 222, nan, 444, 555, 66, 77, 88, 99, 110}, nan: 1},
		{name: "avg over pods", template: `canaryd_test_pods`, aggregate: "avg",
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{37, 74, nan, 148, 185, 33, 38.5, 44, 49.5, 55}, nan: 1},
		{name: "min over pods", template: `canaryd_test_pods`, aggregate: "min",
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{name: "max over pods", template: `canaryd_test_pods`, aggregate: "max",
			times: steps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), values: []float64{100, 200, 30, 400, 500, 60, 70, 80, 90, 100}},
	}

	var (
		qs   []metrics.Query
		rec  metrics.Recording
		ctx  = context.Background()
		data = spec.QueryData{Service: "checkout", Interval: "1m"}
	)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qt, err := spec.ParseQueryTemplate(tt.name, tt.template)
			if err != nil {
				t.Fatal(err)
			}
			d := data
			d.Role = string(tt.role)
			if d.Role == "" {
				d.Role = string(metrics.Canary)
			}
			expr, err := qt.Render(d)
			if err != nil {
				t.Fatal(err)
			}
			to, every := tt.to, tt.every
			if to == 0 {
				to = 9
			}
			if every == 0 {
				every = time.Minute
			}
			q := metrics.Query{Metric: tt.name, Role: metrics.Role(d.Role), Expr: expr, Interval: i, Aggregate: tt.aggregate,
				Start: t0.Add(time.Duration(tt.from) * time.Minute), End: t0.Add(time.Duration(to) * time.Minute), Step: every}
			qs = append(qs, q)

			s, err := src.Fetch(ctx, q)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if s.Query != expr || !slices.Equal(s.Times, tt.times) || !closeTo(s.Values, tt.values) ||
				s.NaN != tt.nan || s.Inf != tt.inf || s.Gaps != tt.gaps || len(s.Warnings) != 0 {
				t.Errorf("Fetch(%s):\n got times %v values %v NaN %d Inf %d gaps %d warnings %v query %q\nwant times %v values %v NaN %d Inf %d gaps %d",
					expr, s.Times, s.Values, s.NaN, s.Inf, s.Gaps, s.Warnings, s.Query, tt.times, tt.values, tt.nan, tt.inf, tt.gaps)
			}
			if s.Empty() != (len(tt.values) == 0) {
				t.Errorf("Empty() = %v with %d values", s.Empty(), len(s.Values))
			}
			rec.Record(q.Interval, q.Start, q.End, q.Metric, q.Role, s)
		})
	}

	t.Run("record then replay", func(t *testing.T) {
		live, errs := metrics.FetchAll(ctx, src, qs, nil)
		if errs != nil {
			t.Fatalf("FetchAll: %v", errors.Join(errs...))
		}
		var buf bytes.Buffer
		if _, err := rec.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		read, err := metrics.ReadRecording(&buf)
		if err != nil {
			t.Fatalf("ReadRecording: %v", err)
		}
		replayed, errs := metrics.FetchAll(ctx, read.Provider(), qs, nil)
		if errs != nil {
			t.Fatalf("replay: %v", errors.Join(errs...))
		}
		for i := range qs {
			a, b := live[i], replayed[i]
			if a.Query != b.Query || !slices.Equal(a.Times, b.Times) || !sameBits(a.Values, b.Values) ||
				a.NaN != b.NaN || a.Inf != b.Inf || a.Gaps != b.Gaps {
				t.Errorf("%s: replayed %+v\nlive %+v", qs[i].Metric, b, a)
			}
		}
	})

	t.Run("several series without aggregate", func(t *testing.T) {
		q := metrics.Query{Metric: "pods", Role: metrics.Canary, Expr: `canaryd_test_pods`, Start: t0, End: t0.Add(9 * time.Minute), Step: time.Minute}
		_, err := src.Fetch(ctx, q)
		if !errors.Is(err, metrics.ErrMultipleSeries) {
			t.Fatalf("Fetch = %v, want ErrMultipleSeries", err)
		}
		for _, want := range []string{"query pods for canary", "got 3", `pod="a"`, `pod="c"`, "aggregate", "canaryd_test_pods"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
	})

	t.Run("series unmerged", func(t *testing.T) {
		q := metrics.Query{Metric: "pods", Role: metrics.Canary, Expr: `canaryd_test_pods`, Aggregate: "sum",
			Start: t0, End: t0.Add(9 * time.Minute), Step: time.Minute}
		m, warnings, err := src.FetchMatrix(ctx, q)
		if err != nil {
			t.Fatalf("FetchMatrix: %v", err)
		}
		if len(m) != 3 || len(warnings) != 0 {
			t.Fatalf("FetchMatrix: %d series, warnings %v; want 3 series", len(m), warnings)
		}
		want := map[string][]float64{"a": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "b": {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, "c": {100, 200, nan, 400, 500}}
		for _, ss := range m {
			pod := string(ss.Metric["pod"])
			got := make([]float64, len(ss.Values))
			for i, p := range ss.Values {
				got[i] = float64(p.Value)
				if int64(p.Timestamp) != step(i) {
					t.Errorf("pod %s point %d at %d, want %d", pod, i, int64(p.Timestamp), step(i))
				}
			}
			if !closeTo(got, want[pod]) {
				t.Errorf("pod %s: %v, want %v", pod, got, want[pod])
			}
		}
		q.Step = 0
		if _, _, err := src.FetchMatrix(ctx, q); err == nil || !strings.Contains(err.Error(), "step must be positive") {
			t.Errorf("FetchMatrix with a zero step = %v, want the same check as Fetch", err)
		}
	})

	t.Run("largest window prometheus answers", func(t *testing.T) {
		// 11000 steps of a second: the most Prometheus evaluates; the source
		// refuses one more itself (TestInvalidQueries).
		q := metrics.Query{Metric: "gauge", Role: metrics.Canary, Expr: `canaryd_test_gauge{track="canary"}`,
			Start: t0, End: t0.Add(11000 * time.Second), Step: time.Second}
		s, err := src.Fetch(ctx, q)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		if s.Len()+s.Gaps != 11001 || s.Len() == 0 || s.Values[0] != 12.3 {
			t.Errorf("got %d points and %d gaps, first %v; want 11001 steps in all", s.Len(), s.Gaps, s.Values[:min(1, s.Len())])
		}
	})

	t.Run("rejected queries", func(t *testing.T) {
		for _, tt := range []struct{ expr, want string }{
			{`rate(canaryd_test_gauge[1m]`, "bad_data"},                 // 400: parse error
			{`canaryd_test_pods + on() canaryd_test_pods`, "execution"}, // 422: many-to-many
		} {
			q := metrics.Query{Metric: "bad", Role: metrics.Baseline, Expr: tt.expr, Start: t0, End: t0.Add(time.Minute), Step: time.Minute}
			_, err := src.Fetch(ctx, q)
			var qe *prometheus.QueryError
			if !errors.Is(err, prometheus.ErrBadQuery) || !errors.As(err, &qe) || qe.Attempts != 1 {
				t.Errorf("Fetch(%s) = %v, want ErrBadQuery after one attempt", tt.expr, err)
				continue
			}
			for _, want := range []string{"query bad for baseline", tt.want, tt.expr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		}
	})
}

// sameBits compares float64 slices bit for bit, any NaN matching any NaN.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) && math.IsNaN(b[i]) {
			continue
		}
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
