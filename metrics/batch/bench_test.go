package batch_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
	"github.com/canaryd/canaryd/metrics/companion"
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
//
// With freshness, each query also carries its freshness companion, which
// the batch joins to its query in the same request; the answer then holds
// n more series, the companion's, which the batch splits the same way.
func BenchmarkBatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) { benchmarkBatch(b, n, false) })
		b.Run(fmt.Sprintf("members=%d/freshness", n), func(b *testing.B) { benchmarkBatch(b, n, true) })
	}
}

func benchmarkBatch(b *testing.B, n int, fresh bool) {
	const points = 10
	start := time.Unix(1700000000, 0)
	qs := make([]metrics.Query, n)
	m := make(model.Matrix, n)
	for i := range n {
		svc := fmt.Sprintf("svc-%06d", i)
		qs[i] = metrics.Query{Metric: "latency", Role: metrics.Canary, Start: start, End: start.Add(9 * time.Second), Step: time.Second,
			Expr: `histogram_quantile(0.99, sum by (le) (rate(lat_bucket{namespace="fleet",service="` + svc + `",track="canary"}[1m])))`}
		if fresh {
			var err error
			if qs[i].Freshness, err = companion.Of(qs[i].Expr); err != nil {
				b.Fatal(err)
			}
		}
		ss := &model.SampleStream{Metric: model.Metric{"service": model.LabelValue(svc)}, Values: make([]model.SamplePair, points)}
		for j := range points {
			ss.Values[j] = model.SamplePair{Timestamp: model.TimeFromUnix(start.Unix() + int64(j)), Value: model.SampleValue(j)}
		}
		m[i] = ss
	}
	if fresh {
		// The companion's series ride in the same answer (companion.Join),
		// one per analysis, valued with the sample times.
		for i := range n {
			ss := &model.SampleStream{Metric: model.Metric{"service": m[i].Metric["service"], companion.Label: companion.Value}, Values: make([]model.SamplePair, points)}
			for j := range points {
				t := model.TimeFromUnix(start.Unix() + int64(j))
				ss.Values[j] = model.SamplePair{Timestamp: t, Value: model.SampleValue(t.Unix())}
			}
			m = append(m, ss)
		}
	}
	p := batch.New(matrixSource{m: m}, batch.Options{Window: time.Hour, MaxSize: n})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range qs {
			wg.Go(func() {
				s, err := p.Fetch(ctx, qs[i])
				if err != nil || s.Len() != points || s.FreshnessKnown != fresh {
					b.Errorf("query %d: %d points, freshness known %v, %v", i, s.Len(), s.FreshnessKnown, err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/query")
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N*n), "cpu-ns/query")
}

// processCPU returns the CPU time (user and system, every thread) the
// process has used: what a busy shared machine does not inflate.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
