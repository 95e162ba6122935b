package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Role is the side of a comparison a query is for.
type Role string

// The two roles of an analysis, and the whole service's (an SLO's
// queries: configs/spec.SLO).
const (
	Baseline Role = "baseline"
	Canary   Role = "canary"
	Service  Role = "service"
)

// Valid reports whether r is Baseline, Canary or Service.
func (r Role) Valid() bool { return r == Baseline || r == Canary || r == Service }

// Samples is what one query returned for one metric and role: parallel
// slices, timestamps in unix milliseconds.
//
// Values keep NaN and ±Inf points exactly as they came; they are counted in
// NaN and Inf, never dropped here (dropping or replacing them is the judge's
// documented choice, not the fetcher's). Gaps counts missing steps:
//
//	Gaps = ExpectedPoints(start, end, step) - len(Times)
//
// so a window with no data at all has Gaps equal to the expected count.
type Samples struct {
	Query    string    // the rendered PromQL (kept for explanations)
	Times    []int64   // unix ms, ascending
	Values   []float64 // same length as Times
	NaN, Inf int       // counts of NaN and ±Inf points in Values
	Gaps     int       // expected points minus present points (never negative)
	Warnings []string  // Prometheus warnings (and infos, prefixed "info: ")

	// FreshnessKnown says that the provider learned from Prometheus the
	// raw samples behind the points (see package metrics/companion): SampleTimes
	// then holds, per point, the time (unix ms) of the newest raw sample
	// behind it, 0 when Prometheus had none within its lookback, and
	// LastSample the newest sample time behind any step of the window (0
	// when none). Without it every point counts as fresh.
	FreshnessKnown bool
	SampleTimes    []int64
	LastSample     int64
}

// Empty reports whether s has no points: "no data", which is distinct from
// an error.
func (s Samples) Empty() bool { return len(s.Values) == 0 }

// Len returns the number of points in s.
func (s Samples) Len() int { return len(s.Values) }

// Clone returns a deep copy of s: its slices share nothing with s.
func (s Samples) Clone() Samples {
	c := s
	c.Times = slices.Clone(s.Times)
	c.Values = slices.Clone(s.Values)
	c.Warnings = slices.Clone(s.Warnings)
	c.SampleTimes = slices.Clone(s.SampleTimes)
	return c
}

// Tally recounts s.NaN and s.Inf from s.Values, and sets s.Gaps from the
// points expected over [start, end] at step (see ExpectedPoints). It panics
// if Times and Values differ in length: that is a programming error.
func (s *Samples) Tally(start, end time.Time, step time.Duration) {
	if len(s.Times) != len(s.Values) {
		panic(fmt.Sprintf("metrics: samples with %d times and %d values", len(s.Times), len(s.Values)))
	}
	s.NaN, s.Inf = CountSpecial(s.Values)
	s.Gaps = max(0, ExpectedPoints(start, end, step)-len(s.Values))
}

// CountSpecial returns the number of NaN and of ±Inf values in vs.
func CountSpecial(vs []float64) (nan, inf int) {
	for _, v := range vs {
		switch {
		case math.IsNaN(v):
			nan++
		case math.IsInf(v, 0):
			inf++
		}
	}
	return nan, inf
}

// ExpectedPoints returns the number of points a range query over
// [start, end] at step evaluates, the way Prometheus steps through it:
//
//	n = floor((end - start) / step) + 1
//
// It returns 0 when step is not positive or end is before start.
func ExpectedPoints(start, end time.Time, step time.Duration) int {
	if step <= 0 || end.Before(start) {
		return 0
	}
	return int(end.Sub(start)/step) + 1
}

// ErrMultipleSeries is returned (wrapped) when a query matched more than one
// series and the metric does not say how to aggregate them.
var ErrMultipleSeries = errors.New("query returned more than one series")

// Series is one labelled series of a query result, before aggregation.
type Series struct {
	Labels string    // the series' labels as PromQL shows them, e.g. {pod="a"}
	Times  []int64   // unix ms, ascending
	Values []float64 // same length as Times
}

// The accepted values of Query.Aggregate besides "".
const (
	AggregateSum = "sum"
	AggregateAvg = "avg"
	AggregateMin = "min"
	AggregateMax = "max"
)

// ValidAggregate reports whether op is an accepted Query.Aggregate value:
// "" (exactly one series expected), "sum", "avg", "min" or "max".
func ValidAggregate(op string) bool {
	switch op {
	case "", AggregateSum, AggregateAvg, AggregateMin, AggregateMax:
		return true
	}
	return false
}

// Combine merges several series into one by applying op at each timestamp
// present in any of them, over the series that have a point there:
//
//	sum: Σ v          (NaN if any v is NaN)
//	avg: Σ v / k      (k = number of series with a point at that time)
//	min, max: over the non-NaN values; NaN only if every value is NaN
//
// (min and max skip NaN as PromQL's min and max do). A single series is
// returned as it is for any op. With op "" and more than one series, Combine
// returns an error wrapping ErrMultipleSeries that lists the series. It panics
// if a series' Times and Values differ in length.
func Combine(op string, series []Series) (times []int64, values []float64, err error) {
	if !ValidAggregate(op) {
		return nil, nil, fmt.Errorf("unknown aggregate %q (want sum, avg, min or max)", op)
	}
	for _, s := range series {
		if len(s.Times) != len(s.Values) {
			panic(fmt.Sprintf("metrics: series %s with %d times and %d values", s.Labels, len(s.Times), len(s.Values)))
		}
	}
	switch {
	case len(series) == 0:
		return nil, nil, nil
	case len(series) == 1:
		return series[0].Times, series[0].Values, nil
	case op == "":
		return nil, nil, multipleSeriesError(series)
	}

	// A k-way merge over the sorted series: each round takes the smallest
	// timestamp left and folds in every series that has a point there.
	next := make([]int, len(series))
	for {
		t, found := int64(math.MaxInt64), false
		for i, s := range series {
			if next[i] < len(s.Times) && s.Times[next[i]] <= t {
				t, found = s.Times[next[i]], true
			}
		}
		if !found {
			return times, values, nil
		}
		var acc float64
		k := 0
		for i, s := range series {
			if next[i] >= len(s.Times) || s.Times[next[i]] != t {
				continue
			}
			acc = fold(op, acc, s.Values[next[i]], k == 0)
			k++
			next[i]++
		}
		if op == AggregateAvg {
			acc /= float64(k)
		}
		times = append(times, t)
		values = append(values, acc)
	}
}

// fold adds v to the running aggregate acc.
func fold(op string, acc, v float64, first bool) float64 {
	if first {
		return v
	}
	switch op {
	case AggregateMin:
		if v < acc || math.IsNaN(acc) {
			return v
		}
		return acc
	case AggregateMax:
		if v > acc || math.IsNaN(acc) {
			return v
		}
		return acc
	default: // sum, avg
		return acc + v
	}
}

func multipleSeriesError(series []Series) error {
	const show = 5
	labels := make([]string, 0, show)
	for _, s := range series[:min(show, len(series))] {
		labels = append(labels, s.Labels)
	}
	more := ""
	if len(series) > show {
		more = fmt.Sprintf(" and %d more", len(series)-show)
	}
	return fmt.Errorf("%w: got %d (%s%s); aggregate them in the query, e.g. sum(...), or set the metric's aggregate to sum, avg, min or max",
		ErrMultipleSeries, len(series), strings.Join(labels, ", "), more)
}
