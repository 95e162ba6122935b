package analysis

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
)

// Target is what an analysis compares: one service's baseline and canary
// versions, with the variables its deploy event carried.
type Target struct {
	Service   string            `json:"service"`
	Namespace string            `json:"namespace"`
	Baseline  Version           `json:"baseline"`
	Canary    Version           `json:"canary"`
	Vars      map[string]string `json:"variables,omitempty"`
}

// Version is one side of the comparison.
type Version struct {
	Version string            `json:"version"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Recorder keeps what an analysis fetched (metrics.Recording implements
// it).
type Recorder interface {
	Record(interval int, start, end time.Time, metric string, role metrics.Role, s metrics.Samples)
}

// Queries renders the queries of every metric and role of template t for
// the window (start, end] of judgement interval: the first point is one
// query step after start, so that consecutive intervals share no point.
// The result holds two queries per metric: baseline at 2i, canary at 2i+1.
// Each carries its freshness companion written by fresh (the daemon's is
// metrics/companion.Of); nil renders none, and the provider then learns
// nothing of the samples' freshness.
func Queries(t *spec.Template, target Target, interval int, start, end time.Time, fresh metrics.Companions, dst []metrics.Query) ([]metrics.Query, error) {
	dst = dst[:0]
	for i := range t.Metrics {
		mc := &t.Metrics[i]
		for _, role := range [2]metrics.Role{metrics.Baseline, metrics.Canary} {
			v := target.Baseline
			if role == metrics.Canary {
				v = target.Canary
			}
			expr, companion, err := mc.QueryTemplate().RenderFreshness(fresh, spec.QueryData{
				Service:   target.Service,
				Namespace: target.Namespace,
				Role:      string(role),
				Version:   v.Version,
				Interval:  model.Duration(t.Interval).String(),
				Vars:      target.Vars,
			})
			if err != nil {
				return nil, err
			}
			dst = append(dst, metrics.Query{
				Metric:    mc.Name,
				Role:      role,
				Expr:      expr,
				Start:     start.Add(t.QueryStep()),
				End:       end,
				Step:      t.QueryStep(),
				Interval:  interval,
				Aggregate: mc.Aggregate,
				Freshness: companion,
			})
		}
	}
	return dst, nil
}

// Fetch fetches, in parallel, every metric of template t for both roles
// over [start, end], each query with its freshness companion written by
// fresh (see Queries), records what came back when rec is not nil, and
// returns one Input per metric. A rendering error fails the whole fetch; a
// query error only its metric.
func Fetch(ctx context.Context, p metrics.Provider, fresh metrics.Companions, t *spec.Template, target Target, interval int, start, end time.Time, rec Recorder) ([]Input, error) {
	qs, err := Queries(t, target, interval, start, end, fresh, nil)
	if err != nil {
		return nil, fmt.Errorf("render queries: %w", err)
	}
	samples, errs := metrics.FetchAll(ctx, p, qs, nil)
	in := make([]Input, len(t.Metrics))
	for i := range t.Metrics {
		b, c := 2*i, 2*i+1
		in[i].Baseline, in[i].Canary = samples[b], samples[c]
		in[i].Start, in[i].End = qs[b].Start, qs[b].End
		if in[i].Baseline.Query == "" {
			in[i].Baseline.Query = qs[b].Expr
		}
		if in[i].Canary.Query == "" {
			in[i].Canary.Query = qs[c].Expr
		}
		if errs != nil {
			if errs[b] != nil {
				in[i].Err = errs[b]
			} else if errs[c] != nil {
				in[i].Err = errs[c]
			}
		}
		if rec != nil && in[i].Err == nil {
			rec.Record(interval, start, end, qs[b].Metric, metrics.Baseline, in[i].Baseline)
			rec.Record(interval, start, end, qs[c].Metric, metrics.Canary, in[i].Canary)
		}
	}
	return in, nil
}
