package follower_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/follower"
	"github.com/canaryd/canaryd/rollout/message"
)

// waitTimeout guards every wait against a hang; it synchronises nothing.
const waitTimeout = 30 * time.Second

// mesh is an adapter's mesh: the weight set per analysis, and every
// verdict applied in order. It fails the applies it is told to.
type mesh struct {
	mu      sync.Mutex
	weights map[string]float64
	applied []string // msg ids
	fail    map[string]int
	seen    chan string
}

func (m *mesh) apply(_ context.Context, v *message.VerdictSummary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[v.MsgID()] > 0 {
		m.fail[v.MsgID()]--
		m.seen <- "failed " + v.MsgID()
		return errors.New("mesh API unavailable")
	}
	m.weights[v.AnalysisID] = v.NextWeight
	m.applied = append(m.applied, v.MsgID())
	m.seen <- v.MsgID()
	return nil
}

func (m *mesh) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-m.seen:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the adapter")
		return ""
	}
}

// verdict is verdict seq of analysis id, as the daemon makes it.
func verdict(id string, seq int, next float64, final bool) *message.Verdict {
	d := rollout.Decision{Seq: seq, Step: seq, Weight: next, NextWeight: next, Verdict: analysis.Promote, Final: final}
	if final {
		d.Outcome = rollout.Succeeded
	}
	v := message.NewVerdict(id, "checkout", "shop", d, nil, time.Now())
	return &v
}

// TestFollower runs an adapter on canaryd's stream of a real, embedded
// NATS server, the verdicts published as the daemon publishes them: each
// applied once and in order; a failed apply comes again, and an older
// verdict coming again after a newer one was applied is skipped; a
// verdict republished (past the duplicate window) is skipped; a message
// that is no verdict is dropped without stopping the rest; a restarted
// adapter resumes after the last verdict it acknowledged.
func TestFollower(t *testing.T) {
	s, err := bus.StartEmbedded(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	assets, err := bus.Setup(ctx, js, &configs.NATS{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, assets.Stream)
	publish := func(v *message.Verdict) {
		t.Helper()
		if err := pub.Verdict(ctx, v); err != nil {
			t.Fatal(err)
		}
	}

	m := &mesh{weights: map[string]float64{}, fail: map[string]int{"a-2": 1}, seen: make(chan string, 64)}
	logs := &logTap{records: make(chan string, 64)}
	start := func() (stop func()) {
		f, err := follower.New(ctx, js, follower.Options{Durable: "mesh-adapter", RetryDelay: 200 * time.Millisecond, Logger: slog.New(logs)}, m.apply)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.Run(runCtx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	stop := start()

	publish(verdict("a", 1, 10, false))
	publish(verdict("a", 1, 10, false)) // published twice: stored once
	publish(verdict("a", 2, 50, false)) // its first apply fails
	publish(verdict("a", 3, 100, false))
	if _, err := js.Publish(ctx, message.VerdictSubject("shop", "checkout"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	// a-1 again, republished past the duplicate window (no dedupe then),
	// in full as an earlier canaryd published verdicts: read, and skipped.
	if b, _ := json.Marshal(verdict("a", 1, 10, false)); true {
		if _, err := js.Publish(ctx, message.VerdictSubject("shop", "checkout"), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a-1", "failed a-2", "a-3"} {
		if got := m.next(t); got != want {
			t.Fatalf("adapter saw %q, want %q", got, want)
		}
	}
	// The message that is no verdict is dropped, a-1 republished skipped;
	// a-2 comes again after a-3 was applied: skipped, and the weight stays
	// a-3's. The final verdict is applied after it.
	for _, want := range []string{"not a verdict: dropped", "skipped a-1", "skipped a-2"} {
		if got := logs.next(t); got != want {
			t.Fatalf("adapter logged %q, want %q", got, want)
		}
	}
	publish(verdict("a", 4, 100, true))
	if got := m.next(t); got != "a-4" {
		t.Fatalf("adapter saw %q, want a-4", got)
	}
	stop()

	// Restarted: resumes after the last acknowledged verdict.
	publish(verdict("b", 1, 10, false))
	stop = start()
	if got := m.next(t); got != "b-1" {
		t.Fatalf("restarted adapter saw %q first, want b-1", got)
	}
	stop()

	m.mu.Lock()
	defer m.mu.Unlock()
	if want := []string{"a-1", "a-3", "a-4", "b-1"}; !slices.Equal(m.applied, want) {
		t.Errorf("applied %v, want %v", m.applied, want)
	}
	if m.weights["a"] != 100 || m.weights["b"] != 10 {
		t.Errorf("weights %v, want a at 100, b at 10", m.weights)
	}
	info, err := assets.Stream.Consumer(ctx, "mesh-adapter")
	if err != nil {
		t.Fatal(err)
	}
	if ci := info.CachedInfo(); ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer left %d unacknowledged and %d pending", ci.NumAckPending, ci.NumPending)
	}
}

// logTap passes the follower's log records to the test: a skip as
// "skipped <msg id>", anything else as its message.
type logTap struct{ records chan string }

func (l *logTap) Enabled(context.Context, slog.Level) bool { return true }
func (l *logTap) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logTap) WithGroup(string) slog.Handler            { return l }
func (l *logTap) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	if strings.HasSuffix(msg, "skipped") {
		var id string
		var seq int64
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "analysis_id":
				id = a.Value.String()
			case "seq":
				seq = a.Value.Int64()
			}
			return true
		})
		msg = "skipped " + id + "-" + strconv.FormatInt(seq, 10)
	}
	if !strings.HasPrefix(msg, "apply failed") {
		l.records <- msg
	}
	return nil
}

func (l *logTap) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.records:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the adapter's log")
		return ""
	}
}
