package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestFetchAll(t *testing.T) {
	var rec Recording
	t0 := time.Unix(1704067200, 0)
	var qs []Query
	for i := range 200 {
		metric := fmt.Sprintf("m%03d", i)
		rec.Record(i%3, t0, t0, metric, Canary, Samples{Query: metric, Times: []int64{int64(i)}, Values: []float64{float64(i)}})
		qs = append(qs, Query{Metric: metric, Role: Canary, Interval: i % 3})
	}
	// Two queries the recording cannot answer.
	qs[17].Role = Baseline
	qs[150].Interval = 9

	dst := make([]Samples, 0, 300)
	out, errs := FetchAll(context.Background(), rec.Provider(), qs, dst)
	if len(out) != len(qs) || len(errs) != len(qs) {
		t.Fatalf("len(out), len(errs) = %d, %d; want %d", len(out), len(errs), len(qs))
	}
	if &out[:1][0] != &dst[:1][0] {
		t.Error("FetchAll did not reuse dst")
	}
	for i, s := range out {
		if i == 17 || i == 150 {
			if !errors.Is(errs[i], ErrNotRecorded) || !s.Empty() {
				t.Errorf("query %d: %v, %+v; want ErrNotRecorded and no samples", i, errs[i], s)
			}
			continue
		}
		if errs[i] != nil || s.Query != qs[i].Metric || s.Values[0] != float64(i) {
			t.Errorf("query %d: got %+v, %v", i, s, errs[i])
		}
	}

	qs[17].Role, qs[150].Interval = Canary, 0
	_, errs = FetchAll(context.Background(), rec.Provider(), qs, out)
	if errs != nil {
		t.Errorf("all queries answerable: errs = %v, want nil", errs)
	}
}

func TestFetchAllCancelled(t *testing.T) {
	var rec Recording
	rec.Record(0, time.Time{}, time.Time{}, "cpu", Canary, Samples{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	qs := []Query{{Metric: "cpu", Role: Canary}, {Metric: "cpu", Role: Canary}}
	out, errs := FetchAll(ctx, rec.Provider(), qs, nil)
	if len(out) != 2 || len(errs) != 2 {
		t.Fatalf("len(out), len(errs) = %d, %d; want 2, 2", len(out), len(errs))
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errs[%d] = %v, want context.Canceled", i, err)
		}
	}

	out, errs = FetchAll(context.Background(), rec.Provider(), nil, nil)
	if len(out) != 0 || errs != nil {
		t.Errorf("no queries: %v, %v", out, errs)
	}
}
