package spec_test

import (
	"strings"
	"testing"

	"github.com/canaryd/canaryd/configs"
)

// TestTemplateHash: the hash follows the settings (defaults included),
// not the file's layout or comments.
func TestTemplateHash(t *testing.T) {
	load := func(s string) string {
		t.Helper()
		cfg, err := configs.Load(s)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Templates[0].Hash()
	}
	const base = "templates:\n  - name: web\n    interval: 1m\n    metrics:\n      - name: up\n        query: 'up{service=\"{{.Service}}\",version=\"{{.Version}}\"}'\n"
	h := load(base)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+16 {
		t.Fatalf("hash %q", h)
	}
	if got := load("# a comment\n" + strings.Replace(base, "interval: 1m", "interval: 60s", 1)); got != h {
		t.Errorf("the same settings written differently: %s, want %s", got, h)
	}
	for _, change := range []string{"interval: 2m", "interval: 1m\n    min_samples: 99"} {
		if got := load(strings.Replace(base, "interval: 1m", change, 1)); got == h {
			t.Errorf("%q left the hash %s", change, h)
		}
	}
	if got := load(strings.Replace(base, "up{", "down{", 1)); got == h {
		t.Error("a changed query left the hash")
	}
}
