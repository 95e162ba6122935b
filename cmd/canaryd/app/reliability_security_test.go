package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
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
	"golang.org/x/crypto/bcrypt"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/rollout/message"
)

// testCert writes a self-signed certificate for 127.0.0.1 and localhost
// and its key to dir; the certificate is its own CA.
func testCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "canaryd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

// TestReliabilityWebTLSAndAuth serves the HTTP API with TLS and basic
// auth from an exporter-toolkit web config: every endpoint answers only
// over TLS to a client that trusts the certificate, and only with the
// right credentials.
func TestReliabilityWebTLSAndAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("api-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	webText := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  ops: %s\n", certFile, keyFile, hash)
	if err := os.WriteFile(web, []byte(webText), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startNATS(t)
	a := startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), testConfig), func(o *Options, _ *hooks) {
		o.WebConfigFile = web
	})
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	untrusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	get := func(c *http.Client, url, user, pw string) (int, error) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	https := "https://" + a.Addr()
	for _, path := range []string{"/api/v1/analyses", "/metrics", "/-/ready", "/api/v1/analyses/x/verdict"} {
		if code, err := get(trusting, https+path, "ops", "api-pw"); err != nil || (code != http.StatusOK && code != http.StatusNotFound) {
			t.Errorf("%s over TLS with the right credentials: %d %v", path, code, err)
		}
		if code, err := get(trusting, https+path, "", ""); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s over TLS without credentials: %d %v, want 401", path, code, err)
		}
		if code, err := get(trusting, https+path, "ops", "api-PW"); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s over TLS with a wrong password: %d %v, want 401", path, code, err)
		}
		if code, err := get(http.DefaultClient, "http://"+a.Addr()+path, "ops", "api-pw"); err == nil && code == http.StatusOK {
			t.Errorf("%s over plain HTTP: %d, want a refusal", path, code)
		}
		if _, err := get(untrusting, https+path, "ops", "api-pw"); err == nil {
			t.Errorf("%s: a client that does not trust the certificate connected", path)
		}
	}
}

// startSecureNATS runs a NATS server with JetStream that requires TLS
// and a user and password.
func startSecureNATS(t *testing.T, certFile, keyFile, user, password string) *server.Server {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		TLS: true, TLSConfig: tc, TLSTimeout: 5, Username: user, Password: password, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	return s
}

// TestReliabilityNATSTLSAndCredentials runs the daemon against a NATS
// server that requires TLS and credentials: with the CA and the right
// password it starts and analyses deploy events; without the CA, with a
// wrong password, or without TLS it refuses to start, saying why.
func TestReliabilityNATSTLSAndCredentials(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testCert(t, dir)
	s := startSecureNATS(t, certFile, keyFile, "canaryd", "nats-pw")
	url := fmt.Sprintf("tls://127.0.0.1:%d", s.Addr().(*net.TCPAddr).Port)
	cfg := func(nats string) string {
		return strings.Replace(testConfig, "global:\n", "global:\n  nats:\n"+nats, 1)
	}
	tests := []struct {
		name, nats, err string
	}{
		{"no CA", fmt.Sprintf("    url: %s\n    user: canaryd\n    password: nats-pw\n", url), "certificate"},
		{"wrong password", fmt.Sprintf("    url: %s\n    user: canaryd\n    password: wrong\n    tls_config: {ca_file: %s}\n", url, certFile), "authorization"},
		{"no credentials", fmt.Sprintf("    url: %s\n    tls_config: {ca_file: %s}\n", url, certFile), "authorization"},
		{"ok", fmt.Sprintf("    url: %s\n    user: canaryd\n    password: nats-pw\n    tls_config: {ca_file: %s}\n", url, certFile), ""},
	}
	for _, tt := range tests {
		a, err := New(Options{ConfigFile: writeConfig(t, t.TempDir(), cfg(tt.nats)), Provider: synthProvider{}, Logger: testLogger(t), Clock: newFakeClock()})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		err = a.Start(ctx)
		cancel()
		if tt.err != "" {
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.err) {
				t.Errorf("%s: start error %v, want one about %s", tt.name, err, tt.err)
			}
			if err == nil {
				_ = a.Stop(context.Background())
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		t.Cleanup(func() { _ = a.Stop(context.Background()) })
		if !a.Ready() {
			t.Errorf("%s: started but not ready", tt.name)
		}
		nc, err := nats.Connect(url, nats.UserInfo("canaryd", "nats-pw"), nats.Secure(&tls.Config{RootCAs: pool}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		c := &client{t: t, nc: nc, js: js}
		c.publishEvent(event("tls-1", "v2"))
		if r := c.waitRecord("tls-1", nil); r.State() != "running" {
			t.Errorf("analysis over TLS: %s", r.State())
		}
	}
}

// TestReliabilityBodyLimit sends request bodies one byte over 1 MiB to
// every endpoint that reads one: each is refused with 413, and the daemon
// keeps serving (a body of exactly 1 MiB is read and judged on its
// content, and a good analysis is then created).
func TestReliabilityBodyLimit(t *testing.T) {
	s := startNATS(t)
	a := startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), testConfig), nil)
	good := `{"id":"b1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", good, nil); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	over := `{"reason":"` + strings.Repeat("x", message.MaxEventBytes) + `"}`
	exact := `{"id":"b2","service":"web","namespace":"prod","template":"web","variables":{"pad":"`
	exact += strings.Repeat("x", message.MaxEventBytes-len(exact)-3) + `"}}`
	if len(exact) != message.MaxEventBytes {
		t.Fatalf("exact body is %d bytes", len(exact))
	}
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"/api/v1/analyses", over, http.StatusRequestEntityTooLarge},
		{"/api/v1/analyses/b1/abort", over, http.StatusRequestEntityTooLarge},
		{"/api/v1/flagger/confirm-promotion", over, http.StatusRequestEntityTooLarge},
		{"/api/v1/flagger/rollback", over, http.StatusRequestEntityTooLarge},
		{"/api/v1/analyses", exact, http.StatusBadRequest}, // read whole, then refused: no versions
	} {
		var body map[string]string
		if code := httpJSON(t, "POST", a.url+tt.path, tt.body, &body); code != tt.want || body["error"] == "" {
			t.Errorf("POST %s with %d bytes: %d %q, want %d with an error", tt.path, len(tt.body), code, body["error"], tt.want)
		}
	}
	var view api.AnalysisView
	if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/b1", "", &view); code != http.StatusOK || view.State != "running" {
		t.Errorf("b1 after the oversize abort: %d %s, want running", code, view.State)
	}
	good = strings.Replace(good, `"b1"`, `"b3"`, 1)
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", good, nil); code != http.StatusCreated {
		t.Errorf("create after the oversize bodies: %d", code)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes: the log sink.
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

// TestReliabilityNoSecretsLeak runs the daemon with every kind of secret
// its config holds (NATS password; Prometheus basic auth password, bearer
// token, and a password in the URL's user info) through failing
// Prometheus queries and reloads, good and bad. The secrets reach their
// servers, and none appears in the logs (debug level), the HTTP API,
// /metrics, or the verdicts and rejections on NATS.
func TestReliabilityNoSecretsLeak(t *testing.T) {
	const (
		natsPW   = "nats-pw-5ecret"
		promPW   = "prom-pw-5ecret"
		bearer   = "bearer-5ecret-token"
		urlPW    = "url-pw-5ecret"
		natsUser = "canaryd"
	)
	secrets := []string{natsPW, promPW, bearer, urlPW}

	var authMu sync.Mutex
	var auths []string
	clock := newFakeClock()
	prom := startFaultyProm(t, clock.Now())
	inner := prom.h
	prom.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authMu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		authMu.Unlock()
		inner.ServeHTTP(w, r)
	})

	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		Username: natsUser, Password: natsPW, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}

	dir := t.TempDir()
	configText := func(url, auth string) string {
		cfg := strings.Replace(faultConfig, "global:\n", fmt.Sprintf("global:\n  nats:\n    url: %s\n    user: %s\n    password: %s\n", s.ClientURL(), natsUser, natsPW), 1)
		cfg = fmt.Sprintf(cfg, url)
		return strings.Replace(cfg, "    timeout: 300ms\n", "    timeout: 300ms\n"+auth, 1)
	}
	basic := fmt.Sprintf("    basic_auth: {username: canaryd, password: %s}\n", promPW)
	path := writeConfig(t, dir, configText(prom.url(), basic))

	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	a, err := New(Options{
		ConfigFile: path, ListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
		Logger:     slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg, Gatherer: reg, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	base := "http://" + a.Addr()

	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(natsUser, natsPW))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, nc: nc, js: js}
	var onNATS []string
	verdicts := published(c)
	rejections := stored[message.Rejection](c, message.RejectedPrefix+">")

	c.publishEvent(event("sec", "v2"))
	c.waitRecord("sec", nil)
	c.publishRaw(message.DeployPrefix+"prod.web", []byte(`{"id":"bad","password":"`+natsPW+`"}`))
	r := next(t, rejections)
	// The rejection quotes the raw event the producer sent: that is the
	// producer's text, not canaryd's secret; canaryd's own words must not
	// repeat it.
	onNATS = append(onNATS, r.Reason)

	judge := func(f promFault) record.Verdict {
		t.Helper()
		prom.set(f)
		clock.Advance(time.Minute)
		v := next(t, verdicts)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		onNATS = append(onNATS, string(b))
		return v
	}
	for _, f := range []promFault{promServerError, promGarbage, promUnreachable} {
		if v := judge(f); v.Verdict != analysis.Hold {
			t.Fatalf("%s: %s", f, v.Verdict)
		}
	}
	judge(promOK) // with basic auth
	// A bearer token, then a password in the URL, each through the same
	// faults.
	urlWithPW := strings.Replace(prom.url(), "http://", "http://canaryd:"+urlPW+"@", 1)
	for _, phase := range []struct{ url, auth string }{
		{prom.url(), fmt.Sprintf("    authorization: {credentials: %s}\n", bearer)},
		{urlWithPW, ""},
	} {
		writeConfig(t, dir, configText(phase.url, phase.auth))
		var body map[string]string
		if code := httpJSON(t, "POST", base+"/-/reload", "", &body); code != http.StatusOK {
			t.Fatalf("reload: %d %v", code, body)
		}
		for _, f := range []promFault{promServerError, promGarbage, promUnreachable, promOK} {
			judge(f)
		}
	}
	// A broken reload whose file holds the secrets.
	writeConfig(t, dir, configText(urlWithPW, fmt.Sprintf("    authorization: {credentials: %s}\n    bogus: %s\n", bearer, bearer)))
	var body map[string]string
	code := httpJSON(t, "POST", base+"/-/reload", "", &body)
	if code != http.StatusInternalServerError {
		t.Errorf("broken reload: %d", code)
	}

	prom.set(promOK)
	authMu.Lock()
	basicAuth := func(user, pw string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return req.Header.Get("Authorization")
	}
	sawBasic, sawBearer, sawURL := false, false, false
	for _, h := range auths {
		sawBasic = sawBasic || h == basicAuth("canaryd", promPW)
		sawBearer = sawBearer || h == "Bearer "+bearer
		sawURL = sawURL || h == basicAuth("canaryd", urlPW)
	}
	authMu.Unlock()
	if !sawBasic || !sawBearer || !sawURL {
		t.Errorf("Prometheus saw basic auth %v, the bearer token %v, the URL's password %v: the secrets were not all in use", sawBasic, sawBearer, sawURL)
	}

	var api []string
	api = append(api, body["error"])
	for _, p := range []string{"/api/v1/analyses", "/api/v1/analyses/sec", "/api/v1/analyses/sec/verdict", "/metrics", "/-/ready"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		api = append(api, readAll(t, resp))
		resp.Body.Close()
	}
	for _, sec := range secrets {
		if strings.Contains(logs.String(), sec) {
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, sec) {
					t.Errorf("secret %q in the logs: %s", sec, strings.TrimSpace(line))
					break
				}
			}
		}
		for i, out := range api {
			if strings.Contains(out, sec) {
				t.Errorf("secret %q in API output %d: %.300s", sec, i, out[max(0, strings.Index(out, sec)-150):])
			}
		}
		for _, out := range onNATS {
			if strings.Contains(out, sec) {
				t.Errorf("secret %q on NATS: %.300s", sec, out[max(0, strings.Index(out, sec)-150):])
			}
		}
	}
}
