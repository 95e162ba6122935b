package rollout

import (
	"testing"
)

const (
	P = Promote
	H = Hold
	R = Rollback
)

func TestPlanNext(t *testing.T) {
	plan := Plan{Steps: []float64{5, 25, 50, 100}, JudgementsPerStep: 2, MaxJudgements: 20, LifetimeOutcome: "rollback"}
	for _, c := range []struct {
		name     string
		verdicts []Verdict
		weights  []float64 // next weight after each verdict
		outcome  Outcome
	}{
		{"promoted through every step", []Verdict{P, P, P, P, P, P, P, P}, []float64{5, 25, 25, 50, 50, 100, 100, 100}, Succeeded},
		{"hold resets the count", []Verdict{P, H, P, P}, []float64{5, 5, 5, 25}, Running},
		{"rollback ends at 0", []Verdict{P, P, H, R}, []float64{5, 25, 25, 0}, RolledBack},
	} {
		t.Run(c.name, func(t *testing.T) {
			var pos Position
			var d Decision
			for i, v := range c.verdicts {
				pos, d = plan.Next(pos, v)
				if d.NextWeight != c.weights[i] {
					t.Fatalf("after verdict %d (%s): next weight %v, want %v", i, v, d.NextWeight, c.weights[i])
				}
			}
			if pos.Outcome != c.outcome || d.Final != (c.outcome != Running) {
				t.Fatalf("outcome %q final %v, want %q", pos.Outcome, d.Final, c.outcome)
			}
			// An ended rollout stays ended.
			if c.outcome != Running {
				p2, d2 := plan.Next(pos, P)
				if p2 != pos || !d2.Final || d2.NextWeight != d.NextWeight {
					t.Fatalf("Next after the end changed the rollout: %+v %+v", p2, d2)
				}
			}
		})
	}
}

func TestPlanLifetime(t *testing.T) {
	for _, c := range []struct {
		outcome    string
		wantWeight float64
		want       Outcome
		verdict    Verdict
	}{
		{"rollback", 0, RolledBack, R},
		{"hold", 5, Expired, H},
		{"promote", 100, Succeeded, P},
	} {
		plan := Plan{Steps: []float64{5, 100}, JudgementsPerStep: 1, MaxJudgements: 3, LifetimeOutcome: c.outcome}
		var pos Position
		var d Decision
		for i := 0; i < 3; i++ {
			pos, d = plan.Next(pos, H)
		}
		if pos.Outcome != c.want || !d.Final || d.NextWeight != c.wantWeight || d.Verdict != c.verdict {
			t.Errorf("lifetime_outcome %s: got %+v, want outcome %s weight %v verdict %s", c.outcome, d, c.want, c.wantWeight, c.verdict)
		}
	}
	// The last allowed judgement still succeeds on its own merit.
	plan := Plan{Steps: []float64{100}, JudgementsPerStep: 1, MaxJudgements: 1, LifetimeOutcome: "rollback"}
	if pos, _ := plan.Next(Position{}, P); pos.Outcome != Succeeded {
		t.Errorf("a promote at the last step within the lifetime: outcome %q, want succeeded", pos.Outcome)
	}
}

// TestPlanExpire checks that a judgement asking to expire ends the
// rollout exactly as its lifetime running out does, at any point.
func TestPlanExpire(t *testing.T) {
	for _, outcome := range []string{"rollback", "hold", "promote"} {
		plan := Plan{Steps: []float64{5, 50, 100}, JudgementsPerStep: 2, MaxJudgements: 4, LifetimeOutcome: outcome}
		var lifePos, expPos Position
		var lifeD Decision
		for range 3 {
			lifePos, _ = plan.Next(lifePos, H)
		}
		lifePos, lifeD = plan.Next(lifePos, H) // the fourth: the lifetime runs out
		for range 3 {
			expPos, _ = plan.Next(expPos, H)
		}
		expPos, expD := plan.Expire(expPos)
		if expPos != lifePos || expD != lifeD {
			t.Errorf("%s: Expire gives %+v %+v, the lifetime %+v %+v", outcome, expPos, expD, lifePos, lifeD)
		}
		if !expD.Final {
			t.Errorf("%s: Expire did not end the rollout: %+v", outcome, expD)
		}
		// Expire at the first judgement, and again once ended.
		pos, d := plan.Expire(Position{})
		if !d.Final || pos.Judgements != 1 {
			t.Errorf("%s: first judgement expiring: %+v %+v", outcome, pos, d)
		}
		if again, d2 := plan.Expire(pos); again != pos || d2.Outcome != pos.Outcome || !d2.Final {
			t.Errorf("%s: Expire of an ended rollout changed it: %+v %+v", outcome, again, d2)
		}
	}
}

func TestPlanAbort(t *testing.T) {
	plan := Plan{Steps: []float64{10, 100}, JudgementsPerStep: 1}
	pos, _ := plan.Next(Position{}, P)
	pos, d := plan.Abort(pos)
	if pos.Outcome != Aborted || d.NextWeight != 0 || !d.Final || d.Weight != 100 {
		t.Errorf("abort: %+v %+v", pos, d)
	}
}
