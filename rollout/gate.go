package rollout

import "math"

// Gate is what a CD tool's gate reads of a rollout (Argo Rollouts'
// AnalysisRun, Flagger's webhooks): whether the tool may finish the
// release, must undo it, or must keep waiting. It is derived from the
// state machine alone, never from the latest verdict: a promote that
// passes a step, or any number of holds, is still GateRunning.
type Gate string

// Gates.
const (
	// GateRunning: the rollout has not ended; wait and ask again.
	GateRunning Gate = "running"
	// GateSucceeded: the rollout ended with its final promote (its last
	// step passed, or a lifetime configured to promote).
	GateSucceeded Gate = "succeeded"
	// GateFailed: the rollout ended without success: rolled back, aborted,
	// or expired (its lifetime ran out holding).
	GateFailed Gate = "failed"
)

// Gates lists every gate.
var Gates = [...]Gate{GateRunning, GateSucceeded, GateFailed}

// Gate returns the gate of outcome o.
func (o Outcome) Gate() Gate {
	switch o {
	case Running:
		return GateRunning
	case Succeeded:
		return GateSucceeded
	default: // RolledBack, Aborted, Expired, and anything unknown
		return GateFailed
	}
}

// Gate returns the rollout's gate.
func (r *Rollout) Gate() Gate { return r.Position.Outcome.Gate() }

// TrafficIncreases returns how many traffic increases a CD tool that
// shifts the traffic itself along the same steps (Flagger, with
// stepWeights equal to the plan's steps) may have made by now: the first
// (to the first step's weight) as soon as the rollout starts, then one
// for every step passed; any number once it succeeded (math.MaxInt, as
// the tool may ask once more at its last weight before it promotes); none
// once it failed.
func (r *Rollout) TrafficIncreases() int {
	switch r.Gate() {
	case GateSucceeded:
		return math.MaxInt
	case GateFailed:
		return 0
	default:
		return r.Position.Step + 1
	}
}
