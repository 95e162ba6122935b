package rollout

import (
	"encoding/json"
	"strings"
	"testing"
)

// bakePlan is 50 → 100, one promote a step, then a bake of three
// judgements, under an error-budget gate.
func bakePlan(lifetime int, outcome string) Plan {
	return Plan{Steps: []float64{50, 100}, JudgementsPerStep: 1, MaxJudgements: lifetime, LifetimeOutcome: outcome,
		Budget: &BudgetGate{OnExhausted: "hold"}, Bake: 3}
}

// promoteToBake judges r to its final promote and checks that it starts
// the bake: weight 100, not final, running.
func promoteToBake(t *testing.T, r *Rollout) {
	t.Helper()
	if d := r.JudgedBudget(P, fine); d.NextWeight != 100 || d.Final {
		t.Fatalf("step 1: %+v", d)
	}
	d := r.JudgedBudget(P, fine)
	if d.Verdict != P || d.NextWeight != 100 || d.Final || d.Outcome != Running || r.Done() {
		t.Fatalf("the final promote starts the bake, not final: %+v %+v", d, r.Position)
	}
	if want := "promoted to 100%: the bake begins (3 judgement(s) of the error budget) (judged promote: ok)"; d.Reason(P, "ok") != want {
		t.Errorf("reason %q, want %q", d.Reason(P, "ok"), want)
	}
	if baked, of, ok := r.Baking(); !ok || baked != 0 || of != 3 {
		t.Fatalf("Baking() = %d, %d, %v", baked, of, ok)
	}
	if w := r.Where(); w != "step 2 of 2 (weight 100%), 2 judgement(s), baking (0 of 3 passed)" {
		t.Errorf("Where() = %q", w)
	}
	if r.Gate() != GateRunning || r.TrafficIncreases() != 2 || r.Weight() != 100 {
		t.Fatalf("during the bake: gate %s, increases %d, weight %v", r.Gate(), r.TrafficIncreases(), r.Weight())
	}
}

// TestBakePasses: three bake judgements with the budget allowing end the
// rollout succeeded, whatever the judge says at 100% (its baseline gets
// no traffic); not one judgement earlier.
func TestBakePasses(t *testing.T) {
	r := New(bakePlan(20, "rollback"))
	promoteToBake(t, &r)
	for i, v := range []Verdict{H, P} {
		if !r.NeedsBudget(v) {
			t.Fatalf("bake judgement %d: every bake judgement needs the budget", i+1)
		}
		d := r.JudgedBudget(v, fine)
		if d.Verdict != P || d.NextWeight != 100 || d.Final || r.Done() || r.Gate() != GateRunning || d.Budget != fine {
			t.Fatalf("bake judgement %d: %+v %+v", i+1, d, r.Position)
		}
	}
	d := r.JudgedBudget(R, fine)
	if d.Verdict != P || !d.Final || d.Outcome != Succeeded || d.NextWeight != 100 || r.Gate() != GateSucceeded {
		t.Fatalf("the bake's end: %+v", d)
	}
	if got := d.Reason(R, "no baseline"); !strings.HasPrefix(got, "bake passed (3 of 3 judgement(s) at 100%): error budget: 80.0%") ||
		!strings.HasSuffix(got, "(judged rollback: no baseline)") {
		t.Errorf("reason %q", got)
	}
	if r.TrafficIncreases() == 0 || r.Seq != 5 {
		t.Errorf("increases %d, seq %d", r.TrafficIncreases(), r.Seq)
	}
}

// TestBakeRegression: a budget spent or burning fast during the bake
// rolls back after promotion (weight 0, final, the figures in the
// decision); one not measured holds and restarts the count.
func TestBakeRegression(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget *Budget
		reason string
	}{
		{"spent", spent, "bake: error budget spent: -20.0% of the 30d budget left (objective 0.999, error ratio 0.0012); burn rates 1h/5m 1.1/1.3 (threshold 14.4): roll back after promotion (1 of 3 judgement(s) passed) (judged promote: ok)"},
		{"fast burn", fast, "bake: error budget burning fast: 50.0% of the 30d budget left (objective 0.999, error ratio 0.0005); burn rates 1h/5m 20/30 (threshold 14.4, fired): roll back after promotion (1 of 3 judgement(s) passed) (judged promote: ok)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(bakePlan(20, "hold"))
			promoteToBake(t, &r)
			r.JudgedBudget(P, fine)
			d := r.JudgedBudget(P, tc.budget)
			if d.Verdict != R || !d.Final || d.Outcome != RolledBackAfterPromotion || d.NextWeight != 0 || d.Weight != 100 || d.Budget != tc.budget {
				t.Fatalf("got %+v", d)
			}
			if r.Gate() != GateFailed || r.TrafficIncreases() != 0 || r.Weight() != 0 || r.State() != "rolled_back_after_promotion" {
				t.Errorf("after: gate %s, increases %d, weight %v, state %s", r.Gate(), r.TrafficIncreases(), r.Weight(), r.State())
			}
			if got := d.Reason(P, "ok"); got != tc.reason {
				t.Errorf("reason\n got %s\nwant %s", got, tc.reason)
			}
		})
	}
	t.Run("not measured", func(t *testing.T) {
		r := New(bakePlan(20, "hold"))
		promoteToBake(t, &r)
		r.JudgedBudget(P, fine)
		r.JudgedBudget(P, fine)
		d := r.JudgedBudget(P, empty)
		if d.Verdict != H || d.Final || d.NextWeight != 100 || r.Position.Baked != 0 {
			t.Fatalf("an unmeasured budget holds and restarts the bake: %+v %+v", d, r.Position)
		}
		if got := d.Reason(P, "ok"); got != "baking at 100%: error budget not measured: the error ratio over 30d returned no data: hold, the bake's count starts again (judged promote: ok)" {
			t.Errorf("reason %q", got)
		}
		for i := range 2 {
			if d := r.JudgedBudget(P, fine); d.Final {
				t.Fatalf("bake judgement %d after the restart is final: %+v", i+1, d)
			}
		}
		if d := r.JudgedBudget(P, fine); d.Outcome != Succeeded {
			t.Fatalf("three in a row after the restart: %+v", d)
		}
	})
}

// TestBakeLifetime: a lifetime that runs out during the bake ends it with
// the lifetime outcome (rollback: after promotion; hold: expired at 100%),
// never succeeded; so does a judgement that asks to expire.
func TestBakeLifetime(t *testing.T) {
	for _, tc := range []struct {
		outcome string
		want    Outcome
		weight  float64
	}{{"rollback", RolledBackAfterPromotion, 0}, {"hold", Expired, 100}} {
		t.Run(tc.outcome, func(t *testing.T) {
			r := New(bakePlan(4, tc.outcome))
			promoteToBake(t, &r)
			r.JudgedBudget(P, nil)
			d := r.JudgedBudget(P, fine) // the 4th judgement: 1 of 3 baked
			if !d.Final || d.Outcome != tc.want || d.NextWeight != tc.weight {
				t.Fatalf("got %+v", d)
			}
			if !EndedByTime(d.Reason(P, "ok")) || !strings.Contains(d.Reason(P, "ok"), "during the bake (1 of 3") {
				t.Errorf("reason %q", d.Reason(P, "ok"))
			}
			r2 := New(bakePlan(20, tc.outcome))
			promoteToBake(t, &r2)
			if d := r2.Expire(); !d.Final || d.Outcome != tc.want || d.NextWeight != tc.weight {
				t.Fatalf("expire during the bake: %+v", d)
			}
		})
	}
}

// TestBakeResumes: a rollout persisted mid-bake (as the daemon stores it)
// resumes where it stood; a plan without a bake encodes as before.
func TestBakeResumes(t *testing.T) {
	r := New(bakePlan(20, "rollback"))
	promoteToBake(t, &r)
	r.JudgedBudget(P, fine)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Rollout
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if baked, of, ok := back.Baking(); !ok || baked != 1 || of != 3 {
		t.Fatalf("resumed: %d of %d, %v (%s)", baked, of, ok, b)
	}
	back.JudgedBudget(P, fine)
	if d := back.JudgedBudget(P, fine); d.Outcome != Succeeded {
		t.Fatalf("resumed bake's end: %+v", d)
	}
	plain, _ := json.Marshal(New(Plan{Steps: []float64{100}, JudgementsPerStep: 1}))
	if strings.Contains(string(plain), "Bake") || strings.Contains(string(plain), "bak") {
		t.Errorf("a plan without a bake encodes a bake: %s", plain)
	}
}
