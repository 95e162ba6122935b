package analysis

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/metrics"
)

// scraped returns the samples a range query with the given step over
// (start, end] (unix ms) sees when the raw samples at scrapes (unix ms,
// ascending) are in Prometheus: each point's newest sample within a 5m
// lookback, as the freshness companion reports it.
func scraped(start, end, step int64, scrapes []int64) metrics.Samples {
	var s metrics.Samples
	s.FreshnessKnown = true
	for t := start + step; t <= end; t += step {
		var newest int64
		for _, sc := range scrapes {
			if sc <= t && t-sc <= 5*60*1000 {
				newest = sc
			}
		}
		if newest == 0 {
			continue
		}
		s.Times = append(s.Times, t)
		s.Values = append(s.Values, 1)
		s.SampleTimes = append(s.SampleTimes, newest)
		s.LastSample = max(s.LastSample, newest)
	}
	return s
}

// every returns the scrape times from first, every period, up to and
// including last.
func every(first, period, last int64) []int64 {
	var out []int64
	for t := first; t <= last; t += period {
		out = append(out, t)
	}
	return out
}

// TestLate holds the arrival rule on windows whose last scrapes did and
// did not arrive, for steps finer and coarser than the scrape interval,
// scrape phases from 0 to the whole interval, gaps and unknown freshness.
func TestLate(t *testing.T) {
	const start, end = int64(1_000_000), int64(1_060_000) // a one-minute window
	cases := []struct {
		name          string
		step, scrape  int64
		missingWithin int64 // scrapes after end-missingWithin have not arrived
	}{
		{"step 1s, scrape 5s", 1000, 5000, 0},
		{"step 2s, scrape 15s", 2000, 15000, 0},
		{"step 10s, scrape 5s", 10000, 5000, 0},
		{"step 10s, scrape 15s", 10000, 15000, 0},
		{"step 5s, scrape 5s", 5000, 5000, 0},
	}
	for _, c := range cases {
		// Every phase of the scrapes against the steps, in tenths of a
		// scrape interval, plus the extremes.
		for phase := int64(0); phase < c.scrape; phase += c.scrape / 10 {
			scrapes := every(start-c.scrape*10+phase, c.scrape, end)
			complete := scraped(start, end, c.step, scrapes)
			in := []Input{{Baseline: complete, Canary: complete, Start: time.UnixMilli(start), End: time.UnixMilli(end)}}
			if got := Late(in, []string{"latency"}); got != "" {
				t.Errorf("%s, phase %dms: complete window called late: %s", c.name, phase, got)
			}
			// Drop the canary's last scrape. It goes unnoticed only
			// when it was taken within the margin of the window's
			// end (a tenth of the scrape interval).
			lastScrape := scrapes[len(scrapes)-1]
			partial := scraped(start, end, c.step, scrapes[:len(scrapes)-1])
			in[0].Canary = partial
			got := Late(in, []string{"latency"})
			if end-lastScrape > c.scrape/10 && got == "" {
				t.Errorf("%s, phase %dms: the last scrape (%dms before the end) missing, not called late", c.name, phase, end-lastScrape)
			}
			if got != "" && !strings.HasPrefix(got, "canary latency: newest sample ") {
				t.Errorf("%s: description %q", c.name, got)
			}
		}
	}

	t.Run("gap inside the window", func(t *testing.T) {
		// Scrapes every 5s with 20s missing mid-window: complete at the end.
		var scrapes []int64
		for _, s := range every(start-50000, 5000, end) {
			if s < start+20000 || s > start+40000 {
				scrapes = append(scrapes, s)
			}
		}
		s := scraped(start, end, 1000, scrapes)
		if got := Late([]Input{{Baseline: s, Canary: s, End: time.UnixMilli(end)}}, nil); got != "" {
			t.Errorf("complete window with a gap called late: %s", got)
		}
	})
	t.Run("no sample inside the window", func(t *testing.T) {
		// Samples that arrive more than a window late, or a target gone:
		// the window holds only repeats of a sample from before it.
		s := scraped(start, end, 1000, every(start-50000, 5000, start-3000))
		got := Late([]Input{{Baseline: s, Canary: s, Start: time.UnixMilli(start + 1000), End: time.UnixMilli(end)}}, []string{"errors"})
		if got != "baseline errors: no sample inside the window, the newest is 6s older than its start" {
			t.Errorf("got %q", got)
		}
	})
	t.Run("cannot tell", func(t *testing.T) {
		s := scraped(start, end, 1000, every(start-50000, 5000, end-20000))
		unknown := s
		unknown.FreshnessKnown = false
		few := scraped(start, end, 1000, []int64{start - 1000, end - 20000})
		none := metrics.Samples{FreshnessKnown: true}
		for name, c := range map[string]metrics.Samples{"unknown": unknown, "two samples": few, "no samples": none} {
			if got := Late([]Input{{Baseline: c, Canary: c, End: time.UnixMilli(end)}}, nil); got != "" {
				t.Errorf("%s: called late: %s", name, got)
			}
		}
		if got := Late([]Input{{Baseline: s, Canary: s, End: time.UnixMilli(end), Err: errors.New("query failed")}}, nil); got != "" {
			t.Errorf("a failed fetch called late: %s", got)
		}
		if got := Late([]Input{{Baseline: s, Canary: s, End: time.UnixMilli(end)}}, nil); !strings.HasPrefix(got, "baseline metric 0: newest sample 20s old") {
			t.Errorf("20s without a scrape (every 5s): %q", got)
		}
	})
}
