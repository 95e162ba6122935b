package report

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/report/reporttest"
)

func browser(t *testing.T) context.Context { return reporttest.Browser(t) }

func artifactDir(t *testing.T) string { return reporttest.ArtifactDir(t) }

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
