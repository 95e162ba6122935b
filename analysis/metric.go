package analysis

import (
	"math"
	"time"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/stats"
)

// reasonCode says which sentence Explain writes for a metric.
type reasonCode uint8

const (
	whyNone reasonCode = iota
	whyFetchError
	whyNoData
	whyNaNPolicy
	whyLogScale
	whyFewSamples
	whyTested // the test ran: the classification tells the rest
	whyBurn
	whyThreshold
	whyWarmup // inside the template's warm-up: nothing judged
	whyCounts // the count test of a rate ran
	whyStale  // too few fresh points, or the newest sample too old
)

// judgeMetric runs one metric's test for one look and fills r. When the
// test yields a p-value, r.rawP is set and the final classification
// (r.rejectAs or r.otherwise) is chosen by Judge after Holm.
func (j *Judge) judgeMetric(mc *spec.Metric, ms *MetricState, in *Input, look int, alpha float64, r *MetricResult) {
	warnings := r.Warnings[:0]
	*r = MetricResult{
		Name:          mc.Name,
		Test:          mc.Test,
		Direction:     mc.Direction,
		AllowedChange: Float(mc.Margin()),
		Critical:      mc.IsCritical(),
		DryRun:        mc.DryRun,
		Weight:        Float(mc.WeightOrDefault()),
		PValue:        Float(math.NaN()),
		Alpha:         Float(alpha),
		Change:        Float(math.NaN()),
		ChangeCI:      [2]Float{Float(math.NaN()), Float(math.NaN())},
		HLShift:       Float(math.NaN()),
		CI:            [2]Float{Float(math.NaN()), Float(math.NaN())},
		RelShift:      Float(math.NaN()),
		RelCI:         [2]Float{Float(math.NaN()), Float(math.NaN())},
		NBaseline:     len(in.Baseline.Values),
		NCanary:       len(in.Canary.Values),
		BaselineQuery: in.Baseline.Query,
		CanaryQuery:   in.Canary.Query,
		Warnings:      append(append(warnings, in.Baseline.Warnings...), in.Canary.Warnings...),
		rawP:          math.NaN(),
		maxSampleAge:  time.Duration(j.t.MaxSampleAge),
	}
	r.TotalPairs = ms.Up.N
	if in.Err != nil {
		r.Classification, r.why, r.Err = Error, whyFetchError, in.Err.Error()
		return
	}
	if j.checkStale(in, r) {
		return
	}
	if !j.pair(mc, in, r) {
		return
	}
	// j.b and j.c now hold the latest interval's pairs.
	j.evidence(mc, r)

	switch mc.Test {
	case spec.TestBurnRate:
		j.burnRate(mc, r)
		return
	case spec.TestThreshold:
		j.threshold(mc, r)
		return
	}

	// Accumulate the paired differences of this interval; the first
	// interval with pairs is also kept apart (a state written before
	// FirstN, with pairs already, never gets one).
	first := ms.Up.N == 0 && len(j.c) > 0
	delta := mc.Margin()
	j.up, j.down, j.d = j.up[:0], j.down[:0], j.d[:0]
	positive := !ms.LogBroken
	for i, c := range j.c {
		b := j.b[i]
		j.up = append(j.up, c-(1+delta)*b)
		j.down = append(j.down, (1-delta)*b-c)
		if b <= 0 || c <= 0 {
			positive = false
		} else if positive {
			j.d = append(j.d, math.Log(c/b))
		}
		if b < 0 || c < 0 {
			ms.Signed = true
		}
		ms.SumC += c
		ms.SumB += b
	}
	ms.Up.AddBlock(j.up)
	ms.Down.AddBlock(j.down)
	ms.C.AddBlock(j.c)
	ms.B.AddBlock(j.b)
	if positive {
		ms.Log.AddBlock(j.d)
		if mc.ShapeTest() && mc.Direction != spec.DirectionEither {
			j.tailBlock(mc, ms)
		}
	} else {
		ms.LogBroken = true
	}
	r.TotalPairs = ms.Up.N
	if first {
		ms.FirstN, ms.FirstSumC, ms.FirstSumB = ms.Up.N, ms.SumC, ms.SumB
		if !ms.LogBroken {
			ms.FirstLog = ms.Log.Sum
		}
	}

	useLog := false
	switch mc.Scale {
	case spec.ScaleLog:
		if ms.LogBroken {
			r.Classification, r.why = Error, whyLogScale
			return
		}
		useLog = true
	case spec.ScaleAuto:
		useLog = !ms.LogBroken
	}

	if mc.Test == spec.TestMannWhitney {
		j.mannWhitney(mc, ms, look, r)
	} else {
		j.paired(mc, ms, look, useLog, alpha, r)
	}
	if r.TotalPairs < mc.MinSamples {
		// Too few points to trust a variance estimate either way.
		r.rawP, r.PValue = math.NaN(), Float(math.NaN())
		r.Classification, r.why = Inconclusive, whyFewSamples
	}
}

// pair pairs the baseline and canary points by timestamp into j.b and
// j.c, applying the NaN policy. It returns false when r is final.
func (j *Judge) pair(mc *spec.Metric, in *Input, r *MetricResult) bool {
	bs, cs := &in.Baseline, &in.Canary
	j.b, j.c = j.b[:0], j.c[:0]
	if len(bs.Values) == 0 || len(cs.Values) == 0 {
		r.Classification, r.why = NoData, whyNoData
		return false
	}
	bi, ci := 0, 0
	maxAge := time.Duration(j.t.MaxSampleAge)
	for bi < len(bs.Values) && ci < len(cs.Values) {
		// A point that only repeats an older sample is no measurement.
		if bs.Stale(bi, maxAge) {
			bi++
			r.Dropped++
			continue
		}
		if cs.Stale(ci, maxAge) {
			ci++
			r.Dropped++
			continue
		}
		var tb, tc int64
		if bi < len(bs.Times) {
			tb = bs.Times[bi]
		} else {
			tb = int64(bi)
		}
		if ci < len(cs.Times) {
			tc = cs.Times[ci]
		} else {
			tc = int64(ci)
		}
		switch {
		case tb < tc:
			bi++
			r.Dropped++
			continue
		case tc < tb:
			ci++
			r.Dropped++
			continue
		}
		b, c := bs.Values[bi], cs.Values[ci]
		bi++
		ci++
		if finite(b) && finite(c) {
			j.b = append(j.b, b)
			j.c = append(j.c, c)
			continue
		}
		switch mc.NaNPolicy {
		case spec.NaNFail:
			r.Classification, r.why = Error, whyNaNPolicy
			return false
		case spec.NaNZero:
			if math.IsNaN(b) {
				b = 0
			}
			if math.IsNaN(c) {
				c = 0
			}
			if finite(b) && finite(c) {
				j.b = append(j.b, b)
				j.c = append(j.c, c)
				continue
			}
		}
		r.Dropped++
	}
	r.Dropped += len(bs.Values) - bi + len(cs.Values) - ci
	r.NPairs = len(j.b)
	if r.NPairs == 0 {
		r.Classification, r.why = NoData, whyNoData
		return false
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// evidence computes the Hodges-Lehmann shift of the latest interval.
func (j *Judge) evidence(mc *spec.Metric, r *MetricResult) {
	res, err := j.ws.MannWhitney(j.c, j.b, stats.Options{Confidence: j.t.Confidence})
	if err != nil {
		return
	}
	r.HLShift = Float(res.Shift)
	r.CI = [2]Float{Float(res.Lower), Float(res.Upper)}
	med := res.BaselineMedian
	if med == 0 {
		return
	}
	s, lo, hi := stats.RelativeShift(res, med)
	r.RelShift, r.RelCI = Float(s), [2]Float{Float(lo), Float(hi)}
}

// cumulativeShare is the cumulative window's share of a look's level; the
// latest interval gets the rest.
const cumulativeShare = 0.75

// oneSided returns the upper-tail p-value of a mean m against threshold
// theta with standard error se, whose variance estimate has df degrees of
// freedom (Student's t: a short analysis knows its noise only roughly).
func oneSided(m, theta, se, df float64) float64 {
	switch {
	case math.IsNaN(m) || math.IsNaN(se):
		return math.NaN()
	case se == 0:
		if m > theta {
			return 0
		}
		return 1
	}
	return stats.StudentUpperTail((m-theta)/se, df)
}

// serialP tests the mean of s against theta on the cumulative window and,
// from the second look on, on the latest interval; it returns the
// Bonferroni-combined p-value, the window that gave it, and the cumulative
// mean and standard error.
func serialP(s *stats.Serial, theta float64, look int) (p float64, window string, mean, se, df float64) {
	fit := s.Fit()
	mean = s.Mean()
	se = fit.MeanSE(s.N)
	if vg, rg := s.GlobalAR1(); !math.IsNaN(vg) {
		if g := stats.MeanSE(vg, rg, s.N); g > se || math.IsNaN(se) {
			se = g
		}
	}
	df = fit.MeanDF(s.N)
	p, window = oneSided(mean, theta, se, df), "cumulative"
	if look > 1 && s.LastN > 0 {
		// Weighted Bonferroni: the cumulative window, the one with the
		// power for a steady regression, gets 3/4 of the level.
		pl := oneSided(s.LastMean, theta, fit.MeanSE(s.LastN), fit.MeanDF(s.LastN))
		p = math.Min(1, p/cumulativeShare)
		if pl = math.Min(1, pl/(1-cumulativeShare)); pl < p {
			p, window = pl, "latest"
		}
	}
	return p, window, mean, se, df
}

// paired runs the default test (see the package doc).
func (j *Judge) paired(mc *spec.Metric, ms *MetricState, look int, useLog bool, alpha float64, r *MetricResult) {
	delta := mc.Margin()
	r.why = whyTested
	// The interval is at the look's level with the cumulative test's
	// degrees of freedom, so that it excludes the margin exactly when the
	// cumulative test rejects.
	var pUp, pDown float64 = math.NaN(), math.NaN()
	var wUp, wDown string
	if useLog {
		var m, se, df float64
		if mc.Direction != spec.DirectionDecrease {
			pUp, wUp, m, se, df = serialP(&ms.Log, math.Log1p(delta), look)
		}
		if mc.Direction != spec.DirectionIncrease {
			// H0: E[d] ≥ log(1−δ); flip signs to use the upper tail.
			neg := ms.Log
			neg.Sum, neg.LastMean, neg.First, neg.Last = -neg.Sum, -neg.LastMean, -neg.First, -neg.Last
			pDown, wDown, m, se, df = serialP(&neg, -math.Log1p(-delta), look)
			m = -m
		}
		if ms.Tail.N > 0 && !ms.LogBroken {
			pUp, wUp, pDown, wDown = j.tail(mc, ms, r, pUp, wUp, pDown, wDown)
		}
		z := j.ciQuantile(alpha, df)
		r.Change = Float(math.Expm1(m))
		r.ChangeCI = [2]Float{Float(math.Expm1(m - z*se)), Float(math.Expm1(m + z*se))}
	} else if !ms.Signed && ms.C.N == ms.Up.N {
		// Non-negative values on the linear scale: rates and counts.
		j.counts(mc, ms, look, alpha, r)
		return
	} else {
		var se, df float64
		if mc.Direction != spec.DirectionDecrease {
			pUp, wUp, _, se, df = serialP(&ms.Up, 0, look)
		}
		if mc.Direction != spec.DirectionIncrease {
			pDown, wDown, _, se, df = serialP(&ms.Down, 0, look)
		}
		z := j.ciQuantile(alpha, df)
		switch {
		case ms.SumB > 0:
			nb := float64(ms.Up.N)
			ratio := ms.SumC / ms.SumB
			half := z * se / (ms.SumB / nb)
			r.Change = Float(ratio - 1)
			r.ChangeCI = [2]Float{Float(ratio - 1 - half), Float(ratio - 1 + half)}
		case ms.SumB == 0 && ms.SumC == 0:
			// Nothing on either side (no errors at all): no change.
			r.Change, r.ChangeCI = 0, [2]Float{0, 0}
		case ms.SumB == 0 && ms.SumC > 0:
			r.Change = Float(math.Inf(1))
		}
	}
	j.decide(mc, r, pUp, wUp, pDown, wDown)
	// Pass needs the estimate within the margin: the settled one, when
	// there is one.
	est := float64(r.Change)
	if s, ok := j.settled(mc, ms, useLog); ok {
		est, r.settled, r.settledRan = s, s, true
	}
	if r.otherwise == Pass && !withinMargin(mc, est) {
		r.otherwise = Inconclusive
	}
}

// settled returns the change the pass rule holds within the margin in
// place of the cumulative estimate, and whether there is one. A canary's
// first interval may hold its cold start (caches, connection pools, JIT),
// which biases the cumulative estimate long after it ended. So, without
// the template's warmup, from the second look on, when the first
// interval's mean of the tested series x (log(c/b), or c − (1+δ)b on the
// linear scale; (1−δ)b − c for "decrease") is worse than the mean of the
// rest at the template's level α,
//
//	t = (x̄₁ − x̄₂) / sqrt(SE(n₁)² + SE(n₂)²)   (the serial's AR(1) fit; two-sided for "either")
//
// the pass rule judges the change after the first interval,
//
//	exp((Σ log(c/b) − S₁) / (n − n₁)) − 1   (log scale)
//	(ΣC − C₁) / (ΣB − B₁) − 1              (linear scale)
//
// with S₁, C₁, B₁ and n₁ the first interval's (MetricState.FirstN ...).
// The tests that roll back still judge the start. A canary whose start
// is not distinguishable from the rest (at most α of stationary canaries)
// keeps the cumulative estimate, with its smaller noise; a template with
// a warmup has already set its start aside, and a state written before
// the first interval was kept apart has none.
func (j *Judge) settled(mc *spec.Metric, ms *MetricState, useLog bool) (float64, bool) {
	if j.t.Warmup > 0 || ms.FirstN == 0 || ms.Up.N <= ms.FirstN {
		return 0, false
	}
	delta := mc.Margin()
	s, first, sign := &ms.Log, ms.FirstLog, 1.0
	switch {
	case !useLog && mc.Direction == spec.DirectionDecrease:
		s, first = &ms.Down, (1-delta)*ms.FirstSumB-ms.FirstSumC
	case !useLog:
		s, first = &ms.Up, ms.FirstSumC-(1+delta)*ms.FirstSumB
	case mc.Direction == spec.DirectionDecrease:
		sign = -1
	}
	if s.N <= ms.FirstN {
		return 0, false
	}
	d := sign * (first/float64(ms.FirstN) - (s.Sum-first)/float64(s.N-ms.FirstN))
	fit := s.Fit()
	se := math.Hypot(fit.MeanSE(ms.FirstN), fit.MeanSE(s.N-ms.FirstN))
	df := fit.MeanDF(s.N)
	p := oneSided(d, 0, se, df)
	if mc.Direction == spec.DirectionEither {
		p = 2 * oneSided(math.Abs(d), 0, se, df)
	}
	if !(p <= j.t.Alpha()) {
		return 0, false
	}
	if useLog {
		return math.Expm1((ms.Log.Sum - ms.FirstLog) / float64(ms.Log.N-ms.FirstN)), true
	}
	if b := ms.SumB - ms.FirstSumB; b > 0 {
		return (ms.SumC-ms.FirstSumC)/b - 1, true
	}
	return 0, false
}

// ciQuantile returns the Student quantile of the intervals the paired test
// reports: at the look's level split over the template's metrics.
func (j *Judge) ciQuantile(alpha, df float64) float64 {
	return stats.StudentQuantile(1-alpha/float64(max(1, len(j.t.Metrics))), df)
}

// tailQuantile is the pooled quantile above which the tail test counts
// points (the top tenth of the bad direction), and 1 − tailQuantile the
// one below which it counts the other tail.
const tailQuantile = 0.9

// tailShare is the tail test's share of a metric's level (weighted
// Bonferroni with the location test, which keeps the rest).
const tailShare = 0.2

// tailBlock adds the latest interval's signs to the tail test's serials.
// With s = +1 for "increase" (−1 for "decrease", which mirrors
// everything), the baseline's u_b = s·log b and the canary's
// u_c = s·(log c − log(1±δ)), discounted by the margin, are pooled and τ
// is their tailQuantile quantile; each pair gives Tail
//
//	t_i = [u_c,i > τ] − [u_b,i > τ]
//
// Swapping a pair's two values leaves the pooled set, and so τ, as it is:
// when the canary discounted by the margin and the baseline are
// exchangeable, +1 and −1 are equally likely, and a canary whose tail is
// within the margin gives fewer +1. TailLow gets the same for the other
// tail of the undiscounted values (v = s·log, τ' their 1 − tailQuantile
// quantile, [v_c,i < τ'] − [v_b,i < τ']): a canary that spreads both ways
// (a noisier series, as a canary with a small share of the traffic has)
// has more points in both tails, one whose bad tail split off (a fifth of
// its points doubled) has fewer in the other.
func (j *Judge) tailBlock(mc *spec.Metric, ms *MetricState) {
	sign, shift := 1.0, math.Log1p(mc.Margin())
	if mc.Direction == spec.DirectionDecrease {
		sign, shift = -1, math.Log1p(-mc.Margin())
	}
	// j.d holds log(c/b): log c = log b + j.d[i], one logarithm a pair.
	// j.down holds the pooled values pair by pair (baseline, canary).
	n := len(j.c)
	j.down = j.down[:0]
	for i := range n {
		lb := math.Log(j.b[i])
		j.down = append(j.down, sign*lb, sign*(lb+j.d[i]-shift))
	}
	hi := j.ws.OrderStatistic(j.down, int(math.Ceil(tailQuantile*float64(2*n)))-1)
	j.up = j.up[:0]
	for i := range n {
		var t float64
		if j.down[2*i+1] > hi {
			t++
		}
		if j.down[2*i] > hi {
			t--
		}
		j.up = append(j.up, t)
	}
	ms.Tail.AddBlock(j.up)
	for i := range n { // the canary undiscounted
		j.down[2*i+1] += sign * shift
	}
	lo := j.ws.OrderStatistic(j.down, int(math.Floor((1-tailQuantile)*float64(2*n))))
	j.up = j.up[:0]
	for i := range n {
		var t float64
		if j.down[2*i+1] < lo {
			t++
		}
		if j.down[2*i] < lo {
			t--
		}
		j.up = append(j.up, t)
	}
	ms.TailLow.AddBlock(j.up)
}

// tail runs the tail test: the exact conditional binomial test at ½ of
// Tail's +1 against its −1 (tailBlock), their counts divided by
// (1+ρ)/(1−ρ) for the signs' lag-1 autocorrelation ρ (quasi-binomial),
// on the cumulative window. It stands aside (p = 1) while the canary has
// at least as many points as the baseline alone in the other tail
// (TailLow), a spread rather than a shift; standing aside only lowers the
// rate of rejections, so the level is kept. The p-value is combined with
// the location test's of the bad direction by weighted Bonferroni
// (tailShare); it returns the p-values and windows.
func (j *Judge) tail(mc *spec.Metric, ms *MetricState, r *MetricResult, pUp float64, wUp string, pDown float64, wDown string) (float64, string, float64, string) {
	t, low := &ms.Tail, &ms.TailLow
	plus, minus := (t.SumSq+t.Sum)/2, (t.SumSq-t.Sum)/2
	r.tailRan = true
	r.tailC, r.tailB = plus, minus
	r.tailLowC, r.tailLowB = (low.SumSq+low.Sum)/2, (low.SumSq-low.Sum)/2
	p := 1.0
	if plus > 0 && low.Sum < 0 {
		_, rho := t.PooledAR1()
		phi := stats.AR1Inflation(rho)
		p = stats.RateRatioUpperP(plus/phi, minus/phi, 1, 1, 1)
	}
	combine := func(loc float64, w string) (float64, string) {
		loc = math.Min(1, loc/(1-tailShare))
		if pt := math.Min(1, p/tailShare); pt < loc || math.IsNaN(loc) {
			return pt, "tail"
		}
		return loc, w
	}
	if mc.Direction == spec.DirectionDecrease {
		pDown, wDown = combine(pDown, wDown)
	} else {
		pUp, wUp = combine(pUp, wUp)
	}
	return pUp, wUp, pDown, wDown
}

// decide combines the one-sided p-values of the two directions.
func (j *Judge) decide(mc *spec.Metric, r *MetricResult, pUp float64, wUp string, pDown float64, wDown string) {
	r.otherwise = Pass
	switch mc.Direction {
	case spec.DirectionIncrease:
		r.rawP, r.Window, r.rejectAs = pUp, wUp, High
	case spec.DirectionDecrease:
		r.rawP, r.Window, r.rejectAs = pDown, wDown, Low
	default:
		if pUp <= pDown || math.IsNaN(pDown) {
			r.rawP, r.Window, r.rejectAs = pUp, wUp, High
		} else {
			r.rawP, r.Window, r.rejectAs = pDown, wDown, Low
		}
		r.rawP = math.Min(1, 2*r.rawP)
	}
	r.PValue = Float(r.rawP)
	if math.IsNaN(r.rawP) {
		r.Classification = Inconclusive
		r.why = whyFewSamples
	}
}

// counts runs the count test of a rate (see the package doc): the canary's
// and the baseline's values as quasi-Poisson counts, compared with the
// exact conditional rate test against the margin on the cumulative window
// and the latest interval.
func (j *Judge) counts(mc *spec.Metric, ms *MetricState, look int, alpha float64, r *MetricResult) {
	delta := mc.Margin()
	r.why = whyCounts
	phiC, phiB := stats.QuasiPoissonScale(&ms.C), stats.QuasiPoissonScale(&ms.B)
	switch {
	case math.IsNaN(phiC) && math.IsNaN(phiB):
		// No events on either side: nothing to tell them apart.
		r.Change, r.ChangeCI = 0, [2]Float{0, 0}
		r.countC, r.countB = 0, 0
		j.decide(mc, r, 1, "cumulative", 1, "cumulative")
		return
	case math.IsNaN(phiC):
		phiC = phiB // no canary events: take the baseline's resolution
	case math.IsNaN(phiB):
		phiB = phiC
	}
	// Events counted by overlapping windows (rate over 1m every 10 s) are
	// autocorrelated; the baseline's autocorrelation, not the canary's
	// (which a burst raises), says by how much, once the baseline has
	// events enough to estimate it (minCorrEvents); until then the larger
	// of the two.
	_, rho := ms.B.PooledAR1()
	if ms.B.Sum/phiB < minCorrEvents {
		_, rc := ms.C.PooledAR1()
		rho = math.Max(rho, rc)
	}
	phiC *= stats.AR1Inflation(rho)
	phiB *= stats.AR1Inflation(rho)
	counts := func(sc, sb float64, n int) (kc, kb, ec, eb float64) {
		return sc / phiC, sb / phiB, float64(n) / phiC, float64(n) / phiB
	}
	kc, kb, ec, eb := counts(ms.C.Sum, ms.B.Sum, ms.C.N)
	var lkc, lkb, lec, leb float64
	latest := look > 1 && ms.C.LastN > 0
	if latest {
		n := ms.C.LastN
		lkc, lkb, lec, leb = counts(ms.C.LastMean*float64(n), ms.B.LastMean*float64(n), n)
	}
	test := func(p func(kc, kb, ec, eb, ratio float64) float64, ratio float64) (pc, pw float64, w string) {
		pc = p(kc, kb, ec, eb, ratio)
		pw, w = math.Min(1, pc/countShares[0]), "cumulative"
		if latest {
			if pl := math.Min(1, p(lkc, lkb, lec, leb, ratio)/countShares[1]); pl < pw {
				pw, w = pl, "latest"
			}
		}
		return pc, pw, w
	}
	pUp, pDown := math.NaN(), math.NaN()
	var wUp, wDown string
	within := true
	if mc.Direction != spec.DirectionDecrease {
		var pc float64
		pc, pUp, wUp = test(stats.RateRatioUpperP, 1+delta)
		within = within && pc >= 0.5
		// A burst inflates the canary's own variance, and with it its
		// scale: the scan takes the smaller of that and the median of the
		// latest interval's positive values (one event's worth when events
		// are sparse, more when they are not: never below the scale).
		infl := stats.AR1Inflation(rho)
		if m := j.medianPositive(j.c) * infl; m < phiC {
			phiC = m
		}
		if m := j.medianPositive(j.b) * infl; m < phiB {
			phiB = m
		}
		if pb := j.burst(phiC, phiB, 1+delta, r); pb/countShares[2] < pUp {
			pUp, wUp = pb/countShares[2], "burst"
		}
	}
	if mc.Direction != spec.DirectionIncrease {
		var pc float64
		pc, pDown, wDown = test(stats.RateRatioLowerP, 1-delta)
		within = within && pc >= 0.5
	}
	r.countC, r.countB = kc, kb
	lo, hi := stats.RateRatioCI(kc, kb, ec, eb, alpha/float64(max(1, len(j.t.Metrics))))
	r.ChangeCI = [2]Float{Float(lo - 1), Float(hi - 1)}
	switch {
	case ms.SumB > 0:
		r.Change = Float(ms.SumC/ms.SumB - 1)
	case ms.SumC > 0:
		r.Change = Float(math.Inf(1))
	default:
		r.Change = 0
	}
	j.decide(mc, r, pUp, wUp, pDown, wDown)
	// Pass needs the exact test not to place the canary beyond the margin
	// (p at least ½ against it), rather than the ratio of two small
	// counts within it: one stray error against none is not a regression.
	if r.otherwise == Pass && !within {
		r.otherwise = Inconclusive
	}
}

// medianPositive returns the median of the positive values of x (+Inf
// when there are none).
func (j *Judge) medianPositive(x []float64) float64 {
	j.d = j.d[:0]
	for _, v := range x {
		if v > 0 {
			j.d = append(j.d, v)
		}
	}
	m, err := j.ws.Median(j.d)
	if err != nil {
		return math.Inf(1)
	}
	return m
}

// minCorrEvents is the least number of baseline events whose
// autocorrelation the count test trusts alone: the lag-1 correlation of
// fewer is not known to better than about ±0.2 (1/sqrt(20)).
const minCorrEvents = 20

// countShares are the shares of a look's level the count test gives its
// windows (weighted Bonferroni): the cumulative window, the latest
// interval, and the burst scan of the latest interval.
var countShares = [3]float64{0.6, 0.2, 0.2}

// burst scans the latest interval (j.c, j.b) for a short window in which
// the canary's events exceed the baseline's beyond the margin: for each
// window length w in n/10, n/5 and n/2 points (at least 2) and each start,
// the exact rate test of the window's counts (the quasi-Poisson scales
// phiC and phiB). It returns the smallest p-value times the number of
// windows tried (Bonferroni; 1 when none is tried) and records the window
// in r.
func (j *Judge) burst(phiC, phiB, ratio float64, r *MetricResult) float64 {
	n := len(j.c)
	best, tried := 1.0, 0
	prev := 0
	for _, div := range [3]int{10, 5, 2} {
		w := max(2, n/div)
		if w == prev || w > n {
			continue
		}
		prev = w
		var sc, sb float64
		for i := 0; i < n; i++ {
			sc += j.c[i]
			sb += j.b[i]
			if i >= w {
				sc -= j.c[i-w]
				sb -= j.b[i-w]
			}
			if i < w-1 {
				continue
			}
			tried++
			kc, kb := sc/phiC, sb/phiB
			ec, eb := float64(w)/phiC, float64(w)/phiB
			// Only windows where the canary is ahead of the margin can
			// reject; the exact test is computed for those alone.
			if kc <= 0 || kc*eb <= ratio*ec*kb {
				continue
			}
			if p := stats.RateRatioUpperP(kc, kb, ec, eb, ratio); p < best {
				best = p
				r.burstAt, r.burstLen, r.burstC, r.burstB = i-w+1, w, kc, kb
			}
		}
	}
	if tried == 0 {
		return 1
	}
	return math.Min(1, best*float64(tried))
}

func withinMargin(mc *spec.Metric, change float64) bool {
	if math.IsNaN(change) {
		return false
	}
	d := mc.Margin()
	switch mc.Direction {
	case spec.DirectionIncrease:
		return change <= d
	case spec.DirectionDecrease:
		return change >= -d
	}
	return change <= d && change >= -d
}

// mannWhitney runs the block-mean Mann-Whitney test against the margin.
func (j *Judge) mannWhitney(mc *spec.Metric, ms *MetricState, look int, r *MetricResult) {
	for i := 0; i+mwBlock <= len(j.c); i += mwBlock {
		ms.BlocksC = append(ms.BlocksC, mean(j.c[i:i+mwBlock]))
		ms.BlocksB = append(ms.BlocksB, mean(j.b[i:i+mwBlock]))
	}
	r.why = whyTested
	delta := mc.Margin()
	pUp, pDown := math.NaN(), math.NaN()
	test := func(scale float64, alt stats.Alternative) float64 {
		j.d = j.d[:0]
		for _, v := range ms.BlocksC {
			j.d = append(j.d, v/scale)
		}
		res, err := j.ws.MannWhitney(j.d, ms.BlocksB, stats.Options{Alternative: alt})
		if err != nil {
			return math.NaN()
		}
		return res.PValue
	}
	if len(ms.BlocksC) >= 2 {
		if mc.Direction != spec.DirectionDecrease {
			pUp = test(1+delta, stats.Greater)
		}
		if mc.Direction != spec.DirectionIncrease {
			pDown = test(1-delta, stats.Less)
		}
	}
	if ms.SumB != 0 {
		r.Change = Float(ms.SumC/ms.SumB - 1)
	}
	j.decide(mc, r, pUp, "cumulative", pDown, "cumulative")
	if r.otherwise == Pass && !withinMargin(mc, float64(r.Change)) {
		r.otherwise = Inconclusive
	}
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// burnRate judges the canary's own SLO burn rate over the latest interval.
func (j *Judge) burnRate(mc *spec.Metric, r *MetricResult) {
	br := mc.BurnRate
	if cap(j.burnResults) < len(br.Windows) {
		j.burnResults = make([]stats.BurnResult, len(br.Windows))
	}
	ws := j.burnWindows(br)
	res, fired, err := stats.EvaluateBurn(j.burnResults[:0], j.c, j.t.QueryStep(), br.Objective, ws)
	j.burnResults = res
	r.why = whyBurn
	if err != nil {
		r.Classification, r.why, r.Err = Error, whyBurn, err.Error()
		return
	}
	r.Change = Float(mean(j.c) / (1 - br.Objective)) // the interval's burn rate
	switch {
	case fired:
		r.Classification = High
	case r.NPairs < mc.MinSamples:
		r.Classification, r.why = Inconclusive, whyFewSamples
	default:
		r.Classification = Pass
	}
}

func (j *Judge) burnWindows(br *spec.BurnRate) []stats.BurnWindow {
	// Converted on every call: small, and the config owns the durations.
	ws := make([]stats.BurnWindow, len(br.Windows))
	for i, w := range br.Windows {
		ws[i] = stats.BurnWindow{Long: time.Duration(w.Long), Short: time.Duration(w.Short), Threshold: w.Threshold}
	}
	return ws
}

// threshold judges the canary's mean over the latest interval against
// fixed bounds.
func (j *Judge) threshold(mc *spec.Metric, r *MetricResult) {
	m := mean(j.c)
	r.Change = Float(m)
	r.why = whyThreshold
	switch th := mc.Threshold; {
	case th.Max != nil && m > *th.Max:
		r.Classification = High
	case th.Min != nil && m < *th.Min:
		r.Classification = Low
	case r.NPairs < mc.MinSamples:
		r.Classification, r.why = Inconclusive, whyFewSamples
	default:
		r.Classification = Pass
	}
}
