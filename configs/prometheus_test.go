package configs

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"
)

func TestPrometheusYAML(t *testing.T) {
	var c Prometheus
	in := `
url: https://prometheus.example:9090/prom
timeout: 10s
max_retries: 0
basic_auth:
  username: canaryd
  password: hunter2
tls_config:
  ca_file: ca.pem
`
	if err := yaml.UnmarshalStrict([]byte(in), &c); err != nil {
		t.Fatalf("UnmarshalStrict: %v", err)
	}
	want := DefaultPrometheus()
	switch {
	case c.URL != "https://prometheus.example:9090/prom":
		t.Errorf("URL = %q", c.URL)
	case c.Timeout != model.Duration(10*time.Second):
		t.Errorf("Timeout = %s, want 10s", c.Timeout)
	case c.MaxRetries != 0:
		t.Errorf("MaxRetries = %d, want the explicit 0", c.MaxRetries)
	case c.MaxConcurrency != want.MaxConcurrency || c.MinBackoff != want.MinBackoff || c.MaxBackoff != want.MaxBackoff:
		t.Errorf("defaults not kept: %+v", c)
	case c.HTTPClientConfig.BasicAuth == nil || c.HTTPClientConfig.BasicAuth.Username != "canaryd" || string(c.HTTPClientConfig.BasicAuth.Password) != "hunter2":
		t.Errorf("basic_auth = %+v", c.HTTPClientConfig.BasicAuth)
	case !c.HTTPClientConfig.FollowRedirects || !c.HTTPClientConfig.EnableHTTP2:
		t.Errorf("HTTP client defaults lost: %+v", c.HTTPClientConfig)
	}
	c.SetDirectory("/etc/canaryd")
	if c.HTTPClientConfig.TLSConfig.CAFile != "/etc/canaryd/ca.pem" {
		t.Errorf("SetDirectory: ca_file = %q", c.HTTPClientConfig.TLSConfig.CAFile)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("marshalled config shows the password:\n%s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown key", "url: http://p:9090\nretries: 3\n", "field retries not found"},
		{"no url", "timeout: 5s\n", "prometheus: url is required"},
		{"bad scheme", "url: ftp://p:9090\n", `url "ftp://p:9090": scheme must be http or https`},
		{"no host", "url: http://\n", "has no host"},
		{"api path", "url: http://p:9090/api/v1/\n", "without /api/v1"},
		{"zero timeout", "url: http://p:9090\ntimeout: 0s\n", "timeout must be positive"},
		{"bad duration", "url: http://p:9090\ntimeout: soon\n", `not a valid duration string: "soon"`},
		{"negative retries", "url: http://p:9090\nmax_retries: -1\n", "max_retries must not be negative"},
		{"zero concurrency", "url: http://p:9090\nmax_concurrency: 0\n", "max_concurrency must be at least 1"},
		{"backoff order", "url: http://p:9090\nmin_backoff: 2s\nmax_backoff: 1s\n", "max_backoff (1s) must not be below min_backoff (2s)"},
		{"two auth methods", "url: http://p:9090\nbasic_auth: {username: a, password: b}\nauthorization: {credentials: c}\n", "at most one of basic_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Prometheus
			err := yaml.UnmarshalStrict([]byte(tt.in), &c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UnmarshalStrict = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
