package batch_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
)

// matrixSource answers every batched query with the same prepared matrix,
// so that the benchmark measures the provider alone: grouping, rewriting,
// splitting and merging.
type matrixSource struct {
	metrics.Provider
	m model.Matrix
}

func (s matrixSource) FetchMatrix(context.Context, metrics.Query) (model.Matrix, []string, error) {
	return s.m, nil, nil
}

// BenchmarkBatch runs one batch of n analyses' queries through a Provider:
// one op is n concurrent Fetch calls answered by one request of n series
// of 10 points. ns/query is the provider's cost per analysis query.
func BenchmarkBatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchmarkBatch(b, n) })
	}
}

func benchmarkBatch(b *testing.B, n int) {
	const points = 10
	start := time.Unix(1700000000, 0)
	qs := make([]metrics.Query, n)
	m := make(model.Matrix, n)
	for i := range n {
		svc := fmt.Sprintf("svc-%06d", i)
		qs[i] = metrics.Query{Metric: "latency", Role: metrics.Canary, Start: start, End: start.Add(9 * time.Second), Step: time.Second,
			Expr: `histogram_quantile(0.99, sum by (le) (rate(lat_bucket{namespace="fleet",service="` + svc + `",track="canary"}[1m])))`}
		ss := &model.SampleStream{Metric: model.Metric{"service": model.LabelValue(svc)}, Values: make([]model.SamplePair, points)}
		for j := range points {
			ss.Values[j] = model.SamplePair{Timestamp: model.TimeFromUnix(start.Unix() + int64(j)), Value: model.SampleValue(j)}
		}
		m[i] = ss
	}
	p := batch.New(matrixSource{m: m}, batch.Options{Window: time.Hour, MaxSize: n})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range qs {
			wg.Go(func() {
				s, err := p.Fetch(ctx, qs[i])
				if err != nil || s.Len() != points {
					b.Errorf("query %d: %d points, %v", i, s.Len(), err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/query")
}
