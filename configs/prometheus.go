package configs

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Prometheus says how to reach one Prometheus server and how hard to try.
// It is the YAML block global.prometheus of canaryd's configuration, and
// what package metrics/prometheus' source is built from:
//
//	url: http://prometheus:9090
//	timeout: 30s          # per attempt
//	max_retries: 3        # after the first attempt, on timeouts, 5xx and 429 only
//	max_concurrency: 16   # requests in flight to this server
//	min_backoff: 250ms    # first wait before a retry; doubles per retry
//	max_backoff: 5s
//	basic_auth: ...       # and every other prometheus/common HTTP client setting
//
// Decoding from YAML starts from DefaultPrometheus, so a key left out keeps
// its default and an explicit 0 (max_retries: 0) means 0. A Prometheus
// built in Go should start from DefaultPrometheus too: the source rejects
// zero timeouts and limits.
type Prometheus struct {
	URL              string                  `yaml:"url"`
	HTTPClientConfig config.HTTPClientConfig `yaml:",inline"`
	Timeout          model.Duration          `yaml:"timeout"`
	MaxRetries       int                     `yaml:"max_retries"`
	MaxConcurrency   int                     `yaml:"max_concurrency"`
	MinBackoff       model.Duration          `yaml:"min_backoff"`
	MaxBackoff       model.Duration          `yaml:"max_backoff"`
}

// DefaultPrometheus returns the defaults: a 30s timeout per attempt, 3 retries
// with backoff from 250ms to 5s, 16 requests in flight, and prometheus/common's
// default HTTP client settings. URL has no default.
func DefaultPrometheus() Prometheus {
	return Prometheus{
		HTTPClientConfig: config.DefaultHTTPClientConfig,
		Timeout:          model.Duration(30 * time.Second),
		MaxRetries:       3,
		MaxConcurrency:   16,
		MinBackoff:       model.Duration(250 * time.Millisecond),
		MaxBackoff:       model.Duration(5 * time.Second),
	}
}

// UnmarshalYAML sets the defaults, decodes, then validates.
func (c *Prometheus) UnmarshalYAML(unmarshal func(any) error) error {
	*c = DefaultPrometheus()
	type plain Prometheus
	if err := unmarshal((*plain)(c)); err != nil {
		return err
	}
	return c.Validate()
}

// Validate reports the first setting that cannot work, naming its YAML key.
func (c *Prometheus) Validate() error {
	if c.URL == "" {
		return errors.New("prometheus: url is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("prometheus: url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("prometheus: url %q: scheme must be http or https", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("prometheus: url %q has no host", c.URL)
	}
	if p := strings.TrimRight(u.Path, "/"); strings.HasSuffix(p, "/api/v1") {
		return fmt.Errorf("prometheus: url %q: give the server's base URL, without /api/v1", c.URL)
	}
	if err := c.HTTPClientConfig.Validate(); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("prometheus: timeout must be positive, got %s", c.Timeout)
	case c.MaxRetries < 0:
		return fmt.Errorf("prometheus: max_retries must not be negative, got %d", c.MaxRetries)
	case c.MaxConcurrency < 1:
		return fmt.Errorf("prometheus: max_concurrency must be at least 1, got %d", c.MaxConcurrency)
	case c.MinBackoff <= 0:
		return fmt.Errorf("prometheus: min_backoff must be positive, got %s", c.MinBackoff)
	case c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("prometheus: max_backoff (%s) must not be below min_backoff (%s)", c.MaxBackoff, c.MinBackoff)
	}
	return nil
}

// SetDirectory resolves the relative file paths of the HTTP client settings
// (credentials, TLS files) against dir, the configuration file's directory.
func (c *Prometheus) SetDirectory(dir string) { c.HTTPClientConfig.SetDirectory(dir) }
