package report

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fleet is a month of rollouts of two templates in two namespaces ending
// at testNow, with known figures, and four running now.
func fleet() []Rollout {
	var rs []Rollout
	add := func(id, ns, tmpl, state string, created time.Time, took time.Duration, published time.Duration) {
		r := Rollout{ID: id, Service: "svc-" + tmpl, Namespace: ns, Template: tmpl, State: state, Step: 3, Steps: 3, Weight: 100,
			CreatedAt: created, Start: created.Add(10 * time.Second)}
		v := &LatestVerdict{Seq: 6, Verdict: "promote", Final: true, NextWeight: 100, Score: 100, Reason: "promote: every metric within its allowed change; score 100", IssuedAt: created.Add(took)}
		switch state {
		case "rolled_back":
			r.Step, r.Weight = 1, 0
			v.Verdict, v.NextWeight, v.Score, v.Reason = "rollback", 0, 0, "rollback: latency_p99 +41.8% (allowed +10%)"
			v.Failing = []string{"latency_p99"}
		case "aborted":
			r.Step, r.Weight = 2, 0
			v.Verdict, v.NextWeight, v.Reason = "rollback", 0, "aborted: release cancelled"
		}
		if published >= 0 {
			r.PublishedAt = v.IssuedAt.Add(published)
		}
		r.Latest = v
		rs = append(rs, r)
	}
	// shop/web, last day: 4 succeeded in 20, 30, 40 and 50 minutes, one
	// rolled back after 3m10s (detected at 3m), published in 2 s.
	for i, m := range []int{20, 30, 40, 50} {
		add(fmt.Sprintf("web-d%d", i), "shop", "web", "succeeded", testNow.Add(-time.Duration(2+3*i)*time.Hour), time.Duration(m)*time.Minute, time.Second)
	}
	add("web-bad-1", "shop", "web", "rolled_back", testNow.Add(-90*time.Minute), 190*time.Second, 2*time.Second)
	// shop/web, earlier in the week and the month.
	for i := range 6 {
		add(fmt.Sprintf("web-w%d", i), "shop", "web", "succeeded", testNow.Add(-time.Duration(2+i)*24*time.Hour), 25*time.Minute, time.Second)
	}
	for i := range 10 {
		st := "succeeded"
		if i%5 == 0 {
			st = "rolled_back"
		}
		add(fmt.Sprintf("web-m%d", i), "shop", "web", st, testNow.Add(-time.Duration(9+2*i)*24*time.Hour), 30*time.Minute, time.Second)
	}
	// pay/api: an abort today, an expiry yesterday, a rollback not yet
	// published an hour ago.
	add("api-abort", "pay", "api", "aborted", testNow.Add(-5*time.Hour), 8*time.Minute, 500*time.Millisecond)
	add("api-expired", "pay", "api", "expired", testNow.Add(-30*time.Hour), 2*time.Hour, time.Second)
	add("api-stuck", "pay", "api", "rolled_back", testNow.Add(-time.Hour), 5*time.Minute, -1)
	// Running: one failing, one holding, two promoting.
	for i, c := range []struct {
		id, verdict string
		failing     []string
	}{{"web-new", "promote", nil}, {"api-hold", "hold", nil}, {"web-fail", "hold", []string{"error_ratio"}}, {"api-new", "", nil}} {
		r := Rollout{ID: c.id, Service: "svc", Namespace: "shop", Template: "web", State: "running", Step: 2, Steps: 3, Weight: 50,
			CreatedAt: testNow.Add(-time.Duration(10*(i+1)) * time.Minute), Start: testNow.Add(-time.Duration(10*(i+1)) * time.Minute)}
		if c.verdict != "" {
			r.Latest = &LatestVerdict{Seq: 2, Verdict: c.verdict, Score: 50, Reason: c.verdict + ": as the test says", Failing: c.failing, IssuedAt: testNow.Add(-time.Minute)}
		}
		rs = append(rs, r)
	}
	return rs
}

func TestSummarise(t *testing.T) {
	rs := fleet()
	groups, all := Summarise(rs, testNow, 24*time.Hour)
	if len(groups) != 2 || groups[0].Namespace != "pay" || groups[1].Template != "web" {
		t.Fatalf("groups %+v, want pay/api then shop/web", groups)
	}
	web := groups[1]
	if web.Started != 9 || web.Succeeded != 4 || web.RolledBack != 1 || web.Ended() != 5 {
		t.Errorf("shop/web over 1d: started %d, ended %d (%d succeeded, %d rolled back); want 9, 5 (4, 1)", web.Started, web.Ended(), web.Succeeded, web.RolledBack)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	if !near(web.SuccessRatio, 0.8) || !near(web.PassRatio, 0.8) {
		t.Errorf("shop/web ratios %v %v, want 0.8 and 0.8", web.SuccessRatio, web.PassRatio)
	}
	// Durations 20, 30, 40, 50 minutes: median 35m, p90 47m (type 7).
	if web.Duration.N != 4 || !near(web.Duration.P50, 35*60) || !near(web.Duration.P90, 47*60) {
		t.Errorf("shop/web durations %+v, want 4, 2100 s, 2820 s", web.Duration)
	}
	if web.Detect.N != 1 || !near(web.Detect.P50, 180) || web.RollBack.N != 1 || !near(web.RollBack.P50, 2) {
		t.Errorf("shop/web detect %+v roll back %+v, want 180 s and 2 s", web.Detect, web.RollBack)
	}
	if web.LatestID != "web-bad-1" {
		t.Errorf("shop/web latest %q, want web-bad-1", web.LatestID)
	}
	api := groups[0]
	// The abort is a weight-0 verdict (time to roll back) but no
	// detection; the unpublished rollback is a detection with no time to
	// roll back yet; the expiry of yesterday is outside the day.
	if api.Aborted != 1 || api.RolledBack != 1 || api.Expired != 0 || !math.IsNaN(api.Duration.P50) ||
		api.Detect.N != 1 || api.RollBack.N != 1 || !near(api.RollBack.P50, 0.5) || !near(api.SuccessRatio, 0) || !near(api.PassRatio, 0) {
		t.Errorf("pay/api over 1d: %+v", api)
	}
	if all.Ended() != 7 || !near(all.SuccessRatio, 4.0/7) {
		t.Errorf("all over 1d: %d ended, success %v; want 7 and 4/7", all.Ended(), all.SuccessRatio)
	}
	_, month := Summarise(rs, testNow, 30*24*time.Hour)
	if month.Ended() != 24 || month.Succeeded != 18 || month.RolledBack != 4 {
		t.Errorf("all over 30d: %d ended, %d succeeded, %d rolled back; want 24, 18, 4", month.Ended(), month.Succeeded, month.RolledBack)
	}
	// Nothing in the window: ratios and quantiles are NaN, not 0.
	_, none := Summarise(rs, testNow.Add(-365*24*time.Hour), 24*time.Hour)
	if !math.IsNaN(none.SuccessRatio) || !math.IsNaN(none.Duration.P90) || none.Ended() != 0 {
		t.Errorf("empty window: %+v", none)
	}
}

func TestRenderOverviewPages(t *testing.T) {
	o := &Overview{Rollouts: fleet(), Now: testNow, Kept: 7 * 24 * time.Hour, Source: "a test"}
	var leads, oncall bytes.Buffer
	if err := RenderOverview(&leads, o); err != nil {
		t.Fatal(err)
	}
	if err := RenderOnCall(&oncall, o); err != nil {
		t.Fatal(err)
	}
	for name, page := range map[string]string{"overview": leads.String(), "oncall": oncall.String()} {
		for _, bad := range []string{"<script", `href="http`, "src=", "NaN", "%!"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s page contains %q", name, bad)
			}
		}
	}
	for _, want := range []string{`id="window-1d"`, `id="window-30d"`, "partial: rollouts are kept 7 days", `href="analyses/web-bad-1"`, "80.0%", "35m / 47m"} {
		if !strings.Contains(leads.String(), want) {
			t.Errorf("overview page lacks %q", want)
		}
	}
	for _, want := range []string{`href="analyses/web-fail"`, "not published", `data-attention="failing"`} {
		if !strings.Contains(oncall.String(), want) {
			t.Errorf("on-call page lacks %q", want)
		}
	}
	// From a file, links go to the daemon.
	o.ReportBase = "http://canaryd.example:9780/"
	leads.Reset()
	if err := RenderOverview(&leads, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(leads.String(), `href="http://canaryd.example:9780/analyses/web-bad-1"`) {
		t.Error("overview page with a report base does not link to the daemon's reports")
	}
}

type fakeRollouts []Rollout

func (f fakeRollouts) Rollouts(context.Context) ([]Rollout, error) { return f, nil }

func TestOverviewHandler(t *testing.T) {
	srv := httptest.NewServer(OverviewHandler(fakeRollouts(fleet()), 7*24*time.Hour, slog.New(slog.DiscardHandler), func() time.Time { return testNow }))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/v1/rollouts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	l, err := DecodeRolloutList(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := fleet()
	if len(l.Rollouts) != len(want) || l.KeptSeconds != 7*86400 || !l.Now.Equal(testNow) {
		t.Fatalf("GET /api/v1/rollouts: %d rollouts, kept %v, now %v", len(l.Rollouts), l.KeptSeconds, l.Now)
	}
	// The JSON round trip keeps every figure the pages show.
	var a, b bytes.Buffer
	if err := RenderOverview(&a, &Overview{Rollouts: want, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	if err := RenderOverview(&b, &Overview{Rollouts: l.Rollouts, Now: testNow}); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("the overview of the decoded rollouts differs from that of the originals")
	}
	for path, code := range map[string]int{"/overview": 200, "/oncall": 200, "/oncall?hours=24": 200, "/oncall?hours=0": 400, "/oncall?hours=x": 400} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, code)
		}
		if code == 200 && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s: no content security policy", path)
		}
	}
}

// TestBrowserOverview opens both overview pages in Chromium at desktop
// and phone widths under the pages' content security policy, checks what
// a person sees (the figures, the order of the running rollouts, the
// charts drawn, nothing wider than the screen but the scrolling tables)
// and follows a link to an analysis report. It saves a screenshot of
// each page at each width.
func TestBrowserOverview(t *testing.T) {
	d := replayData(t, "regressed-p99.json")
	d.ID = "web-bad-1"
	mux := http.NewServeMux()
	mux.Handle("/", OverviewHandler(fakeRollouts(fleet()), 7*24*time.Hour, slog.New(slog.DiscardHandler), func() time.Time { return testNow }))
	mux.Handle("/analyses/", Handler(fakeSource{data: map[string]*Data{d.ID: d}}, slog.New(slog.DiscardHandler), func() time.Time { return testNow }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := browser(t)
	dir := artifactDir(t)

	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			var (
				success, running, failing, holding string
				attention, rollbacks               []string
				bars, dots, overflow               int
				shotLeads, shotOnCall              []byte
				stateText                          string
			)
			// Elements wider than the viewport, other than what scrolls
			// inside a .scroll box.
			const overflowJS = `[...document.querySelectorAll('body *')].filter(e => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1).length`
			err := chromedp.Run(ctx,
				chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(srv.URL+"/overview"),
				chromedp.WaitVisible(`#window-30d`, chromedp.ByQuery),
				chromedp.Text(`[data-fact="success-1d"]`, &success, chromedp.ByQuery),
				chromedp.Text(`[data-fact="running"]`, &running, chromedp.ByQuery),
				chromedp.Evaluate(`document.querySelectorAll('#outcomes-chart rect.bar').length`, &bars),
				chromedp.Evaluate(`document.querySelectorAll('#times-chart circle.dot').length`, &dots),
				chromedp.Evaluate(overflowJS, &overflow),
				chromedp.FullScreenshot(&shotLeads, 100),
			)
			if err != nil {
				t.Fatalf("drive chromium: %v", err)
			}
			if overflow != 0 {
				t.Errorf("overview at %dpx: %d elements wider than the screen", size.w, overflow)
			}
			err = chromedp.Run(ctx,
				chromedp.Navigate(srv.URL+"/oncall"),
				chromedp.WaitVisible(`#running`, chromedp.ByQuery),
				chromedp.Text(`[data-fact="failing"]`, &failing, chromedp.ByQuery),
				chromedp.Text(`[data-fact="holding"]`, &holding, chromedp.ByQuery),
				chromedp.Evaluate(`[...document.querySelectorAll('#running tr.rollout')].map(r => r.dataset.id)`, &attention),
				chromedp.Evaluate(`[...document.querySelectorAll('#rollbacks tr.rollback')].map(r => r.dataset.id)`, &rollbacks),
				chromedp.Evaluate(overflowJS, &overflow),
				chromedp.FullScreenshot(&shotOnCall, 100),
				chromedp.Click(`#rollbacks tr.rollback[data-id="web-bad-1"] a`, chromedp.ByQuery),
				chromedp.WaitVisible(`#timeline`, chromedp.ByQuery),
				chromedp.Text(`#state`, &stateText, chromedp.ByQuery),
			)
			if err != nil {
				t.Fatalf("drive chromium: %v", err)
			}
			for name, shot := range map[string][]byte{"overview": shotLeads, "oncall": shotOnCall} {
				out := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.name))
				if err := os.WriteFile(out, shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot: %s", out)
			}
			if success != "57.1% of 7" || running != "4" {
				t.Errorf("overview facts: success %q, running %q; want 57.1%% of 7 and 4", success, running)
			}
			// 24 rollouts ended within the 30 days, on 20 distinct days
			// with two outcomes on some: at least one bar a day.
			if bars < 20 || dots != 24 {
				t.Errorf("overview charts: %d bars and %d dots, want at least 20 and 24", bars, dots)
			}
			if failing != "1" || holding != "1" {
				t.Errorf("on-call facts: failing %q, holding %q; want 1 and 1", failing, holding)
			}
			if strings.Join(attention, " ") != "web-fail api-hold api-new web-new" {
				t.Errorf("running rollouts in the order %v, want the failing, the holding, then the oldest first", attention)
			}
			if strings.Join(rollbacks, " ") != "api-stuck web-bad-1 api-abort" {
				t.Errorf("rollbacks %v, want the last 6 hours' newest first", rollbacks)
			}
			if overflow != 0 {
				t.Errorf("on-call page at %dpx: %d elements wider than the screen", size.w, overflow)
			}
			if stateText != "Rolled back" {
				t.Errorf("the rollback's link led to a page whose state is %q, want its report (Rolled back)", stateText)
			}
		})
	}
}
