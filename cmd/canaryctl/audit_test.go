package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/cmd/canaryd/app"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestAuditExport runs canaryctl audit export against the audit stream a
// daemon wrote: JSON lines, one record per verdict, filtered by time
// (--since and --until around the moment between two analyses), service
// and analysis, to stdout or a file; a record of a later version is
// exported as stored and counted; bad flags are usage errors.
func TestAuditExport(t *testing.T) {
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
  - name: web
    interval: 1s
    steps: [50, 100]
    min_samples: 5
    metrics:
      - name: latency
        query: 'latency{service="{{.Service}}",version="{{.Version}}"}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := app.New(app.Options{ConfigFile: cfg, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(), NATSURL: ns.ClientURL(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Provider: steadyProvider{}, InstanceID: "r1"})
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
	verdicts := make(chan message.VerdictSummary, 64)
	if _, err := nc.Subscribe(message.VerdictPrefix+">", func(m *nats.Msg) {
		var v message.VerdictSummary
		if json.Unmarshal(m.Data, &v) == nil {
			verdicts <- v
		}
	}); err != nil {
		t.Fatal(err)
	}
	analyse := func(id, svc string) int {
		t.Helper()
		b, _ := json.Marshal(message.Event{ID: id, Service: svc, Namespace: "shop", Template: "web",
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
		if err := nc.Publish(message.DeployPrefix+"shop."+svc, b); err != nil {
			t.Fatal(err)
		}
		for n := 1; ; n++ {
			select {
			case v := <-verdicts:
				if v.AnalysisID != id {
					t.Fatalf("verdict of %s while %s runs", v.AnalysisID, id)
				}
				if v.Final {
					return n
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s never ended", id)
			}
		}
	}
	n1 := analyse("c1", "checkout")
	between := time.Now()
	n2 := analyse("c2", "cart")

	ctl := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run0(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	url := ns.ClientURL()
	lines := func(out string) []message.AuditRecord {
		t.Helper()
		var recs []message.AuditRecord
		for l := range strings.Lines(out) {
			a, err := message.DecodeAudit([]byte(strings.TrimSuffix(l, "\n")))
			if err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			recs = append(recs, a)
		}
		return recs
	}
	ids := func(recs []message.AuditRecord) string {
		var s []string
		for _, r := range recs {
			s = append(s, r.AnalysisID)
		}
		return strings.Join(s, " ")
	}
	rep := func(id string, n int) string { return strings.TrimSpace(strings.Repeat(id+" ", n)) }

	code, out, e := ctl("audit", "export", "--nats.url", url, "--since", "1h")
	if all := lines(out); code != 0 || ids(all) != rep("c1", n1)+" "+rep("c2", n2) || !strings.Contains(e, "record(s) from") {
		t.Fatalf("export --since 1h: %d %q, stderr %q", code, ids(all), e)
	}
	at := between.UTC().Format(time.RFC3339Nano)
	if code, out, e := ctl("audit", "export", "--nats.url", url, "--since", at); code != 0 || ids(lines(out)) != rep("c2", n2) {
		t.Errorf("export --since %s: %d %q %q", at, code, ids(lines(out)), e)
	}
	if code, out, e := ctl("audit", "export", "--nats.url", url, "--since", "1h", "--until", at); code != 0 || ids(lines(out)) != rep("c1", n1) {
		t.Errorf("export --until %s: %d %q %q", at, code, ids(lines(out)), e)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	if code, _, e := ctl("audit", "export", "--nats.url", url, "--since", "1h", "--service", "cart", "-o", file); code != 0 {
		t.Errorf("export -o: %d %q", code, e)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(string(b)); ids(got) != rep("c2", n2) || got[0].Actor.Name != "r1" || len(got[0].Queries) != 2 {
		t.Errorf("export --service cart -o: %q, first %+v", ids(got), got[0])
	}

	js, _ := jetstream.New(nc)
	future := `{"version":2,"id":"c1-x","analysis_id":"c1","action":"teleport"}`
	if _, err := js.Publish(t.Context(), message.AuditSubject("shop", "checkout", "c1"), []byte(future)); err != nil {
		t.Fatal(err)
	}
	code, out, e = ctl("audit", "export", "--nats.url", url, "--since", "1h", "--analysis", "c1")
	if code != 0 || !strings.HasSuffix(out, future+"\n") || strings.Count(out, "\n") != n1+1 || !strings.Contains(e, "1 of them written by a later canaryd (version above 1): exported as stored") {
		t.Errorf("export with a later version's record: %d %q %q", code, out, e)
	}

	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"audit", "export"}, "--since is required"},
		{[]string{"audit", "export", "--since", "yesterday"}, `"yesterday" is neither a duration`},
		{[]string{"audit", "export", "--since", "1h", "--until", "2h"}, "is before --since"},
		{[]string{"audit", "export", "--since", "1h", "--service", "a.b"}, `--service "a.b" is not a valid name`},
		{[]string{"audit"}, "usage: canaryctl audit export"},
	} {
		if code, _, e := ctl(tt.args...); code != 2 || !strings.Contains(e, tt.err) {
			t.Errorf("%v: %d %q, want 2 and %q", tt.args, code, e, tt.err)
		}
	}
}

// run0 runs canaryctl with no input.
func run0(args []string, stdout, stderr io.Writer) int {
	return run(args, strings.NewReader(""), stdout, stderr)
}
