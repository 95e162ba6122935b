package promtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	// No "# EOF": Start adds it.
	srv := Start(t, "# TYPE canaryd_promtest gauge\ncanaryd_promtest{k=\"v\"} 42.5 1704067200\n", Options{})
	resp, err := http.Get(srv.URL + "/api/v1/query?query=canaryd_promtest&time=1704067200")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" || len(body.Data.Result) != 1 || body.Data.Result[0].Value[1] != "42.5" || body.Data.Result[0].Metric["k"] != "v" {
		t.Errorf("query answer = %+v, want the one sample written", body)
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	r := &recorder{TB: t}
	r.run(func() { Start(r, "this is not openmetrics\n", Options{}) })
	if !strings.Contains(r.fatal, "promtool tsdb create-blocks-from openmetrics") {
		t.Errorf("Start over bad input: fatal %q, skipped %q; want a fatal naming promtool", r.fatal, r.skipped)
	}
}

// TestMissingBinaries checks the rule: a test that needs Prometheus fails
// under CI=true when it is missing, and is skipped (never silently passed)
// otherwise.
func TestMissingBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		r.run(func() { Start(r, "", Options{}) })
		got := r.skipped
		if ci == "true" {
			got = r.fatal
		}
		if !strings.Contains(got, "prometheus and promtool not on PATH") || !strings.Contains(got, "make test-deps") {
			t.Errorf("CI=%q: fatal %q, skipped %q", ci, r.fatal, r.skipped)
		}
	}
}

// recorder catches Fatal and Skip instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skipped string
}

func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...); runtime.Goexit() }

// run calls f on its own goroutine, so that Fatal and Skip end only f.
func (r *recorder) run(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}
