package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryd/canaryd/rollout/message"
)

// benchConfig never ends an analysis: every round judges every analysis.
const benchConfig = `
global:
  prometheus:
    url: http://127.0.0.1:9
templates:
  - name: web
    interval: 1m
    steps: [50, 100]
    judgements_per_step: 1000000
    min_samples: 10
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
      - name: errors
        query: 'errors_ratio{service="{{.Service}}",version="{{.Version}}"}'
`

// BenchmarkRound measures one judgement round of a replica running n
// analyses: fetch (synthetic provider, 31 points per series), judge,
// persist with compare-and-swap, publish, record as published. One op is
// one round; judgements/s is n per round time.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{10, 100, 500} {
		b.Run(fmt.Sprintf("analyses=%d", n), func(b *testing.B) { benchmarkRound(b, n) })
	}
}

func benchmarkRound(b *testing.B, n int) {
	dir := b.TempDir()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	cfg := filepath.Join(dir, "canaryd.yml")
	if err := os.WriteFile(cfg, []byte(benchConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	a, err := New(Options{ConfigFile: cfg, NATSURL: s.ClientURL(), StoragePath: dir, Clock: clock, Provider: synthProvider{},
		Registerer: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler), ScanInterval: time.Hour, LeaseGrace: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer a.Stop(ctx)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	got := make(chan struct{}, 4*n)
	sub, err := nc.Subscribe(message.VerdictPrefix+">", func(*nats.Msg) { got <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		e := event(fmt.Sprintf("b%d", i), "v2")
		if _, err := a.runner.Create(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		clock.Advance(time.Minute)
		for range n {
			select {
			case <-got:
			case <-time.After(waitTimeout):
				b.Fatal("timed out waiting for verdicts")
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "judgements/s")
}

// BenchmarkAPI measures the API's reads with 10,000 analyses stored, each
// judged once: a service's analyses, the first page of 100 (all, and
// running ones), one analysis, its verdict. CPU is the whole process's
// (daemon and embedded NATS server) per request.
func BenchmarkAPI(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats not ready")
	}
	cfg := filepath.Join(dir, "canaryd.yml")
	if err := os.WriteFile(cfg, []byte(benchConfig), 0o644); err != nil {
		b.Fatal(err)
	}
	clock := newFakeClock()
	reg := prometheus.NewRegistry()
	a, err := New(Options{ConfigFile: cfg, NATSURL: s.ClientURL(), StoragePath: dir, Clock: clock, Provider: synthProvider{},
		Registerer: reg, Gatherer: reg, Logger: slog.New(slog.DiscardHandler), ScanInterval: time.Hour, LeaseGrace: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer a.Stop(ctx)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	got := make(chan struct{}, n)
	sub, err := nc.Subscribe(message.VerdictPrefix+">", func(*nats.Msg) { got <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		e := event(fmt.Sprintf("api%05d", i), "v2")
		e.Service = fmt.Sprintf("svc-%05d", i)
		if _, err := a.runner.Create(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	for range n {
		select {
		case <-got:
		case <-time.After(waitTimeout):
			b.Fatal("timed out waiting for verdicts")
		}
	}
	h := a.Handler()
	for _, k := range []struct{ name, path string }{
		{"list_service", "/api/v1/analyses?namespace=prod&service=svc-04242"},
		{"list_page", "/api/v1/analyses?limit=100"},
		{"list_running_page", "/api/v1/analyses?state=running&namespace=prod&limit=100"},
		{"get", "/api/v1/analyses/api04242"},
		{"verdict", "/api/v1/analyses/api04242/verdict"},
		{"index_page", "/analyses"},
		{"index_service", "/analyses?service=svc-04242"},
	} {
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, k.path, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", k.path, w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
