package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
)

// TestDemo runs the whole demo in-process and asserts both outcomes and
// their reasons.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Options{Out: &out, Factor: 60, StoragePath: t.TempDir()})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Rollout{}
	for _, r := range res.Rollouts {
		got[r.Service] = r
	}
	if r := got["checkout"]; r.Verdict != analysis.Promote || r.Judgements < 4 {
		t.Errorf("healthy canary: %s after %d judgements (%s), want promoted through 4 steps", r.Verdict, r.Judgements, r.Reason)
	}
	if r := got["payments"]; r.Verdict != analysis.Rollback || !(strings.Contains(r.Reason, "latency_p99") || strings.Contains(r.Reason, "error_ratio")) {
		t.Errorf("regressed canary: %s (%s), want rollback naming latency_p99 or error_ratio", r.Verdict, r.Reason)
	}
	if !strings.Contains(out.String(), res.APIURL) {
		t.Errorf("the demo must print the API address")
	}
}
