package embedded_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/embedded"
	"github.com/canaryd/canaryd/metrics/prometheus"
)

// These tests query the source through canaryd's production Prometheus
// provider, as the daemon does in the demo.

func TestFetchThroughProductionProvider(t *testing.T) {
	src := loadFleet(t)
	provider := newProvider(t, start(t, src), prom.NewRegistry())
	for _, tc := range rangeCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := provider.Fetch(context.Background(), metrics.Query{
				Metric: tc.name, Role: metrics.Canary, Expr: tc.expr, Start: tc.start, End: tc.end, Step: interval,
			})
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			wantTimes := steps(tc.start, tc.end)
			if s.Len() != len(tc.want) || s.Gaps != 0 || s.NaN != 0 || s.Inf != 0 || len(s.Warnings) != 0 {
				t.Fatalf("got %+v, want %d points, no gaps, NaN, Inf or warnings", s, len(tc.want))
			}
			for i := range s.Values {
				if s.Times[i] != wantTimes[i] || !near(s.Values[i], tc.want[i]) {
					t.Errorf("point %d: got %v@%d, want %v@%d", i, s.Values[i], s.Times[i], tc.want[i], wantTimes[i])
				}
			}
		})
	}
}

func newProvider(t *testing.T, u string, reg *prom.Registry) *prometheus.Source {
	t.Helper()
	cfg := configs.DefaultPrometheus()
	cfg.URL = u
	cfg.Timeout = model.Duration(10 * time.Second)
	cfg.MinBackoff = model.Duration(time.Millisecond)
	cfg.MaxBackoff = model.Duration(time.Millisecond)
	p, err := prometheus.New(cfg, nil, reg)
	if err != nil {
		t.Fatalf("provider: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestFetchNoData checks that a query matching nothing is an empty answer,
// not an error, with every step counted as a gap.
func TestFetchNoData(t *testing.T) {
	src := loadFleet(t)
	provider := newProvider(t, start(t, src), prom.NewRegistry())
	s, err := provider.Fetch(context.Background(), metrics.Query{
		Metric: "missing", Role: metrics.Baseline, Expr: `rate(demo_requests_total{track="nowhere"}[1m])`,
		Start: at(4), End: at(8), Step: interval,
	})
	if err != nil || !s.Empty() || s.Gaps != 5 {
		t.Errorf("got %+v, %v; want empty samples with 5 gaps and no error", s, err)
	}
}

// TestProviderReportsQueryErrorsWithoutRetrying checks that a query the
// source rejects reaches the provider as ErrBadQuery after one request.
func TestProviderReportsQueryErrorsWithoutRetrying(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		status     int
		errorType  string
	}{
		{"parse error", `rate(demo_requests_total[1m]`, http.StatusBadRequest, "bad_data"},
		{"execution error", `demo_request_duration_seconds_bucket + on(service) demo_request_duration_seconds_bucket`, http.StatusUnprocessableEntity, "execution"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srcReg := prom.NewRegistry()
			src := newSource(t, embedded.Options{Registerer: srcReg})
			for i := range 3 {
				svc := newService()
				svc.latency.Observe(0.3)
				if err := src.IngestGatherer(at(0), map[string]string{"service": "checkout", "track": []string{"a", "b", "c"}[i]}, svc.reg); err != nil {
					t.Fatal(err)
				}
			}
			providerReg := prom.NewRegistry()
			provider := newProvider(t, start(t, src), providerReg)
			_, err := provider.Fetch(context.Background(), metrics.Query{
				Metric: "latency_p99", Role: metrics.Canary, Expr: tc.expr, Start: at(0), End: at(4), Step: interval,
			})
			if !errors.Is(err, prometheus.ErrBadQuery) {
				t.Fatalf("got %v, want ErrBadQuery", err)
			}
			var qe *prometheus.QueryError
			if !errors.As(err, &qe) || qe.Status != tc.status || qe.Attempts != 1 {
				t.Fatalf("got %#v, want status %d after 1 attempt", qe, tc.status)
			}
			var apiErr *v1.Error
			if !errors.As(err, &apiErr) || string(apiErr.Type) != tc.errorType {
				t.Errorf("got API error %v, want type %s", apiErr, tc.errorType)
			}
			if got := counterValue(t, providerReg, "canaryd_prometheus_query_retries_total", nil); got != 0 {
				t.Errorf("provider retried %v times", got)
			}
			if got := counterValue(t, srcReg, "canaryd_embedded_queries_total", map[string]string{"endpoint": "query_range", "result": tc.errorType}); got != 1 {
				t.Errorf("source answered %v %s errors, want 1", got, tc.errorType)
			}
		})
	}
}

// BenchmarkFetch measures what the daemon pays per query: the production
// provider over loopback HTTP, a range query over one 10s interval of 1,000
// counters, summed by the provider (Aggregate "sum") after decoding every
// series.
func BenchmarkFetch(b *testing.B) {
	const n = 1_000
	src := newSource(b, embedded.Options{Retention: 24 * time.Hour})
	lbls := make([]labels.Labels, n)
	for i := range lbls {
		lbls[i] = benchLabels(i)
	}
	for j := range 91 {
		appendAll(b, src, lbls, t0.Add(time.Duration(j)*10*time.Second), float64(j*j))
	}
	end := t0.Add(15 * time.Minute)
	cfg := configs.DefaultPrometheus()
	cfg.URL = start(b, src)
	provider, err := prometheus.New(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(provider.Close)
	q := metrics.Query{Metric: "requests", Role: metrics.Canary, Expr: `rate(canaryd_bench_requests_total[1m])`,
		Start: end.Add(-10 * time.Second), End: end, Step: 10 * time.Second, Aggregate: "sum"}
	b.Run("series=1000/window=1step", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			s, err := provider.Fetch(context.Background(), q)
			if err != nil {
				b.Fatal(err)
			}
			if s.Len() != 2 {
				b.Fatalf("got %d points, want 2", s.Len())
			}
		}
		cpu.report(b)
	})
}
