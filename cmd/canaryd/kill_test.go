package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/rollout/message"
)

// The test binary runs canaryd itself when this variable is set, so that
// the kill test exercises the real main without building another binary.
const runMainEnv = "CANARYD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

const waitTimeout = 60 * time.Second

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
	})
	return d
}

// TestKill9Resumes kills canaryd (SIGKILL) right after its first verdict
// and starts it again over the same storage: the analysis resumes, and
// the stream holds every verdict exactly once.
func TestKill9Resumes(t *testing.T) {
	target := apptest.ServeLatency(t, map[[2]string]float64{{"checkout", "v1"}: 0.1, {"checkout", "v2"}: 0.1})
	promURL := apptest.StartScrapingPrometheus(t, target)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "canaryd.yml")
	config := fmt.Sprintf(`
global:
  prometheus:
    url: %s
templates:
  - name: latency
    interval: 3s
    steps: [25, 50, 100]
    min_samples: 3
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`, promURL)
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	natsAddr, webAddr := freeAddr(t), freeAddr(t)
	args := []string{
		"--config.file=" + cfg, "--storage.path=" + filepath.Join(dir, "data"),
		"--nats.listen-address=" + natsAddr, "--web.listen-address=" + webAddr,
		"--analysis.lease-grace=1s", "--analysis.scan-interval=1s",
	}
	first := startDaemon(t, args...)
	if err := apptest.WaitHTTP("http://"+webAddr+"/-/ready", first.done); err != nil {
		t.Fatalf("first daemon: %v", err)
	}

	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("canary.verdict.>")
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	event := `{"id":"k1","service":"checkout","namespace":"shop","template":"latency","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if _, err := js.Publish(ctx, "canary.deploy.shop.checkout", []byte(event)); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(waitTimeout); err != nil {
		t.Fatalf("first verdict: %v", err)
	}
	if err := first.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	<-first.done

	second := startDaemon(t, args...)
	if err := apptest.WaitHTTP("http://"+webAddr+"/-/ready", second.done); err != nil {
		t.Fatalf("second daemon: %v", err)
	}
	kv, err := js.KeyValue(ctx, "canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, "analysis.k1")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var rec record.Record
	for settled := false; !settled; {
		select {
		case e := <-w.Updates():
			if e == nil {
				continue
			}
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				t.Fatal(err)
			}
			settled = rec.Done() && rec.Published == rec.Seq
		case <-ctx.Done():
			t.Fatalf("analysis did not end: %+v", rec.Position)
		}
	}
	if rec.State() != "succeeded" {
		t.Errorf("analysis ended %s", rec.State())
	}

	// Read the stream's verdicts: each seq exactly once, in order.
	cons, err := js.OrderedConsumer(ctx, "CANARY", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"canary.verdict.>"}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.NumPending)
	if n != rec.Seq {
		t.Errorf("stream holds %d verdicts, the analysis issued %d", n, rec.Seq)
	}
	for i := 1; i <= n; i++ {
		m, err := cons.Next(jetstream.FetchMaxWait(waitTimeout))
		if err != nil {
			t.Fatal(err)
		}
		var v message.VerdictSummary
		if err := json.Unmarshal(m.Data(), &v); err != nil {
			t.Fatal(err)
		}
		if len(m.Data()) > message.MaxSummaryBytes {
			t.Errorf("verdict %s is %d bytes on the stream, more than %d", v.MsgID(), len(m.Data()), message.MaxSummaryBytes)
		}
		if v.Seq != i {
			t.Errorf("verdict %d on the stream has seq %d", i, v.Seq)
		}
		t.Logf("verdict %s seq %d: %s %v -> %v", v.AnalysisID, v.Seq, v.Verdict, v.Weight, v.NextWeight)
	}

	// SIGHUP with a broken config keeps the running one and says so.
	if err := os.WriteFile(cfg, []byte("templates: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := second.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, "http://"+webAddr+"/metrics", "canaryd_config_last_reload_successful 0", second.done)
	if err := apptest.WaitHTTP("http://"+webAddr+"/-/ready", second.done); err != nil {
		t.Errorf("not ready after a failed reload: %v", err)
	}

	// SIGTERM stops the daemon cleanly.
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.done:
	case <-ctx.Done():
		t.Fatal("no exit after SIGTERM")
	}
	if code := second.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// waitMetric polls a /metrics page until it holds line: the daemon is
// another process, with no event to wait on.
func waitMetric(t *testing.T, url, line string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := http.Get(url); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), line) {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("daemon exited while waiting for %q", line)
		case <-deadline:
			t.Fatalf("%s never showed %q", url, line)
		case <-tick.C:
		}
	}
}
