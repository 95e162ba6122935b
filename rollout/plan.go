// Package rollout owns a canary rollout's life: one deterministic state
// machine, with no I/O and no clock, that the daemon's runner, replay, the
// reports and the CD endpoints (Flagger, Argo) all use, so that none of
// them derives a step, a weight or an outcome of its own.
//
// A rollout walks its template's steps (canary weights in percent). Every
// judgement yields a verdict:
//
//   - promote counts towards the current step; after JudgementsPerStep
//     promotes in a row the rollout moves to the next step's weight, and a
//     promote at the last step ends it in success;
//   - hold keeps the weight and resets the count of promotes: a step is
//     only passed on consecutive evidence;
//   - rollback sets the weight to 0 and ends the rollout.
//
// A step may be gated by an approval (ApprovalGate): once the step before it has
// passed, the rollout waits at its weight (holds, AwaitingApproval) until
// a person answers (Rollout.Answer): an approval enters the step, a
// denial rolls back. Judgements go on while it waits, so a rollback the
// judge decides still rolls back, and a wait longer than the gate's
// timeout ends the rollout with the gate's OnTimeout. Judgements spent
// waiting do not count towards MaxJudgements.
//
// A rollout that reaches MaxJudgements without ending ends with the
// configured LifetimeOutcome, and so does one whose judgement asks to
// expire early (Expire: the canary's series stale for too long); an abort
// ends it with weight 0.
//
// The package is the lowest layer of a verdict: it defines the verdicts
// (Promote, Hold, Rollback) that package analysis' judge returns, and
// imports nothing of the judge.
package rollout

import (
	"slices"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/configs/spec"
)

// Verdict is what one judgement says to do with the canary.
type Verdict string

// Verdicts.
const (
	Promote  Verdict = "promote"
	Hold     Verdict = "hold"
	Rollback Verdict = "rollback"
)

// Verdicts lists every verdict.
var Verdicts = [...]Verdict{Promote, Hold, Rollback}

// Outcome is how a rollout ended; empty while it runs.
type Outcome string

// Outcomes.
const (
	Running    Outcome = ""
	Succeeded  Outcome = "succeeded"
	RolledBack Outcome = "rolled_back"
	Expired    Outcome = "expired"
	Aborted    Outcome = "aborted"
	// RolledBackAfterPromotion: the bake (Plan.Bake) found the service's
	// error budget spent or burning fast after the final promote, or ran
	// out of lifetime configured to roll back: the rollback trigger of
	// the post-promotion watch.
	RolledBackAfterPromotion Outcome = "rolled_back_after_promotion"
)

// Outcomes lists every outcome, Running first. Records store an outcome
// by its index here: append, never reorder.
var Outcomes = [...]Outcome{Running, Succeeded, RolledBack, Expired, Aborted, RolledBackAfterPromotion}

// Plan is a template's rollout plan.
type Plan struct {
	// Steps are the canary weights, increasing, in (0, 100].
	Steps []float64
	// JudgementsPerStep is the number of consecutive promotes a step needs.
	JudgementsPerStep int
	// MaxJudgements ends the rollout with LifetimeOutcome; 0 means no limit.
	MaxJudgements int
	// LifetimeOutcome is "rollback", "hold" or "promote".
	LifetimeOutcome string
	// Gates are the steps that wait for an approval, in no order.
	Gates []ApprovalGate `json:",omitempty"`
	// Budget is the error-budget gate of a template with an SLO.
	Budget *BudgetGate `json:",omitempty"`
	// Bake is the number of judgements of the post-promotion watch (a
	// template's bake, see bake.go); 0 means none: the final promote ends
	// the rollout.
	Bake int `json:",omitempty"`
}

// PlanOf returns the rollout plan of template t (loaded by package
// configs, so with its defaults set): the one place a plan is derived.
func PlanOf(t *spec.Template) Plan {
	return Plan{
		Steps:             slices.Clone(t.Steps),
		JudgementsPerStep: t.JudgementsPerStep,
		MaxJudgements:     t.MaxJudgements(),
		LifetimeOutcome:   t.LifetimeOutcome,
		Gates:             gatesOf(t),
		Budget:            budgetOf(t),
		Bake:              t.BakeJudgements(),
	}
}

// budgetOf returns the error-budget gate of template t, nil without an SLO.
func budgetOf(t *spec.Template) *BudgetGate {
	if t.SLO == nil {
		return nil
	}
	return &BudgetGate{OnExhausted: t.SLO.OnExhausted}
}

// gatesOf returns the approval gates of template t.
func gatesOf(t *spec.Template) []ApprovalGate {
	var gs []ApprovalGate
	for _, a := range t.Approvals {
		gs = append(gs, ApprovalGate{Step: a.Step - 1, Timeout: a.TimeoutJudgements(t.Interval), OnTimeout: a.OnTimeout})
	}
	return gs
}

// Position is where a rollout stands; it is part of an analysis' state.
type Position struct {
	Step       int     `json:"step"`     // index into Steps
	Promotes   int     `json:"promotes"` // consecutive promotes at Step
	Judgements int     `json:"judgements"`
	Outcome    Outcome `json:"outcome,omitempty"`
	// Awaiting says the rollout waits at Step for an approval to enter the
	// next step, for Waiting judgements so far; Waited counts every
	// judgement spent waiting, which the lifetime does not count.
	Awaiting bool `json:"awaiting,omitempty"`
	Waiting  int  `json:"waiting,omitempty"`
	Waited   int  `json:"waited,omitempty"`
	// Baking says the final promote has been made and the rollout
	// watches the service at 100% (the bake), Baked judgements in a row
	// so far with its error budget measured and allowing.
	Baking bool `json:"baking,omitempty"`
	Baked  int  `json:"baked,omitempty"`
}

// Decision is what one verdict does to the traffic: the rollout's part of
// the verdict that goes out.
type Decision struct {
	// Seq numbers the rollout's verdicts from 1 (judgements and an abort).
	Seq        int     `json:"seq"`
	Step       int     `json:"step"`        // the step judged (1-based for people)
	Weight     float64 `json:"weight"`      // the canary weight during the judgement
	NextWeight float64 `json:"next_weight"` // the weight to set now
	// Verdict is the verdict acted on: the judgement's, or the lifetime
	// outcome's when the lifetime ran out.
	Verdict Verdict `json:"verdict"`
	Final   bool    `json:"final"`
	Outcome Outcome `json:"outcome,omitempty"`
	// AwaitingApproval says the rollout holds for an approval to enter
	// the next step.
	AwaitingApproval bool `json:"awaiting_approval,omitempty"`
	// Approval is the approval or denial the decision carries out.
	Approval *Approval `json:"approval,omitempty"`
	// Budget is the service's error budget measured for the promotion
	// the judgement asked (BudgetGate), whether it let it through or not.
	Budget *Budget `json:"budget,omitempty"`

	// note says why the rollout did not do what the judgement said (a
	// gate); Reason puts it first.
	note string
}

// Reason prefixes of the decisions time made instead of a judgement.
const (
	// LifetimeReached starts the reason of a verdict the analysis'
	// lifetime overrode.
	LifetimeReached = "lifetime reached: "
	// ApprovalTimedOut starts the reason of a verdict an approval gate's
	// timeout made.
	ApprovalTimedOut = "no approval to enter step "
)

// EndedByTime reports whether reason, a verdict's, says time decided it:
// the analysis' lifetime ran out, or nobody answered an approval gate in
// time. The audit trail records such a verdict as an expiry.
func EndedByTime(reason string) bool {
	return strings.HasPrefix(reason, LifetimeReached) || strings.HasPrefix(reason, ApprovalTimedOut)
}

// Reason returns the reason the verdict acted on goes out with: the
// judgement's own (reason, for a judged verdict judged), or, when the
// lifetime overrode the judgement, a reason that says so.
func (d *Decision) Reason(judged Verdict, reason string) string {
	if d.note != "" {
		return d.note + " (judged " + string(judged) + ": " + reason + ")"
	}
	if d.Verdict != judged {
		return LifetimeReached + string(d.Verdict) + " (judged " + string(judged) + ": " + reason + ")"
	}
	return reason
}

// Weight returns the canary weight at pos.
func (p Plan) Weight(pos Position) float64 {
	if pos.Outcome == RolledBack || pos.Outcome == Aborted || pos.Outcome == RolledBackAfterPromotion {
		return 0
	}
	if pos.Baking || pos.Step >= len(p.Steps) {
		return 100
	}
	return p.Steps[pos.Step]
}

// Next applies a verdict at pos and returns the new position and the
// decision to publish (its Seq left 0: Rollout numbers verdicts). Next on
// an ended rollout changes nothing. Under an error-budget gate a promote
// that would pass a step holds, as the budget was not measured: use
// NextBudget.
func (p Plan) Next(pos Position, v Verdict) (Position, Decision) { return p.NextBudget(pos, v, nil) }

// NextBudget is Next with b, the service's error budget measured for the
// judgement (nil when it was not): a promote that would pass a step goes
// through the plan's BudgetGate.
func (p Plan) NextBudget(pos Position, v Verdict, b *Budget) (Position, Decision) {
	d := Decision{Step: pos.Step + 1, Weight: p.Weight(pos), Verdict: v}
	if pos.Outcome != Running {
		d.NextWeight, d.Final, d.Outcome = d.Weight, true, pos.Outcome
		return pos, d
	}
	pos.Judgements++
	if pos.Baking {
		return p.bake(pos, d, b)
	}
	if pos.Awaiting {
		return p.await(pos, d, v, false)
	}
	per := max(p.JudgementsPerStep, 1)
	expired := p.MaxJudgements > 0 && pos.Judgements-pos.Waited >= p.MaxJudgements
	if expired && v != Rollback {
		// The last judgement the lifetime allows: it decides only if it
		// would end the rollout anyway.
		lastPromote := v == Promote && pos.Step == len(p.Steps)-1 && pos.Promotes+1 >= per
		if lastPromote && p.Budget != nil && !b.Allows() {
			// The budget refuses the last promote: the lifetime decides.
			lastPromote, d.Budget = false, b
		}
		if !lastPromote {
			var done bool
			pos, v, done = p.lifetimeOutcome(pos, &d)
			if d.Budget != nil {
				d.note = "lifetime reached: " + string(d.Verdict) + ", the " + d.Budget.Describe()
			}
			if done {
				return pos, d
			}
			return p.apply(pos, d, v) // the lifetime's verdict, past any gate
		}
	}
	if v == Promote && pos.Promotes+1 >= per {
		// The judgement would pass the step: the error-budget gate's.
		if nv, refused := p.budgetRefuses(pos, &d, b); refused {
			d.Verdict, v = nv, nv
		}
	}
	return p.apply(pos, d, v)
}

// Expire ends the rollout at pos as a lifetime running out would, with
// LifetimeOutcome, for a judgement that asks it (the judge's
// Judgement.Expire: the canary's series stale past max_canary_stale). It
// counts as a judgement. Expire on an ended rollout changes nothing.
func (p Plan) Expire(pos Position) (Position, Decision) {
	d := Decision{Step: pos.Step + 1, Weight: p.Weight(pos), Verdict: Hold}
	if pos.Outcome != Running {
		d.NextWeight, d.Final, d.Outcome = d.Weight, true, pos.Outcome
		return pos, d
	}
	pos.Judgements++
	pos, v, done := p.lifetimeOutcome(pos, &d)
	if done {
		return pos, d
	}
	return p.apply(pos, d, v)
}

// LifetimeVerdict is the verdict a rollout ends with when its lifetime
// runs out or it expires, for a template's lifetime_outcome: promote,
// hold, and rollback for anything else.
func LifetimeVerdict(outcome string) Verdict {
	switch outcome {
	case "promote":
		return Promote
	case "hold":
		return Hold
	}
	return Rollback
}

// lifetimeOutcome applies LifetimeOutcome at pos: hold ends the rollout
// here (done); promote and rollback return the verdict to apply, promote
// having moved pos to one promote short of the end.
func (p Plan) lifetimeOutcome(pos Position, d *Decision) (Position, Verdict, bool) {
	per := max(p.JudgementsPerStep, 1)
	v := LifetimeVerdict(p.LifetimeOutcome)
	switch v {
	case Promote:
		pos.Step, pos.Promotes = len(p.Steps)-1, per-1
	case Hold:
		pos.Outcome, pos.Awaiting, pos.Waiting = Expired, false, 0
		d.Verdict, d.NextWeight, d.Final, d.Outcome = Hold, d.Weight, true, Expired
		return pos, Hold, true
	}
	d.Verdict = v
	return pos, v, false
}

// apply applies verdict v at pos, a running rollout whose judgement d
// counts.
func (p Plan) apply(pos Position, d Decision, v Verdict) (Position, Decision) {
	per := max(p.JudgementsPerStep, 1)
	switch v {
	case Rollback:
		o := RolledBack
		if pos.Baking {
			o = RolledBackAfterPromotion
		}
		pos.Outcome, pos.Awaiting, pos.Waiting, pos.Baking = o, false, 0, false
		d.NextWeight, d.Final, d.Outcome = 0, true, o
	case Promote:
		pos.Promotes++
		if pos.Promotes >= per {
			pos.Promotes = 0
			if pos.Step == len(p.Steps)-1 && p.Bake > 0 {
				// The final promote: 100%, and the bake begins.
				pos.Baking, pos.Baked = true, 0
				d.NextWeight = 100
				d.note = "promoted to 100%: the bake begins (" + strconv.Itoa(p.Bake) + " judgement(s) of the error budget)"
				return pos, d
			}
			if pos.Step == len(p.Steps)-1 {
				pos.Outcome = Succeeded
				d.NextWeight, d.Final, d.Outcome = 100, true, Succeeded
				return pos, d
			}
			if g := p.gate(pos.Step + 1); g != nil {
				// The step passed; the next waits for a person.
				pos.Awaiting = true
				return p.await(pos, d, v, true)
			}
			pos.Step++
		}
		d.NextWeight = p.Weight(pos)
	default:
		pos.Promotes = 0
		d.NextWeight = d.Weight
	}
	return pos, d
}

// Abort ends the rollout at pos with weight 0.
func (p Plan) Abort(pos Position) (Position, Decision) {
	d := Decision{Step: pos.Step + 1, Weight: p.Weight(pos), Verdict: Rollback, Final: true, Outcome: Aborted}
	if pos.Outcome == Running {
		pos.Outcome, pos.Awaiting, pos.Waiting = Aborted, false, 0
	} else {
		d.Outcome = pos.Outcome
	}
	d.NextWeight = p.Weight(pos)
	return pos, d
}
