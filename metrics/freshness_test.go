package metrics

import (
	"slices"
	"testing"
	"time"
)

func TestSetFreshness(t *testing.T) {
	s := Samples{Times: []int64{10_000, 20_000, 30_000, 40_000}, Values: []float64{1, 2, 3, 4}}
	// The companion has no value at 30 s (no sample within the lookback)
	// and one at 50 s where the query has none.
	s.SetFreshness([]int64{10_000, 20_000, 40_000, 50_000}, []float64{9.5, 19.5, 19.5, 45.25})
	if !s.FreshnessKnown || !slices.Equal(s.SampleTimes, []int64{9_500, 19_500, 0, 19_500}) || s.LastSample != 45_250 {
		t.Fatalf("sample times %v, last %d", s.SampleTimes, s.LastSample)
	}
	f := s.Freshness(10*time.Second, 60_000)
	want := Freshness{Known: true, Fresh: 2, Repeats: 2, LastAge: 14750 * time.Millisecond, First: 10_000}
	if f != want {
		t.Fatalf("Freshness = %+v, want %+v", f, want)
	}
	for i, stale := range []bool{false, false, true, true} {
		if s.Stale(i, 10*time.Second) != stale {
			t.Errorf("Stale(%d) = %v, want %v", i, !stale, stale)
		}
	}
	unknown := Samples{Times: []int64{1}, Values: []float64{1}}
	if unknown.Stale(0, 0) || unknown.Freshness(0, 0) != (Freshness{Fresh: 1, LastAge: -1}) {
		t.Errorf("unknown freshness: stale %v, %+v", unknown.Stale(0, 0), unknown.Freshness(0, 0))
	}
	for d, want := range map[time.Duration]string{4 * time.Minute: "4m", 90 * time.Second: "1m30s", 3*time.Hour + 2*time.Second: "3h2s", 0: "0s", 400 * time.Millisecond: "0s"} {
		if got := DescribeAge(d); got != want {
			t.Errorf("DescribeAge(%s) = %s, want %s", d, got, want)
		}
	}
}
