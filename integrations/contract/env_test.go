package contract

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryd/canaryd/metrics/prometheus/promtest"
)

// canarydAddress is the address the README's recipes reach canaryd at;
// the tests send it to their daemon instead.
const canarydAddress = "http://canaryd.canaryd:9780"

// testConfig judges demo_latency_seconds with the README's template name
// and steps, on a short interval so that a rollout takes seconds; a
// lifetime of 10 intervals that ends holding (expired).
const testConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: web
    interval: 3s
    steps: [10, 50, 100]
    min_samples: 3
    lifetime: 30s
    lifetime_outcome: hold
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// interval is the template's interval.
const interval = 3 * time.Second

// latency serves demo_latency_seconds{service, version} on a real
// /metrics endpoint, at levels the tests set as they go (a series appears
// when its level is set): a deterministic ±2% around each level.
type latency struct {
	mu     sync.Mutex
	n      int
	desc   *prometheus.Desc
	levels map[[2]string]float64
	// followed are canary levels by service whose version is the canary
	// version of the service's latest analysis (a version the test does
	// not know beforehand: Flagger's checksum), looked up at each scrape.
	followed map[string]float64
	base     string // canaryd's URL, for followed
}

// follow serves service's canary series at level under the canary version
// of its latest analysis; 0 serves none.
func (l *latency) follow(service string, level float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followed[service] = level
}

func (l *latency) set(service, version string, level float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.levels[[2]string{service, version}] = level
}

func (l *latency) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *latency) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	levels := maps.Clone(l.levels)
	for svc, level := range l.followed {
		if v := versionOf(l.base, svc); v != "" && level > 0 {
			levels[[2]string{svc, v}] = level
		}
	}
	for k, level := range levels {
		h := fnv.New32a()
		h.Write([]byte(k[0] + "/" + k[1]))
		wobble := 1 + 0.03*math.Sin(float64(l.n)*1.7+float64(h.Sum32()%1000))
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, level*wobble, k[0], k[1])
	}
}

// env is a real Prometheus scraping the latency series every second and a
// canaryd judging them.
type env struct {
	latency *latency
	base    string // canaryd's URL
	prom    string // Prometheus' URL
}

func startEnv(t *testing.T) *env {
	t.Helper()
	l := &latency{
		desc:     prometheus.NewDesc("demo_latency_seconds", "Request latency.", []string{"service", "version"}, nil),
		levels:   map[[2]string]float64{},
		followed: map[string]float64{},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	prom := promtest.StartScraping(t, []string{strings.TrimPrefix(srv.URL, "http://")}, time.Second, promtest.Options{})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "canaryd.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, testConfig, prom.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startCanaryd(t, dir, cfg)
	l.mu.Lock()
	l.base = base
	l.mu.Unlock()
	return &env{latency: l, base: base, prom: prom.URL}
}

// startCanaryd builds canaryd from the repository's own module, as a user
// would, runs it on cfg with its embedded NATS server until the test ends,
// and returns its URL once it is ready. (The daemon is not linked into
// this module: Argo Rollouts' Prometheus provider needs an older
// client_golang than canaryd's, see go.mod.)
func startCanaryd(t *testing.T, dir, cfg string) string {
	t.Helper()
	bin := filepath.Join(dir, "canaryd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/canaryd")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build canaryd: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // canaryd listens there next; another process may take it first, and then the start fails clearly
	out := &logBuffer{}
	cmd := exec.Command(bin, "--config.file", cfg, "--web.listen-address", addr,
		"--storage.path", filepath.Join(dir, "data"), "--nats.listen-address", "", "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
			t.Error("canaryd did not stop within a minute of SIGTERM")
		}
		if t.Failed() {
			t.Logf("canaryd's log:\n%s", out.String())
		}
	})
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond) // no event to wait on for another process' readiness
	defer tick.Stop()
	for {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("canaryd exited: %s", out.String())
		case <-ctx.Done():
			t.Fatalf("canaryd not ready after a minute: %s", out.String())
		case <-tick.C:
		}
	}
}

// logBuffer collects a process' output for failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// local rewrites the recipes' canaryd address to the test daemon's.
func (e *env) local(url string) string { return strings.Replace(url, canarydAddress, e.base, 1) }

// readmeYAML returns the README's YAML blocks of kind, in order.
func readmeYAML(t *testing.T, kind string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	var cur *bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case cur == nil && l == "```yaml":
			cur = &bytes.Buffer{}
		case cur != nil && l == "```":
			if bytes.Contains(cur.Bytes(), []byte("\nkind: "+kind+"\n")) {
				blocks = append(blocks, cur.Bytes())
			}
			cur = nil
		case cur != nil:
			cur.WriteString(l + "\n")
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README.md has no YAML block of kind %s", kind)
	}
	return blocks
}
