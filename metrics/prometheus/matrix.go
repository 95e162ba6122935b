package prometheus

import (
	"context"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics"
)

// FetchMatrix runs q as a range query, with Fetch's timeouts, retries and
// errors, and returns every series it matched, unmerged and with their
// labels, together with Prometheus's warnings. q.Aggregate is ignored. It
// is for callers that split one query's result among several analyses
// (package metrics/batch).
func (s *Source) FetchMatrix(ctx context.Context, q metrics.Query) (model.Matrix, []string, error) {
	if err := checkQuery(q); err != nil {
		return nil, nil, err
	}
	v, warnings, err := s.fetchWithRetries(ctx, q)
	if err != nil {
		return nil, nil, s.failed(err)
	}
	m, err := s.asMatrix(q, v)
	if err != nil {
		return nil, nil, s.failed(err)
	}
	return m, warnings, nil
}
