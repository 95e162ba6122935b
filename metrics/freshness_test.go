package metrics

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestFreshnessQuery(t *testing.T) {
	tests := []struct {
		expr, want string
	}{
		{`up{job="a"}`, `max(timestamp(up{job="a"}))`},
		{`histogram_quantile(0.99, sum by (le) (rate(lat_bucket{service="s",track="canary"}[1m])))`,
			`max(timestamp(lat_bucket{service="s",track="canary"}))`},
		// The same selector twice is followed once.
		{`rate(x{a="1"}[1m]) / rate(x{a="1"}[5m])`, `max(timestamp(x{a="1"}))`},
		// Several: the stalest.
		{`sum(rate(req{code=~"5.."}[1m])) / sum(rate(req[1m]))`,
			`(max(timestamp(req{code=~"5.."})) - clamp_min(max(timestamp(req{code=~"5.."})) - max(timestamp(req)), 0))`},
		// An offset shifts the sample times back; @ is left out.
		{`x offset 5m`, `(max(timestamp(x offset 5m)) + 300)`},
		{`x @ 1700000000 + y`, `max(timestamp(y))`},
		{`max_over_time(g{s="a"}[5m:30s])`, `max(timestamp(g{s="a"}))`},
	}
	for _, tt := range tests {
		got, err := FreshnessQuery(tt.expr)
		if err != nil || got != tt.want {
			t.Errorf("FreshnessQuery(%s) = %s, %v\nwant %s", tt.expr, got, err, tt.want)
		}
	}
	for _, bad := range []string{`vector(1)`, `x @ 100`, `sum(`} {
		if got, err := FreshnessQuery(bad); err == nil {
			t.Errorf("FreshnessQuery(%s) = %s, want an error", bad, got)
		}
	}
	if _, err := FreshnessQuery(`time()`); !errors.Is(err, errNoFreshness) {
		t.Errorf("FreshnessQuery(time()) error %v, want errNoFreshness", err)
	}
}

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
