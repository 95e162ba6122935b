// Package companion writes the freshness companion of a PromQL query and
// carries it in the query's own request.
//
// For a step with no new sample a range query repeats the latest sample
// within Prometheus's lookback delta (5 minutes by default), so a window
// without a single scrape still looks full. A query's companion (Of) is a
// query whose value at each step is the time, in Unix seconds, of the
// newest raw sample behind the query there:
//
//	max(timestamp(S))                                 one selector S
//	min over i of max(timestamp(S_i)) [+ offset_i]    several selectors
//
// max across a selector's series (one pod still reporting is fresh data),
// min across selectors (a ratio is as fresh as its staler side), the min
// of two written a - clamp_min(a - b, 0), exact for sample times and
// shareable by the batching provider. A selector with an offset counts its
// sample times shifted by the offset; one pinned with @ is left out; a
// query with no other selector has no companion, and its points all count
// as fresh.
//
// The companion travels in the same request as its query (Join):
//
//	(Q) or label_replace(C, "__canaryd_part__", "fresh", "", "")
//
// Every series of C gains the label __canaryd_part__ (a reserved name, which
// no stored series carries), so no series of Q matches one of C, the or
// keeps both whole, and Split tells them apart again. One request, one
// answer to decode, instead of two.
//
// This package parses PromQL (github.com/prometheus/prometheus/promql/parser,
// whose dependencies reach net/http), so the judge does not import it: the
// daemon passes Of to analysis.Queries and analysis.Fetch.
package companion
