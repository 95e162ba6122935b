// Package report renders an analysis as a self-contained HTML page: what
// happened and why, in pictures a person checks before trusting a
// rollback.
//
// The report shows the verdict timeline (steps, weights, the verdict and
// score of every judgement, the final reason in words) and, per metric,
// deciding metrics first (failed, then errors and missing data, then
// inconclusive, then pass; dry-run metrics last and marked): the change of
// the canary against the baseline with its interval at every judgement
// next to the allowed-change margin line, the baseline and canary series
// over time on one chart, their distributions side by side (ECDFs and box
// plots), the p-value, the classification and the rendered PromQL.
//
// Charts are drawn server-side as inline SVG by this package's own small
// drawing code (a plotting library would bring fonts and a much larger
// surface for four kinds of chart); the style sheet is embedded in the
// page. A page loads nothing from anywhere else, so it works on an
// air-gapped network and as a file attached to a ticket.
//
// Data comes from the daemon (Handler over a Source) or from a replay of a
// recording (FromReplay, used by `canaryctl report`).
package report
