package demo

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/report/reporttest"
)

// TestDemo runs the whole demo in-process and asserts every outcome and
// its reason.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var report string
	hold := func(ctx context.Context, res *Result) {
		// The rolled-back canary's report, read while the daemon runs.
		for _, r := range res.Rollouts {
			if r.Verdict == analysis.Rollback {
				report = getPage(t, ctx, res.APIURL+"/analyses/"+r.AnalysisID)
				inBrowser(t, res.APIURL+"/analyses/"+r.AnalysisID)
			}
		}
	}
	res, err := Run(ctx, Options{Out: &out, Factor: 60, StoragePath: t.TempDir(), Hold: hold})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Rollout{}
	for _, r := range res.Rollouts {
		got[r.Service] = r
	}
	if r := got["checkout"]; r.Verdict != analysis.Promote || r.Judgements < 4 || r.Approvals != 1 {
		t.Errorf("healthy canary: %s after %d judgements and %d approvals (%s), want promoted through 4 steps, the last approved",
			r.Verdict, r.Judgements, r.Approvals, r.Reason)
	}
	if !strings.Contains(out.String(), "the demo approves now") || !strings.Contains(out.String(), "approved by demo: enter step 4") {
		t.Errorf("the demo does not say it approves:\n%s", out.String())
	}
	if r := got["payments"]; r.Verdict != analysis.Rollback || !(strings.Contains(r.Reason, "latency_p99") || strings.Contains(r.Reason, "error_ratio")) {
		t.Errorf("regressed canary: %s (%s), want rollback naming latency_p99 or error_ratio", r.Verdict, r.Reason)
	}
	if r := got["search"]; r.Verdict != analysis.Hold || r.BudgetHolds < 4 || !strings.HasPrefix(r.BudgetReason, "error budget spent: ") ||
		!strings.Contains(out.String(), "the error-budget gate held") {
		t.Errorf("spent budget: %s after %d budget hold(s) (%s; %s), want held by the error-budget gate until its lifetime",
			r.Verdict, r.BudgetHolds, r.BudgetReason, r.Reason)
	}
	if !strings.Contains(out.String(), res.APIURL) {
		t.Errorf("the demo must print the API address")
	}
	// The report shows the regression first: the rolled-back state, and
	// a failed deciding metric in the first panel, with its series.
	first := regexp.MustCompile(`<section class="panel metric" id="metric-[^"]+" data-metric="([^"]+)"\s+data-classification="([^"]+)" data-deciding="true"`).FindStringSubmatch(report)
	if !strings.Contains(report, `data-state="rolled_back"`) || first == nil || (first[2] != "high" && first[2] != "low") {
		t.Errorf("the rolled-back canary's report does not lead with a failed deciding metric (first panel %v)", first)
	}
	if !strings.Contains(out.String(), res.APIURL+"/analyses/") {
		t.Errorf("the demo must print the report URLs")
	}
}

func getPage(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("get %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("get %s: %d %v", url, resp.StatusCode, err)
	}
	if dir := os.Getenv("CANARYD_TEST_ARTIFACTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "demo-rolled-back-report.html"), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	return string(b)
}

// inBrowser opens the rolled-back canary's report in headless Chromium:
// the deciding metric's panel comes first, and its interval lies wholly
// past the allowed-change line on the screen. The screenshot is kept.
func inBrowser(t *testing.T, url string) {
	t.Helper()
	ctx := reporttest.Browser(t)
	var (
		first  []string
		margin []float64
		shot   []byte
	)
	err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`#timeline`, chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const s = document.querySelector('section.metric'); return [s.dataset.metric, s.dataset.classification, s.dataset.deciding]; })()`, &first),
		chromedp.Evaluate(`(() => {
			const s = document.querySelector('section.metric');
			const m = s.querySelector('svg line.margin').getBoundingClientRect();
			const ci = s.querySelector('svg line.ci').getBoundingClientRect();
			return [m.left, ci.left, ci.right];
		})()`, &margin),
		chromedp.FullScreenshot(&shot, 100), // quality 100: PNG
	)
	if err != nil {
		t.Fatalf("drive chromium: %v", err)
	}
	out := filepath.Join(reporttest.ArtifactDir(t), "demo-rolled-back-report.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the demo's rolled-back report: %s", out)
	if len(first) != 3 || (first[1] != "high" && first[1] != "low") || first[2] != "true" {
		t.Errorf("first panel %v, want a deciding metric classified high or low", first)
	}
	if len(margin) != 3 || !(margin[1] > margin[0]) || !(margin[2] > margin[1]) {
		t.Errorf("first panel: margin line and interval at %v; want the interval wholly past the line", margin)
	}
}
