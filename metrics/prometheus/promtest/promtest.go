// Package promtest runs a real Prometheus server for tests, over a TSDB
// filled with known series.
//
// Start writes OpenMetrics text to a temporary directory, turns it into TSDB
// blocks with `promtool tsdb create-blocks-from openmetrics`, starts the
// `prometheus` binary on a free port over those blocks, waits until it is
// ready, and stops it when the test ends. Both binaries come with Debian's
// prometheus package. When either is missing the test is skipped, or fails
// when the CI environment variable is "true", so that CI cannot pass by
// skipping.
//
// The data is historical: OpenMetrics timestamps are Unix seconds, and the
// server keeps blocks of any age (retention is 100 years), so fixed
// timestamps work. Query exactly the times the samples were written at, or
// set Options.LookbackDelta below the spacing of the samples, so that a
// step where a sample is missing shows as missing instead of repeating the
// previous one.
package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// Options adjust the server Start runs. The zero value is Prometheus's
// defaults.
type Options struct {
	// LookbackDelta is how far back a query looks for the latest sample at
	// each step (--query.lookback-delta); 0 keeps Prometheus's 5m.
	LookbackDelta time.Duration
	// ReadyTimeout bounds the wait for the server to become ready; 0 means
	// 60s.
	ReadyTimeout time.Duration
}

// Server is a running Prometheus server.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Dir holds the OpenMetrics input, the TSDB and the server's config.
	Dir string

	bin, data, config string
	addr              string
	opts              Options

	mu     sync.Mutex // guards cmd and done across Restart
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	output *syncBuffer
}

// Start runs a Prometheus server over the series in openMetrics, OpenMetrics
// text (a trailing "# EOF" is added when missing), and stops it in
// t.Cleanup. It fails the test when the data cannot be loaded or the server
// does not become ready.
func Start(t testing.TB, openMetrics string, opts Options) *Server {
	t.Helper()
	prometheusBin, promtoolBin := binaries(t)
	dir := t.TempDir()

	if !strings.HasSuffix(strings.TrimSpace(openMetrics), "# EOF") {
		openMetrics = strings.TrimRight(openMetrics, "\n") + "\n# EOF\n"
	}
	input := filepath.Join(dir, "series.om")
	if err := os.WriteFile(input, []byte(openMetrics), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	data := filepath.Join(dir, "data")
	out, err := exec.Command(promtoolBin, "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtest: promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte("scrape_configs: []\n"), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return run(t, prometheusBin, dir, data, config, opts)
}

// StartScraping runs a Prometheus server that scrapes targets (host:port,
// path /metrics) every interval into an empty TSDB, and stops it in
// t.Cleanup: for end-to-end tests over live /metrics endpoints.
func StartScraping(t testing.TB, targets []string, interval time.Duration, opts Options) *Server {
	t.Helper()
	prometheusBin, _ := binaries(t)
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: %s\n  scrape_timeout: %s\nscrape_configs:\n  - job_name: promtest\n    static_configs:\n      - targets: [%s]\n",
		model.Duration(interval), model.Duration(interval), strings.Join(quoted, ", "))
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return run(t, prometheusBin, dir, filepath.Join(dir, "data"), config, opts)
}

// run starts the server until it is ready, on a free port, and stops it in
// t.Cleanup.
func run(t testing.TB, prometheusBin, dir, data, config string, opts Options) *Server {
	t.Helper()
	// The free port is found by listening on :0 and closing, so another
	// process may take it before Prometheus does: then Prometheus exits
	// complaining about the address, and we try another port.
	const tries = 5
	for try := 1; ; try++ {
		s, err := start(prometheusBin, dir, data, config, opts)
		if err != nil {
			t.Fatalf("promtest: %v", err)
		}
		err = s.waitReady(opts.ReadyTimeout)
		if err == nil {
			t.Cleanup(func() {
				s.mu.Lock()
				done, cmd := s.done, s.cmd
				s.mu.Unlock()
				select {
				case <-done:
					t.Errorf("promtest: prometheus exited during the test: %v\n%s", cmd.ProcessState, s.output)
					return
				default:
				}
				if err := s.stop(); err != nil {
					t.Errorf("promtest: stop prometheus: %v\n%s", err, s.output)
				}
			})
			return s
		}
		stopErr := s.stop()
		if try < tries && strings.Contains(s.output.String(), "address already in use") {
			continue
		}
		t.Fatalf("promtest: prometheus did not become ready: %v (stop: %v)\n%s", err, stopErr, s.output)
	}
}

// StartFile is Start over the OpenMetrics text in the file at path.
func StartFile(t testing.TB, path string, opts Options) *Server {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	return Start(t, string(b), opts)
}

// RepoFile returns the path of rel (e.g. "testdata/prometheus/series.om")
// under the module root, found by walking up from the test's directory to
// go.mod.
func RepoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("promtest: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// binaries finds prometheus and promtool on PATH, or skips (fails under CI)
// the test.
func binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	var missing []string
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		missing = append(missing, "prometheus")
	}
	promtool, err = exec.LookPath("promtool")
	if err != nil {
		missing = append(missing, "promtool")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("promtest: %s not on PATH; install Debian's prometheus package (make test-deps)", strings.Join(missing, " and "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return prometheus, promtool
}

func start(bin, dir, data, config string, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, bin: bin, data: data, config: config,
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), opts: opts, output: &syncBuffer{}}
	return s, s.exec()
}

// Restart stops the server (SIGTERM, as an operator would), keeps it down
// for at least down (the outage), and starts it again on the same address
// over the same storage, waiting until it is ready. While it is down
// nothing is scraped: the TSDB has a hole there, as after a real outage.
func (s *Server) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	outage := time.NewTimer(down)
	defer outage.Stop()
	if err := s.stop(); err != nil {
		t.Fatalf("promtest: stop prometheus: %v\n%s", err, s.output)
	}
	<-outage.C
	if err := s.exec(); err != nil {
		t.Fatalf("promtest: restart prometheus: %v", err)
	}
	if err := s.waitReady(s.opts.ReadyTimeout); err != nil {
		t.Fatalf("promtest: prometheus did not become ready again: %v\n%s", err, s.output)
	}
}

// exec starts the prometheus process.
func (s *Server) exec() error {
	bin, data, config, opts, addr := s.bin, s.data, s.config, s.opts, s.addr
	args := []string{
		"--config.file=" + config,
		"--storage.tsdb.path=" + data,
		"--storage.tsdb.retention.time=100y",
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}
	if opts.LookbackDelta > 0 {
		args = append(args, "--query.lookback-delta="+opts.LookbackDelta.String())
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = s.output, s.output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start prometheus: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or the
// deadline passes.
func (s *Server) waitReady(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		s.mu.Lock()
		done, cmd := s.done, s.cmd
		s.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("prometheus exited: %v", cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s", timeout)
		case <-tick.C:
		}
	}
}

// stop asks the server to shut down, and kills it if it has not exited
// after 10s.
func (s *Server) stop() error {
	s.mu.Lock()
	done, cmd := s.done, s.cmd
	s.mu.Unlock()
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		cmd.Process.Kill()
		<-done
		return errors.New("no exit 10s after SIGTERM; killed")
	}
}

// syncBuffer collects the server's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
