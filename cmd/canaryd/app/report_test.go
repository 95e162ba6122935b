package app

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
)

// TestReportPages runs analyses to their end and reads their report pages
// from the daemon: the index with its filters, and each report with its
// timeline, its metric panel and the series fetched again from the
// metrics source.
func TestReportPages(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("good-1", "v2"))
	c.publishEvent(event("bad-1", "bad-v2"))
	c.waitRecord("good-1", nil)
	c.waitRecord("bad-1", nil)
	// The bad canary rolls back at the first judgement; the good one is
	// promoted through its three steps.
	want := map[string][]analysis.Verdict{
		"good-1": {analysis.Promote, analysis.Promote, analysis.Promote},
		"bad-1":  {analysis.Rollback},
	}
	got := map[string][]analysis.Verdict{}
	for _, n := range []int{2, 1, 1} {
		clock.Advance(time.Minute)
		for range n {
			v := next(t, verdicts)
			got[v.AnalysisID] = append(got[v.AnalysisID], v.Verdict)
		}
	}
	for id, vs := range want {
		if !slices.Equal(got[id], vs) {
			t.Fatalf("%s: verdicts %v, want %v", id, got[id], vs)
		}
	}
	goodRec := c.waitRecord("good-1", func(r *record.Record) bool { return r.Done() })
	c.waitRecord("bad-1", func(r *record.Record) bool { return r.Done() })

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(a.url + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(t, resp)
	}
	rowRE := regexp.MustCompile(`<tr class="analysis" data-id="([^"]+)" data-state="([^"]+)"`)
	for _, tt := range []struct{ query, rows string }{
		{"", "good-1:succeeded bad-1:rolled_back"},
		{"?state=rolled_back", "bad-1:rolled_back"},
		{"?service=web&state=succeeded", "good-1:succeeded"},
		{"?service=other", ""},
		// A page of one, and the page after it: the link's token.
		{"?limit=1", "good-1:succeeded"},
		{"?limit=1&before=" + url.QueryEscape(record.CursorOf(goodRec)), "bad-1:rolled_back"},
	} {
		code, page := get("/analyses" + tt.query)
		var rows []string
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			rows = append(rows, m[1]+":"+m[2])
		}
		if code != http.StatusOK || strings.Join(rows, " ") != tt.rows {
			t.Errorf("GET /analyses%s: %d rows %v, want %s", tt.query, code, rows, tt.rows)
		}
	}
	for _, tt := range []struct {
		id, verdict string
		judgements  int
	}{{"good-1", "promote", 3}, {"bad-1", "rollback", 1}} {
		code, page := get("/analyses/" + tt.id)
		if code != http.StatusOK {
			t.Fatalf("GET /analyses/%s: %d", tt.id, code)
		}
		if !strings.Contains(page, `data-final-verdict="`+tt.verdict+`"`) || strings.Count(page, `<tr class="judgement"`) != tt.judgements {
			t.Errorf("%s: timeline lacks %d judgements ending in %s", tt.id, tt.judgements, tt.verdict)
		}
		// One metric: its interval, series and distribution charts,
		// and the timeline's chart.
		if !strings.Contains(page, `data-metric="latency"`) || strings.Count(page, "<svg ") != 4 {
			t.Errorf("%s: metric panel or its charts missing (%d charts)", tt.id, strings.Count(page, "<svg "))
		}
		if strings.Contains(page, "Series not shown") || strings.Contains(page, "incomplete") {
			t.Errorf("%s: the series were not fetched again", tt.id)
		}
	}
	if _, page := get("/analyses?limit=1"); !strings.Contains(page, `id="older" href="?before=`+url.QueryEscape(record.CursorOf(goodRec))+`&amp;limit=1"`) {
		t.Errorf("the first page of one links to no older page")
	}
	if code, _ := get("/analyses?before=nope"); code != http.StatusBadRequest {
		t.Errorf("GET /analyses?before=nope: %d, want 400", code)
	}
	if code, _ := get("/analyses/nope"); code != http.StatusNotFound {
		t.Errorf("GET /analyses/nope: %d, want 404", code)
	}
}
