package report

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/report/reporttest"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/metrics"
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

// minimalData is the report of the first shared scenario, a recording of
// the minimal form (values only, no clock) judged with a 5m template.
func minimalData(t *testing.T) *Data {
	t.Helper()
	shared := filepath.Join(moduleRoot(t), "..", "shared", "scenarios")
	cfg, err := configs.LoadFile(filepath.Join(shared, "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := cfg.Templates[0]
	b, err := os.ReadFile(filepath.Join(shared, "sample.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	rec, err := metrics.ReadRecording(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != 0 || time.Duration(tmpl.Interval) != 5*time.Minute {
		t.Fatalf("want a minimal recording and a 5m template, got version %d and %s", rec.Version, tmpl.Interval)
	}
	res, err := analysis.Replay(context.Background(), &tmpl, rec)
	if err != nil {
		t.Fatal(err)
	}
	return FromReplay(Replay{Template: &tmpl, Recording: rec, Result: res, Source: "sample.jsonl", Generated: testNow})
}

// cellAlignment is, for one table cell, where its text and its column
// header's text lie on the screen.
type cellAlignment struct {
	Table, Header, Cell     string
	Num                     bool
	HeadLeft, HeadRight     float64
	CellLeft, CellRight     float64
	ColumnLeft, ColumnRight float64
}

// alignmentJS measures, for every body cell of every data table, its text's
// box and its column header's text box.
const alignmentJS = `(() => {
	const text = el => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
	const out = [];
	document.querySelectorAll('table.data').forEach((t, ti) => {
		const heads = [...t.querySelectorAll('thead th')];
		t.querySelectorAll('tbody tr').forEach(row => {
			[...row.children].forEach((c, i) => {
				const h = heads[i];
				if (!h || !h.textContent.trim() || !c.textContent.trim()) return;
				const hb = text(h), cb = text(c), col = h.getBoundingClientRect();
				out.push({Table: (t.closest('section') || {}).id + '#' + ti, Header: h.textContent.trim(), Cell: c.textContent.trim(),
					Num: h.classList.contains('num'), HeadLeft: hb.left, HeadRight: hb.right, CellLeft: cb.left, CellRight: cb.right,
					ColumnLeft: col.left, ColumnRight: col.right});
			});
		});
	});
	return out;
})()`

// TestBrowserReportLayout opens the report of a minimal recording at
// desktop and phone widths and checks the layout a person sees: every value
// sits under its own column's header (numbers right-aligned with it, text
// left-aligned), the time axis and the judged window are in the
// template's time (5m, not the 30 s of one point a second), and no made-up
// service or version names appear.
func TestBrowserReportLayout(t *testing.T) {
	var page strings.Builder
	if err := Render(&page, minimalData(t)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page.String()))
	}))
	t.Cleanup(srv.Close)
	ctx := browser(t)
	for _, width := range []int64{1280, 390} {
		var (
			cells      []cellAlignment
			ticks      []string
			window     string
			service    string
			versions   string
			shot       []byte
			scrollable bool
		)
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(srv.URL),
			chromedp.WaitVisible(`#timeline`, chromedp.ByQuery),
			chromedp.Evaluate(alignmentJS, &cells),
			chromedp.Evaluate(`[...document.querySelector('section.metric').querySelectorAll('svg')[1].querySelectorAll('text.tick')].map(e => e.textContent)`, &ticks),
			chromedp.Text(`#timeline tr.judgement td.nowrap`, &window, chromedp.ByQuery),
			chromedp.Text(`#service`, &service, chromedp.ByQuery),
			chromedp.Text(`#versions`, &versions, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &scrollable),
			chromedp.FullScreenshot(&shot, 90),
		)
		if err != nil {
			t.Fatalf("width %d: drive chromium: %v", width, err)
		}
		out := filepath.Join(artifactDir(t), fmt.Sprintf("report-minimal-%d.jpg", width))
		if err := os.WriteFile(out, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot at width %d: %s", width, out)

		if len(cells) < 30 {
			t.Fatalf("width %d: measured %d table cells, want the timeline, metrics, samples and by-judgement tables", width, len(cells))
		}
		for _, c := range cells {
			// The text lies inside its header's column, and lines up with
			// the header's text on the side the column is aligned to.
			inside := c.CellLeft >= c.ColumnLeft-1 && c.CellRight <= c.ColumnRight+1
			aligned := math.Abs(c.CellLeft-c.HeadLeft) <= 1.5
			if c.Num {
				aligned = math.Abs(c.CellRight-c.HeadRight) <= 1.5
			}
			if !inside || !aligned {
				t.Errorf("width %d, table %s: %q under header %q: text at x=[%.1f, %.1f], header text at [%.1f, %.1f], column [%.1f, %.1f] (numeric %v)",
					width, c.Table, c.Cell, c.Header, c.CellLeft, c.CellRight, c.HeadLeft, c.HeadRight, c.ColumnLeft, c.ColumnRight, c.Num)
			}
		}
		// The x axis' ticks are the durations (the y axis' are numbers).
		ticks = slices.DeleteFunc(ticks, func(s string) bool { return s == "" || s[len(s)-1] >= '0' && s[len(s)-1] <= '9' })
		if len(ticks) == 0 || ticks[0] != "0s" || ticks[len(ticks)-1] != "5m" {
			t.Errorf("width %d: series chart time axis %v, want 0s to 5m (the template's interval)", width, ticks)
		}
		if window != "+0s to +5m" {
			t.Errorf("width %d: judged window %q, want +0s to +5m", width, window)
		}
		if service != "scenario" || versions != "not recorded" {
			t.Errorf("width %d: identity %q, versions %q; want the template's name and 'not recorded', no placeholders", width, service, versions)
		}
		if scrollable {
			t.Errorf("width %d: the page is wider than the screen: wide tables must scroll inside their panel", width)
		}
	}
}
