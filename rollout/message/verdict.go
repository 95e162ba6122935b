package message

import (
	"slices"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// Verdict is a judgement's verdict with the evidence behind it: what the
// analysis' record keeps (GET /api/v1/analyses/{id}, its report) and its
// audit record carries. Its summary (VerdictSummary: the decision, the
// reason, each metric's classification) is what is published on
// canary.verdict.<namespace>.<service>. Seq, Step, Weight, NextWeight,
// Verdict, Final and Outcome are the rollout's decision (package rollout);
// Score, Reason and Metrics the judgement's (package analysis).
type Verdict struct {
	AnalysisID string `json:"analysis_id"`
	Service    string `json:"service"`
	Namespace  string `json:"namespace"`
	// Seq numbers the analysis' verdicts from 1; the message id is
	// <analysis_id>-<seq>.
	Seq int `json:"seq"`
	// Step is the 1-based step judged, Weight the canary weight (percent)
	// during the judgement and NextWeight the weight to set now.
	Step       int     `json:"step"`
	Weight     float64 `json:"weight"`
	NextWeight float64 `json:"next_weight"`
	// Verdict is the verdict acted on: the judgement's, or the lifetime
	// outcome's when the analysis' lifetime ran out.
	Verdict analysis.Verdict `json:"verdict"`
	// Final is set on an analysis' last verdict, with its Outcome.
	Final   bool            `json:"final"`
	Outcome rollout.Outcome `json:"outcome,omitempty"`
	// AwaitingApproval says the rollout holds for a person's approval to
	// enter the next step (POST /api/v1/analyses/{id}/approve, or
	// canary.approval.<namespace>.<service>).
	AwaitingApproval bool `json:"awaiting_approval,omitempty"`
	// Approval is the approval or denial this verdict carries out: who,
	// when and why.
	Approval *rollout.Approval `json:"approval,omitempty"`
	// Budget is the service's error budget, measured for a judgement that
	// would promote under a template with an SLO: the figures the
	// error-budget gate let the promotion through or held it on.
	Budget *rollout.Budget `json:"budget,omitempty"`
	// Score is the judgement's score (0 to 100; null when nothing was
	// judged) and Reason why it decided so.
	Score    analysis.Float          `json:"score"`
	Reason   string                  `json:"reason"`
	Metrics  []analysis.MetricResult `json:"metrics"`
	IssuedAt time.Time               `json:"issued_at"`
}

// NewVerdict returns the verdict of analysis id (of service in namespace)
// that decision d and judgement j (nil for an abort) make, issued at now.
// The verdict owns its evidence: it shares no array with j, whose judge
// may reuse them at its next judgement. Queries are left out (they are the
// same at every judgement; the analysis shows them once).
func NewVerdict(id, service, namespace string, d rollout.Decision, j *analysis.Judgement, now time.Time) Verdict {
	v := Verdict{
		AnalysisID:       id,
		Service:          service,
		Namespace:        namespace,
		Seq:              d.Seq,
		Step:             d.Step,
		Weight:           d.Weight,
		NextWeight:       d.NextWeight,
		Verdict:          d.Verdict,
		Final:            d.Final,
		Outcome:          d.Outcome,
		IssuedAt:         now.UTC(),
		AwaitingApproval: d.AwaitingApproval,
		Approval:         d.Approval,
		Budget:           d.Budget,
		Metrics:          []analysis.MetricResult{},
	}
	if j != nil {
		v.Score = j.Score
		v.Reason = j.ReasonFor(&d)
		v.Metrics = append(v.Metrics, j.Metrics...)
		for i := range v.Metrics {
			m := &v.Metrics[i]
			m.BaselineQuery, m.CanaryQuery = "", ""
			m.Warnings = slices.Clone(m.Warnings)
		}
	}
	return v
}

// MsgID is the verdict's Nats-Msg-Id, <analysis_id>-<seq>: JetStream
// stores a verdict published twice (a retry, a resuming replica) once.
func (v *Verdict) MsgID() string { return v.AnalysisID + "-" + strconv.Itoa(v.Seq) }

// PublishedOn is the subject v is published on.
func (v *Verdict) PublishedOn() string { return VerdictSubject(v.Namespace, v.Service) }

// VerdictSubject is the subject of the verdicts of service in namespace.
func VerdictSubject(namespace, service string) string {
	return VerdictPrefix + namespace + "." + service
}
