package rollout

import (
	"math"
	"testing"
)

// A gate succeeds only on the final promote: an intermediate promote and
// any number of holds read as running, and every other end as failed.
func TestGate(t *testing.T) {
	plan := Plan{Steps: []float64{10, 50, 100}, JudgementsPerStep: 1, MaxJudgements: 30, LifetimeOutcome: "hold"}
	tests := []struct {
		name      string
		verdicts  []Verdict
		abort     bool
		gate      Gate
		increases int
	}{
		{"not judged yet", nil, false, GateRunning, 1},
		{"intermediate promote", []Verdict{Promote}, false, GateRunning, 2},
		{"holds however long", repeat(Hold, 29), false, GateRunning, 1},
		{"promote at the last step", []Verdict{Promote, Promote}, false, GateRunning, 3},
		{"final promote", []Verdict{Promote, Promote, Promote}, false, GateSucceeded, math.MaxInt},
		{"rollback", []Verdict{Promote, Rollback}, false, GateFailed, 0},
		{"lifetime ran out holding", repeat(Hold, 30), false, GateFailed, 0},
		{"aborted", []Verdict{Promote}, true, GateFailed, 0},
	}
	for _, tt := range tests {
		r := New(plan)
		for _, v := range tt.verdicts {
			r.Judged(v)
		}
		if tt.abort {
			r.Abort()
		}
		if g := r.Gate(); g != tt.gate {
			t.Errorf("%s: gate %s (state %s), want %s", tt.name, g, r.State(), tt.gate)
		}
		if n := r.TrafficIncreases(); n != tt.increases {
			t.Errorf("%s: %d traffic increases, want %d", tt.name, n, tt.increases)
		}
	}
	for _, o := range Outcomes {
		if g := o.Gate(); (g == GateSucceeded) != (o == Succeeded) || (g == GateRunning) != (o == Running) {
			t.Errorf("outcome %q: gate %s", o, g)
		}
	}
}

func repeat(v Verdict, n int) []Verdict {
	out := make([]Verdict, n)
	for i := range out {
		out[i] = v
	}
	return out
}
