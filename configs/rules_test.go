package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// rulesDir holds the alerting and recording rules shipped for the
// Prometheus that scrapes canaryd, and their promtool unit tests.
const rulesDir = "rules"

// promtool returns the path of promtool (Debian's prometheus package).
// Without it the test fails under CI=true and is skipped otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (install the Debian package prometheus, see scripts/test-deps.sh): %v", err)
		}
		t.Skipf("promtool not found (install the Debian package prometheus to run this test): %v", err)
	}
	return path
}

// TestRules checks the shipped rules with `promtool check rules` and runs
// their unit tests with `promtool test rules`: series that must fire each
// alert and series that must not, and the recorded SLIs' values.
func TestRules(t *testing.T) {
	bin := promtool(t)
	rules, err := filepath.Glob(filepath.Join(rulesDir, "*.rules.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in %s: %v", rulesDir, err)
	}
	tests, err := filepath.Glob(filepath.Join(rulesDir, "*.test.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in %s: %v", rulesDir, err)
	}
	if out, err := exec.Command(bin, append([]string{"check", "rules"}, rules...)...).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	for _, f := range tests {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := exec.Command(bin, "test", "rules", f).CombinedOutput()
			if err != nil {
				t.Errorf("promtool test rules %s: %v\n%s", f, err, out)
			}
		})
	}
}
