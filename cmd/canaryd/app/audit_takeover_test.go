package app

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/message"
)

// takeoverConfig is a five-step template; min_samples is what the test's
// reloads change.
const takeoverConfig = `
global:
  prometheus:
    url: http://127.0.0.1:9
templates:
  - name: web
    interval: 1m
    steps: [10, 20, 30, 50, 100]
    min_samples: %s
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// TestAuditTakeoverAndReload: replica A judges an analysis and dies
// holding its lease; B, whose config was reloaded with a changed template
// meanwhile, takes it over. The trail records the takeover (actor B, from
// A), then the template change B judges with (the hash A judged with and
// B's), and a second reload while B runs the analysis is recorded at its
// next judgement; every verdict's record carries the hash it was judged
// with.
func TestAuditTakeoverAndReload(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	cfgA := writeConfig(t, t.TempDir(), strings.Replace(takeoverConfig, "%s", "10", 1))
	dirB := t.TempDir()
	cfgB := writeConfig(t, dirB, strings.Replace(takeoverConfig, "%s", "10", 1))
	a := startApp(t, s, clock, cfgA, func(o *Options, h *hooks) { o.InstanceID = "A"; h.keepLeases = true })
	b := startApp(t, s, clock, cfgB, func(o *Options, _ *hooks) { o.InstanceID = "B" })
	c := connect(t, s)
	verdicts := published(c)
	hashOf := func(app *testApp) string { return app.config().Template("web").Hash() }
	h1 := hashOf(a)

	body := `{"id":"t1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Seq != 1 {
		t.Fatalf("first verdict seq %d", v.Seq)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if err := a.Stop(ctx); err != nil { // keeps its lease: a crash
		t.Fatal(err)
	}
	reload := func(minSamples string) string {
		t.Helper()
		writeConfig(t, dirB, strings.Replace(takeoverConfig, "%s", minSamples, 1))
		if err := b.Reload(); err != nil {
			t.Fatal(err)
		}
		return hashOf(b)
	}
	h2 := reload("12")
	// A's lease holds until the second judgement is due plus the grace.
	clock.Advance(time.Minute)
	clock.Advance(time.Minute)
	for seq := 2; seq <= 3; seq++ {
		if v := next(t, verdicts); v.Seq != seq {
			t.Fatalf("after the takeover: verdict seq %d, want %d", v.Seq, seq)
		}
	}
	h3 := reload("14")
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Seq != 4 {
		t.Fatalf("after the second reload: verdict seq %d, want 4", v.Seq)
	}
	if h1 == h2 || h2 == h3 || !strings.HasPrefix(h1, "sha256:") {
		t.Fatalf("hashes %s, %s, %s: want three", h1, h2, h3)
	}

	var page api.AuditPage
	if code := httpJSON(t, "GET", b.url+"/api/v1/analyses/t1/audit", "", &page); code != http.StatusOK {
		t.Fatalf("GET audit: %d", code)
	}
	type row struct{ action, actor, hash, prev string }
	want := []row{
		{message.AuditVerdict, "A", h1, ""},
		{message.AuditTakeover, "B", h1, ""},
		{message.AuditTemplateChanged, "B", h2, h1},
		{message.AuditVerdict, "B", h2, ""},
		{message.AuditVerdict, "B", h2, ""},
		{message.AuditTemplateChanged, "B", h3, h2},
		{message.AuditVerdict, "B", h3, ""},
	}
	if len(page.Records) != len(want) {
		for _, r := range page.Records {
			t.Logf("%s by %s: %s", r.Action, r.Actor.Name, r.Reason)
		}
		t.Fatalf("%d records, want %d", len(page.Records), len(want))
	}
	for i, w := range want {
		r := page.Records[i]
		if got := (row{r.Action, r.Actor.Name, r.TemplateHash, r.PreviousHash}); got != w || r.Actor.Kind != message.ActorReplica {
			t.Errorf("record %d: %+v (%s), want %+v", i, got, r.Reason, w)
		}
	}
	if tk := page.Records[1]; tk.PreviousOwner != "A" || !strings.HasPrefix(tk.Reason, "took over from A, whose lease expired at ") {
		t.Errorf("takeover: previous owner %q, reason %q", tk.PreviousOwner, tk.Reason)
	}
	if tc := page.Records[2]; tc.Reason != "template web changed by a config reload: "+h1+" -> "+h2 {
		t.Errorf("template change: %q", tc.Reason)
	}

	// The audit stream is the config's: replicas and retention.
	st, err := c.js.Stream(t.Context(), configs.DefaultAuditStream)
	if err != nil {
		t.Fatal(err)
	}
	if cfg := st.CachedInfo().Config; cfg.MaxAge != time.Duration(configs.DefaultAuditRetention) || cfg.Replicas != 1 || !cfg.DenyDelete || !cfg.DenyPurge {
		t.Errorf("audit stream: max age %s, replicas %d, deny delete %v, deny purge %v", cfg.MaxAge, cfg.Replicas, cfg.DenyDelete, cfg.DenyPurge)
	}
	if got := value(t, b.rmetrics.AuditErrors); got != 0 {
		t.Errorf("canaryd_audit_publish_errors_total %v", got)
	}
}

// TestAuditAppendFails: while the audit stream refuses records, a
// judgement is persisted but neither its record nor its verdict leaves
// (no verdict without its record), and each failure is counted; once the
// stream takes records again, the runner's retry appends the record and
// publishes the verdict, each once. The decision is never lost.
func TestAuditAppendFails(t *testing.T) {
	s := startNATS(t)
	clock := newFakeClock()
	a := startApp(t, s, clock, writeConfig(t, t.TempDir(), strings.Replace(takeoverConfig, "%s", "10", 1)), nil)
	c := connect(t, s)
	verdicts := published(c)
	body := `{"id":"f1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"}}`
	if code := httpJSON(t, "POST", a.url+"/api/v1/analyses", body, nil); code != http.StatusCreated {
		t.Fatalf("POST: %d", code)
	}
	clock.Advance(time.Minute)
	if v := next(t, verdicts); v.Seq != 1 {
		t.Fatalf("first verdict seq %d", v.Seq)
	}
	st, err := c.js.Stream(t.Context(), configs.DefaultAuditStream)
	if err != nil {
		t.Fatal(err)
	}
	full := st.CachedInfo().Config
	full.MaxMsgs, full.Discard = int64(st.CachedInfo().State.Msgs), jetstream.DiscardNew
	if _, err := c.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	c.waitRecord("f1", func(r *record.Record) bool { return r.Seq == 2 })
	// The runner tries for bus.ElectionWait before it counts the failure.
	deadline := time.Now().Add(waitTimeout)
	for value(t, a.rmetrics.AuditErrors) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no audit error counted")
		}
		time.Sleep(50 * time.Millisecond) // polls a counter; nothing to wait on
	}
	if n := streamCount(t, c, message.VerdictPrefix+">"); n != 1 {
		t.Errorf("%d verdicts published while the audit stream refused the second's record, want 1", n)
	}
	full.MaxMsgs = -1
	if _, err := c.js.UpdateStream(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	// The runner retries retryDelay after the failure, on the test's clock.
	var v record.Verdict
	for got := false; !got; {
		clock.Advance(5 * time.Second)
		select {
		case v = <-verdicts:
			got = true
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the verdict was never published after the audit stream recovered")
			}
		}
	}
	if v.Seq != 2 {
		t.Fatalf("after recovery: verdict seq %d, want 2", v.Seq)
	}
	var page api.AuditPage
	if code := httpJSON(t, "GET", a.url+"/api/v1/analyses/f1/audit", "", &page); code != http.StatusOK {
		t.Fatalf("GET audit: %d", code)
	}
	var ids []string
	for _, r := range page.Records {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, " ") != "f1-v1 f1-v2" {
		t.Errorf("trail %v, want f1-v1 f1-v2", ids)
	}
}
