package main

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/cmd/canaryd/app"
	"github.com/canaryd/canaryd/metrics"
	"github.com/canaryd/canaryd/rollout/message"
)

// steadyProvider serves the same noisy level for baseline and canary.
type steadyProvider struct{}

func (steadyProvider) Fetch(_ context.Context, q metrics.Query) (metrics.Samples, error) {
	s := metrics.Samples{Query: q.Expr}
	for t := q.Start; !t.After(q.End); t = t.Add(q.Step) {
		h := fnv.New64a()
		io.WriteString(h, q.Expr+t.UTC().Format(time.RFC3339Nano))
		s.Times = append(s.Times, t.UnixMilli())
		s.Values = append(s.Values, 100*(1+0.05*(float64(h.Sum64()%1000)/1000*2-1)))
	}
	s.Tally(q.Start, q.End, q.Step)
	return s, nil
}

// TestApproveDeny runs canaryctl approve and deny against a daemon whose
// analysis waits at an approval gate: the approval moves it on, a second
// one says it was already answered, and a deny afterwards is refused with
// the daemon's reason.
func TestApproveDeny(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	cfg := filepath.Join(t.TempDir(), "canaryd.yml")
	if err := os.WriteFile(cfg, []byte(`
global:
  prometheus:
    url: http://127.0.0.1:9
templates:
  - name: gated
    interval: 2s
    steps: [10, 100]
    min_samples: 5
    approvals:
      - step: 2
    metrics:
      - name: latency
        query: 'latency{service="{{.Service}}",version="{{.Version}}"}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), NATSURL: ns.ClientURL(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Provider: steadyProvider{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	verdicts := make(chan message.VerdictSummary, 16)
	if _, err := nc.Subscribe(message.VerdictPrefix+">", func(m *nats.Msg) {
		var v message.VerdictSummary
		if json.Unmarshal(m.Data, &v) == nil {
			verdicts <- v
		}
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(message.Event{ID: "c1", Service: "checkout", Namespace: "shop", Template: "gated",
		Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
	if err := nc.Publish(message.DeployPrefix+"shop.checkout", b); err != nil {
		t.Fatal(err)
	}
	for v := range verdicts {
		if v.AwaitingApproval {
			break
		}
		if v.Final {
			t.Fatalf("the analysis ended before its gate: %s", v.Reason)
		}
	}
	url := "http://" + d.Addr()
	ctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(args, strings.NewReader(""), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, _, e := ctl("approve", "c1", "--url", url, "--by", ""); code != 2 || !strings.Contains(e, "--by is required") {
		t.Errorf("approve without --by: %d %q", code, e)
	}
	if code, _, e := ctl("approve", "nope", "--url", url, "--by", "ann"); code != 1 || !strings.Contains(e, `404 Not Found: analysis "nope" not found`) {
		t.Errorf("approve an unknown analysis: %d %q", code, e)
	}
	code, out, e := ctl("approve", "c1", "--url", url, "--by", "ann", "--reason", "fine")
	if code != 0 || !strings.HasPrefix(out, "answered c1: verdict #") || !strings.Contains(out, "promote, weight 10% -> 100%: approved by ann: enter step 2 (fine)") {
		t.Fatalf("approve: %d %q %q", code, out, e)
	}
	if code, out, _ := ctl("approve", "c1", "--url", url, "--by", "bob", "--step", "2"); code != 0 || !strings.HasPrefix(out, "already answered c1") || !strings.Contains(out, "approved by ann") {
		t.Errorf("approve again: %d %q", code, out)
	}
	// The last step is not gated: nothing waits, or the rollout has
	// already succeeded (a judgement can come first).
	if code, _, e := ctl("deny", "c1", "--url", url, "--by", "bob"); code != 1 ||
		!strings.Contains(e, "409 Conflict: no step is waiting for an approval") && !strings.Contains(e, "409 Conflict: the rollout has ended: succeeded") {
		t.Errorf("deny after the approval: %d %q", code, e)
	}
}

// TestReplayAnswers replays a recording through a gated template with the
// answers given on the command line: the rollout waits at the gate, the
// approval after interval 1 moves it on, and it succeeds; an answer where
// nothing waits, and a malformed one, are errors.
func TestReplayAnswers(t *testing.T) {
	b, err := os.ReadFile(repoFile(t, "testdata/recordings/config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// A gated template with scenario's settings and metrics.
	_, block, ok := strings.Cut(string(b), "  - name: scenario\n    interval: 5m\n")
	if !ok {
		t.Fatal("testdata/recordings/config.yml no longer starts its template as this test expects")
	}
	cfg := string(b) + "  - name: gated\n    interval: 5m\n    steps: [10, 50, 100]\n    approvals:\n      - step: 2\n" + block
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := repoFile(t, "testdata/recordings/healthy.json")
	code, out, errOut := runCLI(t, "", "replay", "--config", path, "--template", "gated", "--recording", rec, "--approve", "1:ann:fine")
	if code != 0 || !strings.Contains(out, "awaiting approval to enter step 2") || !strings.Contains(out, "approved by ann: enter step 2 (fine)") ||
		!strings.Contains(out, "Outcome: succeeded") {
		t.Errorf("replay with an approval: %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "replay", "--config", path, "--template", "scenario", "--recording", rec, "--approve", "0:ann"); code != 1 ||
		!strings.Contains(errOut, "answer 0 (approval by ann after interval 0): the rollout has ended: succeeded") {
		t.Errorf("an approval where nothing waits: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "replay", "--config", path, "--template", "gated", "--recording", rec, "--deny", "ann"); code != 2 ||
		!strings.Contains(errOut, `--deny "ann" is not INTERVAL:BY[:REASON]`) {
		t.Errorf("a malformed answer: %d %s", code, errOut)
	}
}
