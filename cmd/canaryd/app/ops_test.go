package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// failingProvider fails every query, as an unreachable Prometheus would.
type failingProvider struct{}

func (failingProvider) Fetch(context.Context, metrics.Query) (metrics.Samples, error) {
	return metrics.Samples{}, errors.New("connection refused")
}

func TestQueryErrorsHold(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), func(o *Options, _ *hooks) {
		o.Provider = failingProvider{}
	})
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("e1", "v2"))
	c.waitRecord("e1", nil)
	clock.Advance(time.Minute)
	v := next(t, verdicts)
	if v.Verdict != analysis.Hold || v.NextWeight != 10 || len(v.Metrics) != 1 || v.Metrics[0].Classification != analysis.Error ||
		!strings.Contains(v.Metrics[0].Reason, "connection refused") {
		t.Errorf("verdict with every query failing: %+v", v)
	}
	if got := value(t, a.rmetrics.QueryErrors); got != 1 {
		t.Errorf("canaryd_query_errors_total = %v, want 1", got)
	}
}

func TestNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		Username: "canary", Password: "s3cret", NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	for _, tt := range []struct {
		password string
		ok       bool
	}{{"s3cret", true}, {"wrong", false}} {
		cfg := strings.Replace(testConfig, "global:\n", fmt.Sprintf("global:\n  nats:\n    url: %s\n    user: canary\n    password: %s\n", s.ClientURL(), tt.password), 1)
		a, err := New(Options{ConfigFile: writeConfig(t, t.TempDir(), cfg), Provider: synthProvider{}, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		err = a.Start(t.Context())
		if (err == nil) != tt.ok {
			t.Errorf("password %q: start error %v, want success %v", tt.password, err, tt.ok)
		}
		if err == nil {
			if !a.Ready() {
				t.Errorf("password %q: started but not ready", tt.password)
			}
			if err := a.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestWebConfigBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startNATS(t)
	a := startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), testConfig), func(o *Options, _ *hooks) {
		o.WebConfigFile = web
	})
	for _, tt := range []struct {
		user, password string
		want           int
	}{{"", "", http.StatusUnauthorized}, {"admin", "nope", http.StatusUnauthorized}, {"admin", "pw", http.StatusOK}} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", a.url+"/api/v1/analyses", nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("user %q password %q: %d, want %d", tt.user, tt.password, resp.StatusCode, tt.want)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{ConfigFile: writeConfig(t, t.TempDir(), testConfig), Provider: synthProvider{}, NATSURL: s.ClientURL(),
		ListenAddress: "127.0.0.1:0", WebConfigFile: bad, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "web config") {
		t.Errorf("start with a broken web config: %v, want a web config error", err)
	}
}

// TestReloadChangesMetrics reloads a template with one more metric in the
// middle of an analysis: the next judgement uses both metrics.
func TestReloadChangesMetrics(t *testing.T) {
	s := startNATS(t)
	dir := t.TempDir()
	path := writeConfig(t, dir, testConfig)
	clock := newFakeClock()
	a := startApp(t, s, clock, path, nil)
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("m1", "v2"))
	c.waitRecord("m1", nil)
	clock.Advance(time.Minute)
	if v := next(t, verdicts); len(v.Metrics) != 1 {
		t.Fatalf("first verdict has %d metrics", len(v.Metrics))
	}
	extra := strings.Replace(testConfig, `        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
  - name: slow`, `        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
      - name: cpu
        query: 'cpu_seconds{service="{{.Service}}",version="{{.Version}}"}'
  - name: slow`, 1)
	if extra == testConfig {
		t.Fatal("test config changed shape")
	}
	writeConfig(t, dir, extra)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	v := next(t, verdicts)
	if len(v.Metrics) != 2 || v.Metrics[1].Name != "cpu" || v.Seq != 2 {
		t.Errorf("after the reload: seq %d with %d metrics", v.Seq, len(v.Metrics))
	}
}

// TestStreamLimits checks the stream is created with the configured age
// and size bounds, and a duplicate window from the intervals and leases.
func TestStreamLimits(t *testing.T) {
	s := startNATS(t)
	cfg := strings.Replace(testConfig, "    url: http://127.0.0.1:9\n",
		"    url: http://127.0.0.1:9\n  nats:\n    stream_max_age: 36h\n    stream_max_bytes: 256MiB\n", 1)
	startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), cfg), func(o *Options, _ *hooks) {
		o.LeaseGrace, o.ScanInterval = 3*time.Minute, 10*time.Second
	})
	c := connect(t, s)
	st, err := c.js.Stream(t.Context(), "CANARY")
	if err != nil {
		t.Fatal(err)
	}
	got := st.CachedInfo().Config
	// Twice the longest interval (1m), the lease grace and the scan.
	wantDupes := 2*time.Minute + 3*time.Minute + 10*time.Second
	if got.MaxAge != 36*time.Hour || got.MaxBytes != 256<<20 || got.Duplicates != wantDupes {
		t.Errorf("stream: max age %v, max bytes %d, duplicates %v; want 36h, %d, %v",
			got.MaxAge, got.MaxBytes, got.Duplicates, 256<<20, wantDupes)
	}
}

// TestOneWritePerJudgement checks the cost the fleet benchmark depends
// on: a judgement is one key-value write (its verdict is recorded as
// published with the next one), and only a final verdict takes a second.
func TestOneWritePerJudgement(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("w1", "v2"))
	c.waitRecord("w1", nil)
	for seq := 1; seq <= 3; seq++ { // template web: three steps, one judgement each
		clock.Advance(time.Minute)
		if v := next(t, verdicts); v.Seq != seq {
			t.Fatalf("verdict seq %d, want %d", v.Seq, seq)
		}
	}
	r := c.waitRecord("w1", func(r *record.Record) bool { return r.Settled() })
	if r.State() != "succeeded" {
		t.Fatalf("analysis %s", r.State())
	}
	st, err := c.js.Stream(t.Context(), "KV_canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}
	// The create and its index key, one write per judgement, the final
	// verdict's, and the index key of the outcome with the purge of the
	// running one.
	if got := st.CachedInfo().State.LastSeq; got != 2+3+1+2 {
		t.Errorf("the bucket took %d writes for 3 judgements, want 8", got)
	}
	var m dto.Metric
	if err := a.rmetrics.VerdictDelay.Write(&m); err != nil || m.GetHistogram().GetSampleCount() != 3 {
		t.Errorf("canaryd_verdict_delay_seconds counted %d verdicts (%v), want 3", m.GetHistogram().GetSampleCount(), err)
	}
}

// TestStopRecordsPublished checks a graceful stop records the verdicts
// its runners published since their last write, so that a daemon started
// after any outage publishes none of them again.
func TestStopRecordsPublished(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	published := make(chan int, 1)
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), func(_ *Options, h *hooks) {
		h.published = func(_ context.Context, _, _ string, seq int) bool {
			published <- seq
			return true
		}
	})
	c := connect(t, s)
	c.publishEvent(event("g1", "v2"))
	c.waitRecord("g1", nil)
	clock.Advance(time.Minute)
	select {
	case seq := <-published: // the runner records it in memory next
		if seq != 1 {
			t.Fatalf("published seq %d", seq)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no verdict published")
	}
	if r := c.waitRecord("g1", nil); r.Seq != 1 || r.Published != 0 {
		t.Fatalf("before the stop: seq %d, published %d (recorded with the next write)", r.Seq, r.Published)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r := c.waitRecord("g1", nil); r.Seq != 1 || r.Published != 1 || r.Lease.Owner != "" {
		t.Errorf("after the stop: seq %d, published %d, owner %q; want 1, 1 and released", r.Seq, r.Published, r.Lease.Owner)
	}
}

// TestVerdictOnStream checks how a resuming replica recognises a verdict
// already published: the latest on its subject.
func TestVerdictOnStream(t *testing.T) {
	s := startNATS(t)
	a := startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), testConfig), nil)
	ctx := t.Context()
	v1 := &record.Verdict{Message: message.Verdict{AnalysisID: "a1", Service: "web", Namespace: "prod", Seq: 1, Verdict: analysis.Promote}}
	if ok, err := a.pub.OnStream(ctx, &v1.Message); err != nil || ok {
		t.Fatalf("before any verdict: %v, %v", ok, err)
	}
	if err := publishVerdict(ctx, a.pub, v1); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.pub.OnStream(ctx, &v1.Message); err != nil || !ok {
		t.Fatalf("the latest verdict: %v, %v", ok, err)
	}
	v2 := &record.Verdict{Message: message.Verdict{AnalysisID: "a1", Service: "web", Namespace: "prod", Seq: 2, Verdict: analysis.Promote}}
	if ok, _ := a.pub.OnStream(ctx, &v2.Message); ok {
		t.Error("a verdict never published is taken for published")
	}
	other := &record.Verdict{Message: message.Verdict{AnalysisID: "b1", Service: "web", Namespace: "prod", Seq: 1, Verdict: analysis.Hold}}
	if err := publishVerdict(ctx, a.pub, other); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.pub.OnStream(ctx, &v1.Message); ok {
		t.Error("a verdict followed by another analysis' is taken for the latest")
	}
}

// publishVerdict publishes v through p as a runner does.
func publishVerdict(ctx context.Context, p *bus.Publisher, v *record.Verdict) error {
	return p.Verdict(ctx, &v.Message)
}
