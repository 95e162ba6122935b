package prometheus

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
)

func TestNewValidates(t *testing.T) {
	if _, err := New(configs.Prometheus{URL: "http://p:9090"}, nil, nil); err == nil || !strings.Contains(err.Error(), "timeout must be positive") {
		t.Errorf("New(zero configs.Prometheus) = %v, want a validation error", err)
	}
}

func TestBackoff(t *testing.T) {
	cfg := configs.DefaultPrometheus()
	cfg.URL = "http://p:9090"
	cfg.MinBackoff = model.Duration(100 * time.Millisecond)
	cfg.MaxBackoff = model.Duration(time.Second)
	s := newSource(cfg, nil, nil, nil)
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, c := range ceilings {
		c *= time.Millisecond
		for range 50 {
			if d := s.backoff(i + 1); d < c/2 || d >= c {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s)", i+1, d, c/2, c)
			}
		}
	}
}
