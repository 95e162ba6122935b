package spec

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHTTPDependency holds the point of the package: the templates
// live apart from the connection settings (package configs, which
// imports prometheus/common/config and so net/http), so that what
// judges canaries can import them without an HTTP stack.
func TestNoHTTPDependency(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, d := range deps {
		if d == "net/http" || d == "github.com/prometheus/common/config" {
			t.Errorf("configs/spec depends on %s; the templates must not pull in the HTTP client settings", d)
		}
	}
}
