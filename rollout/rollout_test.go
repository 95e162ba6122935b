package rollout

import (
	"encoding/json"
	"testing"
)

func TestRolloutNumbersVerdicts(t *testing.T) {
	r := New(Plan{Steps: []float64{10, 100}, JudgementsPerStep: 1, MaxJudgements: 5, LifetimeOutcome: "rollback"})
	if r.State() != "running" || r.Weight() != 10 || r.Step() != 1 || r.Done() {
		t.Fatalf("new rollout: state %s weight %v step %d", r.State(), r.Weight(), r.Step())
	}
	d1 := r.Judged(Hold)
	d2 := r.Judged(Promote)
	if d1.Seq != 1 || d2.Seq != 2 || r.Seq != 2 || r.Judgements() != 2 {
		t.Fatalf("seqs %d %d, rollout seq %d judgements %d; want 1 2 2 2", d1.Seq, d2.Seq, r.Seq, r.Judgements())
	}
	if got, want := r.Where(), "step 2 of 2 (weight 100%), 2 judgement(s)"; got != want {
		t.Errorf("Where: %q, want %q", got, want)
	}
	a := r.Abort()
	if a.Seq != 3 || !a.Final || a.Outcome != Aborted || r.State() != "aborted" || r.Judgements() != 2 {
		t.Errorf("abort: %+v, state %s, judgements %d", a, r.State(), r.Judgements())
	}
}

// The daemon persists a Rollout inside its analysis record: the keys and
// their meaning are a stored format.
func TestRolloutJSON(t *testing.T) {
	r := New(Plan{Steps: []float64{50, 100}, JudgementsPerStep: 2, MaxJudgements: 14, LifetimeOutcome: "hold"})
	r.Judged(Promote)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"plan":{"Steps":[50,100],"JudgementsPerStep":2,"MaxJudgements":14,"LifetimeOutcome":"hold"},"position":{"step":0,"promotes":1,"judgements":1},"seq":1}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back Rollout
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// The resumed rollout continues exactly where the first stood.
	if d, d2 := r.Judged(Promote), back.Judged(Promote); d != d2 || d.NextWeight != 100 {
		t.Errorf("resumed rollout decided %+v, the original %+v", d2, d)
	}
}

func TestDecisionReason(t *testing.T) {
	d := Decision{Verdict: Rollback}
	if got := d.Reason(Rollback, "p99 up 30%"); got != "p99 up 30%" {
		t.Errorf("judged verdict acted on: %q", got)
	}
	if got, want := d.Reason(Hold, "not enough samples"), "lifetime reached: rollback (judged hold: not enough samples)"; got != want {
		t.Errorf("lifetime override: %q, want %q", got, want)
	}
}
