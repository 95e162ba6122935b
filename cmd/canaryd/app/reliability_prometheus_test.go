package app

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/metrics/embedded"
)

// faultConfig judges latency_seconds every minute over three steps, from
// the Prometheus at %s, with a short timeout and one quick retry so that
// faults show within a judgement.
const faultConfig = `
global:
  prometheus:
    url: %s
    timeout: 300ms
    max_retries: 1
    min_backoff: 10ms
    max_backoff: 20ms
templates:
  - name: web
    interval: 1m
    steps: [10, 50, 100]
    min_samples: 10
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// promFault is what the Prometheus in front of the embedded source does.
type promFault int

const (
	promOK          promFault = iota
	promUnreachable           // nothing listens on its address
	promSlow                  // answers nothing until the client gives up
	promServerError           // 500 with a Prometheus error body
	promGarbage               // 200 with a body that is no API answer
)

func (f promFault) String() string {
	return [...]string{"ok", "unreachable", "slow", "500s", "garbage"}[f]
}

// faultyProm is a real Prometheus-compatible source (package
// metrics/embedded: the TSDB head and PromQL engine of Prometheus) served
// over HTTP through a handler that injects faults, on a fixed address so
// that it can go away and come back.
type faultyProm struct {
	t    *testing.T
	addr string
	h    http.Handler

	mu    sync.Mutex
	fault promFault
	srv   *httptest.Server
}

// startFaultyProm fills an embedded source with latency_seconds of
// service web, versions v1 and v2, every 2s around 100 (±5%) from 5
// minutes before from to 15 minutes after, and serves it.
func startFaultyProm(t *testing.T, from time.Time) *faultyProm {
	t.Helper()
	src, err := embedded.New(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	for _, version := range []string{"v1", "v2"} {
		lbls := map[string]string{"__name__": "latency_seconds", "service": "web", "version": version}
		for ts := from.Add(-5 * time.Minute); ts.Before(from.Add(15 * time.Minute)); ts = ts.Add(2 * time.Second) {
			h := fnv.New64a()
			fmt.Fprint(h, version, ts.UnixMilli())
			u := float64(h.Sum64()%1_000_000)/1_000_000*2 - 1
			if err := src.Append(ts, lbls, 100*(1+0.05*u)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := &faultyProm{t: t, h: src.Handler()}
	p.serve("127.0.0.1:0")
	p.addr = p.srv.Listener.Addr().String()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.srv != nil {
			p.srv.Close()
		}
	})
	return p
}

func (p *faultyProm) url() string { return "http://" + p.addr }

func (p *faultyProm) serve(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serveHTTP))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	p.srv = srv
}

// set switches the fault; promUnreachable closes the listener, and
// leaving it listens on the same address again.
func (p *faultyProm) set(f promFault) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case f == promUnreachable && p.srv != nil:
		p.srv.Close()
		p.srv = nil
	case f != promUnreachable && p.srv == nil:
		p.serve(p.addr)
	}
	p.fault = f
}

func (p *faultyProm) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	switch f {
	case promSlow:
		// Read the request as Prometheus does, so that a client hanging up
		// is noticed, then answer nothing until it does.
		_ = r.ParseForm()
		<-r.Context().Done()
	case promServerError:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"status":"error","errorType":"internal","error":"storage on fire"}`)
	case promGarbage:
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Welcome to nginx!</body></html>")
	default:
		p.h.ServeHTTP(w, r)
	}
}

// TestReliabilityPrometheusFaults runs an analysis against the real
// Prometheus provider while Prometheus is unreachable, slow past the
// timeout, answering 500s or answering garbage: every judgement made
// during the fault holds at the current weight with the fault as the
// metric's reason (never a promote), and once Prometheus is back the same
// analysis promotes.
func TestReliabilityPrometheusFaults(t *testing.T) {
	tests := []struct {
		fault  promFault
		reason string // in the metric's reason
	}{
		{promUnreachable, "prometheus unreachable"},
		{promSlow, "timed out after 300ms"},
		{promServerError, "prometheus server error (HTTP 500, 2 attempts)"},
		{promGarbage, "bad response from prometheus"},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			clock := newFakeClock()
			prom := startFaultyProm(t, clock.Now())
			s := startNATS(t)
			a := startApp(t, s, clock, writeConfig(t, t.TempDir(), fmt.Sprintf(faultConfig, prom.url())), func(o *Options, _ *hooks) {
				o.Provider = nil // the real Prometheus provider of the config
			})
			c := connect(t, s)
			verdicts := published(c)
			c.publishEvent(event("f1", "v2"))
			c.waitRecord("f1", nil)

			prom.set(tt.fault)
			for seq := 1; seq <= 2; seq++ {
				clock.Advance(time.Minute)
				v := next(t, verdicts)
				if v.Seq != seq || v.Verdict != analysis.Hold || v.Weight != 10 || v.NextWeight != 10 || v.Final {
					t.Fatalf("judgement %d during the fault: seq %d %s weight %v -> %v final %v (%s), want a hold at 10",
						seq, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Final, v.Reason)
				}
				if len(v.Metrics) != 1 || v.Metrics[0].Classification != analysis.Error || !strings.Contains(v.Metrics[0].Reason, tt.reason) {
					t.Fatalf("judgement %d during the fault: metric evidence %+v, want an error with %q", seq, v.Metrics, tt.reason)
				}
				if v.Reason == "" {
					t.Errorf("judgement %d: a hold without a reason", seq)
				}
			}
			if got := value(t, a.rmetrics.QueryErrors); got != 2 {
				t.Errorf("canaryd_query_errors_total = %v after two faulty judgements of one metric, want 2", got)
			}

			prom.set(promOK)
			clock.Advance(time.Minute)
			v := next(t, verdicts)
			if v.Seq != 3 || v.Verdict != analysis.Promote || v.Weight != 10 || v.NextWeight != 50 {
				t.Fatalf("first judgement after the fault: seq %d %s weight %v -> %v (%s), want a promote to 50",
					v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Reason)
			}
			if v.Metrics[0].Classification == analysis.Error {
				t.Errorf("metric still in error after recovery: %+v", v.Metrics[0])
			}
		})
	}
}
