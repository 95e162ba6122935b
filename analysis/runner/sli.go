package runner

import (
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/sli"
)

// The runner's side of the release SLIs (package sli): what they need of
// a record and a verdict.

// sliRollout is r as the SLIs know it.
func sliRollout(r *record.Record) sli.Rollout {
	return sli.Rollout{ID: r.ID, Template: r.Event.Template, Namespace: r.Event.Namespace, Created: r.CreatedAt, Start: r.Start}
}

// sliVerdict is v as the SLIs know it.
func sliVerdict(v *record.Verdict) sli.Verdict {
	return sli.Verdict{Verdict: string(v.Verdict), Final: v.Final, Outcome: string(v.Outcome), NextWeight: v.NextWeight, IssuedAt: v.IssuedAt}
}

// sliPosition is where r stands for the SLIs' gauges: its step, whether it
// has ended, and whether a weight-0 final verdict of it is still not
// published.
func sliPosition(r *record.Record) sli.Position {
	p := sli.Position{Step: min(r.Position.Step+1, len(r.Plan.Steps)), Ended: r.Done()}
	if v := r.Latest(); v != nil && r.Done() && r.Published < r.Seq && v.Final && v.NextWeight == 0 {
		p.RollbackUnpublished, p.Since = true, v.IssuedAt
	}
	return p
}
