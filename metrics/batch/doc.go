// Package batch shares range queries between analyses of one template, so
// that the queries canaryd sends grow with templates and metrics, not with
// analyses.
//
// Analyses of one template render the same PromQL with different label
// values: service="checkout" for one, service="payments" for another.
// Provider collects the queries that arrive within a short window for the
// same window, step and role, checks that they differ only in the values
// of equality matchers, and sends one query in which
//
//   - each such matcher becomes a regex alternation of the values
//     (service=~"checkout|payments", every value regex-quoted),
//   - every aggregation also groups by those labels
//     (sum by (le) becomes sum by (le, service)), and
//   - every on(...) of a binary operation also matches on them;
//
// then it splits the result's series by those labels' values and gives
// each caller what its own query would have returned.
//
// # Why the split is exact
//
// Every selector of a batched query must pin each label that tells the
// analyses apart with an equality matcher on the analysis' own value. In
// an analysis' own query, every series at every step of the evaluation
// therefore carries that one value; grouping or matching by the label as
// well changes no group and no match, it only keeps apart what belongs to
// other analyses. Anything that could break that is refused, and those
// queries are sent alone: functions that invent, rewrite or drop labels or
// make vectors from nothing (label_replace, absent, vector, scalar, ...),
// aggregations over other analyses' series (topk, bottomk, count_values,
// limitk, anything with without), or, ignoring(...) on such a label, a
// fixed value or a non-equality matcher on it, fill modifiers. Series come
// back in the order Prometheus sorts them, which within one analysis'
// share is the order of its own query, so merging several series per the
// metric's aggregate gives the same floating-point result.
//
// A batch whose request fails is sent again query by query, so callers see
// exactly the errors they would have seen without batching; so is a query
// whose share holds several series and no aggregate (its error lists the
// series), or native histograms.
//
// # Windows
//
// Only queries with the same start, end and step share a request: the
// points of a range query depend on them. Analyses share windows when
// their judgements are due at the same instants, which the daemon
// arranges by aligning each analysis' start to its template's query step.
package batch
