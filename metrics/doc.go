// Package metrics is how canaryd gets the numbers it judges: the samples of
// one metric for one role (baseline or canary) over one window, fetched from
// a Provider, and how everything an analysis fetched is recorded and replayed.
//
// A Provider answers one Query at a time; FetchAll runs many in parallel.
// Two providers exist: the Prometheus source (package metrics/prometheus) and
// the replay of a Recording. Queries are PromQL text rendered from a
// metric's query template (spec.QueryTemplate) per analysis and role;
// the rendered text travels with the Samples so that explanations can show
// exactly what was asked.
//
// Samples keep every point the provider returned, NaN and ±Inf included, and
// count them; missing steps are counted as gaps. An empty result is "no data",
// which is not an error: the judge decides what no data means.
//
// # Freshness
//
// For a step with no new sample a range query repeats the latest sample
// within Prometheus's lookback delta (5 minutes by default), so a window
// without a single scrape still looks full. A query can therefore carry a
// companion (Query.Freshness, written by package metrics/companion and
// rendered with the query by QueryTemplate), fetched over the same window
// in the same request, whose value at each step is the time of the newest
// raw sample behind the query there. Samples keep the sample time of every
// point (SampleTimes), and a point whose sample is older than the judge's
// maximum sample age only repeats it (Stale).
package metrics
