package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// gatedPlan gates step 3 (weight 50) with a 3-judgement timeout.
func gatedPlan(onTimeout string) Plan {
	return Plan{Steps: []float64{10, 25, 50, 100}, JudgementsPerStep: 1, MaxJudgements: 6, LifetimeOutcome: "rollback",
		Gates: []ApprovalGate{{Step: 2, Timeout: 3, OnTimeout: onTimeout}}}
}

func TestApprovalGate(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := New(gatedPlan("rollback"))
	r.Judged(P) // 10 -> 25
	d := r.Judged(P)
	if step, ok := r.Awaiting(); !ok || step != 3 || d.Verdict != H || !d.AwaitingApproval || d.NextWeight != 25 || d.Final {
		t.Fatalf("the step before the gate passed: %+v, awaiting %d %v", d, step, ok)
	}
	if got := d.Reason(P, "all metrics pass"); got != "awaiting approval to enter step 3 (weight 50%): 0 of 3 judgement(s) waited (judged promote: all metrics pass)" {
		t.Errorf("reason %q", got)
	}
	// Judgements go on while it waits, and do not count towards the
	// lifetime (6 judgements: 2 before, 2 waiting, 2 after).
	for range 2 {
		if d := r.Judged(P); d.Verdict != H || !d.AwaitingApproval {
			t.Fatalf("while waiting: %+v", d)
		}
	}
	if _, err := r.Answer(Approval{Step: 4, Approved: true, By: "ann", At: at}); !errors.Is(err, ErrNotAwaiting) {
		t.Fatalf("approving a step that does not wait: %v", err)
	}
	d, err := r.Answer(Approval{Approved: true, By: "ann", Reason: "looks fine", At: at})
	if err != nil || d.Verdict != P || d.Weight != 25 || d.NextWeight != 50 || d.Seq != 5 || d.Approval == nil || d.Approval.By != "ann" || d.Approval.Step != 3 {
		t.Fatalf("approval: %+v %v", d, err)
	}
	if r.Judgements() != 4 || r.Position.Awaiting {
		t.Fatalf("an approval is not a judgement and ends the wait: %+v", r.Position)
	}
	// The same approval again changes nothing and says who answered.
	var answered *ErrAnswered
	for _, a := range []Approval{{Approved: true, By: "bob", At: at}, {Step: 3, Approved: true, By: "bob", At: at}} {
		before := r.Position
		if _, err := r.Answer(a); !errors.As(err, &answered) || answered.Previous.By != "ann" || r.Position != before || r.Seq != 5 {
			t.Fatalf("a second approval: %v, %+v", err, r.Position)
		}
	}
	if d := r.Judged(P); d.NextWeight != 100 {
		t.Fatalf("after the approval: %+v", d)
	}
	if d := r.Judged(P); !d.Final || d.Outcome != Succeeded {
		t.Fatalf("the lifetime left out the waiting: %+v", d)
	}
	if _, err := r.Answer(Approval{Approved: false, By: "bob", At: at}); !errors.Is(err, ErrEnded) {
		t.Fatalf("deny after the end: %v", err)
	}
}

func TestApprovalDenyAndRollback(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	r := New(gatedPlan("rollback"))
	r.Judged(P)
	r.Judged(P)
	d, err := r.Answer(Approval{Approved: false, By: "ann", Reason: "not today", At: at})
	if err != nil || d.Verdict != R || d.NextWeight != 0 || !d.Final || d.Outcome != RolledBack {
		t.Fatalf("deny: %+v %v", d, err)
	}
	var answered *ErrAnswered
	if _, err := r.Answer(Approval{Approved: false, By: "ann", At: at}); !errors.As(err, &answered) {
		t.Fatalf("a second denial: %v", err)
	}
	if _, err := r.Answer(Approval{Approved: true, By: "bob", At: at}); !errors.Is(err, ErrEnded) {
		t.Fatalf("approval after a denial: %v", err)
	}

	// A rollback the judge decides while the rollout waits is not undone.
	r = New(gatedPlan("rollback"))
	r.Judged(P)
	r.Judged(P)
	if d := r.Judged(R); d.Verdict != R || !d.Final || d.AwaitingApproval {
		t.Fatalf("rollback while waiting: %+v", d)
	}
	_, err = r.Answer(Approval{Approved: false, By: "ann", At: at})
	if !errors.Is(err, ErrEnded) || !strings.Contains(err.Error(), "rolled_back at verdict #3") {
		t.Fatalf("deny after the judge's rollback: %v", err)
	}
	// Nothing waits before the gate.
	r = New(gatedPlan("rollback"))
	if _, err := r.Answer(Approval{Approved: true, By: "ann", At: at}); !errors.Is(err, ErrNotAwaiting) ||
		!strings.Contains(err.Error(), "step 1 of 4") {
		t.Fatalf("approval before the gate: %v", err)
	}
}

func TestApprovalTimeout(t *testing.T) {
	for _, c := range []struct {
		onTimeout string
		verdict   Verdict
		outcome   Outcome
		weight    float64
	}{{"rollback", R, RolledBack, 0}, {"hold", H, Expired, 25}} {
		r := New(gatedPlan(c.onTimeout))
		r.Judged(P)
		r.Judged(P)
		r.Judged(P)
		r.Judged(H)
		d := r.Judged(P)
		if d.Verdict != c.verdict || d.Outcome != c.outcome || !d.Final || d.NextWeight != c.weight {
			t.Fatalf("%s: timeout: %+v", c.onTimeout, d)
		}
		if got := d.Reason(P, "ok"); got != "no approval to enter step 3 (weight 50%) within 3 judgement(s): "+c.onTimeout+" (judged promote: ok)" {
			t.Errorf("%s: reason %q", c.onTimeout, got)
		}
	}
}
