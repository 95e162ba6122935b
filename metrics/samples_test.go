package metrics

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	nan  = math.NaN()
	pinf = math.Inf(1)
	ninf = math.Inf(-1)
)

// sameFloats reports whether a and b hold the same values bit for bit, any
// NaN matching any NaN.
func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.IsNaN(a[i]) && math.IsNaN(b[i]) {
			continue
		}
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func TestExpectedPoints(t *testing.T) {
	t0 := time.Unix(1704067200, 0)
	tests := []struct {
		name       string
		start, end time.Time
		step       time.Duration
		want       int
	}{
		{"one point", t0, t0, time.Minute, 1},
		{"ten steps inclusive", t0, t0.Add(9 * time.Minute), time.Minute, 10},
		{"end between steps", t0, t0.Add(9*time.Minute + 30*time.Second), time.Minute, 10},
		{"10s over 5m", t0, t0.Add(5 * time.Minute), 10 * time.Second, 31},
		{"end before start", t0.Add(time.Minute), t0, time.Minute, 0},
		{"zero step", t0, t0.Add(time.Minute), 0, 0},
		{"negative step", t0, t0.Add(time.Minute), -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpectedPoints(tt.start, tt.end, tt.step); got != tt.want {
				t.Errorf("ExpectedPoints = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTally(t *testing.T) {
	t0 := time.Unix(1704067200, 0)
	s := Samples{
		Times:  []int64{0, 60e3, 180e3, 240e3, 300e3},
		Values: []float64{1, nan, pinf, ninf, nan},
	}
	s.Tally(t0, t0.Add(9*time.Minute), time.Minute)
	if s.NaN != 2 || s.Inf != 2 || s.Gaps != 5 {
		t.Errorf("Tally: NaN %d, Inf %d, Gaps %d; want 2, 2, 5", s.NaN, s.Inf, s.Gaps)
	}
	if s.Len() != 5 || s.Empty() {
		t.Errorf("Len %d, Empty %v; want 5, false", s.Len(), s.Empty())
	}

	var empty Samples
	empty.Tally(t0, t0.Add(4*time.Minute), time.Minute)
	if !empty.Empty() || empty.Gaps != 5 {
		t.Errorf("empty samples: Empty %v, Gaps %d; want true, 5", empty.Empty(), empty.Gaps)
	}
}

func TestTallyPanicsOnLengthMismatch(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(r.(string), "metrics: ") {
			t.Errorf("recover() = %v, want a panic with the package prefix", r)
		}
	}()
	s := Samples{Times: []int64{1, 2}, Values: []float64{1}}
	s.Tally(time.Time{}, time.Time{}, time.Second)
}

func TestClone(t *testing.T) {
	s := Samples{Query: "q", Times: []int64{1}, Values: []float64{2}, Warnings: []string{"w"}}
	c := s.Clone()
	c.Times[0], c.Values[0], c.Warnings[0] = 9, 9, "x"
	if s.Times[0] != 1 || s.Values[0] != 2 || s.Warnings[0] != "w" {
		t.Errorf("Clone shares memory with the original: %+v", s)
	}
}

func TestCombine(t *testing.T) {
	a := Series{Labels: `{pod="a"}`, Times: []int64{0, 10, 20, 30}, Values: []float64{1, 2, 3, 4}}
	b := Series{Labels: `{pod="b"}`, Times: []int64{0, 10, 20, 30}, Values: []float64{10, 20, 30, 40}}
	// c is ragged: missing at 10, has a point at 40 nobody else has.
	c := Series{Labels: `{pod="c"}`, Times: []int64{0, 20, 30, 40}, Values: []float64{100, 300, nan, 500}}
	tests := []struct {
		op         string
		series     []Series
		wantTimes  []int64
		wantValues []float64
	}{
		{"sum", []Series{a, b}, []int64{0, 10, 20, 30}, []float64{11, 22, 33, 44}},
		{"avg", []Series{a, b}, []int64{0, 10, 20, 30}, []float64{5.5, 11, 16.5, 22}},
		{"min", []Series{a, b}, []int64{0, 10, 20, 30}, []float64{1, 2, 3, 4}},
		{"max", []Series{a, b}, []int64{0, 10, 20, 30}, []float64{10, 20, 30, 40}},
		{"sum", []Series{a, b, c}, []int64{0, 10, 20, 30, 40}, []float64{111, 22, 333, nan, 500}},
		{"avg", []Series{a, b, c}, []int64{0, 10, 20, 30, 40}, []float64{37, 11, 111, nan, 500}},
		{"min", []Series{c, a, b}, []int64{0, 10, 20, 30, 40}, []float64{1, 2, 3, 4, 500}},
		{"max", []Series{c, a, b}, []int64{0, 10, 20, 30, 40}, []float64{100, 20, 300, 40, 500}},
		{"max", []Series{{Times: []int64{5}, Values: []float64{nan}}, {Times: []int64{5}, Values: []float64{nan}}}, []int64{5}, []float64{nan}},
		{"", []Series{a}, a.Times, a.Values},
		{"sum", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			times, values, err := Combine(tt.op, tt.series)
			if err != nil {
				t.Fatalf("Combine: %v", err)
			}
			if !slices.Equal(times, tt.wantTimes) || !sameFloats(values, tt.wantValues) {
				t.Errorf("Combine(%q) = %v %v, want %v %v", tt.op, times, values, tt.wantTimes, tt.wantValues)
			}
		})
	}
}

func TestCombineErrors(t *testing.T) {
	series := make([]Series, 7)
	for i := range series {
		series[i] = Series{Labels: `{pod="p` + string(rune('0'+i)) + `"}`, Times: []int64{0}, Values: []float64{1}}
	}
	_, _, err := Combine("", series)
	if !errors.Is(err, ErrMultipleSeries) {
		t.Fatalf("Combine without an aggregate: %v, want ErrMultipleSeries", err)
	}
	for _, want := range []string{"got 7", `{pod="p0"}`, `{pod="p4"}`, "and 2 more", "sum, avg, min or max"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `{pod="p5"}`) {
		t.Errorf("error %q lists more than five series", err)
	}
	if _, _, err := Combine("median", series); err == nil || !strings.Contains(err.Error(), `"median"`) {
		t.Errorf("Combine(median) = %v, want an error naming the aggregate", err)
	}
}

func TestValidAggregate(t *testing.T) {
	for _, op := range []string{"", "sum", "avg", "min", "max"} {
		if !ValidAggregate(op) {
			t.Errorf("ValidAggregate(%q) = false", op)
		}
	}
	for _, op := range []string{"Sum", "mean", "count", " "} {
		if ValidAggregate(op) {
			t.Errorf("ValidAggregate(%q) = true", op)
		}
	}
}
