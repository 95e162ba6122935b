package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/stats"
)

// GateBudget measures the error budget of t's SLO into j.Budget when j's
// verdict would promote rollout r (rollout.Rollout.NeedsBudget), and sets
// it nil otherwise; j.Apply then hands it to the rollout's error-budget
// gate. The daemon and replay both call it between the judgement and
// Apply, with the judged window (start, end]: the budget is measured at
// end, through p, and recorded in rec when rec is not nil.
func GateBudget(ctx context.Context, p metrics.Provider, t *spec.Template, target Target, r *rollout.Rollout, j *Judgement, interval int, start, end time.Time, rec Recorder) {
	j.Budget = nil
	if t.SLO == nil || j.Expire || !r.NeedsBudget(j.Verdict) {
		return
	}
	j.Budget = MeasureBudget(ctx, p, t, target, interval, start, end, rec)
}

// BudgetQueries renders the queries of t's SLO for target at end: the
// error ratio over each window of spec.SLO.Windows, in that order, each an
// instant (a range query of one point, Start = End = end) of the whole
// service (role metrics.Service, metric spec.SLOMetricOf(window)).
func BudgetQueries(t *spec.Template, target Target, interval int, end time.Time) ([]metrics.Query, error) {
	s := t.SLO
	var qs []metrics.Query
	for _, w := range s.Windows() {
		expr, err := s.ErrorRatioTemplate().Render(spec.QueryData{
			Service:   target.Service,
			Namespace: target.Namespace,
			Interval:  model.Duration(t.Interval).String(),
			Window:    w.String(),
			Vars:      target.Vars,
		})
		if err != nil {
			return nil, err
		}
		qs = append(qs, metrics.Query{Metric: spec.SLOMetricOf(w), Role: metrics.Service, Expr: expr,
			Start: end, End: end, Step: t.QueryStep(), Interval: interval})
	}
	return qs, nil
}

// MeasureBudget measures the error budget of t's SLO for target at end,
// the end of judged window (start, end] of judgement interval: the error
// ratio e_W over each window W (BudgetQueries), then
//
//	Remaining = 1 − e_SLO / (1 − objective)
//	burn(W)   = e_W / (1 − objective)            (stats.BurnRate)
//	a rule fires when burn(long) > threshold and burn(short) > threshold
//
// (the SRE Workbook's multi-window rules, stats.EvaluateBurn's). A query
// that fails, returns nothing, or returns NaN, ±Inf or a negative ratio
// leaves the budget unmeasured: Problem says which and why, and the
// promotion holds.
func MeasureBudget(ctx context.Context, p metrics.Provider, t *spec.Template, target Target, interval int, start, end time.Time, rec Recorder) *rollout.Budget {
	s := t.SLO
	b := &rollout.Budget{Objective: s.Objective, Window: s.Window.String()}
	qs, err := BudgetQueries(t, target, interval, end)
	if err != nil {
		b.Problem = "render the SLO's query: " + err.Error()
		return b
	}
	samples, errs := metrics.FetchAll(ctx, p, qs, nil)
	ratios := map[model.Duration]float64{}
	for i, w := range s.Windows() {
		if errs != nil && errs[i] != nil {
			b.Problem = fmt.Sprintf("the error ratio over %s: %v", w, errs[i])
			return b
		}
		if rec != nil {
			rec.Record(interval, start, end, qs[i].Metric, metrics.Service, samples[i])
		}
		if samples[i].Empty() {
			// The query is not quoted: replay renders it for another
			// target, and the template shows it.
			b.Problem = fmt.Sprintf("the error ratio over %s returned no data", w)
			return b
		}
		e := samples[i].Values[len(samples[i].Values)-1]
		if _, err := stats.BurnRate(e, s.Objective); err != nil {
			b.Problem = fmt.Sprintf("the error ratio over %s: %v", w, err)
			return b
		}
		ratios[w] = e
	}
	budget := 1 - s.Objective
	b.ErrorRatio = ratios[s.Window]
	b.Remaining = 1 - b.ErrorRatio/budget
	for _, w := range s.BurnWindows {
		r := rollout.Burn{Long: w.Long.String(), Short: w.Short.String(), Threshold: w.Threshold,
			LongRate: ratios[w.Long] / budget, ShortRate: ratios[w.Short] / budget}
		r.Fired = r.LongRate > w.Threshold && r.ShortRate > w.Threshold
		b.Burns = append(b.Burns, r)
	}
	if math.IsInf(b.Remaining, 0) || math.IsNaN(b.Remaining) {
		b.Problem = fmt.Sprintf("the remaining budget is %v", b.Remaining)
	}
	return b
}
