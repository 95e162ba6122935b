package app

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/analysis/runner"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout/message"
)

// waitTimeout bounds every wait of these tests: a guard against hangs,
// never a synchronisation device.
const waitTimeout = 60 * time.Second

// fakeClock is a Clock the test drives: Advance fires every timer whose
// deadline it passes.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) TimerAt(t time.Time) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch, func() bool { return false }
	}
	c.timers = append(c.timers, fakeTimer{at: t, c: ch})
	return ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, ft := range c.timers {
			if ft.c == ch {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, ft := range c.timers {
		if ft.at.After(c.now) {
			kept = append(kept, ft)
			continue
		}
		ft.c <- c.now
	}
	c.timers = kept
}

// synthProvider serves deterministic series: every step of the window a
// value around 100 (±5%, a fixed function of the query and the time), and
// twice that for a canary whose version starts with "bad".
type synthProvider struct{}

func (synthProvider) Fetch(_ context.Context, q metrics.Query) (metrics.Samples, error) {
	s := metrics.Samples{Query: q.Expr}
	base := 100.0
	if q.Role == metrics.Canary && strings.Contains(q.Expr, `version="bad`) {
		base = 200
	}
	for t := q.Start; !t.After(q.End); t = t.Add(q.Step) {
		h := fnv.New64a()
		io.WriteString(h, q.Expr)
		io.WriteString(h, t.UTC().Format(time.RFC3339Nano))
		u := float64(h.Sum64()%1_000_000)/1_000_000*2 - 1
		s.Times = append(s.Times, t.UnixMilli())
		s.Values = append(s.Values, base*(1+0.05*u))
	}
	s.Tally(q.Start, q.End, q.Step)
	return s, nil
}

// testConfig is a config with one template, web: three steps, one
// judgement each, one latency metric.
const testConfig = `
global:
  prometheus:
    url: http://127.0.0.1:9
templates:
  - name: web
    interval: 1m
    steps: [10, 50, 100]
    min_samples: 10
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
  - name: slow
    interval: 1m
    steps: [10, 50, 100]
    min_samples: 1000
    lifetime: 2m
    lifetime_outcome: rollback
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "canaryd.yml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startNATS runs a NATS server with JetStream in a temporary directory.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

type testApp struct {
	*App
	reg *prometheus.Registry
	url string // HTTP base URL
}

// startApp starts a daemon on the NATS server s with clock c and the
// synthetic provider; tweak adjusts the options and hooks before Start.
func startApp(t *testing.T, s *server.Server, c runner.Clock, configPath string, tweak func(*Options, *hooks)) *testApp {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		ConfigFile:    configPath,
		ListenAddress: "127.0.0.1:0",
		StoragePath:   t.TempDir(),
		NATSURL:       s.ClientURL(),
		Logger:        testLogger(t),
		Registerer:    reg,
		Gatherer:      reg,
		Clock:         c,
		Provider:      synthProvider{},
		LeaseGrace:    30 * time.Second,
		ScanInterval:  10 * time.Second,
	}
	var h hooks
	if tweak != nil {
		tweak(&opts, &h)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.hooks = h
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &testApp{App: a, reg: reg, url: "http://" + a.Addr()}
}

// startEmbedded starts the daemon as deployed alone: the config at
// configPath, its own embedded NATS server and the wall clock; it stops in
// t.Cleanup.
func startEmbedded(t *testing.T, configPath string) *App {
	t.Helper()
	a, err := New(Options{
		ConfigFile:        configPath,
		ListenAddress:     "127.0.0.1:0",
		StoragePath:       t.TempDir(),
		NATSListenAddress: "127.0.0.1:0",
		Logger:            testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

// client is a test's own connection to NATS.
type client struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream
}

func connect(t *testing.T, s *server.Server) *client {
	t.Helper()
	return connectURL(t, s.ClientURL())
}

func connectURL(t *testing.T, url string) *client {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, nc: nc, js: js}
}

func (c *client) publishEvent(e message.Event) {
	c.t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		c.t.Fatal(err)
	}
	c.publishRaw(message.DeployPrefix+e.Namespace+"."+e.Service, b)
}

func (c *client) publishRaw(subject string, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), waitTimeout)
	defer cancel()
	if _, err := c.js.Publish(ctx, subject, b); err != nil {
		c.t.Fatal(err)
	}
}

// stored follows what the stream stores on subjects matching filter, in
// order, through an ordered consumer: deduplicated messages appear once.
func stored[T any](c *client, filter string) <-chan T {
	c.t.Helper()
	ctx := c.t.Context()
	cons, err := c.js.OrderedConsumer(ctx, "CANARY", jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		c.t.Fatal(err)
	}
	ch := make(chan T, 1024)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var v T
		if err := json.Unmarshal(m.Data(), &v); err != nil {
			c.t.Errorf("decode %s: %v", m.Subject(), err)
			return
		}
		ch <- v
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cc.Stop)
	return ch
}

// published returns the verdicts published on canary.verdict.>, in
// order, each with its evidence: the stream carries summaries, and each
// is matched with the verdict of its audit record (appended before it),
// which it must summarise byte for byte.
func published(c *client) <-chan record.Verdict {
	c.t.Helper()
	ctx := c.t.Context()
	var mu sync.Mutex
	full := map[string]message.Verdict{} // by message id
	arrived := make(chan struct{}, 1)
	audit, err := c.js.OrderedConsumer(ctx, "CANARY_AUDIT", jetstream.OrderedConsumerConfig{FilterSubjects: []string{message.AuditPrefix + ">"}})
	if err != nil {
		c.t.Fatal(err)
	}
	ac, err := audit.Consume(func(m jetstream.Msg) {
		a, err := message.DecodeAudit(m.Data())
		if errors.Is(err, message.ErrAuditVersion) {
			return // a test's record of a later canaryd, no verdict of this one's
		}
		if err != nil {
			c.t.Errorf("decode audit record %s: %v", m.Subject(), err)
			return
		}
		if a.Verdict == nil {
			return
		}
		mu.Lock()
		full[a.Verdict.MsgID()] = *a.Verdict
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(ac.Stop)
	cons, err := c.js.OrderedConsumer(ctx, "CANARY", jetstream.OrderedConsumerConfig{FilterSubjects: []string{message.VerdictPrefix + ">"}})
	if err != nil {
		c.t.Fatal(err)
	}
	ch := make(chan record.Verdict, 1024)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var s message.VerdictSummary
		if err := json.Unmarshal(m.Data(), &s); err != nil {
			c.t.Errorf("decode %s: %v", m.Subject(), err)
			return
		}
		if len(m.Data()) > message.MaxSummaryBytes {
			c.t.Errorf("verdict %s is %d bytes on the stream, more than %d", s.MsgID(), len(m.Data()), message.MaxSummaryBytes)
		}
		timeout := time.After(waitTimeout)
		for {
			mu.Lock()
			v, ok := full[s.MsgID()]
			mu.Unlock()
			if ok {
				sum := v.Summary()
				if b, err := sum.Encode(); err != nil || string(b) != string(m.Data()) {
					c.t.Errorf("verdict %s on the stream is not its audit record's summary (%v):\nstream %s\naudit  %s", s.MsgID(), err, m.Data(), b)
				}
				ch <- record.Verdict{Message: v}
				return
			}
			select {
			case <-arrived:
			case <-timeout:
				c.t.Errorf("verdict %s on the stream has no audit record", s.MsgID())
				return
			case <-ctx.Done():
				return
			}
		}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cc.Stop)
	return ch
}

func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for a message")
		panic("unreachable")
	}
}

// waitRecord watches analysis id in the bucket until cond holds.
func (c *client) waitRecord(id string, cond func(*record.Record) bool) *record.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), waitTimeout)
	defer cancel()
	kv, err := c.js.KeyValue(ctx, "canaryd_analyses")
	if err != nil {
		c.t.Fatal(err)
	}
	w, err := kv.Watch(ctx, record.KeyPrefix+id)
	if err != nil {
		c.t.Fatal(err)
	}
	defer w.Stop()
	for {
		select {
		case e := <-w.Updates():
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			r := &record.Record{}
			if err := json.Unmarshal(e.Value(), r); err != nil {
				c.t.Fatal(err)
			}
			if cond == nil || cond(r) {
				return r
			}
		case <-ctx.Done():
			c.t.Fatalf("timed out waiting for analysis %s", id)
		}
	}
}

// httpJSON does a request and decodes the JSON answer into out.
func httpJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

func event(id, version string) message.Event {
	return message.Event{
		ID: id, Service: "web", Namespace: "prod", Template: "web",
		Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: version},
	}
}

// value reads a gauge or counter.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.GetGauge().GetValue()
	}
	return d.GetCounter().GetValue()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
