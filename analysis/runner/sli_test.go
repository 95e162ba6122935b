package runner

import (
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
	"github.com/canaryd/canaryd/rollout/sli"
)

// TestSLIPosition holds the gauges' view of a record: a rollback decided
// and not yet published counts as unpublished from its issue; once
// published, or for a success, it does not.
func TestSLIPosition(t *testing.T) {
	issued := time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)
	rec := func(outcome rollout.Outcome, next float64, published int) *record.Record {
		r := &record.Record{Published: published}
		r.Plan, r.Seq = rollout.Plan{Steps: []float64{10, 50, 100}}, 2
		r.Position = rollout.Position{Step: 1, Judgements: 2, Outcome: outcome}
		r.History = []record.Verdict{{Message: message.Verdict{Seq: 2, Step: 2, Weight: 50, NextWeight: next, Final: outcome != rollout.Running, Outcome: outcome, IssuedAt: issued}}}
		return r
	}
	for _, c := range []struct {
		name string
		r    *record.Record
		want sli.Position
	}{
		{"running", rec(rollout.Running, 50, 1), sli.Position{Step: 2}},
		{"rollback not yet published", rec(rollout.RolledBack, 0, 1), sli.Position{Step: 2, Ended: true, RollbackUnpublished: true, Since: issued}},
		{"rollback published", rec(rollout.RolledBack, 0, 2), sli.Position{Step: 2, Ended: true}},
		{"abort not yet published", rec(rollout.Aborted, 0, 1), sli.Position{Step: 2, Ended: true, RollbackUnpublished: true, Since: issued}},
		{"success not yet published", rec(rollout.Succeeded, 100, 1), sli.Position{Step: 2, Ended: true}},
	} {
		if got := sliPosition(c.r); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
