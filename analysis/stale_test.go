package analysis_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics"
)

const staleTemplate = `
templates:
  - name: t
    interval: 5m
    step: 10s
    steps: [10, 50, 100]
    judgements_per_step: 2
    min_samples: 20
    max_sample_age: 1m
    max_canary_stale: 10m
    metrics:
      - {name: latency, query: 'q{track="{{.Role}}"}', allowed_change: 0.1}
`

// window is one interval of 30 points at 10 s ending at end; its samples
// are fresh (each point has a sample of its own) unless the role's last
// sample time is given: points after it repeat it.
type window struct {
	end                      time.Time
	lastBaseline, lastCanary time.Time // zero: fresh to the end
	canaryFrom               time.Time // zero: from the start
}

func (w window) input(r *rand.Rand, canaryMult float64) analysis.Input {
	start := w.end.Add(-29 * 10 * time.Second)
	role := func(last, from time.Time, mult float64) metrics.Samples {
		var s metrics.Samples
		s.FreshnessKnown = true
		for i := range 30 {
			t := start.Add(time.Duration(i) * 10 * time.Second)
			if !from.IsZero() && t.Before(from) {
				continue
			}
			st := t.Add(-3 * time.Second) // a scrape 3 s before the step
			if !last.IsZero() && t.After(last) {
				st = last
			}
			s.Times = append(s.Times, t.UnixMilli())
			s.Values = append(s.Values, mult*(1+0.05*r.NormFloat64()))
			s.SampleTimes = append(s.SampleTimes, st.UnixMilli())
			s.LastSample = max(s.LastSample, st.UnixMilli())
		}
		s.Tally(start, w.end, 10*time.Second)
		return s
	}
	return analysis.Input{
		Baseline: role(w.lastBaseline, time.Time{}, 1),
		Canary:   role(w.lastCanary, w.canaryFrom, canaryMult),
		Start:    start, End: w.end,
	}
}

func TestStaleHolds(t *testing.T) {
	tmpl := loadTemplate(t, staleTemplate)
	t0 := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name   string
		w      window
		mult   float64
		class  analysis.Classification
		reason string
	}{
		{"fresh", window{end: t0}, 1, analysis.Pass, ""},
		{"canary ended 4m before the end", window{end: t0, lastCanary: t0.Add(-4 * time.Minute)}, 1, analysis.Stale,
			"stale: the last canary sample is 4m old; 18 of 30 points repeat it (max_sample_age 1m); not judged"},
		// A regression that would roll back if judged: held instead.
		{"stale regression", window{end: t0, lastCanary: t0.Add(-4 * time.Minute)}, 2, analysis.Stale, "the last canary sample is 4m old"},
		{"baseline ended", window{end: t0, lastBaseline: t0.Add(-2 * time.Minute)}, 1, analysis.Stale, "the last baseline sample is 2m old; 6 of 30 points repeat it"},
		{"canary starts late", window{end: t0, canaryFrom: t0.Add(-60 * time.Second)}, 1, analysis.Stale,
			"the canary series start 3m50s into the window; 7 of 30 points are fresh"},
		// 50 s of repeats inside max_sample_age: nothing dropped, judged.
		{"recent repeats", window{end: t0, lastCanary: t0.Add(-50 * time.Second)}, 1, analysis.Pass, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := judgeOnce(t, tmpl, []analysis.Input{tt.w.input(r, tt.mult)})
			m := out.Metrics[0]
			want := tt.class
			if m.Classification != want || !strings.Contains(m.Reason, tt.reason) {
				t.Fatalf("classification %s, reason %q; want %s, %q", m.Classification, m.Reason, want, tt.reason)
			}
			if want == analysis.Stale && (out.Verdict != analysis.Hold || m.TotalPairs != 0) {
				t.Fatalf("verdict %s with %d pairs judged; a stale metric holds and adds nothing", out.Verdict, m.TotalPairs)
			}
		})
	}
}

// TestStalePointsDropped checks that repeats older than max_sample_age are
// left out of the pairs while the window still has enough fresh points.
func TestStalePointsDropped(t *testing.T) {
	tmpl := loadTemplate(t, staleTemplate)
	t0 := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	in := window{end: t0}.input(rand.New(rand.NewPCG(3, 4)), 1)
	// Prometheus down for 2m30s in the middle: its steps repeat the
	// sample before.
	c := &in.Canary
	gapFrom := 8
	for i := gapFrom; i < gapFrom+15; i++ {
		c.SampleTimes[i] = c.SampleTimes[gapFrom-1]
		c.Values[i] = c.Values[gapFrom-1]
		if i >= gapFrom+5 {
			c.Values[i] = 1000 // would decide if judged
		}
	}
	out := judgeOnce(t, tmpl, []analysis.Input{in})
	m := out.Metrics[0]
	// Repeats up to 1m old (the first 5, 13 s to 53 s) are kept; the other
	// 10 are dropped, and so are their baseline partners.
	if m.Classification != analysis.Pass || m.NPairs != 20 || m.Dropped != 20 {
		t.Fatalf("classification %s, %d pairs, %d dropped; want pass on 20 pairs, 20 dropped (%s)", m.Classification, m.NPairs, m.Dropped, m.Reason)
	}
}

// TestCanaryGoneExpires checks the judgements in a row with the canary's
// series stale and the baseline's fresh: they hold, and the one that
// reaches max_canary_stale asks the rollout to expire; a fresh canary
// resets the count, and a stale baseline is not a canary gone.
func TestCanaryGoneExpires(t *testing.T) {
	tmpl := loadTemplate(t, staleTemplate)
	j := analysis.NewJudge(tmpl)
	st := j.NewState()
	r := rand.New(rand.NewPCG(5, 6))
	t0 := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	look := func(k int, w window) analysis.Judgement {
		t.Helper()
		w.end = t0.Add(time.Duration(k) * 5 * time.Minute)
		var out analysis.Judgement
		if err := j.Judge(st, []analysis.Input{w.input(r, 1)}, &out); err != nil {
			t.Fatal(err)
		}
		j.Explain(&out)
		return out
	}
	gone := t0.Add(-2 * time.Minute)
	if out := look(0, window{lastCanary: gone}); out.Expire || out.CanaryStale != 5*time.Minute || out.Verdict != analysis.Hold ||
		!strings.Contains(out.Reason, "canary stale for 5m of the 10m allowed") {
		t.Fatalf("first stale look: expire %v, stale for %s, %s: %s", out.Expire, out.CanaryStale, out.Verdict, out.Reason)
	} else if m := out.Metrics[0]; m.BaselineFreshness != (analysis.Freshness{Fresh: 30, Points: 30, LastSampleAge: 3}) ||
		m.CanaryFreshness.Points != 30 || m.CanaryFreshness.Fresh >= 30 || m.CanaryFreshness.LastSampleAge != 120 {
		// The evidence holds the counts the reason gives: each role's fresh
		// points of the window's, and the newest sample's age at its end.
		t.Fatalf("first stale look: freshness baseline %+v, canary %+v", m.BaselineFreshness, m.CanaryFreshness)
	}
	if out := look(1, window{}); out.CanaryStale != 0 || out.Expire {
		t.Fatalf("a fresh canary did not reset the count: %s", out.CanaryStale)
	}
	// Both stale: Prometheus itself, not the canary.
	if out := look(2, window{lastCanary: gone.Add(10 * time.Minute), lastBaseline: gone.Add(10 * time.Minute)}); out.CanaryStale != 0 || out.Verdict != analysis.Hold {
		t.Fatalf("both roles stale: canary stale for %s, %s", out.CanaryStale, out.Verdict)
	}
	look(3, window{lastCanary: gone.Add(15 * time.Minute)})
	out := look(4, window{lastCanary: gone.Add(15 * time.Minute)})
	if !out.Expire || out.Verdict != analysis.Hold || !strings.HasPrefix(out.Reason, "rollback: the canary's series have been stale for 10m while the baseline's are fresh (max_canary_stale 10m), so the rollout ends with its lifetime_outcome, rollback") {
		t.Fatalf("second stale look in a row: expire %v, %s: %s", out.Expire, out.Verdict, out.Reason)
	}
}

// TestUnknownFreshnessJudgedAsBefore checks that samples without freshness
// (an old recording) are judged as they always were.
func TestUnknownFreshnessJudgedAsBefore(t *testing.T) {
	tmpl := loadTemplate(t, staleTemplate)
	t0 := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	in := window{end: t0, lastCanary: t0.Add(-4 * time.Minute)}.input(rand.New(rand.NewPCG(7, 8)), 1)
	for _, s := range []*metrics.Samples{&in.Baseline, &in.Canary} {
		s.FreshnessKnown, s.SampleTimes, s.LastSample = false, nil, 0
	}
	if m := judgeOnce(t, tmpl, []analysis.Input{in}).Metrics[0]; m.Classification != analysis.Pass || m.NPairs != 30 {
		t.Fatalf("classification %s with %d pairs; want pass on 30", m.Classification, m.NPairs)
	}
}

// TestReplayStaleCanary replays a recording, written and read back, in
// which the canary's target stops being scraped after two intervals and
// regresses in the repeats Prometheus makes of its last sample: every
// judgement from then on holds, and once the canary has been stale for
// max_canary_stale the replay ends with lifetime_outcome, as the daemon
// does. The same windows without their freshness roll back.
func TestReplayStaleCanary(t *testing.T) {
	tmpl := loadTemplate(t, staleTemplate)
	r := rand.New(rand.NewPCG(9, 10))
	t0 := time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)
	gone := t0.Add(5 * time.Minute)
	rec := &metrics.Recording{}
	for k := range 6 {
		w := window{end: t0.Add(time.Duration(k) * 5 * time.Minute)}
		mult := 1.0
		if w.end.After(gone) {
			w.lastCanary, mult = gone, 3
		}
		in := w.input(r, mult)
		start, end := in.Start.Add(-10*time.Second), in.End
		rec.Record(k, start, end, "latency", metrics.Baseline, in.Baseline)
		rec.Record(k, start, end, "latency", metrics.Canary, in.Canary)
	}
	var buf strings.Builder
	if _, err := rec.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	read, err := metrics.ReadRecording(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := analysis.Replay(t.Context(), tmpl, read)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range res.Intervals[2:] {
		if j.Verdict != analysis.Hold || j.Metrics[0].Classification != analysis.Stale {
			t.Errorf("interval %d: %s (%s): %s", j.Interval, j.Verdict, j.Metrics[0].Classification, j.Reason)
		}
	}
	if res.Final.Verdict != analysis.Rollback || res.Final.Interval != 3 || !strings.Contains(res.Final.Reason, "stale for 10m") {
		t.Fatalf("final %+v; want the lifetime's rollback at interval 3, for the stale canary", res.Final)
	}

	// Without freshness (a version 1 recording), the repeats decide.
	for i := range read.Intervals {
		roles := read.Intervals[i].Metrics["latency"]
		for role, s := range roles {
			s.FreshnessKnown, s.SampleTimes, s.LastSample = false, nil, 0
			roles[role] = s
		}
	}
	blind, err := analysis.Replay(t.Context(), tmpl, read)
	if err != nil {
		t.Fatal(err)
	}
	if blind.Final.Verdict != analysis.Rollback || blind.Final.Interval != 2 {
		t.Fatalf("without freshness: final %+v; the test's repeats should have rolled back at interval 2", blind.Final)
	}
}
