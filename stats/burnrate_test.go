package stats

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBurnRate(t *testing.T) {
	tests := []struct {
		ratio, objective float64
		want             float64
		err              string
	}{
		{0.001, 0.999, 1, ""},
		{0.0144, 0.999, 14.4, ""},
		{0, 0.99, 0, ""},
		{0.5, 0.5, 1, ""},
		{0.01, 1, 0, "stats: SLO objective 1 not in (0, 1)"},
		{0.01, 0, 0, "stats: SLO objective 0 not in (0, 1)"},
		{0.01, math.NaN(), 0, "stats: SLO objective NaN not in (0, 1)"},
		{-0.1, 0.99, 0, "stats: error ratio -0.1 is negative"},
		{math.NaN(), 0.99, 0, "stats: error ratio is NaN"},
		{math.Inf(1), 0.99, 0, "stats: error ratio is infinite"},
	}
	for _, tt := range tests {
		got, err := BurnRate(tt.ratio, tt.objective)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("BurnRate(%v, %v) error %v, want %q", tt.ratio, tt.objective, err, tt.err)
			}
			continue
		}
		if err != nil || math.Abs(got-tt.want) > 1e-12*tt.want {
			t.Errorf("BurnRate(%v, %v) = %v, %v, want %v", tt.ratio, tt.objective, got, err, tt.want)
		}
	}
	if _, err := BurnRate(math.NaN(), 0.9); !errors.Is(err, ErrNaN) {
		t.Errorf("NaN ratio: %v does not wrap ErrNaN", err)
	}
}

func TestWorkbookAndScaledWindows(t *testing.T) {
	w := WorkbookWindows()
	want := []BurnWindow{
		{time.Hour, 5 * time.Minute, 14.4},
		{6 * time.Hour, 30 * time.Minute, 6},
		{24 * time.Hour, 2 * time.Hour, 3},
		{72 * time.Hour, 6 * time.Hour, 1},
	}
	if !slices.Equal(w, want) {
		t.Fatalf("WorkbookWindows() = %v", w)
	}
	w[0].Threshold = 99 // a fresh slice each call
	if WorkbookWindows()[0].Threshold != 14.4 {
		t.Error("WorkbookWindows shares its slice")
	}
	scaled := ScaleWindows(want, 1.0/60)
	wantScaled := []BurnWindow{
		{time.Minute, 5 * time.Second, 14.4},
		{6 * time.Minute, 30 * time.Second, 6},
		{24 * time.Minute, 2 * time.Minute, 3},
		{72 * time.Minute, 6 * time.Minute, 1},
	}
	if !slices.Equal(scaled, wantScaled) {
		t.Errorf("ScaleWindows(1/60) = %v", scaled)
	}
	if got := ScaleWindows([]BurnWindow{{time.Nanosecond, time.Nanosecond, 1}}, 1e-6); got[0].Long != 1 || got[0].Short != 1 {
		t.Errorf("tiny windows = %v, want 1ns", got)
	}
	for _, f := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "stats: ") {
					t.Errorf("ScaleWindows(%v) did not panic with a stats message: %v", f, r)
				}
			}()
			ScaleWindows(want, f)
		}()
	}
}

func TestEvaluateBurn(t *testing.T) {
	const step = 10 * time.Second
	rules := []BurnWindow{
		{Long: time.Minute, Short: 5 * time.Second, Threshold: 14.4}, // 6 points / 1 point
		{Long: 6 * time.Minute, Short: 30 * time.Second, Threshold: 6},
	}
	flat := func(n int, v float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = v
		}
		return x
	}
	tests := []struct {
		name      string
		ratios    []float64
		objective float64
		fired     []bool
		long      []float64
		short     []float64
	}{
		{"quiet", flat(40, 0.0001), 0.999, []bool{false, false}, []float64{0.1, 0.1}, []float64{0.1, 0.1}},
		{"steady burn above both", flat(40, 0.02), 0.999, []bool{true, true}, []float64{20, 20}, []float64{20, 20}},
		{
			// A burst that ended: the long window still burns, the short
			// one has recovered, so nothing fires.
			"burst over", append(append(flat(30, 0), flat(5, 0.1)...), flat(5, 0)...), 0.999,
			[]bool{false, false}, []float64{100.0 / 6, 500.0 / 36}, []float64{0, 0},
		},
		{
			// A fresh burst: the short windows fire at once, the long
			// window of the fast rule is over threshold too.
			"burst starting", append(flat(38, 0), 0.1, 0.1), 0.999,
			[]bool{true, false}, []float64{200.0 / 6, 200.0 / 36}, []float64{100, 200.0 / 3},
		},
		{
			// Shorter history than the long window: all points count.
			"short history", []float64{0.02, 0.02}, 0.999,
			[]bool{true, true}, []float64{20, 20}, []float64{20, 20},
		},
	}
	dst := make([]BurnResult, 0, len(rules))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, fired, err := EvaluateBurn(dst, tt.ratios, step, tt.objective, rules)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(rules) {
				t.Fatalf("%d results", len(res))
			}
			any := false
			for i, r := range res {
				if r.Window != rules[i] || r.Fired != tt.fired[i] ||
					math.Abs(r.LongRate-tt.long[i]) > 1e-9*max(1, tt.long[i]) ||
					math.Abs(r.ShortRate-tt.short[i]) > 1e-9*max(1, tt.short[i]) {
					t.Errorf("rule %d: %+v, want fired %v long %v short %v", i, r, tt.fired[i], tt.long[i], tt.short[i])
				}
				any = any || r.Fired
			}
			if fired != any {
				t.Errorf("fired = %v, rules %v", fired, res)
			}
		})
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := EvaluateBurn(dst, tests[0].ratios, step, 0.999, rules); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("EvaluateBurn allocates %v times per call", allocs)
	}
}

func TestEvaluateBurnErrors(t *testing.T) {
	ok := []BurnWindow{{time.Minute, 5 * time.Second, 14.4}}
	tests := []struct {
		name      string
		ratios    []float64
		step      time.Duration
		objective float64
		ws        []BurnWindow
		is        error
		msg       string
	}{
		{"empty", nil, time.Second, 0.99, ok, ErrEmpty, "stats: error ratios are empty"},
		{"NaN", []float64{0, math.NaN()}, time.Second, 0.99, ok, ErrNaN, "stats: ratios[1] is NaN"},
		{"Inf", []float64{math.Inf(1)}, time.Second, 0.99, ok, ErrInf, "stats: ratios[0] is infinite"},
		{"negative", []float64{0, 0, -1}, time.Second, 0.99, ok, nil, "stats: ratios[2] -1 is negative"},
		{"step", []float64{0}, 0, 0.99, ok, nil, "stats: burn-rate step 0s is not positive"},
		{"objective", []float64{0}, time.Second, 1.5, ok, nil, "stats: SLO objective 1.5 not in (0, 1)"},
		{"short longer", []float64{0}, time.Second, 0.99, []BurnWindow{{time.Minute, time.Hour, 1}}, nil,
			"stats: burn-rate rule 0: windows 1m0s/1h0m0s: want 0 < short <= long"},
		{"threshold", []float64{0}, time.Second, 0.99, []BurnWindow{ok[0], {time.Minute, time.Second, 0}}, nil,
			"stats: burn-rate rule 1: threshold 0 is not positive and finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fired, err := EvaluateBurn(nil, tt.ratios, tt.step, tt.objective, tt.ws)
			if err == nil || err.Error() != tt.msg || fired {
				t.Fatalf("error %v (fired %v), want %q", err, fired, tt.msg)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not wrap %v", err, tt.is)
			}
		})
	}
}
