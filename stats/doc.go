// Package stats holds the statistics canaryd's judge stands on: the
// Mann-Whitney U test of a canary sample against a baseline sample (exact and
// asymptotic), the Hodges-Lehmann shift with its confidence interval, effect
// sizes, the normal tail and quantile functions they need, and SLO burn rates
// after the Google SRE Workbook.
//
// Conventions follow R's wilcox.test(canary, baseline) and SciPy's
// mannwhitneyu(canary, baseline): x is the canary, y the baseline, and
//
//	U = #{(i, j): x_i > y_j} + 0.5 #{(i, j): x_i = y_j}
//
// so Greater means the canary tends to be larger. The Hodges-Lehmann shift is
// the median of the n·m differences x_i - y_j, and its interval is a pair of
// order statistics of those differences. Both are selected from the implicit
// sorted difference matrix without forming it, so the results are exact input
// differences (see Workspace.MannWhitney for the algorithms and their costs).
//
// Inputs containing NaN or ±Inf and empty inputs are rejected with errors that
// wrap ErrNaN, ErrInf and ErrEmpty and name the sample and index; what to do
// with missing data is a policy of the caller.
//
// A Workspace owns every buffer a comparison needs, so a judge that reuses one
// per goroutine compares samples without allocating. The package has no
// package-level mutable state.
package stats
