package report

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/canaryd/canaryd/analysis"
)

// browser starts headless Chromium for the test and returns a context
// driving one tab. Without the binary the test fails under CI=true and is
// skipped otherwise.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found (install the Debian package chromium, see scripts/test-deps.sh): %v", err)
		}
		t.Skipf("chromium not found (install the Debian package chromium to run this test): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		// Close the browser and wait for its process before the
		// profile directory is removed.
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("close chromium: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Run(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// artifactDir is where a test leaves files for people to look at:
// $CANARYD_TEST_ARTIFACTS when set, the test's temporary directory
// otherwise.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CANARYD_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserReport opens the index and, through its link, the report of
// a rolled-back analysis in Chromium, and checks what a person sees: the
// timeline with the verdict of every judgement, one panel per metric with
// the deciding (failed) metric first, three charts per panel, and the
// embedded style applied under the pages' content security policy. It
// saves a screenshot of the whole report.
func TestBrowserReport(t *testing.T) {
	d := replayData(t, "regressed-p99.json")
	d.ID = "regressed-p99"
	src := fakeSource{
		list: []Summary{{ID: d.ID, Service: d.Service, Namespace: d.Namespace, Template: d.Template, State: d.State,
			Step: 1, Steps: len(d.Steps), Weight: 0, Judgements: len(d.Timeline), LastVerdict: analysis.Rollback, LastScore: 80}},
		data: map[string]*Data{d.ID: d},
	}
	srv := httptest.NewServer(Handler(src, slog.New(slog.DiscardHandler), func() time.Time { return testNow }))
	t.Cleanup(srv.Close)
	ctx := browser(t)

	var (
		link, stateText, finalVerdict, badgeColour string
		verdicts, panels, classes                  []string
		charts                                     []int
		margin                                     []float64
		nodes                                      []*cdp.Node
		shot                                       []byte
	)
	err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL+"/analyses?state=rolled_back"),
		chromedp.WaitVisible(`#analyses`, chromedp.ByQuery),
		chromedp.AttributeValue(`#analyses tr.analysis a`, "href", &link, nil, chromedp.ByQuery),
		chromedp.Click(`#analyses tr.analysis a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#timeline`, chromedp.ByQuery),
		chromedp.Text(`#state`, &stateText, chromedp.ByQuery),
		chromedp.AttributeValue(`#timeline`, "data-final-verdict", &finalVerdict, nil, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#timeline tr.judgement')].map(r => r.dataset.verdict)`, &verdicts),
		chromedp.Evaluate(`[...document.querySelectorAll('section.metric')].map(s => s.dataset.metric)`, &panels),
		chromedp.Evaluate(`[...document.querySelectorAll('section.metric')].map(s => s.dataset.classification)`, &classes),
		chromedp.Evaluate(`[...document.querySelectorAll('section.metric')].map(s => [...s.querySelectorAll('svg')].filter(g => g.getBoundingClientRect().width > 100).length)`, &charts),
		chromedp.Evaluate(`getComputedStyle(document.querySelector('#state')).backgroundColor`, &badgeColour),
		// Where the first panel's interval lies against its margin line,
		// as drawn on the screen.
		chromedp.Evaluate(`(() => {
			const s = document.querySelector('section.metric');
			const m = s.querySelector('svg line.margin').getBoundingClientRect();
			const ci = s.querySelector('svg line.ci').getBoundingClientRect();
			return [m.left, ci.left, ci.right];
		})()`, &margin),
		chromedp.Nodes(`#timeline svg circle.marker`, &nodes, chromedp.ByQueryAll),
		chromedp.FullScreenshot(&shot, 100),
	)
	if err != nil {
		t.Fatalf("drive chromium: %v", err)
	}
	out := filepath.Join(artifactDir(t), "report-regressed-p99.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the report: %s", out)

	if link != "analyses/"+d.ID {
		t.Errorf("index links to %q, want the relative analyses/%s", link, d.ID)
	}
	if stateText != "Rolled back" {
		t.Errorf("state %q, want Rolled back", stateText)
	}
	if finalVerdict != "rollback" {
		t.Errorf("timeline's final verdict %q, want rollback", finalVerdict)
	}
	var want []string
	for _, j := range d.Timeline {
		want = append(want, string(j.Verdict))
	}
	if strings.Join(verdicts, " ") != strings.Join(want, " ") || len(nodes) != len(want) {
		t.Errorf("timeline verdicts %v and %d markers, want %v", verdicts, len(nodes), want)
	}
	if len(panels) != 5 {
		t.Fatalf("metric panels %v, want 5", panels)
	}
	if panels[0] != "latency_p99" || classes[0] != "high" {
		t.Errorf("first panel %s (%s), want the deciding latency_p99 (high)", panels[0], classes[0])
	}
	for i, c := range classes[1:] {
		if c != "pass" {
			t.Errorf("panel %s is %s, want pass", panels[i+1], c)
		}
	}
	for i, n := range charts {
		if n != 3 {
			t.Errorf("panel %s shows %d charts, want 3 (interval, series, distributions)", panels[i], n)
		}
	}
	// The regression shows at a glance: the deciding panel's interval
	// lies wholly past the allowed-change line.
	if len(margin) != 3 || !(margin[1] > margin[0]) || !(margin[2] > margin[1]) {
		t.Errorf("first panel: margin line at x=%v, interval at %v; want the interval wholly right of the line", margin[:min(1, len(margin))], margin[min(1, len(margin)):])
	}
	// The embedded style sheet applies (the policy allows inline styles
	// only): the rolled-back badge is red.
	if badgeColour != "rgb(207, 34, 46)" {
		t.Errorf("state badge colour %q, want rgb(207, 34, 46): the style sheet did not apply", badgeColour)
	}
}
