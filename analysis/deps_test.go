package analysis_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestJudgeLinksNoHTTPClient holds what the judge links: analysis, rollout
// and stats must not reach net/http, nor rollout/message, the wire types a
// mesh adapter's consumer imports (an HTTP client in the judge is how
// connection settings and PromQL's storage crept in before: configs'
// prometheus/common/config, and metrics' companion through
// promql/parser -> storage -> client_golang). It runs `go list -deps`
// with the go command that runs the test (go test puts $GOROOT/bin first
// on PATH) and prints the chain of imports that brings net/http in.
func TestJudgeLinksNoHTTPClient(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the judge's dependencies: %v", err)
	}
	const mod = "github.com/canaryd/canaryd/"
	for _, pkg := range []string{mod + "analysis", mod + "rollout", mod + "stats", mod + "rollout/message"} {
		cmd := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
		}
		imports := map[string][]string{}
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) > 0 {
				imports[f[0]] = f[1:]
			}
		}
		if _, ok := imports[pkg]; !ok {
			t.Fatalf("go list -deps %s did not list the package itself:\n%s", pkg, out)
		}
		if _, ok := imports["net/http"]; ok {
			t.Errorf("%s links an HTTP client: %s", pkg, strings.Join(chain(imports, pkg, "net/http"), " -> "))
		}
	}
}

// chain returns a shortest import path from `from` to `to` in imports.
func chain(imports map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, q := range imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, "?", to}
}
