package demo

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// behaviour is how a simulated service answers requests.
type behaviour struct {
	// medianLatency and sigma describe log-normal request latencies.
	medianLatency time.Duration
	sigma         float64
	// tailShare of requests are slow, tailFactor times the median.
	tailShare, tailFactor float64
	// errorRatio is the share of requests answered with a 500.
	errorRatio float64
	// cpuPerRequest is CPU seconds per request.
	cpuPerRequest float64
	// memoryBytes is the resident memory.
	memoryBytes float64
}

// service is a simulated HTTP service instrumented with client_golang, as
// a real one would be: a latency histogram, a request counter by code, and
// process CPU and memory.
type service struct {
	reg      *prometheus.Registry
	latency  prometheus.Histogram
	requests *prometheus.CounterVec
	cpu      prometheus.Counter
	memory   prometheus.Gauge
	b        behaviour
	rng      *rand.Rand
}

func newService(b behaviour, seed uint64) *service {
	s := &service{
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latencies.",
			Buckets: prometheus.ExponentialBuckets(0.005, 1.15, 40),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by status code.",
		}, []string{"code"}),
		cpu: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "process_cpu_seconds_total",
			Help: "CPU time used.",
		}),
		memory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "process_resident_memory_bytes",
			Help: "Resident memory.",
		}),
		b:   b,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.reg.MustRegister(s.latency, s.requests, s.cpu, s.memory)
	return s
}

// serve simulates n requests.
func (s *service) serve(n int) {
	med := s.b.medianLatency.Seconds()
	for i := 0; i < n; i++ {
		l := med * math.Exp(s.b.sigma*s.rng.NormFloat64())
		if s.rng.Float64() < s.b.tailShare {
			l *= s.b.tailFactor
		}
		s.latency.Observe(l)
		code := "200"
		if s.rng.Float64() < s.b.errorRatio {
			code = "500"
		}
		s.requests.WithLabelValues(code).Inc()
	}
	s.cpu.Add(float64(n) * s.b.cpuPerRequest * (1 + 0.05*s.rng.NormFloat64()))
	s.memory.Set(s.b.memoryBytes * (1 + 0.002*s.rng.NormFloat64()))
}
