package rollout

import "strconv"

// Rollout is a rollout's whole state: its plan, where it stands, and how
// many verdicts it has issued. It is what the daemon persists with an
// analysis (under the keys plan, position and seq), so an analysis
// resumed by another replica continues exactly where the machine stood.
// The zero Rollout has no plan; start one with New.
type Rollout struct {
	Plan     Plan     `json:"plan"`
	Position Position `json:"position"`
	// Seq counts the verdicts issued: one per judgement, and an abort's.
	Seq int `json:"seq"`
	// Approvals are the answers to its approval gates, in order.
	Approvals []Approval `json:"approvals,omitempty"`
}

// New returns a rollout of plan p at its first step.
func New(p Plan) Rollout { return Rollout{Plan: p} }

// Judged applies the verdict of the next judgement and returns the
// decision that goes out with it, numbered. On an ended rollout it
// changes nothing but still numbers a decision; callers stop at Done.
func (r *Rollout) Judged(v Verdict) Decision { return r.JudgedBudget(v, nil) }

// JudgedBudget is Judged with b, the service's error budget measured for
// the judgement (NeedsBudget says when one is needed; nil when it was not
// measured): a promotion goes through the plan's error-budget gate.
func (r *Rollout) JudgedBudget(v Verdict, b *Budget) Decision {
	var d Decision
	r.Position, d = r.Plan.NextBudget(r.Position, v, b)
	r.Seq++
	d.Seq = r.Seq
	return d
}

// Expire ends the rollout as its lifetime would, with the plan's
// LifetimeOutcome, for a judgement that asks it (the canary's series
// stale past max_canary_stale), and returns the decision that goes out
// with it, numbered. It counts as the judgement.
func (r *Rollout) Expire() Decision {
	var d Decision
	r.Position, d = r.Plan.Expire(r.Position)
	r.Seq++
	d.Seq = r.Seq
	return d
}

// Abort ends the rollout with weight 0 and returns the final decision.
func (r *Rollout) Abort() Decision {
	var d Decision
	r.Position, d = r.Plan.Abort(r.Position)
	r.Seq++
	d.Seq = r.Seq
	return d
}

// Done reports whether the rollout has ended.
func (r *Rollout) Done() bool { return r.Position.Outcome != Running }

// Judgements returns the number of judgements made: the 0-based index of
// the next interval to judge.
func (r *Rollout) Judgements() int { return r.Position.Judgements }

// Weight returns the canary weight now.
func (r *Rollout) Weight() float64 { return r.Plan.Weight(r.Position) }

// Step returns the current step, 1-based, at most the number of steps.
func (r *Rollout) Step() int { return min(r.Position.Step+1, len(r.Plan.Steps)) }

// State returns "running" or how the rollout ended.
func (r *Rollout) State() string {
	if r.Position.Outcome == Running {
		return "running"
	}
	return string(r.Position.Outcome)
}

// Where describes a running rollout's position for people: "step 2 of 4
// (weight 25%), 3 judgement(s)"; during the bake ", baking (1 of 3
// passed)" follows.
func (r *Rollout) Where() string {
	s := "step " + strconv.Itoa(r.Step()) + " of " + strconv.Itoa(len(r.Plan.Steps)) +
		" (weight " + strconv.FormatFloat(r.Weight(), 'g', -1, 64) + "%), " +
		strconv.Itoa(r.Position.Judgements) + " judgement(s)"
	if baked, of, ok := r.Baking(); ok {
		s += ", baking (" + strconv.Itoa(baked) + " of " + strconv.Itoa(of) + " passed)"
	}
	return s
}
