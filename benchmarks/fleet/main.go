// Command fleet measures canaryd judging a whole fleet's rollouts on one
// machine (issue 7): it runs the daemon in-process with its embedded NATS
// server, a synthetic Prometheus-compatible metrics source in a child
// process (so that its CPU and memory are not the daemon's), submits N
// analyses of a template of M metrics, spread evenly over one interval,
// and reports judgements per second, verdict latency from the end of the
// judged interval to the verdict's arrival on NATS, CPU per 1,000
// judgements, heap and RSS per analysis, queries per judgement, errors,
// and judgements due but not made.
//
//	go run ./benchmarks/fleet -analyses 10000 -interval 10s -duration 5m
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/model"
)

// options are the command's flags.
type options struct {
	analyses    int
	interval    time.Duration
	duration    time.Duration
	metrics     int
	points      int
	batch       bool
	freshness   bool
	batchWindow time.Duration
	align       bool
	factor      float64
	drain       time.Duration
	workers     int
	cpuProfile  string
	memProfile  string
	out         string
	label       string
	logFile     string
	// daemonProvider leaves the metrics provider to the daemon.
	daemonProvider bool
	// apiRate is how many API requests per second the prober sends
	// while the fleet is measured; 0: none.
	apiRate float64
}

func main() {
	var o options
	serve := flag.Bool("serve-source", false, "run only the synthetic metrics source (the harness starts itself with it)")
	flag.IntVar(&o.analyses, "analyses", 1000, "concurrent analyses")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "judgement interval of the template")
	flag.DurationVar(&o.duration, "duration", time.Minute, "measured time, after every analysis has been submitted")
	flag.IntVar(&o.metrics, "metrics", 10, "metrics per template")
	flag.IntVar(&o.points, "points", 10, "query points per interval (the query step is interval/points)")
	flag.BoolVar(&o.freshness, "freshness", true, "send each query with its freshness companion (metrics/companion); false: the provider gets them without (the daemon still renders them), the baseline of the companions' cost")
	flag.BoolVar(&o.batch, "batch", true, "share queries between analyses (metrics/batch)")
	flag.DurationVar(&o.batchWindow, "batch-window", 0, "how long a batch collects queries (0: metrics/batch's default)")
	flag.BoolVar(&o.daemonProvider, "daemon-provider", false, "let the daemon build its own provider from the config, as deployed (-batch is then the daemon's choice, and queries asked are not counted)")
	flag.BoolVar(&o.align, "align", false, "give the daemon a clock truncated to the query step (daemons before 4187bff did not align analysis starts themselves; see README)")
	flag.Float64Var(&o.factor, "factor", 1, "run the daemon's clock this many times faster than the wall clock")
	flag.DurationVar(&o.drain, "drain", 5*time.Second, "how long verdicts due in the measured time may still arrive after it (the wait ends when all have)")
	flag.IntVar(&o.workers, "submitters", 8, "concurrent HTTP clients submitting analyses")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured time to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile at the end of the measured time to this file")
	flag.StringVar(&o.out, "out", "", "append the result as one JSON line to this file")
	flag.StringVar(&o.label, "label", "", "a label stored with the result")
	flag.Float64Var(&o.apiRate, "api-rate", 10, "API requests per second sent, one at a time, while measuring (listing by service, first pages, an analysis, its verdict), their latency reported; 0: none")
	flag.StringVar(&o.logFile, "log", "", "write the daemon's warnings and errors to this file (default: discard)")
	flag.Parse()

	if *serve {
		if err := serveSource(); err != nil {
			fmt.Fprintln(os.Stderr, "fleet source:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

func (o *options) validate() error {
	switch {
	case o.analyses < 1:
		return errors.New("-analyses must be at least 1")
	case o.interval <= 0 || o.duration <= 0:
		return errors.New("-interval and -duration must be positive")
	case o.metrics < 1:
		return errors.New("-metrics must be at least 1")
	case o.points < 1 || o.interval/time.Duration(o.points) < time.Second:
		return errors.New("-points must be at least 1 and leave a query step of at least 1s")
	case o.factor <= 0:
		return errors.New("-factor must be positive")
	case !o.freshness && o.daemonProvider:
		return errors.New("-freshness=false needs the harness's provider, not -daemon-provider")
	case o.apiRate < 0:
		return errors.New("-api-rate must not be negative")
	}
	return nil
}

func (o *options) step() time.Duration { return o.interval / time.Duration(o.points) }

// startSource runs this program again as the metrics source; it returns
// the source's URL, a function that reads its counters, and one that
// stops it.
func startSource() (string, func() sourceStats, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	cmd := exec.Command(self, "-serve-source")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", nil, nil, fmt.Errorf("metrics source did not start: %w", err)
	}
	url := strings.TrimSpace(line)
	stats := func() sourceStats {
		var st sourceStats
		if resp, err := httpClient.Get(url + "/stats"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&st)
			_ = resp.Body.Close()
		}
		return st
	}
	stopFn := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	return url, stats, stopFn, nil
}

// config is the fleet template: M metrics of the usual shapes (latency
// quantiles from histograms, ratios of counters, sums of gauges), so that
// every query goes through the batching rewrite that real templates need.
func config(o *options, url string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  prometheus:\n    url: %s\n    timeout: 10s\ntemplates:\n  - name: fleet\n", url)
	fmt.Fprintf(&b, "    interval: %s\n    step: %s\n    steps: [100]\n    judgements_per_step: 100000\n", model.Duration(o.interval), model.Duration(o.step()))
	fmt.Fprintf(&b, "    min_samples: %d\n    metrics:\n", o.points)
	sel := func(name string) string {
		return name + `{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}"}`
	}
	for i := range o.metrics {
		var q string
		switch i % 4 {
		case 0:
			q = fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s[1m])))`, sel(fmt.Sprintf("fleet_latency_%d_bucket", i)))
		case 1:
			q = fmt.Sprintf(`sum(rate(%s[1m])) / sum(rate(%s[1m]))`, sel(fmt.Sprintf("fleet_errors_%d_total", i)), sel(fmt.Sprintf("fleet_requests_%d_total", i)))
		case 2:
			q = fmt.Sprintf(`sum(rate(%s[1m]))`, sel(fmt.Sprintf("fleet_cpu_%d_seconds_total", i)))
		default:
			q = fmt.Sprintf(`sum(%s)`, sel(fmt.Sprintf("fleet_memory_%d_bytes", i)))
		}
		fmt.Fprintf(&b, "      - name: m%d\n        query: '%s'\n        allowed_change: 0.5\n        critical: false\n", i, q)
	}
	return b.String()
}

func writeProfiles(o *options, start bool) (func(), error) {
	if o.cpuProfile == "" || !start {
		return func() {}, nil
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

func appendResult(path string, r *result) error {
	if path == "" {
		return nil
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return err
}
