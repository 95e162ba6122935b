package metrics

import (
	"fmt"
	"strings"
	"time"
)

// SetFreshness fills s's freshness from its companion query's answer
// (ctimes, cvalues: the companion's steps and their values in Unix
// seconds, one series): SampleTimes gets, per point of s, the sample time
// at the same step, 0 where the companion has none (no raw sample within
// Prometheus's lookback); LastSample the newest of the answer, 0 when
// none. It panics if ctimes and cvalues differ in length.
func (s *Samples) SetFreshness(ctimes []int64, cvalues []float64) {
	if len(ctimes) != len(cvalues) {
		panic(fmt.Sprintf("metrics: companion with %d times and %d values", len(ctimes), len(cvalues)))
	}
	s.FreshnessKnown = true
	s.SampleTimes = make([]int64, len(s.Times))
	s.LastSample = 0
	j := 0
	for i, t := range s.Times {
		for j < len(ctimes) && ctimes[j] < t {
			j++
		}
		if j < len(ctimes) && ctimes[j] == t {
			s.SampleTimes[i] = SampleTimeMillis(cvalues[j])
		}
	}
	for _, v := range cvalues {
		s.LastSample = max(s.LastSample, SampleTimeMillis(v))
	}
}

// SampleTimeMillis converts a companion's value, a sample time in Unix
// seconds, to unix milliseconds (Prometheus's resolution), rounding; a
// value that is no time (not positive, NaN, absurd) is 0, no sample.
func SampleTimeMillis(v float64) int64 {
	if !(v > 0 && v < 1e15) {
		return 0
	}
	return int64(v*1000 + 0.5)
}

// Freshness is how the points of one Samples stand against the newest
// raw samples behind them, for a maximum sample age.
type Freshness struct {
	// Known is false when the provider could not tell (no companion, an
	// old recording): every point then counts as fresh.
	Known bool
	// Fresh and Repeats count the points whose sample is at most, and
	// more than, the maximum age old.
	Fresh, Repeats int
	// LastAge is the age of the newest sample at end; negative when
	// there was no sample at all.
	LastAge time.Duration
	// First is the time of the first fresh point (unix ms), 0 if none.
	First int64
}

// Stale reports whether point i of s only repeats a raw sample older than
// maxAge (its value is Prometheus's lookback, not a measurement). Points
// of samples whose freshness is unknown are never stale.
func (s *Samples) Stale(i int, maxAge time.Duration) bool {
	if !s.FreshnessKnown || i >= len(s.SampleTimes) {
		return false
	}
	return s.Times[i]-s.SampleTimes[i] > maxAge.Milliseconds()
}

// Freshness counts the fresh and repeated points of s for maxAge, and the
// age of its newest sample at end (unix ms).
func (s *Samples) Freshness(maxAge time.Duration, end int64) Freshness {
	f := Freshness{Known: s.FreshnessKnown, LastAge: -1}
	if !s.FreshnessKnown {
		f.Fresh = len(s.Times)
		return f
	}
	for i := range s.Times {
		if s.Stale(i, maxAge) {
			f.Repeats++
			continue
		}
		f.Fresh++
		if f.First == 0 {
			f.First = s.Times[i]
		}
	}
	if s.LastSample > 0 {
		f.LastAge = time.Duration(end-s.LastSample) * time.Millisecond
	}
	return f
}

// DescribeAge writes d for people in Prometheus's duration style (4m,
// 1m30s), rounded to the second.
func DescribeAge(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if s := d / time.Second; s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
