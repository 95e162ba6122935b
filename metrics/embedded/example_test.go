package embedded_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/metrics/embedded"
)

// A service instrumented with client_golang is scraped on a simulated clock
// and queried over the Prometheus HTTP API, as canaryd's demo does.
func Example() {
	src, err := embedded.New(embedded.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	reg := prom.NewRegistry()
	requests := prom.NewCounter(prom.CounterOpts{Name: "http_requests_total", Help: "Requests served."})
	reg.MustRegister(requests)

	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC) // simulated time
	for i := range 5 {
		requests.Add(30) // 30 requests per 15s: 2 per second
		ts := start.Add(time.Duration(i) * 15 * time.Second)
		if err := src.IngestGatherer(ts, map[string]string{"service": "checkout", "track": "canary"}, reg); err != nil {
			log.Fatal(err)
		}
	}

	url, err := src.Start("") // a free loopback port
	if err != nil {
		log.Fatal(err)
	}
	defer src.Stop(context.Background())

	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		log.Fatal(err)
	}
	v, _, _, err := v1.NewAPI(client).QueryRange(context.Background(), `rate(http_requests_total[1m])`,
		v1.Range{Start: start.Add(time.Minute), End: start.Add(time.Minute), Step: 15 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range v.(model.Matrix) {
		fmt.Printf("%s %.6g requests/s\n", s.Metric, float64(s.Values[0].Value)) // extrapolation leaves float rounding
	}
	// Output:
	// {service="checkout", track="canary"} 2 requests/s
}
