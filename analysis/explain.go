package analysis

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/canaryd/canaryd/configs/spec"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout"
)

// Explain writes the reasons of a judgement: one sentence per metric and
// the verdict's reason naming the metrics that decided. Judge leaves them
// empty so that judging allocates nothing; call Explain before showing or
// publishing a judgement.
func (j *Judge) Explain(out *Judgement) {
	for i := range out.Metrics {
		out.Metrics[i].Reason = explainMetric(&j.t.Metrics[i], &out.Metrics[i])
	}
	out.Reason = j.explainVerdict(out)
}

func pct(v Float) string {
	f := float64(v)
	if math.IsNaN(f) {
		return "n/a"
	}
	if math.IsInf(f, 0) {
		return fmt.Sprintf("%s∞", map[bool]string{true: "+", false: "−"}[f > 0])
	}
	return fmt.Sprintf("%+.1f%%", 100*f)
}

// confidence names the two-sided level whose interval excludes the
// margin exactly when a one-sided test at level alpha rejects.
func confidence(alpha float64) string {
	c := 100 * (1 - 2*alpha)
	switch {
	case math.IsNaN(c):
		return "n/a"
	case c >= 99.99:
		return ">99.99%"
	case c >= 99:
		return fmt.Sprintf("%.2f%%", c)
	}
	return fmt.Sprintf("%.1f%%", c)
}

func pval(v Float) string {
	f := float64(v)
	if math.IsNaN(f) {
		return "n/a"
	}
	if f < 1e-4 {
		return fmt.Sprintf("%.1e", f)
	}
	return fmt.Sprintf("%.4f", f)
}

func explainMetric(mc *spec.Metric, r *MetricResult) string {
	prefix := ""
	if r.DryRun {
		prefix = "dry run: "
	}
	margin := fmt.Sprintf("%.1f%%", 100*float64(r.AllowedChange))
	switch r.why {
	case whyFetchError:
		return prefix + "query failed: " + r.Err
	case whyNoData:
		if sides, query := noSeries(r); sides != "" {
			return prefix + "no data for the " + sides + ": the query matched no series" + queryNote(query)
		}
		return prefix + "no data: the queries returned no usable points for baseline and canary at the same timestamps"
	case whyNaNPolicy:
		return prefix + "NaN or infinite points and nan_policy is fail"
	case whyLogScale:
		return prefix + "scale is log but a value is zero or negative"
	case whyStale:
		return prefix + explainStale(r)
	case whyWarmup:
		return prefix + "warming up: nothing is judged inside the template's warmup"
	case whyFewSamples:
		return fmt.Sprintf("%snot enough data yet: %d paired points, %d needed", prefix, r.TotalPairs, mc.MinSamples)
	case whyBurn:
		if r.Err != "" {
			return prefix + "burn rate: " + r.Err
		}
		if r.Classification == High {
			return fmt.Sprintf("%scanary burns its error budget too fast: burn rate %.2f over the interval (SLO %.4g)", prefix, float64(r.Change), mc.BurnRate.Objective)
		}
		return fmt.Sprintf("%sburn rate %.2f within every rule (SLO %.4g)", prefix, float64(r.Change), mc.BurnRate.Objective)
	case whyThreshold:
		switch r.Classification {
		case High:
			return fmt.Sprintf("%scanary mean %.4g above the maximum %.4g", prefix, float64(r.Change), *mc.Threshold.Max)
		case Low:
			return fmt.Sprintf("%scanary mean %.4g below the minimum %.4g", prefix, float64(r.Change), *mc.Threshold.Min)
		}
		return fmt.Sprintf("%scanary mean %.4g within its bounds", prefix, float64(r.Change))
	}
	est := fmt.Sprintf("canary %s vs baseline (%s CI %s to %s) over %d paired points",
		pct(r.Change), confidence(float64(r.Alpha)), pct(r.ChangeCI[0]), pct(r.ChangeCI[1]), r.TotalPairs)
	if r.settledRan {
		est += fmt.Sprintf(", %s after its first interval (the pass rule sets aside a start worse than the rest)", pct(Float(r.settled)))
	}
	if r.why == whyCounts {
		est += fmt.Sprintf(", tested as counts: %.3g canary events against %.3g baseline (exact rate test)", r.countC, r.countB)
	}
	if r.tailRan {
		est += fmt.Sprintf(", tail test: %.0f canary against %.0f baseline points alone in the pooled top tenth beyond the margin, %.0f against %.0f in the other tail", r.tailC, r.tailB, r.tailLowC, r.tailLowB)
		if r.tailLowC >= r.tailLowB {
			est += " (set aside: the canary spreads both ways)"
		}
	}
	if r.Window == "tail" && r.Classification.Failed() {
		return fmt.Sprintf("%sregression: the canary's tail is beyond the allowed %s: %.0f of its points against %.0f of the baseline's lie alone in the pooled top tenth once the canary is discounted by the margin, and its other tail is not spread (%.0f against %.0f); p = %s (sign test, autocorrelation-adjusted), level %s; over the analysis canary %s vs baseline over %d paired points",
			prefix, margin, r.tailC, r.tailB, r.tailLowC, r.tailLowB, pval(r.PValue), pval(r.Alpha), pct(r.Change), r.TotalPairs)
	}
	if r.Window == "burst" && r.Classification.Failed() {
		return fmt.Sprintf("%sregression: burst of %.3g canary events against %.3g baseline in %d points (from point %d of the latest interval), beyond the allowed %s; p = %s with every window scanned counted, level %s; over the analysis %s",
			prefix, r.burstC, r.burstB, r.burstLen, r.burstAt+1, margin, pval(r.PValue), pval(r.Alpha), est)
	}
	switch r.Classification {
	case High, Low:
		dir := "higher"
		if r.Classification == Low {
			dir = "lower"
		}
		return fmt.Sprintf("%sregression: %s is %s than the allowed %s; p = %s against the margin (%s window), level %s",
			prefix, est, dir, margin, pval(r.PValue), r.Window, pval(r.Alpha))
	case Inconclusive:
		return fmt.Sprintf("%sinconclusive: %s, beyond the allowed %s but not confirmed (p = %s, level %s)",
			prefix, est, margin, pval(r.PValue), pval(r.Alpha))
	}
	return fmt.Sprintf("%swithin the allowed %s: %s; p = %s", prefix, margin, est, pval(r.PValue))
}

// noSeries says which roles' queries returned no series at all, and the
// query to show for them (the canary's when it is one of them).
func noSeries(r *MetricResult) (sides, query string) {
	switch {
	case r.NBaseline == 0 && r.NCanary == 0:
		return "baseline and canary", r.CanaryQuery
	case r.NBaseline == 0:
		return "baseline", r.BaselineQuery
	case r.NCanary == 0:
		return "canary", r.CanaryQuery
	}
	return "", ""
}

func queryNote(query string) string {
	if query == "" {
		return ""
	}
	return " (query: " + query + ")"
}

func (j *Judge) explainVerdict(out *Judgement) string {
	var failed, critical, waiting, noData []string
	for i := range out.Metrics {
		r := &out.Metrics[i]
		if r.DryRun {
			continue
		}
		switch {
		case r.Classification.Failed():
			s := fmt.Sprintf("%s %s", r.Name, pct(r.Change))
			failed = append(failed, s)
			if r.Critical {
				critical = append(critical, s)
			}
		case r.why == whyNoData:
			if sides, query := noSeries(r); sides != "" {
				noData = append(noData, fmt.Sprintf("no data for %s (%s): the query matched no series%s", r.Name, sides, queryNote(query)))
			} else {
				noData = append(noData, fmt.Sprintf("no data for %s: no usable points at the same timestamps", r.Name))
			}
		case r.Classification != Pass:
			waiting = append(waiting, fmt.Sprintf("%s (%s)", r.Name, r.Classification))
		}
	}
	if len(out.Metrics) > 0 && out.Metrics[0].why == whyWarmup {
		return fmt.Sprintf("hold: warming up, judgement %d of the %d the warm-up (%s) covers; nothing judged yet",
			out.Interval+1, j.t.WarmupIntervals(), j.t.Warmup)
	}
	score := fmt.Sprintf("score %.0f", float64(out.Score))
	if out.Expire {
		return fmt.Sprintf("%s: the canary's series have been stale for %s while the baseline's are fresh (max_canary_stale %s), so the rollout ends with its lifetime_outcome, %s; waiting on %s",
			rollout.LifetimeVerdict(j.t.LifetimeOutcome), metrics.DescribeAge(out.CanaryStale), metrics.DescribeAge(time.Duration(j.t.MaxCanaryStale)),
			j.t.LifetimeOutcome, strings.Join(waiting, ", "))
	}
	switch out.Verdict {
	case Rollback:
		if len(critical) > 0 {
			return fmt.Sprintf("rollback: confirmed regression beyond the allowed change in %s; %s", strings.Join(critical, ", "), score)
		}
		return fmt.Sprintf("rollback: %s below marginal %.0f; regressed: %s", score, j.t.Scoring.Marginal, strings.Join(failed, ", "))
	case Promote:
		return fmt.Sprintf("promote: every metric within its allowed change; %s", score)
	}
	var parts []string
	parts = append(parts, noData...)
	if len(failed) > 0 {
		parts = append(parts, "regressed: "+strings.Join(failed, ", "))
	}
	if len(waiting) > 0 {
		parts = append(parts, "waiting on "+strings.Join(waiting, ", "))
	}
	if out.CanaryStale > 0 {
		parts = append(parts, fmt.Sprintf("canary stale for %s of the %s allowed (max_canary_stale)",
			metrics.DescribeAge(out.CanaryStale), metrics.DescribeAge(time.Duration(j.t.MaxCanaryStale))))
	}
	if math.IsNaN(float64(out.Score)) {
		parts = append(parts, "no metric could be judged, so there is no score")
	} else if float64(out.Score) < j.t.Scoring.Pass {
		parts = append(parts, fmt.Sprintf("%s below pass %.0f", score, j.t.Scoring.Pass))
	} else {
		parts = append(parts, score)
	}
	return "hold: " + strings.Join(parts, "; ")
}
