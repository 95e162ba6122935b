package report

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout/sli"
)

// Rollout is one analysis as the overview pages show it, and as the
// daemon lists it for them (GET /api/v1/rollouts, which `canaryctl report
// --overview` reads).
type Rollout struct {
	ID        string `json:"id"`
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Template  string `json:"template"`
	// State is "running" or the outcome: succeeded, rolled_back, expired,
	// aborted.
	State string `json:"state"`
	// Step is the current 1-based step of Steps, Weight the current canary
	// weight in percent.
	Step   int     `json:"step"`
	Steps  int     `json:"steps"`
	Weight float64 `json:"weight"`
	// CreatedAt is when the deploy event started the analysis, Start the
	// start of its first judged window.
	CreatedAt time.Time `json:"created_at"`
	Start     time.Time `json:"start"`
	// PublishedAt is when the final verdict was recorded as published;
	// zero while it is not (or the rollout runs).
	PublishedAt time.Time `json:"published_at,omitzero"`
	// Latest is the latest verdict (the final one once the rollout
	// ended); nil before the first judgement.
	Latest *LatestVerdict `json:"latest,omitempty"`
}

// LatestVerdict is what the overview pages show of a rollout's latest
// verdict.
type LatestVerdict struct {
	Seq        int            `json:"seq"`
	Verdict    string         `json:"verdict"`
	Final      bool           `json:"final,omitempty"`
	NextWeight float64        `json:"next_weight"`
	Score      analysis.Float `json:"score"`
	Reason     string         `json:"reason"`
	// Failing names the metrics the verdict found regressed (high or
	// low) or could not judge (error).
	Failing  []string  `json:"failing,omitempty"`
	IssuedAt time.Time `json:"issued_at"`
}

// FailingMetrics returns the names of the metrics of ms classified high,
// low or error: what an on-call person looks at first.
func FailingMetrics(ms []analysis.MetricResult) []string {
	var out []string
	for _, m := range ms {
		switch m.Classification {
		case analysis.High, analysis.Low, analysis.Error:
			out = append(out, m.Name)
		}
	}
	return out
}

// Running reports whether r has not ended.
func (r *Rollout) Running() bool { return r.State == "running" }

// sli returns r and its final verdict as package sli defines them; ok is
// false while r runs.
func (r *Rollout) sli() (sli.Rollout, sli.Verdict, bool) {
	sr := sli.Rollout{ID: r.ID, Template: r.Template, Namespace: r.Namespace, Created: r.CreatedAt, Start: r.Start}
	if r.Running() || r.Latest == nil {
		return sr, sli.Verdict{}, false
	}
	l := r.Latest
	return sr, sli.Verdict{Verdict: l.Verdict, Final: true, Outcome: r.State, NextWeight: l.NextWeight, IssuedAt: l.IssuedAt}, true
}

// EndedAt is when r's final verdict was issued; zero while it runs.
func (r *Rollout) EndedAt() time.Time {
	if _, v, ok := r.sli(); ok {
		return v.IssuedAt
	}
	return time.Time{}
}

// Duration is r's rollout duration (package sli): from the deploy event to
// the final verdict.
func (r *Rollout) Duration() (time.Duration, bool) {
	sr, v, ok := r.sli()
	if !ok {
		return 0, false
	}
	return sli.Duration(sr, v), true
}

// TimeToDetect is r's time to detect (package sli), for a judged rollback.
func (r *Rollout) TimeToDetect() (time.Duration, bool) {
	sr, v, ok := r.sli()
	if !ok {
		return 0, false
	}
	return sli.TimeToDetect(sr, v)
}

// TimeToRollBack is r's time to roll back (package sli), for a weight-0
// final verdict recorded as published.
func (r *Rollout) TimeToRollBack() (time.Duration, bool) {
	_, v, ok := r.sli()
	if !ok || r.PublishedAt.IsZero() {
		return 0, false
	}
	return sli.TimeToRollBack(v, r.PublishedAt)
}

// Windows are the spans the leads' overview summarises.
var Windows = []struct {
	Name string
	Span time.Duration
}{{"1d", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

// Stats summarise the rollouts of one template in one namespace (or of
// all, when both are empty) over one window.
type Stats struct {
	Namespace, Template string
	// Started counts the rollouts whose deploy event fell in the window;
	// the others count those that ended in it, by outcome (RolledBack
	// counts rolled_back and rolled_back_after_promotion: both failed
	// the canary).
	Started                                 int
	Succeeded, RolledBack, Expired, Aborted int
	// SuccessRatio and PassRatio are NaN when nothing they divide by
	// ended (package sli defines them).
	SuccessRatio, PassRatio float64
	// Duration covers successful rollouts; Detect judged rollbacks;
	// RollBack weight-0 final verdicts.
	Duration, Detect, RollBack Quantiles
	// LatestID is the latest rollout of the group that ended in the
	// window, for a link to its report; "" when none did.
	LatestID string
}

// Ended counts the rollouts that ended in the window.
func (s *Stats) Ended() int { return s.Succeeded + s.RolledBack + s.Expired + s.Aborted }

// Quantiles summarise durations: their number, median and 90th percentile
// (NaN seconds when N is 0).
type Quantiles struct {
	N        int
	P50, P90 float64 // seconds
}

// quantilesOf returns the quantiles of xs (seconds), which it sorts.
// Quantiles interpolate linearly between order statistics (R's type 7).
func quantilesOf(xs []float64) Quantiles {
	q := Quantiles{N: len(xs), P50: math.NaN(), P90: math.NaN()}
	if len(xs) == 0 {
		return q
	}
	slices.Sort(xs)
	q.P50, q.P90 = quantile(xs, 0.5), quantile(xs, 0.9)
	return q
}

// Summarise computes the statistics of rs over the window of length span
// ending at now: one Stats per namespace and template (sorted), and one
// over them all.
func Summarise(rs []Rollout, now time.Time, span time.Duration) (groups []Stats, all Stats) {
	from := now.Add(-span)
	type acc struct {
		s                     Stats
		dur, detect, rollBack []float64
		latest                time.Time
	}
	accs := map[[2]string]*acc{}
	total := &acc{}
	get := func(r *Rollout) *acc {
		k := [2]string{r.Namespace, r.Template}
		a := accs[k]
		if a == nil {
			a = &acc{s: Stats{Namespace: r.Namespace, Template: r.Template}}
			accs[k] = a
		}
		return a
	}
	in := func(t time.Time) bool { return !t.IsZero() && t.After(from) && !t.After(now) }
	for i := range rs {
		r := &rs[i]
		if in(r.CreatedAt) {
			get(r).s.Started++
			total.s.Started++
		}
		end := r.EndedAt()
		if !in(end) {
			continue
		}
		for _, a := range []*acc{get(r), total} {
			switch r.State {
			case sli.OutcomeSucceeded:
				a.s.Succeeded++
				if d, ok := r.Duration(); ok {
					a.dur = append(a.dur, d.Seconds())
				}
			case sli.OutcomeRolledBack, sli.OutcomeRolledBackAfterPromotion:
				a.s.RolledBack++
			case sli.OutcomeExpired:
				a.s.Expired++
			case sli.OutcomeAborted:
				a.s.Aborted++
			}
			if d, ok := r.TimeToDetect(); ok {
				a.detect = append(a.detect, d.Seconds())
			}
			if d, ok := r.TimeToRollBack(); ok {
				a.rollBack = append(a.rollBack, d.Seconds())
			}
			if end.After(a.latest) || (end.Equal(a.latest) && r.ID > a.s.LatestID) {
				a.latest, a.s.LatestID = end, r.ID
			}
		}
	}
	finish := func(a *acc) Stats {
		s := a.s
		s.SuccessRatio = ratio(s.Succeeded, s.Ended())
		s.PassRatio = ratio(s.Succeeded, s.Succeeded+s.RolledBack)
		s.Duration, s.Detect, s.RollBack = quantilesOf(a.dur), quantilesOf(a.detect), quantilesOf(a.rollBack)
		return s
	}
	for _, a := range accs {
		groups = append(groups, finish(a))
	}
	slices.SortFunc(groups, func(x, y Stats) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Template, y.Template))
	})
	return groups, finish(total)
}

func ratio(n, d int) float64 {
	if d == 0 {
		return math.NaN()
	}
	return float64(n) / float64(d)
}

// onCallRank orders running rollouts for the on-call page: failing
// (the latest verdict found a regression or an error) first, then
// holding, then the rest.
func onCallRank(r *Rollout) int {
	switch {
	case r.Latest == nil:
		return 2
	case len(r.Latest.Failing) > 0:
		return 0
	case r.Latest.Verdict == "hold":
		return 1
	}
	return 2
}

// Attention says why a running rollout needs a look: "failing",
// "holding" or "".
func (r *Rollout) Attention() string {
	switch onCallRank(r) {
	case 0:
		return "failing"
	case 1:
		return "holding"
	}
	return ""
}
