// Package analysis is canaryd's judge: from baseline and canary samples,
// interval after interval, to promote, hold or rollback, with evidence a
// person can check. The daemon, the demo, `canaryctl judge` and `canaryctl
// replay` all run this one engine.
//
// # Why not Kayenta's judge
//
// Kayenta runs a Mann-Whitney test per metric per interval, treating the
// points as independent samples, uses a tolerance band around the
// estimate, and never corrects for testing many metrics again and again.
// Real series break every one of those assumptions: baseline and canary
// share their load (their points at one timestamp move together), points
// 10 s apart are autocorrelated (a 30-point window of a p99 latency holds
// about 7 independent observations), and an analysis is judged at every
// interval across many metrics. On simulated canaries such a judge rolls
// back about a third of the good ones.
//
// # The method (test: paired, the default)
//
// A template's warmup (rounded up to whole intervals) is judged first, and
// not at all: those judgements hold with "warming up" and add nothing to
// the evidence, and looks are counted from its end. A canary that starts
// slow (cold caches, JIT, connection pools) is otherwise judged on its
// cold start: the cumulative window carries it to the end.
//
// For each metric, at each judgement ("look") k = 1, 2, … after the warm-up:
//
//  1. Pair. Baseline and canary points are paired by timestamp; a pair
//     with NaN or ±Inf on either side is handled by the metric's
//     nan_policy (dropped and counted by default). Pairing removes the
//     shared load.
//
//  2. Transform against the margin. With δ = allowed_change and the bad
//     direction "increase", the null hypothesis is "the canary is at most
//     δ worse": on the log scale (every value positive)
//
//     d_i = log(c_i / b_i),   H0: E[d] ≤ log(1+δ)
//
//     and on the linear scale (values that can be zero or negative: a
//     ratio-of-means test; non-negative ones, such as error ratios, are
//     tested as counts instead, see "Rates and counts")
//
//     d_i = c_i − (1+δ)·b_i,   H0: E[d] ≤ 0
//
//     "decrease" mirrors these with 1−δ, "either" runs both at half the
//     level. allowed_change is thus a margin tested against, not a band
//     around the estimate: a canary exactly at the margin is rolled back
//     with probability at most α.
//
//  3. Correct for autocorrelation. The variance of a mean of n points is
//     σ²/n · (1+ρ)/(1−ρ) for an AR(1) process with lag-1 correlation ρ.
//     σ² and ρ are estimated from the residuals around each interval's own
//     mean, pooled over every interval judged so far (stats.Serial), with
//     ρ bias-corrected for short windows; the cumulative window also takes
//     the global estimate when it is larger, so a drifting mean can only
//     widen its interval. The first interval, a single window that cannot
//     estimate its own autocorrelation, is fitted exactly in the mean
//     instead (the exact bias of ρ̂ and of the demeaned variance, the
//     exact variance of a mean of n AR(1) points), with ρ one standard
//     error above its estimate and Satterthwaite's degrees of freedom for
//     the uncertainty of ρ (stats.Serial.Fit).
//
//  4. Test two windows. The cumulative window (everything since the
//     analysis started) has the power for a steady regression; the latest
//     interval alone finds a regression that starts or grows late (a
//     memory leak), which a growing window dilutes. From the second look
//     on the two windows share the look's level by weighted Bonferroni:
//     3/4 to the cumulative window, 1/4 to the latest.
//
//  5. Spend α across looks. Look k is held to α_k = α/(k(k+1)), which
//     sums to α over any number of looks (stats.SpendAlpha): no planned
//     horizon is needed, and a long analysis cannot accumulate false
//     rollbacks.
//
//  6. Holm across metrics. At each look the counted metrics' p-values go
//     through Holm's step-down procedure at α_k; a rejected null is a
//     confirmed regression: classification high (or low).
//
// # Rates and counts
//
// A metric on the linear scale whose values are never negative (an error
// ratio, mostly zeros) is tested as counts rather than as a mean of
// ratios, because a handful of events carries no usable variance:
//
//   - Each side's values are taken as φ times Poisson counts, with the
//     quasi-Poisson scale φ = s²_within / x̄ (stats.QuasiPoissonScale; an
//     error ratio k/n has φ = 1/n), inflated by (1+ρ)/(1−ρ) for events
//     that overlapping rate windows count more than once (ρ the
//     baseline's lag-1 autocorrelation, the canary's too while the
//     baseline has fewer than 20 events). Σx/φ are the events, N/φ the
//     exposure; a side without events takes the other's φ.
//   - Given the total, the canary's events are binomial with
//     θ₀ = (1+δ)E_c / ((1+δ)E_c + E_b) at the margin, so a load both share
//     cancels: the exact conditional test (stats.RateRatioUpperP) on the
//     cumulative window, the latest interval, and a burst scan.
//   - The burst scan tries every window of n/10, n/5 and n/2 points of the
//     latest interval (the canary's scale there the smaller of φ and the
//     median of its positive values, since a burst inflates its own
//     variance) and counts every window tried (Bonferroni): a canary that
//     fails for a minute in every few is rolled back, with "burst" and the
//     window in its evidence.
//   - The three share the look's level 0.6 / 0.2 / 0.2 (weighted
//     Bonferroni); the metric passes when the exact test's p-value against
//     the margin is at least ½ (one stray error against none is not beyond
//     it), with the exact (Clopper-Pearson) interval of the rate ratio.
//
// α = 1 − confidence (template setting, default 0.95) therefore bounds the
// probability that an analysis ever rolls back a canary whose every
// metric is within its allowed change, over all metrics and all looks.
// Canaries well inside the margin are rolled back far less often.
//
// A metric passes when it has at least min_samples pairs, is not a
// confirmed regression, and its estimate lies within the margin; a metric
// whose estimate is beyond the margin but not yet confirmed is
// inconclusive: it holds the rollout, and never rolls it back. The
// estimate is the cumulative one at the first look, and, without the
// template's warmup, the change after the first interval from the second
// look on (paired tests; Judge.settled): a canary's first interval holds
// its cold start, which biases the cumulative estimate for the rest of
// the analysis (a minute of a p99 three times higher moves ten intervals'
// estimate by +3%, against a 5% margin), while the tests that roll back
// still judge it.
//
// # The tail test
//
// A location test misses a tail that splits off (a fifth of a canary's
// p99 points doubled, its median unchanged). A paired metric with shape
// (on by default for histogram_quantile queries) also tests the bad
// direction's tail, "increase" shown ("decrease" mirrors it; "either"
// runs no tail test):
//
//   - Each interval, the baseline's log b and the canary's log c −
//     log(1+δ) are pooled and τ is their 0.9 quantile; each pair scores
//     +1 when only its canary point is above τ, −1 when only its
//     baseline point is. Swapping a pair's two points leaves τ as it is,
//     so a canary exactly at the margin scores +1 and −1 equally often.
//   - The cumulative +1 and −1 counts, divided by (1+ρ)/(1−ρ) for the
//     signs' autocorrelation, go through the exact conditional binomial
//     test at ½ (stats.RateRatioUpperP).
//   - The same signs for the other tail (the pooled 0.1 quantile of the
//     undiscounted values) tell a spread from a shift: while the canary
//     has at least as many points alone in the other tail, it is noisier
//     rather than slower (a canary with a small share of the traffic),
//     and the tail test stands aside, which only lowers its rejections.
//   - Its p-value gets 1/5 of the metric's level and the location test
//     4/5 (weighted Bonferroni), so the metric's error control, and with
//     it the analysis', is unchanged; a rejection says "tail" in the
//     evidence with both tails' counts.
//
// # Other tests
//
//   - mann-whitney: a Mann-Whitney U test of the canary, divided by 1+δ,
//     against the baseline, on block means of 10 points (to temper
//     autocorrelation), with the same spending and Holm.
//   - burn-rate: the canary's own error ratio against an SLO, with
//     multi-window multi-burn-rate rules (stats.EvaluateBurn); a firing
//     rule is a regression.
//   - threshold: the canary's mean over the judged interval against fixed
//     bounds.
//
// Every metric also carries the Hodges-Lehmann shift of the latest
// interval (canary − baseline) with its confidence interval, absolute and
// relative to the baseline's median, for people to read.
//
// # Scoring and verdict
//
// score = 100 · (1 − weight of confirmed regressions / weight of counted
// metrics), dry-run metrics excluded. Rollback when a critical metric
// (the default) is a confirmed regression or the score falls below
// scoring.marginal; promote when the score reaches scoring.pass and every
// counted metric passes; hold otherwise, which includes "not enough data
// yet", no data and query errors: missing data never promotes.
package analysis
