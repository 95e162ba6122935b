// Package embedded is an in-process, Prometheus-compatible metrics source:
// a TSDB head and a PromQL engine from github.com/prometheus/prometheus,
// filled from the exposition format (or directly, for synthetic data) and
// served over the subset of the Prometheus HTTP API that canaryd's
// Prometheus provider (package metrics/prometheus) uses. The demo and the
// fleet benchmark run on it so that they need no external server while the
// metrics path stays the production one: exposition format in, PromQL and
// /api/v1/query_range over HTTP out.
//
// Time is the caller's. Every sample carries the timestamp it is given, and
// queries name their own [start, end]; nothing reads the wall clock for data,
// so a compressed or historical clock works. The source keeps Retention of
// sample time behind the newest sample and drops what is older.
//
// What it does like Prometheus:
//
//   - Ingest parses text, OpenMetrics or delimited protobuf with Prometheus's
//     own parsers (model/textparse), adds target labels as a scrape with
//     honor_labels: false does (a clashing scraped label is kept as
//     exported_<name>), honours explicit timestamps, and writes stale markers
//     for series a target stopped exposing, or all of them when a scrape fails.
//   - Classic histogram and summary label values are normalised as in
//     Prometheus 3: le="1" is stored as le="1.0", so match bucket bounds
//     with le="1.0" or a regular expression, not le="1".
//   - Queries run on promql.Engine with Prometheus's defaults (5m lookback,
//     @ modifier and negative offsets on, 1m default subquery step).
//   - Answers and errors have Prometheus's JSON shape, error types and HTTP
//     status codes.
//
// What it does not do: out-of-order samples (a sample older than its series'
// newest is refused and reported, and so is one more than an hour older than
// the newest sample held, as in Prometheus's head), native histograms (protobuf input is read
// as classic histograms), exemplars, metadata, remote write, and any API
// endpoint beyond query_range, query and the readiness probes.
package embedded
