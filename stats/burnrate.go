package stats

import (
	"fmt"
	"math"
	"time"
)

// BurnRate returns how fast an error ratio spends the error budget of an
// SLO with the given objective (Google SRE Workbook, "Alerting on SLOs"):
//
//	burn = errorRatio / (1 - objective)
//
// At burn rate 1 the budget lasts exactly the SLO period; at 14.4 a 30-day
// budget is 2% spent in an hour. objective must lie in (0, 1), errorRatio be
// finite and >= 0 (a ratio slightly above 1, from counters scraped at
// different instants, is accepted). NaN and ±Inf ratios return errors
// wrapping ErrNaN and ErrInf.
func BurnRate(errorRatio, objective float64) (float64, error) {
	if err := checkObjective(objective); err != nil {
		return 0, err
	}
	if err := checkRatio("error ratio", errorRatio); err != nil {
		return 0, err
	}
	return errorRatio / (1 - objective), nil
}

func checkObjective(objective float64) error {
	if !(objective > 0 && objective < 1) {
		return fmt.Errorf("stats: SLO objective %v not in (0, 1)", objective)
	}
	return nil
}

func checkRatio(name string, r float64) error {
	switch {
	case math.IsNaN(r):
		return fmt.Errorf("stats: %s is %w", name, ErrNaN)
	case math.IsInf(r, 0):
		return fmt.Errorf("stats: %s is %w", name, ErrInf)
	case r < 0:
		return fmt.Errorf("stats: %s %v is negative", name, r)
	}
	return nil
}

// BurnWindow is one multi-window burn-rate rule: it fires when the burn
// rate exceeds Threshold over both the Long and the Short window. The short
// window (the workbook uses 1/12 of the long one) makes the rule stop firing
// soon after the errors stop.
type BurnWindow struct {
	Long, Short time.Duration
	Threshold   float64
}

// WorkbookWindows returns the SRE Workbook's multi-window, multi-burn-rate
// rules for a 30-day SLO:
//
//	threshold  long  short  budget spent when it fires
//	14.4       1h    5m     2%   (page)
//	6          6h    30m    5%   (page)
//	3          1d    2h     10%  (ticket)
//	1          3d    6h     10%  (ticket)
//
// It returns a new slice on each call.
func WorkbookWindows() []BurnWindow {
	return []BurnWindow{
		{Long: time.Hour, Short: 5 * time.Minute, Threshold: 14.4},
		{Long: 6 * time.Hour, Short: 30 * time.Minute, Threshold: 6},
		{Long: 24 * time.Hour, Short: 2 * time.Hour, Threshold: 3},
		{Long: 72 * time.Hour, Short: 6 * time.Hour, Threshold: 1},
	}
}

// ScaleWindows returns a copy of ws with every window multiplied by factor
// (rounded to the nanosecond, at least 1ns) and the thresholds unchanged.
// A canary lives minutes, not days: factor 1.0/60 turns the workbook's
// rules into 1m/5s, 6m/30s, 24m/2m and 72m/6m.
//
// A burn rate is a speed (budget per unit of time, relative to the SLO
// period), so a threshold keeps its meaning when the windows shrink: 14.4
// over one minute still means "at this pace the 30-day budget lasts about
// two days". What shrinks is the evidence: a short window holds few scrapes
// and fires on shorter bursts.
//
// ScaleWindows panics if factor is not positive and finite.
func ScaleWindows(ws []BurnWindow, factor float64) []BurnWindow {
	if !(factor > 0) || math.IsInf(factor, 1) {
		panic(fmt.Sprintf("stats: ScaleWindows factor %v is not positive and finite", factor))
	}
	scale := func(d time.Duration) time.Duration {
		return time.Duration(max(1, math.Round(float64(d)*factor)))
	}
	out := make([]BurnWindow, len(ws))
	for i, w := range ws {
		out[i] = BurnWindow{Long: scale(w.Long), Short: scale(w.Short), Threshold: w.Threshold}
	}
	return out
}

// BurnResult is the outcome of one rule of EvaluateBurn.
type BurnResult struct {
	Window BurnWindow
	// LongRate and ShortRate are the burn rates over the two windows.
	LongRate, ShortRate float64
	// Fired reports LongRate > Threshold and ShortRate > Threshold.
	Fired bool
}

// EvaluateBurn evaluates the rules ws over ratios, a series of error ratios
// evenly spaced by step, newest last. For each rule the ratio over a window
// W is the mean of the last ceil(W/step) points (all of them while the
// series is shorter: a canary judged early has less history than its long
// windows), and
//
//	LongRate  = mean(long window) / (1 - objective)
//	ShortRate = mean(short window) / (1 - objective)
//	Fired     = LongRate > Threshold && ShortRate > Threshold
//
// The rules are OR-ed: fired reports whether any fired. The results are
// appended to dst[:0] in the order of ws and returned, so a dst with room
// for len(ws) results makes EvaluateBurn allocation-free.
//
// The mean of per-step ratios weighs every step alike; steps of uneven
// traffic need ratios of summed counts, computed by the caller. Empty ratios
// return an error wrapping ErrEmpty, a NaN or ±Inf ratio one wrapping ErrNaN
// or ErrInf with its index; a non-positive step, an objective outside
// (0, 1), or a rule with non-positive windows, a short window longer than
// its long one, or a threshold that is not positive and finite return
// errors too.
func EvaluateBurn(dst []BurnResult, ratios []float64, step time.Duration, objective float64, ws []BurnWindow) ([]BurnResult, bool, error) {
	dst = dst[:0]
	if err := checkObjective(objective); err != nil {
		return dst, false, err
	}
	if step <= 0 {
		return dst, false, fmt.Errorf("stats: burn-rate step %v is not positive", step)
	}
	if len(ratios) == 0 {
		return dst, false, fmt.Errorf("stats: error ratios are %w", ErrEmpty)
	}
	for i, r := range ratios {
		if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
			return dst, false, checkRatio(fmt.Sprintf("ratios[%d]", i), r)
		}
	}
	for i, w := range ws {
		if w.Long <= 0 || w.Short <= 0 || w.Short > w.Long {
			return dst, false, fmt.Errorf("stats: burn-rate rule %d: windows %v/%v: want 0 < short <= long", i, w.Long, w.Short)
		}
		if !(w.Threshold > 0) || math.IsInf(w.Threshold, 1) {
			return dst, false, fmt.Errorf("stats: burn-rate rule %d: threshold %v is not positive and finite", i, w.Threshold)
		}
	}
	budget := 1 - objective
	fired := false
	for _, w := range ws {
		r := BurnResult{
			Window:    w,
			LongRate:  tailMean(ratios, w.Long, step) / budget,
			ShortRate: tailMean(ratios, w.Short, step) / budget,
		}
		r.Fired = r.LongRate > w.Threshold && r.ShortRate > w.Threshold
		fired = fired || r.Fired
		dst = append(dst, r)
	}
	return dst, fired, nil
}

// tailMean is the mean of the last ceil(window/step) values of x, or of all
// of them if there are fewer.
func tailMean(x []float64, window, step time.Duration) float64 {
	k := int64(window / step)
	if window%step != 0 {
		k++
	}
	if k < int64(len(x)) {
		x = x[int64(len(x))-k:]
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}
