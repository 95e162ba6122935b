package rollout

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ApprovalGate is an approval gate of a plan: the rollout waits for a person
// before it enters Step.
type ApprovalGate struct {
	// Step is the 0-based index of the step the gate guards.
	Step int
	// Timeout is how many judgements the rollout waits; OnTimeout
	// ("rollback" or "hold") ends a wait that ran out.
	Timeout   int
	OnTimeout string
}

// gate returns the gate guarding step index i, or nil.
func (p Plan) gate(i int) *ApprovalGate {
	for k := range p.Gates {
		if p.Gates[k].Step == i {
			return &p.Gates[k]
		}
	}
	return nil
}

// Approval is a person's answer to an approval gate, as the rollout
// records it: who, when, why, and the verdict it issued.
type Approval struct {
	// Step is the 1-based step the gate guards.
	Step int `json:"step"`
	// Approved is true for an approval, false for a denial.
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
	// Seq is the verdict the answer issued.
	Seq int `json:"seq"`
}

// Action names what a is: "approval" or "denial".
func (a *Approval) Action() string {
	if a.Approved {
		return "approval"
	}
	return "denial"
}

// Errors of Rollout.Answer; the API answers them with 409 Conflict.
var (
	// ErrEnded: the rollout has ended, so nothing waits for an answer.
	ErrEnded = errors.New("the rollout has ended")
	// ErrNotAwaiting: the rollout is not waiting for an approval.
	ErrNotAwaiting = errors.New("no step is waiting for an approval")
)

// ErrAnswered is returned by Rollout.Answer for an answer given before:
// the same action on the same gate. Nothing changes; Previous is the
// answer recorded first, so a retried request can be answered as the
// first was.
type ErrAnswered struct{ Previous Approval }

func (e *ErrAnswered) Error() string {
	return "step " + strconv.Itoa(e.Previous.Step) + " was already answered: " + e.Previous.Action() + " by " +
		e.Previous.By + " at " + e.Previous.At.UTC().Format(time.RFC3339) + " (verdict #" + strconv.Itoa(e.Previous.Seq) + ")"
}

// Awaiting reports whether the rollout waits for an approval, and for
// which 1-based step.
func (r *Rollout) Awaiting() (int, bool) {
	if r.Position.Outcome != Running || !r.Position.Awaiting {
		return 0, false
	}
	return r.Position.Step + 2, true
}

// Answer applies a person's answer a to the gate the rollout waits at: an
// approval moves the rollout to the gated step, a denial rolls it back.
// a.Step, when set, names the gate answered; 0 answers the gate waiting.
// It returns the decision to publish (numbered) and records a, with its
// Seq, in Approvals. The same answer given again returns *ErrAnswered and
// changes nothing; an answer for a rollout that has ended returns
// ErrEnded (a rollback the judge decided is never undone), and one for a
// gate that is not waiting ErrNotAwaiting, both wrapped with where the
// rollout stands.
func (r *Rollout) Answer(a Approval) (Decision, error) {
	for i := len(r.Approvals) - 1; i >= 0; i-- {
		prev := r.Approvals[i]
		if prev.Approved == a.Approved && (a.Step == prev.Step || a.Step == 0 && i == len(r.Approvals)-1 && !r.Position.Awaiting) {
			// A retry: the same action on the same gate (or, naming no
			// gate, the latest answer while none waits).
			return Decision{}, &ErrAnswered{Previous: prev}
		}
	}
	if r.Done() {
		return Decision{}, fmt.Errorf("%w: %s at verdict #%d", ErrEnded, r.State(), r.Seq)
	}
	step, ok := r.Awaiting()
	if !ok {
		return Decision{}, fmt.Errorf("%w: the rollout is at %s", ErrNotAwaiting, r.Where())
	}
	if a.Step != 0 && a.Step != step {
		return Decision{}, fmt.Errorf("%w at step %d: the rollout waits to enter step %d", ErrNotAwaiting, a.Step, step)
	}
	var d Decision
	r.Position, d = r.Plan.answer(r.Position, a.Approved)
	r.Seq++
	d.Seq = r.Seq
	a.Step, a.Seq = step, r.Seq
	r.Approvals = append(r.Approvals, a)
	d.Approval = &r.Approvals[len(r.Approvals)-1]
	return d, nil
}

// answer applies an approval (approved) or a denial at pos, which waits
// at a gate.
func (p Plan) answer(pos Position, approved bool) (Position, Decision) {
	d := Decision{Step: pos.Step + 1, Weight: p.Weight(pos)}
	pos.Awaiting, pos.Waiting = false, 0
	if approved {
		pos.Step++
		d.Verdict, d.NextWeight = Promote, p.Weight(pos)
		return pos, d
	}
	pos.Outcome = RolledBack
	d.Verdict, d.NextWeight, d.Final, d.Outcome = Rollback, 0, true, RolledBack
	return pos, d
}

// await applies verdict v to pos, which waits at the gate guarding the
// next step: a rollback rolls back; anything else holds until the gate's
// timeout, which ends the rollout with its OnTimeout. The judgement that
// passes the step before the gate (entering) starts the wait and is not
// one of its judgements.
func (p Plan) await(pos Position, d Decision, v Verdict, entering bool) (Position, Decision) {
	if v == Rollback {
		pos.Awaiting, pos.Waiting = false, 0
		return p.apply(pos, d, v)
	}
	g := p.gate(pos.Step + 1)
	if !entering {
		pos.Waiting++
		pos.Waited++
	}
	next := strconv.Itoa(pos.Step+2) + " (weight " + strconv.FormatFloat(p.Steps[pos.Step+1], 'g', -1, 64) + "%)"
	if pos.Waiting >= g.Timeout {
		pos.Awaiting, pos.Waiting = false, 0
		d.note = ApprovalTimedOut + next + " within " + strconv.Itoa(g.Timeout) + " judgement(s): " + g.OnTimeout
		if g.OnTimeout == "hold" {
			pos.Outcome = Expired
			d.Verdict, d.NextWeight, d.Final, d.Outcome = Hold, d.Weight, true, Expired
			return pos, d
		}
		d.Verdict = Rollback
		return p.apply(pos, d, Rollback)
	}
	d.Verdict, d.NextWeight, d.AwaitingApproval = Hold, d.Weight, true
	d.note = "awaiting approval to enter step " + next + ": " + strconv.Itoa(pos.Waiting) + " of " + strconv.Itoa(g.Timeout) + " judgement(s) waited"
	return pos, d
}

// Describe says what a did, for the reason of the verdict it issued:
// "approved by ann: enter step 3 (looks fine)".
func (a *Approval) Describe() string {
	s := "denied by " + a.By + ": roll back before step " + strconv.Itoa(a.Step)
	if a.Approved {
		s = "approved by " + a.By + ": enter step " + strconv.Itoa(a.Step)
	}
	if a.Reason != "" {
		s += " (" + a.Reason + ")"
	}
	return s
}
