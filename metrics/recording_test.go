package metrics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sharedFile returns the path of a file under ../shared, the directory next
// to the repository root.
func sharedFile(t *testing.T, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func assertSameSamples(t *testing.T, what string, got, want Samples) {
	t.Helper()
	if got.Query != want.Query || !slices.Equal(got.Times, want.Times) || !sameFloats(got.Values, want.Values) ||
		got.NaN != want.NaN || got.Inf != want.Inf || got.Gaps != want.Gaps ||
		strings.Join(got.Warnings, "\n") != strings.Join(want.Warnings, "\n") {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// fetched is a set of samples as a provider would return them, with the
// awkward values a recording has to keep: NaN, ±Inf, -0, the largest and
// smallest float64, and decimals without an exact binary form.
func fetched(query string, t0 int64) Samples {
	s := Samples{
		Query:    query,
		Times:    []int64{t0, t0 + 10e3, t0 + 20e3, t0 + 40e3, t0 + 50e3, t0 + 60e3, t0 + 70e3, t0 + 80e3},
		Values:   []float64{0.1, nan, pinf, ninf, math.Copysign(0, -1), 1.7976931348623157e308, 5e-324, 123456.789e-3},
		Gaps:     1,
		Warnings: []string{"PromQL warning: encountered a mix of histograms and floats"},
	}
	s.NaN, s.Inf = CountSpecial(s.Values)
	return s
}

func TestRecordThenReplay(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	type key struct {
		interval int
		metric   string
		role     Role
	}
	want := map[key]Samples{}
	rec := &Recording{Meta: map[string]string{"analysis": "a-1", "service": "checkout"}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Record from many goroutines, as the engine does after parallel fetches,
	// intervals out of order.
	for _, iv := range []int{2, 0, 1} {
		for _, metric := range []string{"latency_p99", "error_rate"} {
			for _, role := range []Role{Baseline, Canary} {
				wg.Go(func() {
					s := fetched(fmt.Sprintf(`q{metric=%q,role=%q}`, metric, role), start.Add(time.Duration(iv)*time.Minute).UnixMilli())
					from := start.Add(time.Duration(iv) * time.Minute)
					rec.Record(iv, from, from.Add(time.Minute), metric, role, s)
					s.Values[0] = 42 // Record must have kept a copy
					mu.Lock()
					want[key{iv, metric, role}] = fetched(s.Query, start.Add(time.Duration(iv)*time.Minute).UnixMilli())
					mu.Unlock()
				})
			}
		}
	}
	wg.Wait()

	var buf bytes.Buffer
	n, err := rec.WriteTo(&buf)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("WriteTo wrote invalid JSON:\n%s", buf.String())
	}
	got, err := ReadRecording(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("ReadRecording: %v\n%s", err, buf.String())
	}
	if got.Version != RecordingVersion || got.Meta["analysis"] != "a-1" || len(got.Intervals) != 3 {
		t.Fatalf("read back version %d, meta %v, %d intervals", got.Version, got.Meta, len(got.Intervals))
	}
	for i, iv := range got.Intervals {
		from := start.Add(time.Duration(i) * time.Minute)
		if iv.Index != i || !iv.Start.Equal(from) || !iv.End.Equal(from.Add(time.Minute)) {
			t.Errorf("interval %d: index %d, window %v to %v", i, iv.Index, iv.Start, iv.End)
		}
	}

	for _, r := range []*Recording{rec, got} {
		p := r.Provider()
		for k, w := range want {
			s, err := p.Fetch(context.Background(), Query{Metric: k.metric, Role: k.role, Interval: k.interval, Expr: "ignored"})
			if err != nil {
				t.Fatalf("replay Fetch %v: %v", k, err)
			}
			assertSameSamples(t, fmt.Sprintf("replay %v", k), s, w)
			s.Values[1] = 7 // replay hands out copies
		}
	}

	// Writing what was read gives the same bytes: nothing was lost or changed.
	var again bytes.Buffer
	if _, err := got.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if again.String() != buf.String() {
		t.Errorf("second write differs:\n%s\nfirst:\n%s", again.String(), buf.String())
	}
}

func TestRecordReplaces(t *testing.T) {
	var rec Recording
	t0 := time.Unix(1704067200, 0)
	rec.Record(0, t0, t0.Add(time.Minute), "cpu", Canary, Samples{Times: []int64{1}, Values: []float64{1}})
	rec.Record(0, t0, t0.Add(2*time.Minute), "cpu", Canary, Samples{Times: []int64{2}, Values: []float64{2}})
	s, err := rec.Provider().Fetch(context.Background(), Query{Metric: "cpu", Role: Canary})
	if err != nil {
		t.Fatal(err)
	}
	if s.Values[0] != 2 || !rec.Intervals[0].End.Equal(t0.Add(2*time.Minute)) || len(rec.Intervals) != 1 {
		t.Errorf("second Record did not replace the first: %+v, %+v", s, rec.Intervals)
	}
}

func TestReplayNotRecorded(t *testing.T) {
	var rec Recording
	t0 := time.Unix(1704067200, 0)
	for _, iv := range []int{0, 1, 3} {
		rec.Record(iv, t0, t0, "cpu", Canary, Samples{})
		rec.Record(iv, t0, t0, "memory_mb", Canary, Samples{})
	}
	p := rec.Provider()
	tests := []struct {
		q    Query
		want []string
	}{
		{Query{Metric: "cpu", Role: Canary, Interval: 2}, []string{"cpu for canary", "interval 2", "intervals 0, 1, 3"}},
		{Query{Metric: "latency", Role: Canary, Interval: 1}, []string{`metric "latency"`, "recorded metrics: cpu, memory_mb"}},
		{Query{Metric: "cpu", Role: Baseline, Interval: 0}, []string{"baseline samples", `"cpu"`, "recorded roles: canary"}},
	}
	for _, tt := range tests {
		_, err := p.Fetch(context.Background(), tt.q)
		if !errors.Is(err, ErrNotRecorded) {
			t.Errorf("Fetch(%v) = %v, want ErrNotRecorded", tt.q, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Fetch(ctx, Query{Metric: "cpu", Role: Canary}); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestReadMinimalForm(t *testing.T) {
	in := `{"intervals": [
		{"metrics": {"cpu": {"baseline": [0.5, 0.25, 1e-3], "canary": [0.5, "NaN", "+Inf"]}}},
		{"metrics": {"cpu": {"baseline": [1, 2], "canary": [3, 4]}, "mem": {"canary": [7, "-Inf", 9, 10]}}}
	]}`
	rec, err := ReadRecording(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadRecording: %v", err)
	}
	if rec.Version != 0 || len(rec.Intervals) != 2 {
		t.Fatalf("version %d, %d intervals; want 0, 2", rec.Version, len(rec.Intervals))
	}
	p := rec.Provider()
	tests := []struct {
		interval int
		metric   string
		role     Role
		want     Samples
	}{
		{0, "cpu", Baseline, Samples{Times: []int64{0, 1000, 2000}, Values: []float64{0.5, 0.25, 0.001}}},
		{0, "cpu", Canary, Samples{Times: []int64{0, 1000, 2000}, Values: []float64{0.5, nan, pinf}, NaN: 1, Inf: 1}},
		// Interval 1 starts after interval 0's three points.
		{1, "cpu", Canary, Samples{Times: []int64{3000, 4000}, Values: []float64{3, 4}}},
		{1, "mem", Canary, Samples{Times: []int64{3000, 4000, 5000, 6000}, Values: []float64{7, ninf, 9, 10}, Inf: 1}},
	}
	for _, tt := range tests {
		s, err := p.Fetch(context.Background(), Query{Metric: tt.metric, Role: tt.role, Interval: tt.interval})
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		assertSameSamples(t, fmt.Sprintf("interval %d %s %s", tt.interval, tt.metric, tt.role), s, tt.want)
	}
	iv := rec.Intervals[1]
	if iv.Index != 1 || iv.Start.UnixMilli() != 3000 || iv.End.UnixMilli() != 6000 {
		t.Errorf("interval 1: index %d, window %d to %d ms; want 1, 3000 to 6000", iv.Index, iv.Start.UnixMilli(), iv.End.UnixMilli())
	}
}

// TestReadScenarioLine reads the first line of the shared scenarios as it is
// (a line object wrapping the minimal form) and checks every value against an
// independent decoding of the same line.
func TestReadScenarioLine(t *testing.T) {
	f, err := os.Open(sharedFile(t, "scenarios/sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	if !sc.Scan() {
		t.Fatalf("no first line: %v", sc.Err())
	}
	line := sc.Bytes()

	var oracle struct {
		Recording struct {
			Intervals []struct {
				Metrics map[string]map[string][]float64 `json:"metrics"`
			} `json:"intervals"`
		} `json:"recording"`
	}
	if err := json.Unmarshal(line, &oracle); err != nil {
		t.Fatalf("decode the line independently: %v", err)
	}

	rec, err := ReadRecording(bytes.NewReader(line))
	if err != nil {
		t.Fatalf("ReadRecording: %v", err)
	}
	if len(rec.Intervals) != 10 || len(oracle.Recording.Intervals) != 10 {
		t.Fatalf("%d intervals (oracle %d), want 10", len(rec.Intervals), len(oracle.Recording.Intervals))
	}
	p := rec.Provider()
	points := 0
	for i, iv := range oracle.Recording.Intervals {
		if len(iv.Metrics) != 5 {
			t.Errorf("oracle interval %d has %d metrics, want 5", i, len(iv.Metrics))
		}
		for metric, roles := range iv.Metrics {
			for role, want := range roles {
				s, err := p.Fetch(context.Background(), Query{Metric: metric, Role: Role(role), Interval: i})
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if !sameFloats(s.Values, want) || len(s.Times) != 30 || s.Times[0] != int64(30*i)*1000 {
					t.Errorf("interval %d %s %s: values %v times %v..., want values %v from %d ms",
						i, metric, role, s.Values, s.Times[:min(1, len(s.Times))], want, 30*i*1000)
				}
				points += len(s.Values)
			}
		}
	}
	if points != 10*5*2*30 {
		t.Errorf("read %d points, want %d", points, 10*5*2*30)
	}

	// The whole file is many recordings: refused with the position of the second.
	all, err := os.ReadFile(sharedFile(t, "scenarios/sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRecording(bytes.NewReader(all)); err == nil || !strings.Contains(err.Error(), "line 2, column 1") {
		t.Errorf("ReadRecording(whole JSON Lines file) = %v, want an error at line 2, column 1", err)
	}
}

func TestReadRecordingErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "  \n", []string{"empty input"}},
		{"syntax", "{\"intervals\": [\n  {\"metrics\": {\"cpu\": {\"canary\": [1, 2,, 3]}}}\n]}", []string{"line 2, column 40", "invalid character"}},
		{"truncated", "{\"intervals\": [\n  {\"metrics\":", []string{"line 2", "unexpected end"}},
		{"not an object", `[1, 2]`, []string{"want an object"}},
		{"bare NaN", `{"intervals":[{"metrics":{"cpu":{"canary":[NaN]}}}]}`, []string{"line 1, column 44", "invalid character 'N'"}},
		{"bad value", `{"intervals":[{"metrics":{"cpu":{"canary":[1, "abc"]}}}]}`, []string{`intervals[0].metrics.cpu.canary[1]`, `"abc" is not a value`}},
		{"null value", `{"intervals":[{"metrics":{"cpu":{"canary":[1, null]}}}]}`, []string{`intervals[0].metrics.cpu.canary[1]`, "null is not a value"}},
		{"out of range", `{"intervals":[{"metrics":{"cpu":{"canary":[1e999]}}}]}`, []string{`canary[0]`, "out of range"}},
		{"unknown role", `{"intervals":[{"metrics":{"cpu":{"canry":[1]}}}]}`, []string{`intervals[0].metrics.cpu.canry`, `unknown role "canry"`}},
		{"unknown field, minimal", `{"intervals":[], "step": 10}`, []string{`step: unknown field`, "minimal form"}},
		{"unknown field in interval", `{"intervals":[{"metrics":{}, "index": 3}]}`, []string{`intervals[0]`, `unknown field "index"`}},
		{"samples object without version", `{"intervals":[{"metrics":{"cpu":{"canary":{"times":[1],"values":[1]}}}}]}`, []string{"got an object", `"version": 2`}},
		{"wrapped, bad", `{"id":"x","recording":{"intervals":[{"metrics":{"cpu":{"canary":["x"]}}}]}}`, []string{`recording.intervals[0].metrics.cpu.canary[0]`}},
		{"unsupported version", `{"version": 3, "intervals": []}`, []string{"version: unsupported recording version 3"}},
		{"freshness in version 1", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1],"values":[1],"sample_times":[1],"last_sample":1}}}}]}`, []string{`canary: sample_times and last_sample need version 2`}},
		{"sample times without last sample", `{"version":2,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1],"values":[1],"sample_times":[1]}}}}]}`, []string{`canary.sample_times: without last_sample`}},
		{"sample times per point", `{"version":2,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1,2],"values":[1,2],"sample_times":[1],"last_sample":1}}}}]}`, []string{`canary.sample_times: 1 for 2 points`}},
		{"sample time after the last", `{"version":2,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1],"values":[1],"sample_times":[5],"last_sample":1}}}}]}`, []string{`canary.sample_times[0]: 5 is not in [0, last_sample 1]`}},
		{"versioned, missing index", `{"version":1,"intervals":[{"metrics":{}}]}`, []string{`intervals[0]: missing "index"`}},
		{"versioned, index order", `{"version":1,"intervals":[{"index":1,"metrics":{}},{"index":1,"metrics":{}}]}`, []string{`intervals[1]: index 1 after index 1`}},
		{"versioned, times and values", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1,2],"values":[1]}}}}]}`, []string{`intervals[0].metrics.cpu.canary: 2 times and 1 values`}},
		{"versioned, times order", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[2,1],"values":[1,2]}}}}]}`, []string{`canary.times[1]: 1 does not follow 2`}},
		{"versioned, wrong nan count", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[1],"values":["NaN"],"nan":0}}}}]}`, []string{`canary.nan: says 0 but the values hold 1 NaN`}},
		{"versioned, unknown sample field", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[],"values":[],"labels":{}}}}}]}`, []string{`intervals[0].metrics.cpu.canary`, `unknown field "labels"`}},
		{"versioned, time as string", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":["1"],"values":[1]}}}}]}`, []string{`intervals[0].metrics.cpu.canary: times`}},
		{"versioned, missing values", `{"version":1,"intervals":[{"index":0,"metrics":{"cpu":{"canary":{"times":[]}}}}]}`, []string{`canary.values: want an array of values, got nothing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := ReadRecording(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ReadRecording = %+v, want an error", rec)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
