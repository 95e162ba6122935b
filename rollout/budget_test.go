package rollout

import (
	"strings"
	"testing"
)

// budgetPlan is 10 → 50 → 100, two promotes a step, gated on the budget.
func budgetPlan(onExhausted string) Plan {
	return Plan{Steps: []float64{10, 50, 100}, JudgementsPerStep: 2, MaxJudgements: 10, LifetimeOutcome: "rollback",
		Budget: &BudgetGate{OnExhausted: onExhausted}}
}

var (
	fine  = &Budget{Objective: 0.999, Window: "30d", ErrorRatio: 0.0002, Remaining: 0.8, Burns: []Burn{{Long: "1h", Short: "5m", Threshold: 14.4, LongRate: 0.5, ShortRate: 0.4}}}
	spent = &Budget{Objective: 0.999, Window: "30d", ErrorRatio: 0.0012, Remaining: -0.2, Burns: []Burn{{Long: "1h", Short: "5m", Threshold: 14.4, LongRate: 1.1, ShortRate: 1.3}}}
	fast  = &Budget{Objective: 0.999, Window: "30d", ErrorRatio: 0.0005, Remaining: 0.5, Burns: []Burn{{Long: "1h", Short: "5m", Threshold: 14.4, LongRate: 20, ShortRate: 30, Fired: true}}}
	empty = &Budget{Objective: 0.999, Window: "30d", Problem: "the error ratio over 30d returned no data"}
)

func TestBudgetGate(t *testing.T) {
	for _, tc := range []struct {
		name        string
		onExhausted string
		budget      *Budget
		verdict     Verdict
		outcome     Outcome
		reason      string
	}{
		{"fine", "hold", fine, P, Running, "all pass"},
		{"spent", "hold", spent, H, Running, "error budget spent: -20.0% of the 30d budget left (objective 0.999, error ratio 0.0012); burn rates 1h/5m 1.1/1.3 (threshold 14.4): hold before step 2 (weight 50%) (judged promote: all pass)"},
		{"fast burn", "hold", fast, H, Running, "error budget burning fast: 50.0% of the 30d budget left (objective 0.999, error ratio 0.0005); burn rates 1h/5m 20/30 (threshold 14.4, fired): hold before step 2 (weight 50%) (judged promote: all pass)"},
		{"spent, rollback", "rollback", spent, R, RolledBack, "error budget spent: -20.0% of the 30d budget left (objective 0.999, error ratio 0.0012); burn rates 1h/5m 1.1/1.3 (threshold 14.4): roll back before step 2 (weight 50%) (judged promote: all pass)"},
		{"no data, rollback", "rollback", empty, H, Running, "error budget not measured: the error ratio over 30d returned no data: hold before step 2 (weight 50%) (judged promote: all pass)"},
		{"not measured", "hold", nil, H, Running, "error budget not measured: hold before step 2 (weight 50%) (judged promote: all pass)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(budgetPlan(tc.onExhausted))
			// The first promote passes nothing: no budget is needed.
			if r.NeedsBudget(P) != false {
				t.Fatal("NeedsBudget before the step's last promote")
			}
			if d := r.Judged(P); d.Verdict != P || d.Budget != nil || d.NextWeight != 10 {
				t.Fatalf("first promote: %+v", d)
			}
			if !r.NeedsBudget(P) || r.NeedsBudget(H) || r.NeedsBudget(R) {
				t.Fatal("NeedsBudget: only a promote that passes the step needs the budget")
			}
			d := r.JudgedBudget(P, tc.budget)
			if d.Verdict != tc.verdict || r.Position.Outcome != tc.outcome || d.Budget != tc.budget {
				t.Fatalf("got %+v, outcome %q", d, r.Position.Outcome)
			}
			if got := d.Reason(P, "all pass"); got != tc.reason {
				t.Errorf("reason\n got %s\nwant %s", got, tc.reason)
			}
			switch tc.verdict {
			case P:
				if d.NextWeight != 50 || r.Position.Promotes != 0 {
					t.Errorf("a fine budget promotes: %+v", d)
				}
			case H:
				// The step needs its promotes again.
				if d.NextWeight != 10 || r.Position.Promotes != 0 || r.Position.Step != 0 {
					t.Errorf("a hold keeps the weight and resets the promotes: %+v %+v", d, r.Position)
				}
			case R:
				if d.NextWeight != 0 || !d.Final {
					t.Errorf("rollback: %+v", d)
				}
			}
		})
	}
}

// TestBudgetGateFinalPromote: the last step's promote (to success) is a
// promotion too, and a lifetime that runs out while the budget refuses
// ends the rollout with its lifetime outcome, never in success.
func TestBudgetGateFinalPromote(t *testing.T) {
	r := New(Plan{Steps: []float64{50, 100}, JudgementsPerStep: 1, MaxJudgements: 4, LifetimeOutcome: "hold", Budget: &BudgetGate{OnExhausted: "hold"}})
	if d := r.JudgedBudget(P, fine); d.NextWeight != 100 || d.Final {
		t.Fatalf("step 1 passed: %+v", d)
	}
	if d := r.JudgedBudget(P, spent); d.Verdict != H || d.Final || !strings.Contains(d.Reason(P, "x"), "hold before promotion to 100%") {
		t.Fatalf("spent at the last step: %+v %q", d, d.Reason(P, "x"))
	}
	r.JudgedBudget(P, spent)
	if !r.NeedsBudget(P) {
		t.Fatal("the lifetime's last judgement promotes the last step: it needs the budget")
	}
	d := r.JudgedBudget(P, spent)
	if !d.Final || d.Outcome != Expired || d.Budget != spent || !strings.HasPrefix(d.Reason(P, "x"), "lifetime reached: hold, the error budget spent") {
		t.Fatalf("lifetime with a spent budget: %+v %q", d, d.Reason(P, "x"))
	}
	r = New(Plan{Steps: []float64{50, 100}, JudgementsPerStep: 1, Budget: &BudgetGate{OnExhausted: "hold"}})
	r.JudgedBudget(P, fine)
	if d := r.JudgedBudget(P, fine); !d.Final || d.Outcome != Succeeded || d.Budget != fine {
		t.Fatalf("a fine budget lets the final promote through: %+v", d)
	}
	// Without a gate nothing is measured or carried.
	r = New(Plan{Steps: []float64{100}, JudgementsPerStep: 1})
	if r.NeedsBudget(P) {
		t.Fatal("NeedsBudget without a gate")
	}
	if d := r.Judged(P); d.Outcome != Succeeded || d.Budget != nil {
		t.Fatalf("no gate: %+v", d)
	}
}
