package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/rollout/message"
)

// auditConfig judges demo_latency_seconds every 5s over two steps, the
// second behind an approval.
const auditConfig = `
global:
  prometheus:
    url: %s
  audit:
    retention: 30d
templates:
  - name: gated
    interval: 5s
    steps: [10, 100]
    min_samples: 5
    approvals:
      - step: 2
        timeout: 10m
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// auditOf reads analysis id's whole trail through the API, page by page
// of limit records, and checks the pages agree with one read.
func auditOf(t *testing.T, base, id string, limit int) api.AuditPage {
	t.Helper()
	var all api.AuditPage
	if code := httpJSON(t, "GET", base+id+"/audit?limit=1000", "", &all); code != http.StatusOK {
		t.Fatalf("GET %s/audit: %d", id, code)
	}
	var paged []message.AuditRecord
	var after uint64
	for pages := 0; ; pages++ {
		var p api.AuditPage
		if code := httpJSON(t, "GET", fmt.Sprintf("%s%s/audit?limit=%d&after=%d", base, id, limit, after), "", &p); code != http.StatusOK {
			t.Fatalf("GET %s/audit page %d: %d", id, pages, code)
		}
		if len(p.Records)+len(p.Unreadable) > limit {
			t.Fatalf("page %d of %s: %d records, limit %d", pages, id, len(p.Records)+len(p.Unreadable), limit)
		}
		paged = append(paged, p.Records...)
		if p.Next == 0 {
			break
		}
		after = p.Next
	}
	if !slices.EqualFunc(paged, all.Records, func(x, y message.AuditRecord) bool { return x.ID == y.ID && x.StreamSeq == y.StreamSeq }) {
		t.Errorf("%s: the pages of %d hold %d records, one read %d", id, limit, len(paged), len(all.Records))
	}
	return all
}

// TestAuditTrail runs the daemon on the wall clock with its embedded NATS
// and a real Prometheus: an analysis approved over HTTP, one denied, one
// the judge rolls back and one aborted each leave an ordered audit trail,
// one record per verdict (same seq, same order), with the actor (the
// person who answered, else the replica), the window, the queries as sent,
// the samples per role and the template's hash. The API pages the trail;
// a record of a later version is reported, not fatal; the report page
// shows the trail; and the trail survives a restart of the daemon.
func TestAuditTrail(t *testing.T) {
	target := apptest.ServeLatency(t, map[[2]string]float64{
		{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100,
		{"cart", "v1"}: 0.100, {"cart", "v2"}: 0.100,
		{"orders", "v1"}: 0.100, {"orders", "v2"}: 0.100,
		{"search", "v1"}: 0.200, {"search", "v2"}: 0.400,
	})
	promURL := apptest.StartScrapingPrometheus(t, target)
	cfgPath := writeConfig(t, t.TempDir(), fmt.Sprintf(auditConfig, promURL))
	storage := t.TempDir()
	start := func() *App {
		t.Helper()
		a, err := New(Options{ConfigFile: cfgPath, ListenAddress: "127.0.0.1:0", StoragePath: storage,
			NATSListenAddress: "127.0.0.1:0", Logger: testLogger(t), InstanceID: "replica-1"})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return a
	}
	stop := func(a *App) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	a := start()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop(a)
		}
	})
	c := connectURL(t, a.natsClientURL())
	verdicts := published(c)
	base := "http://" + a.Addr() + "/api/v1/analyses/"
	for _, svc := range []string{"checkout", "cart", "search", "orders"} {
		c.publishEvent(message.Event{ID: svc + "-1", Service: svc, Namespace: "shop", Template: "gated",
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
	}
	published := map[string][]record.Verdict{}
	answered := map[string]bool{}
	done := func(id string) bool { vs := published[id]; return len(vs) > 0 && vs[len(vs)-1].Final }
	for !done("checkout-1") || !done("cart-1") || !done("search-1") || !done("orders-1") {
		v := next(t, verdicts)
		published[v.AnalysisID] = append(published[v.AnalysisID], v)
		if !v.AwaitingApproval || answered[v.AnalysisID] {
			continue
		}
		answered[v.AnalysisID] = true
		var path, body string
		switch v.AnalysisID {
		case "checkout-1":
			path, body = "checkout-1/approve", `{"by":"ann","reason":"dashboards fine"}`
		case "cart-1":
			path, body = "cart-1/deny", `{"by":"bob","reason":"freeze"}`
		case "orders-1":
			path, body = "orders-1/abort", `{"reason":"wrong build"}`
		default:
			continue
		}
		if code := httpJSON(t, "POST", base+path, body, nil); code != http.StatusOK {
			t.Fatalf("POST %s: %d", path, code)
		}
	}

	hash := a.config().Template("gated").Hash()
	want := map[string]struct {
		action, actor string // the trail's decisive record: its action and actor
	}{
		"checkout-1": {message.AuditApprove, "person ann"},
		"cart-1":     {message.AuditDeny, "person bob"},
		"search-1":   {message.AuditVerdict, "replica replica-1"},
		"orders-1":   {message.AuditAbort, "replica replica-1"},
	}
	trails := map[string][]message.AuditRecord{}
	for id, w := range want {
		trail := auditOf(t, base, id, 2).Records
		trails[id] = trail
		for _, rec := range trail {
			t.Logf("%s %s %s by %s %s: %s (%d queries)", rec.At.Format("15:04:05.000"), id, rec.Action, rec.Actor.Kind, rec.Actor.Name, rec.Reason, len(rec.Queries))
		}
		vs := published[id]
		if len(trail) != len(vs) {
			t.Fatalf("%s: %d audit records for %d verdicts", id, len(trail), len(vs))
		}
		decisive, sampled := 0, 0
		for i, rec := range trail {
			v := vs[i]
			if rec.Version != message.AuditVersion || rec.ID != message.VerdictAuditID(id, v.Seq) || rec.Verdict == nil || rec.Verdict.Seq != v.Seq ||
				rec.AnalysisID != id || rec.Service != v.Service || rec.Namespace != "shop" || rec.Template != "gated" || rec.TemplateHash != hash {
				t.Errorf("%s record %d: %+v, for verdict #%d", id, i, rec, v.Seq)
				continue
			}
			if rec.Action == w.action && rec.Actor.Kind+" "+rec.Actor.Name == w.actor {
				decisive++
			}
			if rec.Reason != v.Reason || rec.Verdict.Verdict != v.Verdict || rec.Verdict.Final != v.Final {
				t.Errorf("%s record %d says %s %q, its verdict %s %q", id, i, rec.Verdict.Verdict, rec.Reason, v.Verdict, v.Reason)
			}
			switch rec.Action {
			case message.AuditVerdict:
				if rec.Actor != (message.Actor{Kind: message.ActorReplica, Name: "replica-1"}) {
					t.Errorf("%s record %d: a judgement by %+v", id, i, rec.Actor)
				}
				// The judgement's inputs: the window, both roles' queries
				// as sent over it, and the samples each gave.
				if rec.Window == nil || rec.Window.End.Sub(rec.Window.Start) != 5*time.Second || len(rec.Queries) != 2 || len(rec.Samples) != 1 {
					t.Fatalf("%s record %d: window %+v, queries %+v, samples %+v", id, i, rec.Window, rec.Queries, rec.Samples)
				}
				for _, q := range rec.Queries {
					wantVersion := map[string]string{"baseline": "v1", "canary": "v2"}[q.Role]
					if q.Metric != "latency" || !strings.Contains(q.Expr, `service="`+v.Service+`"`) || !strings.Contains(q.Expr, `version="`+wantVersion+`"`) ||
						!q.End.Equal(rec.Window.End) || q.Step == "" {
						t.Errorf("%s record %d: query %+v", id, i, q)
					}
				}
				// The first window may begin before Prometheus's first
				// scrape: no samples, and the record says so.
				if s := rec.Samples[0]; s.Metric != "latency" || s.Baseline != v.Metrics[0].NBaseline || s.Canary != v.Metrics[0].NCanary {
					t.Errorf("%s record %d: samples %+v, the verdict's n %d/%d", id, i, s, v.Metrics[0].NBaseline, v.Metrics[0].NCanary)
				}
				if rec.Samples[0].Baseline > 0 && rec.Samples[0].Canary > 0 {
					sampled++
				}
			case message.AuditApprove, message.AuditDeny:
				if rec.Verdict.Approval == nil || rec.Actor.Name != rec.Verdict.Approval.By || rec.Queries != nil {
					t.Errorf("%s record %d: an answer %+v", id, i, rec)
				}
			case message.AuditAbort:
				if rec.Reason != "aborted: wrong build" || !rec.Verdict.Final {
					t.Errorf("%s record %d: an abort %+v", id, i, rec)
				}
			default:
				t.Errorf("%s record %d: action %s", id, i, rec.Action)
			}
		}
		if sampled == 0 {
			t.Errorf("%s: no judgement's record counts samples of both roles", id)
		}
		if decisive != 1 && w.action != message.AuditVerdict {
			t.Errorf("%s: %d records %s by %s, want 1: %+v", id, decisive, w.action, w.actor, trail)
		}
		if last := trail[len(trail)-1]; !last.Verdict.Final {
			t.Errorf("%s: the trail ends with %s, not the final verdict", id, last.Action)
		}
	}
	if last := trails["search-1"][len(trails["search-1"])-1]; last.Verdict.Verdict != analysis.Rollback {
		t.Errorf("the bad canary's trail ends %s", last.Verdict.Verdict)
	}

	// Bad requests.
	for _, tt := range []struct {
		path string
		want int
	}{
		{"nope/audit", http.StatusNotFound},
		{"checkout-1/audit?limit=0", http.StatusBadRequest},
		{"checkout-1/audit?limit=1001", http.StatusBadRequest},
		{"checkout-1/audit?after=x", http.StatusBadRequest},
	} {
		var e struct{ Error string }
		if code := httpJSON(t, "GET", base+tt.path, "", &e); code != tt.want || e.Error == "" {
			t.Errorf("GET %s: %d %q, want %d", tt.path, code, e.Error, tt.want)
		}
	}

	// A record written by a later canaryd is reported, and the rest served.
	c.publishRaw(message.AuditSubject("shop", "checkout", "checkout-1"),
		[]byte(`{"version":99,"id":"checkout-1-future","analysis_id":"checkout-1","action":"teleport","shape":{"new":true}}`))
	page := auditOf(t, base, "checkout-1", 3)
	if len(page.Records) != len(trails["checkout-1"]) || len(page.Unreadable) != 1 ||
		!strings.Contains(page.Unreadable[0].Error, "later version: version 99") || !strings.Contains(string(page.Unreadable[0].Raw), "teleport") {
		t.Errorf("with a later version's record: %d records, unreadable %+v", len(page.Records), page.Unreadable)
	}

	// The report page shows the trail.
	resp, err := http.Get("http://" + a.Addr() + "/analyses/checkout-1")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(html), `<section id="audit"`) ||
		strings.Count(string(html), `<tr class="audit"`) != len(trails["checkout-1"]) ||
		!strings.Contains(string(html), "<td>person ann</td><td>approve</td>") ||
		!strings.Contains(string(html), "1 record(s) written by a later canaryd are not shown") {
		t.Errorf("report page: %d, audit section:\n%s", resp.StatusCode, section(string(html), `<section id="audit"`))
	}

	// The trail survives a restart: the same records from a new daemon on
	// the same storage.
	stop(a)
	stopped = true
	b := start()
	t.Cleanup(func() { stop(b) })
	base = "http://" + b.Addr() + "/api/v1/analyses/"
	for id, trail := range trails {
		got := auditOf(t, base, id, 1000).Records
		if !slices.EqualFunc(got, trail, func(x, y message.AuditRecord) bool { return x.ID == y.ID && x.At.Equal(y.At) }) {
			t.Errorf("%s after a restart: %d records, before %d", id, len(got), len(trail))
		}
	}
}

// section returns html from the first mark to the end of its element's
// line block, for an error message.
func section(html, mark string) string {
	i := strings.Index(html, mark)
	if i < 0 {
		return "(missing)"
	}
	end := strings.Index(html[i:], "</section>")
	if end < 0 {
		return html[i:]
	}
	return html[i : i+end]
}
