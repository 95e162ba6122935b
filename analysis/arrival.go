package analysis

import (
	"fmt"
	"time"

	"github.com/canaryd/canaryd/metrics"
)

// Late tells whether a window's last scrapes have not arrived yet, from
// the raw sample times behind its points (metrics.Samples.SampleTimes, as
// the freshness companions report them). For each metric and role it
// compares the age of the newest raw sample at the window's end,
//
//	last = end − LastSample,
//
// with the ages the window's points before that sample show to be usual,
//
//	usual = max over the points i with 0 < sampleᵢ < LastSample of (tᵢ − sampleᵢ),
//
// and calls the role late when
//
//	last > usual + max(usual/10, 250ms).
//
// Scrapes come every s seconds. At a point whose newer sample has arrived
// the age is below s (else that sample would be behind it), so usual < s;
// when the window's last scrape is missing, the end's age is at least s.
// The margin absorbs the jitter of scrape timestamps; a last scrape taken
// within it of the window's end can go unnoticed. A gap inside the window
// raises the usual age and makes the rule more lenient, never stricter.
// A role with a sample but none inside the window (LastSample before the
// window's start: its data arrives later than the window is long, or its
// target is gone) is late too; a role whose freshness is unknown, with no
// sample at all, or with fewer than three points behind an older sample
// inside the window is never late (there is nothing to wait for, or
// nothing to tell it by: stale data is the judge's to hold).
//
// Late returns a description of the first late role ("canary latency:
// newest sample 9s old at the window's end, usually at most 4s"), or ""
// when every role looks complete. Inputs with a fetch error are skipped.
func Late(in []Input, names []string) string {
	for i := range in {
		if in[i].Err != nil {
			continue
		}
		start, end := in[i].Start.UnixMilli(), in[i].End.UnixMilli()
		if in[i].Start.IsZero() {
			start = 0
		}
		if in[i].End.IsZero() {
			end = 0
		}
		for _, r := range [2]struct {
			role metrics.Role
			s    *metrics.Samples
		}{{metrics.Baseline, &in[i].Baseline}, {metrics.Canary, &in[i].Canary}} {
			name := fmt.Sprintf("metric %d", i)
			if i < len(names) {
				name = names[i]
			}
			if s := r.s; s.FreshnessKnown && s.LastSample > 0 && start > 0 && s.LastSample < start {
				return fmt.Sprintf("%s %s: no sample inside the window, the newest is %s older than its start",
					r.role, name, metrics.DescribeAge(time.Duration(start-s.LastSample)*time.Millisecond))
			}
			last, usual, ok := arrival(r.s, end)
			if !ok {
				continue
			}
			if margin := max(usual/10, 250*time.Millisecond); last > usual+margin {
				return fmt.Sprintf("%s %s: newest sample %s old at the window's end, usually at most %s",
					r.role, name, metrics.DescribeAge(last), metrics.DescribeAge(usual))
			}
		}
	}
	return ""
}

// arrival returns, for s over a window ending at end (unix ms; the last
// point's time when 0), the newest sample's age at the end and the largest
// age at the points behind an older sample; ok is false when s cannot
// tell.
func arrival(s *metrics.Samples, end int64) (last, usual time.Duration, ok bool) {
	if !s.FreshnessKnown || s.LastSample <= 0 || len(s.Times) == 0 || len(s.SampleTimes) != len(s.Times) {
		return 0, 0, false
	}
	if end <= 0 {
		end = s.Times[len(s.Times)-1]
	}
	n, u := 0, int64(0)
	for i := range s.Times {
		if s.SampleTimes[i] <= 0 || s.SampleTimes[i] >= s.LastSample {
			continue
		}
		n++
		u = max(u, s.Times[i]-s.SampleTimes[i])
	}
	if n < 3 {
		return 0, 0, false
	}
	return time.Duration(end-s.LastSample) * time.Millisecond, time.Duration(u) * time.Millisecond, true
}
