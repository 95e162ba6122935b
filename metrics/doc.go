// Package metrics is how canaryd gets the numbers it judges: the samples of
// one metric for one role (baseline or canary) over one window, fetched from
// a Provider, and how everything an analysis fetched is recorded and replayed.
//
// A Provider answers one Query at a time; FetchAll runs many in parallel.
// Two providers exist: the Prometheus source (package metrics/prometheus) and
// the replay of a Recording. Queries are PromQL text rendered from a
// QueryTemplate per analysis and role; the rendered text travels with the
// Samples so that explanations can show exactly what was asked.
//
// Samples keep every point the provider returned, NaN and ±Inf included, and
// count them; missing steps are counted as gaps. An empty result is "no data",
// which is not an error: the judge decides what no data means.
package metrics
