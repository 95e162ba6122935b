package prometheus_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/companion"
	"github.com/canaryd/canaryd/metrics/prometheus"
	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// TestFreshnessJoined holds the companion's one-request path to what the
// query and its companion return when sent apart, against a real
// Prometheus: the same points, and per point the sample time the
// companion gives alone, in one request. A scalar query, which cannot be
// joined, falls back to two; a wrong query fails with its own text.
func TestFreshnessJoined(t *testing.T) {
	srv := promtest.StartFile(t, promtest.RepoFile(t, "testdata/prometheus/series.om"), promtest.Options{LookbackDelta: 5 * time.Minute})
	reg := prom.NewRegistry()
	cfg := configs.DefaultPrometheus()
	cfg.URL = srv.URL
	src, err := prometheus.New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	requests := func() uint64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "canaryd_prometheus_request_duration_seconds" {
				return mf.GetMetric()[0].GetHistogram().GetSampleCount()
			}
		}
		t.Fatal("no request duration histogram")
		return 0
	}
	ctx := context.Background()
	// Steps of 30 s over series sampled every minute, the last ones past
	// the data: half the points repeat a sample, the last ones an old one.
	start, end, step := t0, t0.Add(14*time.Minute), 30*time.Second
	for _, tt := range []struct {
		expr, aggregate string
		requests        uint64
	}{
		{expr: `canaryd_test_gauge{service="checkout",track="canary"}`, requests: 1},
		{expr: `histogram_quantile(0.9, sum by (le) (canaryd_test_latency_seconds_bucket{service="checkout"}))`, requests: 1},
		{expr: `canaryd_test_pods`, aggregate: "sum", requests: 1},
		{expr: `sum(canaryd_test_gappy) / sum(canaryd_test_gauge{track="canary"})`, requests: 1},
		// A scalar cannot be joined: the joined request is refused, and
		// the two are sent apart.
		{expr: `scalar(sum(canaryd_test_gauge{track="canary"}))`, requests: 3},
	} {
		fresh, err := companion.Of(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		q := metrics.Query{Metric: "m", Role: metrics.Canary, Expr: tt.expr, Start: start, End: end, Step: step, Aggregate: tt.aggregate}
		want, err := src.Fetch(ctx, q)
		if err != nil {
			t.Fatalf("%s alone: %v", tt.expr, err)
		}
		fq := q
		fq.Expr, fq.Aggregate = fresh, ""
		cm, _, err := src.FetchMatrix(ctx, fq)
		if err != nil || len(cm) != 1 {
			t.Fatalf("%s's companion alone: %d series, %v", tt.expr, len(cm), err)
		}
		ctimes, cvalues := make([]int64, len(cm[0].Values)), make([]float64, len(cm[0].Values))
		for i, p := range cm[0].Values {
			ctimes[i], cvalues[i] = int64(p.Timestamp), float64(p.Value)
		}
		want.SetFreshness(ctimes, cvalues)

		before := requests()
		q.Freshness = fresh
		got, err := src.Fetch(ctx, q)
		if err != nil {
			t.Fatalf("%s joined: %v", tt.expr, err)
		}
		if n := requests() - before; n != tt.requests {
			t.Errorf("%s: %d requests, want %d", tt.expr, n, tt.requests)
		}
		if !got.FreshnessKnown || got.Len() == 0 || !slices.Equal(got.Times, want.Times) || !closeTo(got.Values, want.Values) ||
			!slices.Equal(got.SampleTimes, want.SampleTimes) || got.LastSample != want.LastSample || got.Gaps != want.Gaps {
			t.Errorf("%s joined:\n got %+v\nwant %+v", tt.expr, got, want)
		}
		if !slices.ContainsFunc(got.SampleTimes, func(s int64) bool { return s > 0 && s < got.Times[len(got.Times)-1]-60_000 }) {
			t.Errorf("%s: no point repeats an old sample (%v): the case tests nothing", tt.expr, got.SampleTimes)
		}
	}

	// A wrong query fails with its own text, not the joined one.
	q := metrics.Query{Metric: "m", Role: metrics.Canary, Expr: `sum(rate(canaryd_test_gauge[1m]) by`, Start: start, End: end, Step: step,
		Freshness: `max(timestamp(canaryd_test_gauge))`}
	_, err = src.Fetch(ctx, q)
	var qe *prometheus.QueryError
	if !errors.As(err, &qe) || !errors.Is(err, prometheus.ErrBadQuery) || qe.Query != q.Expr || strings.Contains(err.Error(), companion.Label) {
		t.Errorf("a wrong query: %v", err)
	}
}
