package rollout

import "strconv"

// The bake (post-promotion watch). A plan with Bake > 0 does not end at
// its final promote: the weight goes to 100% (next_weight 100, not final)
// and the rollout keeps judging for Bake more judgements, each against
// the service's error budget (the plan's BudgetGate measures it; a
// template with a bake must have an SLO). After 100% the baseline gets
// no traffic, so the canary-versus-baseline judgement says nothing of the
// new version: the bake's criterion is the service's SLO alone, and the
// judge's verdict is only reported. Each bake judgement:
//
//   - budget measured and allowing (not spent, no burn-rate rule firing):
//     counts; the Bake-th in a row ends the rollout succeeded (promote,
//     final);
//   - budget measured, spent or burning fast (a confirmed regression: the
//     multi-window rules need both windows over the threshold): rollback,
//     final, outcome RolledBackAfterPromotion, the figures in the
//     decision's Budget;
//   - budget not measured: hold at 100%, and the count starts again
//     (missing data never ends a bake in success).
//
// Bake judgements count towards the lifetime; one that reaches it without
// ending the bake ends the rollout with LifetimeOutcome (rollback:
// RolledBackAfterPromotion; hold: Expired at 100%). During the bake the
// rollout is running: its Gate is GateRunning.

// Baking reports whether the rollout watches the service after its final
// promote, and how many bake judgements in a row have passed of how many.
func (r *Rollout) Baking() (baked, of int, ok bool) {
	if r.Position.Outcome != Running || !r.Position.Baking {
		return 0, 0, false
	}
	return r.Position.Baked, r.Plan.Bake, true
}

// bake applies a judgement made during the bake at pos, with b the
// service's error budget measured for it (nil when it was not). The
// judge's verdict, already in d, is reported (Decision.Reason), not
// acted on.
func (p Plan) bake(pos Position, d Decision, b *Budget) (Position, Decision) {
	d.Budget = b
	of := " of " + strconv.Itoa(p.Bake)
	if b.Allows() {
		pos.Baked++
		if pos.Baked >= p.Bake {
			pos.Outcome, pos.Baking = Succeeded, false
			d.Verdict, d.NextWeight, d.Final, d.Outcome = Promote, 100, true, Succeeded
			d.note = "bake passed (" + strconv.Itoa(pos.Baked) + of + " judgement(s) at 100%): " + b.Describe()
			return pos, d
		}
	}
	expired := p.MaxJudgements > 0 && pos.Judgements-pos.Waited >= p.MaxJudgements
	switch {
	case b != nil && b.Problem == "" && !b.Allows():
		d.note = "bake: " + b.Describe() + ": roll back after promotion (" + strconv.Itoa(pos.Baked) + of + " judgement(s) passed)"
		d.Verdict = Rollback
		return p.apply(pos, d, Rollback)
	case expired:
		passed := strconv.Itoa(pos.Baked)
		var lv Verdict
		var done bool
		pos, lv, done = p.lifetimeOutcome(pos, &d)
		d.note = LifetimeReached + string(d.Verdict) + " during the bake (" + passed + of + " judgement(s) passed), the " + b.Describe()
		if done {
			return pos, d
		}
		return p.apply(pos, d, lv)
	case b.Allows():
		d.Verdict, d.NextWeight = Promote, 100
		d.note = "baking at 100%: " + strconv.Itoa(pos.Baked) + of + " judgement(s) passed; " + b.Describe()
	default:
		pos.Baked = 0
		d.Verdict, d.NextWeight = Hold, 100
		d.note = "baking at 100%: " + b.Describe() + ": hold, the bake's count starts again"
	}
	return pos, d
}
