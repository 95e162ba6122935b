package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/cmd/canaryd/app"
	"github.com/canaryd/canaryd/cmd/canaryd/demo"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/metrics/batch"
	promsource "github.com/canaryd/canaryd/metrics/prometheus"
	"github.com/canaryd/canaryd/rollout/message"
)

var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// alignedClock stands in for a daemon that aligns each analysis' start to
// its template's query step: Now is truncated to the step, so analyses
// started within one step judge the same windows and can share queries.
type alignedClock struct {
	runner.Clock
	step time.Duration
}

func (c alignedClock) Now() time.Time { return c.Clock.Now().Truncate(c.step) }

// counted is the metrics.Provider the daemon sees: it counts the queries
// the daemon asks for, before any sharing.
type counted struct {
	metrics.Provider
	n atomic.Int64
	// noFreshness drops each query's freshness companion (-freshness=false).
	noFreshness bool
}

func (c *counted) Fetch(ctx context.Context, q metrics.Query) (metrics.Samples, error) {
	c.n.Add(1)
	if c.noFreshness {
		q.Freshness = ""
	}
	return c.Provider.Fetch(ctx, q)
}

func run(ctx context.Context, o options, out io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "canaryd-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	srcURL, srcStats, stopSource, err := startSource()
	if err != nil {
		return err
	}
	defer stopSource()

	cfgFile := filepath.Join(tmp, "canaryd.yml")
	if err := os.WriteFile(cfgFile, []byte(config(&o, srcURL)), 0o644); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	pcfg := configs.DefaultPrometheus()
	pcfg.URL = srcURL
	pcfg.Timeout = model.Duration(10 * time.Second)
	ps, err := promsource.New(pcfg, nil, reg)
	if err != nil {
		return err
	}
	defer ps.Close()
	var provider metrics.Provider = ps
	if o.batch {
		provider = batch.New(ps, batch.Options{Window: o.batchWindow, Registerer: reg})
	}
	asked := &counted{Provider: provider, noFreshness: !o.freshness}
	var daemonProvider metrics.Provider = asked
	if o.daemonProvider {
		// The daemon builds its own from global.prometheus, as deployed;
		// what it asks for is then not counted.
		daemonProvider = nil
	}

	var clock runner.Clock = runner.RealClock{}
	if o.factor != 1 {
		clock = demo.NewClock(time.Now(), o.factor)
	}
	if o.align {
		clock = alignedClock{Clock: clock, step: o.step()}
	}
	natsPort, err := freePort()
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if o.logFile != "" {
		f, err := os.Create(o.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(app.Options{
		ConfigFile:        cfgFile,
		ListenAddress:     "127.0.0.1:0",
		StoragePath:       filepath.Join(tmp, "data"),
		NATSListenAddress: "127.0.0.1:" + strconv.Itoa(natsPort),
		Logger:            logger,
		Registerer:        reg,
		Gatherer:          reg,
		Clock:             clock,
		Provider:          daemonProvider,
	})
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	appStopped := false
	defer func() {
		if !appStopped {
			_ = a.Stop(context.Background())
		}
	}()
	api := "http://" + a.Addr()

	// Verdicts, straight from the daemon's embedded NATS server.
	inner := clock
	if c, ok := clock.(alignedClock); ok {
		inner = c.Clock
	}
	rec := newRecorder(o.analyses, o.interval, o.factor, inner.Now)
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(natsPort), nats.Name("fleet benchmark"))
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.Subscribe(message.VerdictPrefix+">", rec.verdict)
	if err != nil {
		return err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}

	before := sampleMemory(true)
	which := fmt.Sprintf("batch %v", o.batch)
	if o.daemonProvider {
		which = "the daemon's own provider"
	}
	if !o.freshness {
		which += ", no freshness companions"
	}
	fmt.Fprintf(out, "canaryd fleet benchmark: %d analyses, %d metrics, interval %s, step %s, %s, align %v, factor %g, GOMAXPROCS %d\n",
		o.analyses, o.metrics, o.interval, o.step(), which, o.align, o.factor, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "before analyses: heap live %.1f MiB, RSS %.1f MiB\n", mib(before.heapLive), mib(before.rss))

	// Submit, evenly over one interval of wall time.
	fmt.Fprintf(out, "submitting %d analyses over %s of wall time...\n", o.analyses, time.Duration(float64(o.interval)/o.factor).Round(time.Millisecond))
	submitStart := time.Now()
	failed, err := submit(ctx, api, &o, rec)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintf(out, "submitted %d analyses in %s", o.analyses-failed, time.Since(submitStart).Round(time.Millisecond))
	if failed > 0 {
		fmt.Fprintf(out, "; %d failed, the first: %v", failed, err)
	}
	fmt.Fprintln(out)

	// Measure.
	t0 := time.Now()
	rec.window(inner.Now(), o.duration)
	cpu0 := cpuSeconds(syscall.RUSAGE_SELF)
	asked0 := asked.n.Load()
	src0 := srcStats()
	stopCPU, err := writeProfiles(&o, true)
	if err != nil {
		return err
	}
	prober := &apiProber{api: api, analyses: o.analyses, lat: map[string][]time.Duration{}}
	probeCtx, stopProbe := context.WithCancel(ctx)
	var probing sync.WaitGroup
	if o.apiRate > 0 {
		probing.Go(func() { prober.run(probeCtx, o.apiRate) })
	}
	wall := time.Duration(float64(o.duration) / o.factor)
	fmt.Fprintf(out, "measuring for %s of wall time (a line every %s)...\n", wall.Round(time.Millisecond), min(5*time.Second, wall/4+time.Millisecond).Round(time.Millisecond))
	var mem []memSample
	tick := time.NewTicker(min(5*time.Second, wall/4+time.Millisecond))
	end := time.NewTimer(wall)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			stopCPU()
			stopProbe()
			probing.Wait()
			return ctx.Err()
		case <-tick.C:
			m := sampleMemory(false)
			mem = append(mem, m)
			fmt.Fprintf(out, "  +%3.0fs verdicts %7d  heap live %6.1f MiB  RSS %6.1f MiB  goroutines %d\n",
				time.Since(t0).Seconds(), rec.received.Load(), mib(m.heapLive), mib(m.rss), m.goroutines)
		case <-end.C:
			done = true
		}
	}
	tick.Stop()
	stopProbe()
	probing.Wait()
	cpu1 := cpuSeconds(syscall.RUSAGE_SELF)
	measured := time.Since(t0)
	asked1 := asked.n.Load()
	src1 := srcStats()
	stopCPU()
	last := sampleMemory(false)
	mem = append(mem, last)
	if err := writeHeapProfile(o.memProfile); err != nil {
		return err
	}

	// Verdicts due in the measured time may still arrive.
	fmt.Fprintf(out, "measured; waiting up to %s for the verdicts still due, then stopping the daemon...\n", o.drain)
	drain := time.NewTimer(o.drain)
	select {
	case <-rec.complete():
	case <-drain.C:
	case <-ctx.Done():
	}
	drain.Stop()
	if err := sub.Unsubscribe(); err != nil {
		return err
	}
	counters, err := gatherCounters(reg)
	if err != nil {
		return err
	}
	active := counters["canaryd_analyses_active"]
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	if err := a.Stop(stopCtx); err != nil {
		fmt.Fprintf(out, "stop: %v\n", err)
	}
	appStopped = true

	src1.Requests -= src0.Requests
	src1.Series -= src0.Series
	src1.Errors -= src0.Errors
	src1.CPUSeconds -= src0.CPUSeconds
	r := rec.result(&o, failed, measured, cpu1-cpu0, before, mem, asked1-asked0, src1, counters, active)
	if o.apiRate > 0 {
		r.API = prober.result()
		if prober.firstErr != nil {
			fmt.Fprintf(out, "API: %d request(s) failed, the first: %v\n", r.API.Errors, prober.firstErr)
		}
	}
	r.print(out)
	return appendResult(o.out, r)
}

// submit posts o.analyses deploy events to the daemon's API, paced evenly
// over one interval of wall time, and records each analysis' first due
// judgement.
func submit(ctx context.Context, api string, o *options, rec *recorder) (failed int, firstErr error) {
	wall := time.Duration(float64(o.interval) / o.factor)
	start := time.Now()
	next := atomic.Int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.analyses || ctx.Err() != nil {
					return
				}
				if time.Since(start) > 3*wall+30*time.Second {
					// The daemon cannot take them: give up on the rest.
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = fmt.Errorf("analysis %d not submitted: submission deadline passed", i)
					}
					mu.Unlock()
					continue
				}
				at := start.Add(time.Duration(int64(wall) * int64(i) / int64(o.analyses)))
				if d := time.Until(at); d > 0 {
					time.Sleep(d) // pacing the load, not synchronising
				}
				if err := post(ctx, api, i, rec); err != nil {
					mu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return failed, firstErr
}

func post(ctx context.Context, api string, i int, rec *recorder) error {
	e := message.Event{
		ID: analysisID(i), Service: serviceName(i), Namespace: "fleet", Template: "fleet",
		Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"},
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/analyses", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("submit %s: %w", e.ID, err)
	}
	defer resp.Body.Close()
	var v struct {
		NextDue *time.Time `json:"next_judgement_due"`
		Error   string     `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fmt.Errorf("submit %s: status %d: %w", e.ID, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusCreated || v.NextDue == nil {
		return fmt.Errorf("submit %s: status %d: %s", e.ID, resp.StatusCode, v.Error)
	}
	rec.started(i, *v.NextDue)
	return nil
}

func analysisID(i int) string  { return fmt.Sprintf("fleet-%06d", i) }
func serviceName(i int) string { return fmt.Sprintf("svc-%06d", i) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
