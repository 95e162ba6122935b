package analysis

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
)

// Stale data never decides. A range query repeats the latest sample for
// up to Prometheus's lookback delta, so a window in which a target stopped
// being scraped, Prometheus was down, or the scrapes have not arrived yet
// still looks full. The providers learn the raw sample behind every point
// (metrics/companion), and the judge:
//
//   - drops every point whose sample is older than max_sample_age (it only
//     repeats that sample) before pairing;
//   - classifies a metric stale, which holds and adds nothing to the
//     evidence, when for either role the newest sample is older than
//     max_sample_age at the window's end (the series ended, or its scrapes
//     are late) or fewer than half the window's points are fresh (the
//     series started late, or stopped for a while);
//   - counts the judgements in a row at which some counted metric's canary
//     series are stale by age while its baseline's are fresh (a canary
//     target gone); once they span max_canary_stale, the judgement asks
//     the rollout to end as its lifetime would (Judgement.Expire).
//
// Samples whose freshness the provider could not learn (a recording made
// before it was kept, a query with no selector) count as fresh.

// roleStaleness is what the judge saw of one role's freshness in the
// latest window.
type roleStaleness struct {
	metrics.Freshness
	Expected int  // points the window should hold
	Old      bool // the newest sample is older than max_sample_age at the end (or there is none)
	Few      bool // fewer than half the expected points are fresh
	Late     time.Duration
}

func (s roleStaleness) stale() bool { return s.Known && (s.Old || s.Few) }

// evidence is s as the verdict shows it; the zero Freshness when unknown.
func (s roleStaleness) evidence() Freshness {
	if !s.Known {
		return Freshness{}
	}
	f := Freshness{Fresh: s.Fresh, Points: s.Expected, LastSampleAge: Float(math.NaN())}
	if s.LastAge >= 0 {
		f.LastSampleAge = Float(s.LastAge.Seconds())
	}
	return f
}

// staleness measures one role's samples against the template's maximum
// sample age at the window's end (start and end: the window's first and
// last steps; zero when unknown).
func staleness(t *spec.Template, s *metrics.Samples, start, end time.Time) roleStaleness {
	maxAge := time.Duration(t.MaxSampleAge)
	endMs := end.UnixMilli()
	if end.IsZero() {
		endMs = s.LastSample
		if n := len(s.Times); n > 0 {
			endMs = max(endMs, s.Times[n-1])
		}
	}
	r := roleStaleness{Freshness: s.Freshness(maxAge, endMs), Expected: len(s.Values) + s.Gaps}
	if !r.Known {
		return r
	}
	r.Old = r.LastAge < 0 || r.LastAge > maxAge
	r.Few = 2*r.Fresh < r.Expected
	if r.First > 0 && !start.IsZero() {
		if late := time.Duration(r.First-start.UnixMilli()) * time.Millisecond; late > maxAge {
			r.Late = late
		}
	}
	return r
}

// checkStale measures both roles' freshness into r and reports whether
// the metric is stale this look (r is then final). A window in which
// neither role has a point is left to the no-data rule.
func (j *Judge) checkStale(in *Input, r *MetricResult) bool {
	r.staleB = staleness(j.t, &in.Baseline, in.Start, in.End)
	r.staleC = staleness(j.t, &in.Canary, in.Start, in.End)
	r.BaselineFreshness, r.CanaryFreshness = r.staleB.evidence(), r.staleC.evidence()
	if len(in.Baseline.Values) == 0 && len(in.Canary.Values) == 0 {
		return false
	}
	if r.staleB.stale() || r.staleC.stale() {
		r.Classification, r.why = Stale, whyStale
		return true
	}
	return false
}

// canaryGone reports whether r saw the canary's series stale by age while
// the baseline's are fresh.
func (r *MetricResult) canaryGone() bool {
	return r.staleC.Known && r.staleB.Known && r.staleC.Old && !r.staleB.Old
}

// explainStale writes the reason of a stale metric, e.g. "stale: the last
// canary sample is 4m old; 18 of 30 points repeat it".
func explainStale(r *MetricResult) string {
	var parts []string
	for _, side := range []struct {
		role string
		s    roleStaleness
	}{{"baseline", r.staleB}, {"canary", r.staleC}} {
		s := side.s
		if !s.stale() {
			continue
		}
		switch {
		case s.Old && s.LastAge < 0:
			parts = append(parts, fmt.Sprintf("no %s sample: its series ended or are not scraped (%d of %d points)", side.role, s.Fresh+s.Repeats, s.Expected))
		case s.Old:
			p := fmt.Sprintf("the last %s sample is %s old", side.role, metrics.DescribeAge(s.LastAge))
			if s.Repeats > 0 {
				p += fmt.Sprintf("; %d of %d points repeat it", s.Repeats, s.Expected)
			} else {
				p += fmt.Sprintf("; its series ended (%d of %d points)", s.Fresh, s.Expected)
			}
			parts = append(parts, p)
		case s.Late > 0:
			parts = append(parts, fmt.Sprintf("the %s series start %s into the window; %d of %d points are fresh",
				side.role, metrics.DescribeAge(s.Late), s.Fresh, s.Expected))
		default:
			parts = append(parts, fmt.Sprintf("only %d of %d %s points are fresh (%d repeat an older sample)",
				s.Fresh, s.Expected, side.role, s.Repeats))
		}
	}
	return "stale: " + strings.Join(parts, "; ") + fmt.Sprintf(" (max_sample_age %s); not judged", metrics.DescribeAge(r.maxSampleAge))
}

// Apply applies the judgement to a rollout and returns the decision that
// goes out with it: its verdict, or, when it asks to expire (the canary's
// series stale past max_canary_stale), the end the rollout's lifetime
// would bring (lifetime_outcome). The daemon and replay both act on
// judgements through it.
func (j *Judgement) Apply(r *rollout.Rollout) rollout.Decision {
	if j.Expire {
		return r.Expire()
	}
	return r.JudgedBudget(j.Verdict, j.Budget)
}

// ReasonFor returns the reason that goes out with decision d, which Apply
// made from j: the judgement's own, or, when the rollout's lifetime
// overrode it, one that says so (rollout.Decision.Reason). A judgement
// that asked to expire already says why the rollout ends and with which
// outcome: the canary's series stale past max_canary_stale, not its
// lifetime reached.
func (j *Judgement) ReasonFor(d *rollout.Decision) string {
	if j.Expire {
		return j.Reason
	}
	return d.Reason(j.Verdict, j.Reason)
}

// trackCanaryGone counts the judgements in a row at which a counted
// metric's canary is stale while its baseline is fresh, and asks the
// rollout to end once they span max_canary_stale.
func (j *Judge) trackCanaryGone(st *State, out *Judgement) {
	gone := false
	for i := range out.Metrics {
		if !j.t.Metrics[i].DryRun && out.Metrics[i].canaryGone() {
			gone = true
			break
		}
	}
	if !gone {
		st.CanaryStale = 0
		return
	}
	st.CanaryStale++
	out.CanaryStale = time.Duration(st.CanaryStale) * time.Duration(j.t.Interval)
	if out.CanaryStale >= time.Duration(j.t.MaxCanaryStale) {
		out.Expire = true
		if out.Verdict == Promote {
			out.Verdict = Hold // unreachable: a stale metric does not pass
		}
	}
}
