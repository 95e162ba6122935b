package analysis

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/rollout"
)

// Verdict is the outcome of one judgement. The verdicts are package
// rollout's, which acts on them: the judge uses them, and rollout imports
// nothing of the judge.
type Verdict = rollout.Verdict

// Verdicts, as package rollout defines them.
const (
	Promote  = rollout.Promote
	Hold     = rollout.Hold
	Rollback = rollout.Rollback
)

// Classification is one metric's result at one judgement.
type Classification string

// Classifications.
const (
	// Pass: enough data, no confirmed regression, estimate within the margin.
	Pass Classification = "pass"
	// High: a confirmed regression upwards (beyond allowed_change).
	High Classification = "high"
	// Low: a confirmed regression downwards.
	Low Classification = "low"
	// Inconclusive: not enough samples yet, or an estimate beyond the
	// margin that is not (yet) confirmed. Holds; never rolls back.
	Inconclusive Classification = "inconclusive"
	// Stale: for baseline or canary, the latest window's newest raw sample
	// is older than max_sample_age at its end, or fewer than half its
	// points are fresh (Prometheus repeated an older sample for them):
	// holds, adds nothing to the evidence, never rolls back.
	Stale Classification = "stale"
	// NoData: the query returned nothing usable.
	NoData Classification = "no-data"
	// Error: the query failed or the data broke the metric's NaN policy.
	Error Classification = "error"
)

// Failed reports whether c is a confirmed regression.
func (c Classification) Failed() bool { return c == High || c == Low }

// Float is a float64 that encodes NaN as JSON null and ±Inf as the strings
// "+Inf" and "-Inf".
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil), nil }

// AppendJSON appends f's JSON, as MarshalJSON writes it, to b.
func (f Float) AppendJSON(b []byte) []byte {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return append(b, "null"...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		*f = Float(math.NaN())
		return nil
	case `"+Inf"`, `"Inf"`:
		*f = Float(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = Float(math.Inf(-1))
		return nil
	case `"NaN"`:
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// MetricResult is one metric's judgement with its evidence.
type MetricResult struct {
	Name           string         `json:"name"`
	Classification Classification `json:"classification"`
	Test           string         `json:"test"`
	Direction      string         `json:"direction"`
	AllowedChange  Float          `json:"allowed_change"`
	Critical       bool           `json:"critical"`
	DryRun         bool           `json:"dry_run,omitempty"`
	Weight         Float          `json:"weight"`

	// PValue is the decisive one-sided p-value of the test against the
	// margin (after the window correction); Alpha is the level it was held
	// to at this look (after spending and Holm).
	PValue Float `json:"p_value"`
	Alpha  Float `json:"alpha"`
	// Window names the window that gave PValue: cumulative or latest.
	Window string `json:"window,omitempty"`
	// Change is the test's estimate of the relative change of the canary
	// against the baseline (0.12 = 12% higher), and ChangeCI its interval
	// at the look's level, over the cumulative window.
	Change   Float    `json:"change"`
	ChangeCI [2]Float `json:"change_ci"`

	// HLShift and CI: the Hodges-Lehmann shift canary − baseline of the
	// latest interval and its confidence interval; RelShift and RelCI the
	// same relative to the baseline's median.
	HLShift  Float    `json:"hl_shift"`
	CI       [2]Float `json:"ci"`
	RelShift Float    `json:"rel_shift"`
	RelCI    [2]Float `json:"rel_ci"`

	NBaseline int `json:"n_baseline"`
	NCanary   int `json:"n_canary"`
	NPairs    int `json:"n_pairs"`
	// TotalPairs counts the pairs of every interval judged so far.
	TotalPairs int `json:"total_pairs"`
	Dropped    int `json:"dropped"`
	// BaselineFreshness and CanaryFreshness are each role's freshness in
	// the latest window (see Stale); left out when the provider could not
	// tell (a recording made before sample times were kept).
	BaselineFreshness Freshness `json:"baseline_freshness,omitzero"`
	CanaryFreshness   Freshness `json:"canary_freshness,omitzero"`

	BaselineQuery string   `json:"baseline_query,omitempty"`
	CanaryQuery   string   `json:"canary_query,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	Err           string   `json:"error,omitempty"`

	Reason string `json:"reason"`

	// Filled by the metric's test, resolved by Holm in Judge.
	rawP      float64        // one-sided p-value against the margin; NaN when untested
	rejectAs  Classification // classification when the null is rejected
	otherwise Classification // classification when it is not
	why       reasonCode     // what Explain says
	// countC and countB are the events the count test saw (whyCounts).
	countC, countB float64
	// burstAt and burstLen locate the burst scan's most significant window
	// in the latest interval; burstC and burstB are its events.
	burstAt, burstLen int
	burstC, burstB    float64
	// tailRan says the tail test ran; tailC and tailB are the canary's
	// and the baseline's points alone in the bad direction's pooled tail
	// beyond the margin, tailLowC and tailLowB in the other tail.
	tailRan                          bool
	tailC, tailB, tailLowC, tailLowB float64
	// settledRan says the pass rule judged settled, the change after the
	// first interval, instead of Change (see Judge.settled).
	settledRan bool
	settled    float64

	// The roles' freshness in the latest window (see stale.go), and the
	// maximum sample age they were measured against.
	staleB, staleC roleStaleness
	maxSampleAge   time.Duration
}

// Freshness is one role's freshness in a metric's latest window: of the
// Points the window should hold, Fresh come from a raw sample at most
// max_sample_age old (the others repeat an older sample, or are missing),
// and LastSampleAge is how old the newest raw sample was at the window's
// end, in seconds (NaN, null in JSON, when there was none). The zero value
// means unknown.
type Freshness struct {
	Fresh         int   `json:"fresh"`
	Points        int   `json:"points"`
	LastSampleAge Float `json:"last_sample_age"`
}

// Known reports whether f was measured (f is not the zero value).
func (f Freshness) Known() bool { return f != Freshness{} }

// Judgement is one interval's judgement of an analysis.
type Judgement struct {
	Interval int            `json:"interval"`
	Verdict  Verdict        `json:"verdict"`
	Score    Float          `json:"score"`
	Reason   string         `json:"reason"`
	Metrics  []MetricResult `json:"metrics"`
	// CanaryStale is how long (judgements in a row × interval) some
	// counted metric's canary series have been stale while its baseline's
	// are fresh; 0 when not.
	CanaryStale time.Duration `json:"canary_stale,omitempty"`
	// Expire asks the rollout to end as its lifetime would (with the
	// template's lifetime_outcome): CanaryStale reached max_canary_stale.
	Expire bool `json:"expire,omitempty"`
	// Budget is the service's error budget, measured when the judgement
	// would promote under a template with an SLO (GateBudget); Apply
	// hands it to the rollout's error-budget gate.
	Budget *rollout.Budget `json:"budget,omitempty"`
}
