package metrics_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/canaryd/canaryd/metrics"
)

func ExampleRecording_WriteTo() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &metrics.Recording{Meta: map[string]string{"analysis": "a-1"}}
	s := metrics.Samples{
		Query:  `up{track="canary"}`,
		Times:  []int64{start.UnixMilli(), start.Add(10 * time.Second).UnixMilli()},
		Values: []float64{0.25, math.NaN()},
	}
	s.Tally(start, start.Add(20*time.Second), 10*time.Second)
	rec.Record(0, start, start.Add(20*time.Second), "up", metrics.Canary, s)
	if _, err := rec.WriteTo(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {"version":2,"meta":{"analysis":"a-1"},"intervals":[
	// {"index":0,"start":"2024-01-01T00:00:00Z","end":"2024-01-01T00:00:20Z","metrics":{"up":{"canary":{"query":"up{track=\"canary\"}","times":[1704067200000,1704067210000],"values":[0.25,"NaN"],"nan":1,"inf":0,"gaps":1}}}}
	// ]}
}

func ExampleReadRecording() {
	rec, err := metrics.ReadRecording(strings.NewReader(
		`{"intervals":[{"metrics":{"cpu":{"baseline":[0.5,0.5],"canary":[0.75,"NaN"]}}}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := rec.Provider().Fetch(context.Background(), metrics.Query{Metric: "cpu", Role: metrics.Canary, Interval: 0})
	fmt.Println(s.Times, s.Values, s.NaN, err)
	// Output:
	// [0 1000] [0.75 NaN] 1 <nil>
}
