package app

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestUnreadableRecord: a record written by a later canaryd (a format
// this one does not read) breaks nothing else: the other analyses are
// judged and served, the record is listed with its error and reported
// once (log, metric), and its runner stops instead of retrying.
func TestUnreadableRecord(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), testConfig), nil)
	c := connect(t, s)
	verdicts := published(c)
	c.publishEvent(event("ok1", "v2"))
	c.publishEvent(event("new1", "v2"))
	c.waitRecord("ok1", nil)
	c.waitRecord("new1", nil)

	// A later canaryd rewrites new1 in a format of its own.
	kv, err := c.js.KeyValue(t.Context(), "canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(t.Context(), record.KeyPrefix+"new1")
	if err != nil {
		t.Fatal(err)
	}
	later := strings.Replace(string(e.Value()), `"format":2,`, `"format":3,`, 1)
	if _, err := kv.Update(t.Context(), record.KeyPrefix+"new1", []byte(later), e.Revision()); err != nil {
		t.Fatal(err)
	}

	for seq := 1; seq <= 3; seq++ {
		clock.Advance(time.Minute)
		if v := next(t, verdicts); v.AnalysisID != "ok1" || v.Seq != seq || v.Verdict != analysis.Promote {
			t.Fatalf("verdict %s seq %d %s, want ok1 seq %d promote", v.AnalysisID, v.Seq, v.Verdict, seq)
		}
	}
	c.waitRecord("ok1", func(r *record.Record) bool { return r.Settled() })
	for range 3 { // scans, and the intervals a retrying runner would spend
		clock.Advance(10 * time.Second)
	}

	var list struct{ Analyses []api.AnalysisView }
	for range 2 {
		if code := httpJSON(t, "GET", a.url+"/api/v1/analyses", "", &list); code != http.StatusOK || len(list.Analyses) != 2 {
			t.Fatalf("list: %d %+v", code, list)
		}
	}
	var bad, good *api.AnalysisView
	for i := range list.Analyses {
		if v := &list.Analyses[i]; v.ID == "new1" {
			bad = v
		} else {
			good = v
		}
	}
	const why = "format 3, written by a later canaryd (this one reads formats up to 2)"
	if bad == nil || !strings.Contains(bad.Error, why) || good == nil || good.ID != "ok1" || good.State != "succeeded" {
		t.Errorf("list: %+v", list.Analyses)
	}
	// The report index lists it with its error, and the rest as usual.
	resp, err := http.Get(a.url + "/analyses")
	if err != nil {
		t.Fatal(err)
	}
	if page := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `<tr class="analysis unreadable" data-id="new1"`) ||
		!strings.Contains(page, why) || !strings.Contains(page, `<tr class="analysis" data-id="ok1" data-state="succeeded"`) {
		t.Errorf("GET /analyses: %d\n%s", resp.StatusCode, page)
	}
	var errBody map[string]string
	if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/new1", "", &errBody); code != http.StatusInternalServerError || !strings.Contains(errBody["error"], why) {
		t.Errorf("GET new1: %d %v", code, errBody)
	}
	if got := value(t, a.rmetrics.Unreadable); got != 1 {
		t.Errorf("canaryd_records_unreadable_total %v, want 1 (once, however often it is read)", got)
	}
	if got := value(t, a.rmetrics.NatsErrors); got != 0 {
		t.Errorf("canaryd_nats_errors_total %v: an unreadable record is no NATS error", got)
	}
	// ok1's runner ends with its analysis, new1's at its first write.
	waitFor(t, "no analysis running", func() bool { return value(t, a.rmetrics.Active) == 0 })
	// The later canaryd's record is left as it wrote it.
	if e, err := kv.Get(t.Context(), record.KeyPrefix+"new1"); err != nil || string(e.Value()) != later {
		t.Errorf("new1 was rewritten: %v", err)
	}
	if got := streamCount(t, c, message.VerdictPrefix+"prod.web"); got != 3 {
		t.Errorf("%d verdicts on the stream, want ok1's 3", got)
	}
}
