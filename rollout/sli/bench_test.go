package sli

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkJudgementHooks measures what the SLIs add to one judgement of
// an analysis among 10,000 running on one instance: the runner's Track
// with its new step and the verdict's Published (not final: the common
// case).
func BenchmarkJudgementHooks(b *testing.B) {
	m := New(prometheus.NewRegistry(), time.Now)
	const fleet = 10_000
	rs := make([]Rollout, fleet)
	for i := range rs {
		rs[i] = Rollout{ID: "analysis-" + strconv.Itoa(i), Template: "web-" + strconv.Itoa(i%20), Namespace: "ns-" + strconv.Itoa(i%50), Created: t0, Start: t0}
		m.Track(rs[i], Position{Step: 1})
	}
	v := Verdict{Verdict: "promote", NextWeight: 50, IssuedAt: t0}
	b.ReportAllocs()
	cpu := processCPU()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := rs[i%fleet]
		m.Track(r, Position{Step: 1 + i%3})
		m.Published(r, v, t0)
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
