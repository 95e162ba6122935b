package api

import (
	"context"
	"errors"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/report"
)

// overviewSource serves the overview pages (GET /overview, /oncall and
// /api/v1/rollouts) from the key-value store.
type overviewSource struct{ a *API }

// Rollouts lists every stored analysis as the overview pages see it.
func (s overviewSource) Rollouts(ctx context.Context) ([]report.Rollout, error) {
	if s.a.store() == nil {
		return nil, errors.New("not started")
	}
	recs, _, err := s.a.records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]report.Rollout, len(recs))
	for i, r := range recs {
		out[i] = rolloutOf(r)
	}
	return out, nil
}

// rolloutOf is r as the overview pages show it. A settled record's last
// write recorded its final verdict as published (recordPublished stamps
// it), so its UpdatedAt is when that verdict was known to be on the
// stream.
func rolloutOf(r *record.Record) report.Rollout {
	ro := report.Rollout{
		ID: r.ID, Service: r.Event.Service, Namespace: r.Event.Namespace, Template: r.Event.Template,
		State: r.State(), Step: min(r.Position.Step+1, len(r.Plan.Steps)), Steps: len(r.Plan.Steps), Weight: r.Plan.Weight(r.Position),
		CreatedAt: r.CreatedAt, Start: r.Start,
	}
	if r.Settled() {
		ro.PublishedAt = r.UpdatedAt
	}
	if v := r.Latest(); v != nil {
		ro.Latest = &report.LatestVerdict{Seq: v.Seq, Verdict: string(v.Verdict), Final: v.Final, NextWeight: v.NextWeight,
			Score: v.Score, Reason: v.Reason, Failing: report.FailingMetrics(v.Metrics), IssuedAt: v.IssuedAt}
	}
	return ro
}
