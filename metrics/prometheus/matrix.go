package prometheus

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics"
)

// FetchMatrix runs q as a range query, with Fetch's timeouts, retries and
// errors, and returns every series it matched, unmerged and with their
// labels, together with Prometheus's warnings. q.Aggregate is ignored. It
// is for callers that split one query's result among several analyses
// (package metrics/batch).
func (s *Source) FetchMatrix(ctx context.Context, q metrics.Query) (model.Matrix, []string, error) {
	switch {
	case q.Expr == "":
		return nil, nil, fmt.Errorf("query %s: empty query", q)
	case q.Step <= 0:
		return nil, nil, fmt.Errorf("query %s: step must be positive, got %s", q, q.Step)
	case q.End.Before(q.Start):
		return nil, nil, fmt.Errorf("query %s: end %s is before start %s", q, q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	case q.End.Sub(q.Start)/q.Step > maxSteps:
		return nil, nil, fmt.Errorf("query %s: %d points, more than Prometheus answers per series (%d)", q, metrics.ExpectedPoints(q.Start, q.End, q.Step), maxSteps+1)
	}
	v, warnings, err := s.fetchWithRetries(ctx, q)
	if err != nil {
		return nil, nil, s.failed(err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		qe := &QueryError{Metric: q.Metric, Role: q.Role, Query: q.Expr, URL: s.cfg.URL, Kind: ErrBadResponse}
		if v == nil {
			qe.Err = fmt.Errorf("no result")
		} else {
			qe.Err = fmt.Errorf("a range query returned a %s, not a matrix", v.Type())
		}
		return nil, nil, s.failed(qe)
	}
	return m, warnings, nil
}
