package metrics

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Query is one fetch: one metric, one role, one window.
type Query struct {
	Metric     string        // metric name from the config (for errors and replay)
	Role       Role          // baseline or canary
	Expr       string        // rendered PromQL
	Start, End time.Time     // the window, both ends included
	Step       time.Duration // resolution of the range query
	Interval   int           // 0-based judgement index (replay uses it; Prometheus ignores it)
	// Aggregate says how to merge several series: "" (more than one series
	// is an error naming the metric), or "sum", "avg", "min", "max" applied
	// per timestamp across series (see Combine).
	Aggregate string
	// Freshness is the query's freshness companion (Companions), or
	// "" to learn nothing of the samples behind the points. A provider
	// that fetches it sets the Samples' FreshnessKnown, SampleTimes and
	// LastSample; a failed companion fails the fetch.
	Freshness string
}

// Companions writes the freshness companion of a query (see Freshness):
// metrics/companion.Of for Prometheus. It fails when the query has none.
// Package metrics does not import companion, which parses PromQL: the
// judge, which imports metrics, links no HTTP client.
type Companions func(expr string) (string, error)

// String describes q for errors and logs: the metric and the role.
func (q Query) String() string { return fmt.Sprintf("%s for %s", q.Metric, q.Role) }

// Provider fetches samples. Implementations: the Prometheus source
// (package metrics/prometheus) and the replay of a Recording.
//
// Fetch returns empty Samples and a nil error when the query matched
// nothing: no data is an answer, not a failure.
type Provider interface {
	Fetch(ctx context.Context, q Query) (Samples, error)
}

// fetchWorkers bounds the goroutines FetchAll starts. It only caps goroutine
// count; how many requests reach a server at once is the provider's own
// limit (the Prometheus source's max_concurrency).
const fetchWorkers = 64

// FetchAll fetches every query in parallel (at most 64 at a time) and returns
// the results in the order of qs. dst is reused for out when it has the
// capacity. errs is nil when every fetch succeeded; otherwise it has len(qs)
// entries and errs[i] is the error of qs[i] (out[i] is then zero). When ctx
// ends, the queries not yet started fail with ctx's error.
func FetchAll(ctx context.Context, p Provider, qs []Query, dst []Samples) (out []Samples, errs []error) {
	out = slices.Grow(dst[:0], len(qs))[:len(qs)]
	clear(out)
	all := make([]error, len(qs))

	work := make(chan int)
	var wg sync.WaitGroup
	for range min(fetchWorkers, len(qs)) {
		wg.Go(func() {
			for i := range work {
				if err := ctx.Err(); err != nil {
					all[i] = fmt.Errorf("query %s: %w", qs[i], err)
					continue
				}
				s, err := p.Fetch(ctx, qs[i])
				if err != nil {
					all[i] = err
					continue
				}
				out[i] = s
			}
		})
	}
	for i := range qs {
		work <- i
	}
	close(work)
	wg.Wait()

	for _, err := range all {
		if err != nil {
			return out, all
		}
	}
	return out, nil
}
