// Package demo runs canaryd's whole job on embedded defaults: an embedded
// NATS server, an embedded Prometheus-compatible metrics source, simulated
// services instrumented with client_golang, and the daemon judging two
// rollouts on a compressed clock: a healthy canary that is promoted step
// by step, waiting before 100% for an approval the demo gives after a
// pause, a regressed one (slower p99, more 5xx) that is rolled back, and
// a healthy canary of a service whose error budget is spent (both tracks
// fail 2% of requests against a 99% SLO), which the error-budget gate
// holds at its first step until its lifetime ends it.
//
// The metrics path is the production one: the services' registries are
// ingested in the Prometheus exposition format, and the daemon queries
// them with PromQL over the Prometheus HTTP API through the same provider
// it uses against a real Prometheus.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/cmd/canaryd/app"
	"github.com/canaryd/canaryd/metrics/embedded"
	"github.com/canaryd/canaryd/rollout/message"
)

// Options configure a demo run.
type Options struct {
	// Out receives the progress; nil discards it.
	Out io.Writer
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// ListenAddress is the daemon's HTTP API; default 127.0.0.1:0.
	ListenAddress string
	// Factor is how much faster than the wall clock simulated time runs;
	// default 30 (a one-minute interval every two seconds).
	Factor float64
	// StoragePath holds the embedded NATS server's data; default a
	// temporary directory removed at the end.
	StoragePath string
	// Hold, when set, is called once every rollout has ended, before the
	// daemon stops: the report pages stay served until it returns (a
	// command waits for an interrupt here, a test reads the reports).
	Hold func(ctx context.Context, res *Result)
}

// Rollout is how one of the demo's rollouts ended.
type Rollout struct {
	Service    string
	AnalysisID string
	Verdict    analysis.Verdict // the final verdict
	Reason     string
	Judgements int
	// Approvals counts the approvals the demo gave the rollout.
	Approvals int
	// BudgetHolds counts the promotions the error-budget gate held, and
	// BudgetReason is the last one's reason.
	BudgetHolds  int
	BudgetReason string
}

// Result is what a demo run did.
type Result struct {
	APIURL   string
	Rollouts []Rollout
}

const (
	namespace = "demo"
	scrape    = time.Second // simulated scrape interval
	interval  = time.Minute
	warmup    = 5 * time.Minute
)

// demoConfig is the template the demo judges with.
const demoConfig = `# Written by canaryd demo.
global:
  prometheus:
    url: %s
    timeout: 10s
templates:
  - name: web
    interval: 1m
    steps: [10, 25, 50, 100]
    approvals:
      - step: 4          # a person approves before the canary takes all the traffic
        timeout: 30m
    metrics: &metrics
      - name: latency_p99
        query: 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}"}[3s])))'
        allowed_change: 0.1
      - name: latency_p50
        query: 'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}"}[3s])))'
        allowed_change: 0.1
      - name: error_ratio
        query: 'sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}",code=~"5.."}[3s])) / sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}"}[3s]))'
        allowed_change: 0.5
        nan_policy: zero
      - name: cpu
        query: 'sum(rate(process_cpu_seconds_total{namespace="{{.Namespace}}",service="{{.Service}}",track="{{.Role}}"}[3s]))'
        allowed_change: 0.2
        critical: false
  - name: web-slo        # web, each promotion gated on the service's error budget
    interval: 1m
    steps: [10, 25, 50, 100]
    lifetime: 6m         # the demo's spent budget holds until here
    lifetime_outcome: hold
    slo:
      objective: 0.99
      window: 1h         # compressed, as the clock is
      error_ratio: 'sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}",code=~"5.."}[{{.Window}}])) / sum(rate(http_requests_total{namespace="{{.Namespace}}",service="{{.Service}}"}[{{.Window}}]))'
      burn_windows:
        - {long: 5m, short: 1m, threshold: 14.4}
    metrics: *metrics
`

// pair is one rollout's simulated baseline and canary.
type pair struct {
	name, template   string
	from, to         string
	story            string
	baseline, canary *service
}

func healthy() behaviour {
	return behaviour{
		medianLatency: 40 * time.Millisecond, sigma: 0.35, tailShare: 0.02, tailFactor: 4,
		errorRatio: 0.004, cpuPerRequest: 0.002, memoryBytes: 180e6,
	}
}

// Run runs the demo until every rollout ends or ctx is done.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:0"
	}
	if o.Factor <= 0 {
		o.Factor = 30
	}
	tmp, err := os.MkdirTemp("", "canaryd-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if o.StoragePath == "" {
		o.StoragePath = filepath.Join(tmp, "data")
	}

	// The metrics source, and the services it scrapes.
	src, err := embedded.New(embedded.Options{Logger: o.Logger, Retention: 2 * time.Hour})
	if err != nil {
		return nil, fmt.Errorf("embedded metrics source: %w", err)
	}
	defer src.Close()
	promURL, err := src.Start("127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded metrics source: %w", err)
	}
	defer src.Stop(context.Background())

	slow := healthy()
	slow.medianLatency = 46 * time.Millisecond
	slow.tailShare, slow.tailFactor = 0.03, 7
	slow.errorRatio = 0.02
	spent := healthy()
	spent.errorRatio = 0.02 // the whole service's: a 99% SLO's budget spent twice over
	pairs := []*pair{
		{name: "checkout", template: "web", from: "v1.4.0", to: "v1.5.0", story: "a healthy canary",
			baseline: newService(healthy(), 1), canary: newService(healthy(), 2)},
		{name: "payments", template: "web", from: "v2.0.3", to: "v2.1.0", story: "a regressed canary: slower p99, 5x the 5xx",
			baseline: newService(healthy(), 3), canary: newService(slow, 4)},
		{name: "search", template: "web-slo", from: "v3.2.0", to: "v3.3.0", story: "a healthy canary of a service whose error budget is spent",
			baseline: newService(spent, 5), canary: newService(spent, 6)},
	}

	origin := time.Now().Truncate(time.Second)
	clock := NewClock(origin, o.Factor)
	feed := &feeder{src: src, pairs: pairs, next: origin.Add(-warmup), origin: origin}
	if err := feed.until(origin); err != nil {
		return nil, err
	}
	clock.SetLimit(origin)
	feedCtx, stopFeed := context.WithCancel(ctx)
	var feedWG sync.WaitGroup
	feedWG.Add(1)
	go func() {
		defer feedWG.Done()
		feed.run(feedCtx, clock)
	}()
	defer func() { stopFeed(); feedWG.Wait() }()

	// NATS, embedded, with JetStream.
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: filepath.Join(o.StoragePath, "nats"),
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("embedded nats: not ready after 10s")
	}

	cfgFile := filepath.Join(tmp, "canaryd.yml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, demoConfig, promURL), 0o644); err != nil {
		return nil, err
	}
	a, err := app.New(app.Options{
		ConfigFile:    cfgFile,
		ListenAddress: o.ListenAddress,
		StoragePath:   o.StoragePath,
		NATSURL:       ns.ClientURL(),
		Logger:        o.Logger,
		Clock:         clock,
	})
	if err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		return nil, fmt.Errorf("start canaryd: %w", err)
	}
	defer a.Stop(context.Background())
	res := &Result{APIURL: "http://" + a.Addr()}

	fmt.Fprintf(o.Out, "canaryd demo: every piece embedded, nothing to install\n")
	fmt.Fprintf(o.Out, "  HTTP API        %s/api/v1/analyses\n", res.APIURL)
	fmt.Fprintf(o.Out, "  reports         %s/analyses\n", res.APIURL)
	fmt.Fprintf(o.Out, "  overviews       %s/overview   %s/oncall\n", res.APIURL, res.APIURL)
	fmt.Fprintf(o.Out, "  NATS            %s   (canaryctl watch --nats.url %s)\n", ns.ClientURL(), ns.ClientURL())
	fmt.Fprintf(o.Out, "  metrics source  %s   (Prometheus HTTP API, PromQL)\n", promURL)
	fmt.Fprintf(o.Out, "  clock           1 simulated minute every %s\n\n", clock.Wall(time.Minute).Round(10*time.Millisecond))

	nc, err := nats.Connect(ns.ClientURL(), nats.Name("canaryd demo"))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	// The demo shows each verdict's evidence: it reads the audit records,
	// which carry the verdicts in full (canary.verdict.* carries their
	// summaries, for meshes).
	verdicts := make(chan *nats.Msg, 64)
	sub, err := nc.ChanSubscribe(message.AuditPrefix+namespace+".>", verdicts)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	for _, p := range pairs {
		ev := message.Event{
			ID: p.name + "-" + strings.ReplaceAll(p.to, ".", "-"), Service: p.name, Namespace: namespace, Template: p.template,
			Baseline: analysis.Version{Version: p.from}, Canary: analysis.Version{Version: p.to},
		}
		b, _ := json.Marshal(ev)
		if _, err := js.Publish(ctx, message.DeployPrefix+namespace+"."+p.name, b); err != nil {
			return nil, fmt.Errorf("publish deploy event: %w", err)
		}
		fmt.Fprintf(o.Out, "deploy %s %s -> %s (%s): canary.deploy.%s.%s\n", p.name, p.from, p.to, p.story, namespace, p.name)
	}
	fmt.Fprintln(o.Out)

	final := map[string]*Rollout{}
	counts := map[string]int{}
	waits, approvals := map[string]int{}, map[string]int{}
	budgetHolds, budgetReason := map[string]int{}, map[string]string{}
	for len(final) < len(pairs) {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("demo stopped before every rollout ended: %w", ctx.Err())
		case m := <-verdicts:
			a, err := message.DecodeAudit(m.Data)
			if err != nil {
				return res, fmt.Errorf("decode audit record: %w", err)
			}
			if a.Verdict == nil {
				continue // a takeover, a template change
			}
			v := *a.Verdict
			if v.Approval == nil {
				counts[v.Service]++ // an answer is no judgement
			}
			printVerdict(o.Out, clock.Now().Sub(origin), &v)
			if v.Approval != nil {
				approvals[v.Service]++
			}
			if v.Budget != nil && !v.Budget.Allows() {
				budgetHolds[v.Service]++
				budgetReason[v.Service] = v.Reason
			}
			// A rollout waiting at its gate is approved after a pause of
			// demoApprovalPause judgements, as a person would look first.
			if v.AwaitingApproval {
				if waits[v.Service]++; waits[v.Service] == demoApprovalPause {
					if err := approve(ctx, o.Out, res.APIURL, &v); err != nil {
						return res, err
					}
				}
			}
			if v.Final {
				final[v.Service] = &Rollout{Service: v.Service, AnalysisID: v.AnalysisID, Verdict: v.Verdict, Reason: v.Reason,
					Judgements: counts[v.Service], Approvals: approvals[v.Service],
					BudgetHolds: budgetHolds[v.Service], BudgetReason: budgetReason[v.Service]}
			}
		}
	}
	fmt.Fprintln(o.Out, "\n== Outcome")
	for _, p := range pairs {
		r := final[p.name]
		res.Rollouts = append(res.Rollouts, *r)
		fmt.Fprintf(o.Out, "%-9s %-8s after %d judgement(s): %s\n          details: %s/api/v1/analyses/%s\n          report:  %s/analyses/%s\n",
			r.Service, strings.ToUpper(string(r.Verdict)), r.Judgements, r.Reason, res.APIURL, r.AnalysisID, res.APIURL, r.AnalysisID)
		if r.BudgetHolds > 0 {
			fmt.Fprintf(o.Out, "          the error-budget gate held %d promotion(s): %s\n", r.BudgetHolds, r.BudgetReason)
		}
	}
	if o.Hold != nil {
		o.Hold(ctx, res)
	} else {
		fmt.Fprintln(o.Out, "\nThe demo's daemon stops now; `canaryd demo --hold` keeps the API and the reports served.")
	}
	return res, nil
}

// demoApprovalPause is how many judgements a rollout waits at its gate
// before the demo approves it.
const demoApprovalPause = 2

// approve approves the step v waits at through the daemon's API, as
// canaryctl approve does, and says so.
func approve(ctx context.Context, out io.Writer, api string, v *message.Verdict) error {
	body := `{"by": "demo", "reason": "the release manager looked at the dashboards"}`
	url := api + "/api/v1/analyses/" + v.AnalysisID + "/approve"
	fmt.Fprintf(out, "           approve: %s waited %d judgements at step %d; the demo approves now: POST %s %s\n",
		v.Service, demoApprovalPause, v.Step, url, body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("approve %s: %w", v.AnalysisID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("approve %s: %s: %s", v.AnalysisID, resp.Status, b)
	}
	return nil
}

func printVerdict(w io.Writer, at time.Duration, v *message.Verdict) {
	fin := ""
	if v.Final {
		fin = ", final"
	}
	score := fmt.Sprintf("score %3.0f", float64(v.Score))
	if math.IsNaN(float64(v.Score)) {
		score = "no score" // an answer judges nothing
	}
	fmt.Fprintf(w, "[+%02d:%02d] %-9s step %d at %3g%%: %-8s -> %3g%%  %s%s\n", int(at.Minutes()), int(at.Seconds())%60,
		v.Service, v.Step, v.Weight, strings.ToUpper(string(v.Verdict)), v.NextWeight, score, fin)
	if v.AwaitingApproval || v.Approval != nil || v.Budget != nil && !v.Budget.Allows() {
		fmt.Fprintf(w, "           %s\n", v.Reason)
	}
	if v.Budget != nil && !v.Budget.Allows() {
		return // the reason says it; every metric passed
	}
	for _, m := range v.Metrics {
		if m.Classification == analysis.Pass && v.Verdict == analysis.Promote && m.Name != "latency_p99" {
			continue
		}
		fmt.Fprintf(w, "           %-12s %-12s %s\n", m.Name, m.Classification, m.Reason)
	}
}

// feeder simulates the services and ingests their metrics, ahead of the
// clock by a little, so that a judgement due at t finds every point up to
// t.
type feeder struct {
	src   *embedded.Source
	pairs []*pair
	next  time.Time
	// origin anchors the load curve, so that a run's data do not depend
	// on the wall-clock time it starts at.
	origin time.Time
}

// until simulates and ingests every scrape up to t.
func (f *feeder) until(t time.Time) error {
	for !f.next.After(t) {
		ts := f.next
		// A shared, slowly varying load, as both tracks get the same traffic mix.
		load := 1 + 0.3*math.Sin(ts.Sub(f.origin).Seconds()/300)
		for _, p := range f.pairs {
			for _, tr := range []struct {
				track string
				s     *service
			}{{"baseline", p.baseline}, {"canary", p.canary}} {
				tr.s.serve(int(80 * load))
				target := map[string]string{"job": "demo", "namespace": namespace, "service": p.name, "track": tr.track}
				if err := f.src.IngestGatherer(ts, target, tr.s.reg); err != nil {
					return fmt.Errorf("ingest %s %s: %w", p.name, tr.track, err)
				}
			}
		}
		f.next = f.next.Add(scrape)
	}
	return nil
}

func (f *feeder) run(ctx context.Context, c *Clock) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		target := c.unlimited().Add(10 * time.Second)
		c.mu.Unlock()
		if err := f.until(target); err != nil {
			return
		}
		// Judgements may run up to the newest scrape ingested.
		c.SetLimit(f.next.Add(-scrape))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
