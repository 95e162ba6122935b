package rollout

import (
	"strconv"
	"strings"
)

// BudgetGate is a plan's error-budget gate (a template's slo): every
// promotion (a step passed: the weight raised, an approval wait entered,
// or the final promote) needs the service's error budget measured and
// neither spent nor burning fast. A promotion the budget refuses holds,
// or rolls back when OnExhausted says so; a budget that could not be
// measured always holds. The held promotion counts as a hold: the step
// needs its promotes again, and the lifetime goes on.
type BudgetGate struct {
	// OnExhausted is "hold" or "rollback".
	OnExhausted string
}

// Budget is a service's error budget as measured before a promotion
// (package analysis measures it), the evidence of the verdict it gates.
// The figures are set only when Problem is empty.
type Budget struct {
	// Objective is the SLO's target and Window its period (a PromQL
	// duration, "30d").
	Objective float64 `json:"objective"`
	Window    string  `json:"window"`
	// ErrorRatio is the service's error ratio over Window, and Remaining
	// the fraction of the budget left:
	//
	//	Remaining = 1 − ErrorRatio / (1 − Objective)
	//
	// 0 or less: the budget is spent.
	ErrorRatio float64 `json:"error_ratio"`
	Remaining  float64 `json:"remaining"`
	// Burns are the multi-window burn-rate rules, in the SLO's order.
	Burns []Burn `json:"burn_rates,omitempty"`
	// Problem says why the budget could not be measured (a query failed
	// or returned nothing): the promotion holds.
	Problem string `json:"problem,omitempty"`
}

// Burn is one multi-window burn-rate rule as measured: it fires when both
// rates exceed Threshold (stats.EvaluateBurn's rule).
type Burn struct {
	Long      string  `json:"long"`
	Short     string  `json:"short"`
	Threshold float64 `json:"threshold"`
	LongRate  float64 `json:"long_rate"`
	ShortRate float64 `json:"short_rate"`
	Fired     bool    `json:"fired"`
}

// Exhausted reports whether the budget was measured spent.
func (b *Budget) Exhausted() bool { return b.Problem == "" && b.Remaining <= 0 }

// FastBurn reports whether a burn-rate rule fired.
func (b *Budget) FastBurn() bool {
	for _, r := range b.Burns {
		if r.Fired {
			return true
		}
	}
	return false
}

// Allows reports whether the budget lets a promotion through: measured,
// not spent, no rule firing. A nil budget (not measured) allows nothing.
func (b *Budget) Allows() bool {
	return b != nil && b.Problem == "" && !b.Exhausted() && !b.FastBurn()
}

// Describe says what the budget is, in a sentence for a reason: "error
// budget spent: -20% of the 30d budget left (objective 0.999, error ratio
// 0.0012); burn rates 1h/5m 1.2/1.1 (threshold 14.4), 6h/30m 1.2/1.2
// (threshold 6)".
func (b *Budget) Describe() string {
	if b == nil {
		return "error budget not measured"
	}
	if b.Problem != "" {
		return "error budget not measured: " + b.Problem
	}
	var sb strings.Builder
	switch {
	case b.Exhausted():
		sb.WriteString("error budget spent: ")
	case b.FastBurn():
		sb.WriteString("error budget burning fast: ")
	default:
		sb.WriteString("error budget: ")
	}
	sb.WriteString(pct(b.Remaining) + " of the " + b.Window + " budget left (objective " + num(b.Objective) +
		", error ratio " + num(b.ErrorRatio) + ")")
	for i, r := range b.Burns {
		if i == 0 {
			sb.WriteString("; burn rates ")
		} else {
			sb.WriteString(", ")
		}
		sb.WriteString(r.Long + "/" + r.Short + " " + num(r.LongRate) + "/" + num(r.ShortRate) + " (threshold " + num(r.Threshold))
		if r.Fired {
			sb.WriteString(", fired")
		}
		sb.WriteString(")")
	}
	return sb.String()
}

func num(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }

// NeedsBudget reports whether verdict v, judged next, would promote (pass
// the step or end the rollout in success) under a plan with an
// error-budget gate, or is a judgement of the bake (any verdict): the
// judgement for which the budget must be measured and given to
// JudgedBudget.
func (r *Rollout) NeedsBudget(v Verdict) bool {
	p, pos := r.Plan, r.Position
	if p.Budget != nil && pos.Outcome == Running && pos.Baking {
		return true // every bake judgement is a check of the budget
	}
	if p.Budget == nil || pos.Outcome != Running || pos.Awaiting || v != Promote || pos.Promotes+1 < max(p.JudgementsPerStep, 1) {
		return false
	}
	expired := p.MaxJudgements > 0 && pos.Judgements+1-pos.Waited >= p.MaxJudgements
	return !expired || pos.Step == len(p.Steps)-1
}

// budgetRefuses applies the budget gate at pos, where a promote would
// pass the step: it reports whether b refuses the promotion and, if so,
// the verdict to apply instead, with the decision's note set.
func (p Plan) budgetRefuses(pos Position, d *Decision, b *Budget) (Verdict, bool) {
	if p.Budget == nil {
		return Promote, false
	}
	d.Budget = b
	if b.Allows() {
		return Promote, false
	}
	what := "promotion to 100%"
	if pos.Step < len(p.Steps)-1 {
		what = "step " + strconv.Itoa(pos.Step+2) + " (weight " + strconv.FormatFloat(p.Steps[pos.Step+1], 'g', -1, 64) + "%)"
	}
	if p.Budget.OnExhausted == "rollback" && b != nil && b.Problem == "" {
		d.note = b.Describe() + ": roll back before " + what
		return Rollback, true
	}
	d.note = b.Describe() + ": hold before " + what
	return Hold, true
}
