package report

import (
	"slices"

	"github.com/canaryd/canaryd/analysis"
)

// metricHistory is one metric's result at every judgement that judged it.
type metricHistory struct {
	Name string
	// Results are parallel to Seqs: the metric's result at the judgement
	// with that sequence number.
	Results []analysis.MetricResult
	Seqs    []int
	// order is the metric's position in the template (its first
	// appearance), the last tie-break.
	order int
}

// Final returns the metric's latest result.
func (h *metricHistory) Final() *analysis.MetricResult { return &h.Results[len(h.Results)-1] }

// Deciding reports whether the metric's latest result can decide a verdict:
// it is not a dry run.
func (h *metricHistory) Deciding() bool { return !h.Final().DryRun }

// classRank orders classifications by how much they explain a verdict:
// confirmed regressions, then failures to measure (errors, then no data
// and stale data), then unconfirmed
// estimates, then passes.
func classRank(c analysis.Classification) int {
	switch c {
	case analysis.High, analysis.Low:
		return 0
	case analysis.Error:
		return 1
	case analysis.NoData, analysis.Stale:
		return 2
	case analysis.Inconclusive:
		return 3
	case analysis.Pass:
		return 4
	}
	return 5
}

// histories groups the timeline's results by metric, ordered for the
// reader: metrics that decide before dry-run ones; among them failed, then
// error and no data, then inconclusive, then pass (by their latest
// result); critical before non-critical; then template order.
func histories(tl []Judgement) []*metricHistory {
	byName := map[string]*metricHistory{}
	var hs []*metricHistory
	for _, j := range tl {
		for _, m := range j.Metrics {
			h := byName[m.Name]
			if h == nil {
				h = &metricHistory{Name: m.Name, order: len(hs)}
				byName[m.Name] = h
				hs = append(hs, h)
			}
			h.Results = append(h.Results, m)
			h.Seqs = append(h.Seqs, j.Seq)
		}
	}
	slices.SortStableFunc(hs, func(a, b *metricHistory) int {
		fa, fb := a.Final(), b.Final()
		if fa.DryRun != fb.DryRun {
			if fa.DryRun {
				return 1
			}
			return -1
		}
		if ra, rb := classRank(fa.Classification), classRank(fb.Classification); ra != rb {
			return ra - rb
		}
		if fa.Critical != fb.Critical {
			if fa.Critical {
				return -1
			}
			return 1
		}
		return a.order - b.order
	})
	return hs
}
