package embedded_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/canaryd/canaryd/metrics/embedded"
)

// benchLabels returns the labels of synthetic series i: one analysis's
// latency on one track, as the fleet benchmark makes them.
func benchLabels(i int) labels.Labels {
	track := "baseline"
	if i%2 == 1 {
		track = "canary"
	}
	return labels.FromStrings("__name__", "canaryd_bench_requests_total",
		"analysis", "a"+strconv.Itoa(i/2), "service", "svc"+strconv.Itoa(i/20), "track", track)
}

// appendAll adds one sample of every series at ts, in one batch.
func appendAll(b *testing.B, src *embedded.Source, lbls []labels.Labels, ts time.Time, v float64) {
	batch := src.NewBatch()
	for _, l := range lbls {
		if err := batch.Add(ts, l, v); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAppend adds one sample to each of 10,000 series per operation
// through a Batch: "existing" is the steady state (series known, a new
// timestamp each time), "new" creates the series in a fresh source.
func BenchmarkAppend(b *testing.B) {
	const n = 10_000
	lbls := make([]labels.Labels, n)
	for i := range lbls {
		lbls[i] = benchLabels(i)
	}
	b.Run("series=10000/existing", func(b *testing.B) {
		src := newSource(b, embedded.Options{Retention: 24 * time.Hour})
		appendAll(b, src, lbls, t0, 0)
		b.ReportAllocs()
		b.ResetTimer()
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			appendAll(b, src, lbls, t0.Add(time.Duration(i+1)*10*time.Second), float64(i))
		}
		cpu.report(b)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
	})
	b.Run("series=10000/new", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			src, err := embedded.New(embedded.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			appendAll(b, src, lbls, t0, 1)
			b.StopTimer()
			if err := src.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
	})
}

// BenchmarkIngest parses and stores a 10,000-series text exposition per
// operation (the scrape path), series known, a new timestamp each time.
func BenchmarkIngest(b *testing.B) {
	const n = 10_000
	var body bytes.Buffer
	body.WriteString("# TYPE canaryd_bench_requests_total counter\n")
	for i := range n {
		fmt.Fprintf(&body, "canaryd_bench_requests_total{analysis=\"a%d\",track=\"canary\"} %d\n", i, i)
	}
	src := newSource(b, embedded.Options{Retention: 24 * time.Hour})
	target := map[string]string{"service": "checkout"}
	if err := src.Ingest(t0, target, bytes.NewReader(body.Bytes()), ""); err != nil {
		b.Fatal(err)
	}
	next := t0
	b.Run("series=10000", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(body.Len()))
		cpu := startCPU()
		for i := 0; i < b.N; i++ {
			next = next.Add(10 * time.Second) // later than every earlier run's
			if err := src.Ingest(next, target, bytes.NewReader(body.Bytes()), ""); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
	})
}

// BenchmarkQueryRange answers range queries over counters with 10s samples
// for 15 minutes through the HTTP handler, JSON encoding included,
// transport excluded, for 1,000 and 10,000 series:
//
//	window=10m    rate over 10 minutes at a 10s step: n series × 61 points
//	window=1step  the same query over one 10s interval: n series × 2 points
//	grouped       sum by (track) over 10 minutes: 2 series × 61 points
func BenchmarkQueryRange(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run("series="+strconv.Itoa(n), func(b *testing.B) { benchQueryRange(b, n) })
	}
}

func benchQueryRange(b *testing.B, n int) {
	src := newSource(b, embedded.Options{Retention: 24 * time.Hour})
	lbls := make([]labels.Labels, n)
	for i := range lbls {
		lbls[i] = benchLabels(i)
	}
	const samples = 91 // 15 minutes at 10s
	for j := range samples {
		appendAll(b, src, lbls, t0.Add(time.Duration(j)*10*time.Second), float64(j*j))
	}
	end := t0.Add(15 * time.Minute)
	h := src.Handler()
	for _, bc := range []struct {
		name, query string
		start       time.Time
		series      int
	}{
		{"window=10m", `rate(canaryd_bench_requests_total[1m])`, end.Add(-10 * time.Minute), n},
		{"window=1step", `rate(canaryd_bench_requests_total[1m])`, end.Add(-10 * time.Second), n},
		{"grouped", `sum by (track) (rate(canaryd_bench_requests_total[1m]))`, end.Add(-10 * time.Minute), 2},
	} {
		form := url.Values{
			"query": {bc.query}, "start": {formatSeconds(bc.start)}, "end": {formatSeconds(end)}, "step": {"10"},
		}.Encode()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			cpu := startCPU()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodGet, "/api/v1/query_range?"+form, nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
				}
				size = rec.Body.Len()
			}
			cpu.report(b)
			b.ReportMetric(float64(size), "bytes/answer")
			if got := bytes.Count(rec(h, form), []byte(`"metric"`)); got != bc.series {
				b.Fatalf("answer has %d series, want %d", got, bc.series)
			}
		})
	}
}

// rec answers one query, for checking a benchmark's answer.
func rec(h http.Handler, form string) []byte {
	r := httptest.NewRecorder()
	h.ServeHTTP(r, httptest.NewRequest(http.MethodGet, "/api/v1/query_range?"+form, nil))
	return r.Body.Bytes()
}

// BenchmarkHeap measures the heap the source keeps: 10,000 series with an
// hour of 10s samples (360 each, values of a slowly rising counter), after
// a garbage collection, per series and per sample. Run it with
// -benchtime=1x; each operation builds a fresh source.
func BenchmarkHeap(b *testing.B) {
	const n, samples = 10_000, 360
	lbls := make([]labels.Labels, n)
	for i := range lbls {
		lbls[i] = benchLabels(i)
	}
	var perSeries float64
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		src, err := embedded.New(embedded.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		for j := range samples {
			appendAll(b, src, lbls, t0.Add(time.Duration(j)*10*time.Second), float64(j*7))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSeries = float64(after.HeapAlloc-before.HeapAlloc) / n
		if err := src.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perSeries, "heap-bytes/series")
	b.ReportMetric(perSeries/samples, "heap-bytes/sample")
}

// cpuMeter measures the process's CPU time (user and system, every thread:
// garbage collection and an in-process server included). Unlike ns/op it
// hardly moves when other processes share the cores, which they do here.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

// report adds the CPU time per operation since startCPU as cpu-ns/op.
func (c cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
