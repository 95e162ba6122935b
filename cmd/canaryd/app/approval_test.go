package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/cmd/canaryd/api"
	"github.com/canaryd/canaryd/cmd/canaryd/app/apptest"
	"github.com/canaryd/canaryd/rollout"
	"github.com/canaryd/canaryd/rollout/message"
)

// approvalConfig judges demo_latency_seconds every 5s over three steps,
// the second and third behind approvals.
const approvalConfig = `
global:
  prometheus:
    url: %s
templates:
  - name: gated
    interval: 5s
    steps: [10, 50, 100]
    min_samples: 5
    approvals:
      - step: 2
        timeout: 10m
      - step: 3
        timeout: 10m
        on_timeout: hold
    metrics:
      - name: latency
        query: 'demo_latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// TestApprovalGates runs the daemon on the wall clock with its embedded
// NATS server and a real Prometheus: a good canary waits at each gate
// (hold, awaiting_approval) and is approved once over HTTP and once over
// NATS; another is denied over NATS; a bad one is rolled back by the
// judge before its gate, and a denial after it is refused. Every bad
// request gets its error: an unknown analysis, a missing approver, a
// step that does not wait, a finished analysis; an answer given twice is
// answered as the first and changes nothing.
func TestApprovalGates(t *testing.T) {
	target := apptest.ServeLatency(t, map[[2]string]float64{
		{"checkout", "v1"}: 0.100, {"checkout", "v2"}: 0.100,
		{"cart", "v1"}: 0.100, {"cart", "v2"}: 0.100,
		{"search", "v1"}: 0.200, {"search", "v2"}: 0.400,
	})
	promURL := apptest.StartScrapingPrometheus(t, target)
	a := startEmbedded(t, writeConfig(t, t.TempDir(), fmt.Sprintf(approvalConfig, promURL)))
	c := connectURL(t, a.natsClientURL())
	verdicts := published(c)
	base := "http://" + a.Addr() + "/api/v1/analyses/"
	for _, svc := range []string{"checkout", "cart", "search"} {
		c.publishEvent(message.Event{ID: svc + "-1", Service: svc, Namespace: "shop", Template: "gated",
			Baseline: analysis.Version{Version: "v1"}, Canary: analysis.Version{Version: "v2"}})
	}
	natsAnswer := func(svc string, req message.ApprovalRequest) message.ApprovalReply {
		t.Helper()
		b, _ := json.Marshal(req)
		m, err := c.nc.RequestWithContext(t.Context(), message.ApprovalSubject("shop", svc), b)
		if err != nil {
			t.Fatal(err)
		}
		var rep message.ApprovalReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	httpError := func(path, body string, want int, wantErr string) {
		t.Helper()
		var e struct{ Error string }
		if code := httpJSON(t, "POST", base+path, body, &e); code != want || !strings.Contains(e.Error, wantErr) {
			t.Errorf("POST %s %s: %d %q, want %d and %q", path, body, code, e.Error, want, wantErr)
		}
	}

	answered := map[string]bool{}
	last := map[string]record.Verdict{}
	for !last["checkout-1"].Final || !last["cart-1"].Final || !last["search-1"].Final {
		v := next(t, verdicts)
		last[v.AnalysisID] = v
		t.Logf("%s #%d: %s %v -> %v awaiting %v: %s", v.AnalysisID, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.AwaitingApproval, v.Reason)
		if v.Verdict == analysis.Promote && v.Approval == nil && v.NextWeight != 100 {
			t.Errorf("%s #%d: promoted to %v without an approval", v.AnalysisID, v.Seq, v.NextWeight)
		}
		key := fmt.Sprintf("%s@%v", v.AnalysisID, v.Weight)
		if !v.AwaitingApproval || answered[key] {
			if v.AnalysisID == "search-1" && v.Final {
				httpError("search-1/deny", `{"by":"ann"}`, http.StatusConflict, "the rollout has ended: rolled_back")
			}
			continue
		}
		answered[key] = true
		if v.Verdict != analysis.Hold || v.NextWeight != v.Weight || !strings.HasPrefix(v.Reason, "awaiting approval to enter step") {
			t.Errorf("%s #%d: a wait published %s %v -> %v (%s)", v.AnalysisID, v.Seq, v.Verdict, v.Weight, v.NextWeight, v.Reason)
		}
		switch key {
		case "checkout-1@10":
			httpError("nope/approve", `{"by":"ann"}`, http.StatusNotFound, `analysis "nope" not found`)
			httpError("checkout-1/approve", `{}`, http.StatusBadRequest, "by is required")
			httpError("checkout-1/approve", `{"by":"ann","color":"red"}`, http.StatusBadRequest, `unknown field "color"`)
			httpError("checkout-1/deny", `{"by":"ann","step":3}`, http.StatusConflict, "no step is waiting for an approval at step 3")
			var got, again api.AnswerView
			if code := httpJSON(t, "POST", base+"checkout-1/approve", `{"by":"ann","reason":"dashboards fine","step":2}`, &got); code != http.StatusOK ||
				got.Verdict == nil || got.Verdict.Verdict != analysis.Promote || got.Verdict.NextWeight != 50 ||
				got.Verdict.Approval == nil || got.Verdict.Approval.By != "ann" || got.Verdict.Reason != "approved by ann: enter step 2 (dashboards fine)" {
				t.Fatalf("approve over HTTP: %d %+v", code, got)
			}
			if code := httpJSON(t, "POST", base+"checkout-1/approve", `{"by":"bob","step":2}`, &again); code != http.StatusOK ||
				!again.Repeated || again.Verdict == nil || again.Verdict.Seq != got.Verdict.Seq || again.Analysis.Verdicts != got.Analysis.Verdicts {
				t.Fatalf("a second approval: %d %+v", code, again)
			}
			if len(got.Analysis.Approvals) != 1 || got.Analysis.Approvals[0].At.IsZero() {
				t.Errorf("the analysis records the approval: %+v", got.Analysis.Approvals)
			}
		case "checkout-1@50":
			if rep := natsAnswer("checkout", message.ApprovalRequest{Action: "maybe", By: "ann"}); !strings.Contains(rep.Error, `action "maybe" must be approve or deny`) {
				t.Errorf("a bad action over NATS: %+v", rep)
			}
			if rep := natsAnswer("checkout", message.ApprovalRequest{Action: "approve", By: "carl"}); rep.Error != "" || rep.AnalysisID != "checkout-1" ||
				rep.Verdict == nil || rep.Verdict.NextWeight != 100 || rep.Verdict.Approval.By != "carl" {
				t.Fatalf("approve over NATS: %+v", rep)
			}
		case "cart-1@10":
			if rep := natsAnswer("cart", message.ApprovalRequest{AnalysisID: "checkout-1", Action: "deny", By: "dan"}); !strings.Contains(rep.Error, "is of shop.checkout, not shop.cart") {
				t.Errorf("a request on another service's subject: %+v", rep)
			}
			rep := natsAnswer("cart", message.ApprovalRequest{AnalysisID: "cart-1", Action: "deny", By: "dan", Reason: "freeze"})
			if rep.Verdict == nil || rep.Verdict.Verdict != analysis.Rollback || !rep.Verdict.Final || rep.Verdict.Outcome != rollout.RolledBack {
				t.Fatalf("deny over NATS: %+v", rep)
			}
			if again := natsAnswer("cart", message.ApprovalRequest{AnalysisID: "cart-1", Action: "deny", By: "dan"}); !again.Repeated || again.Verdict.Seq != rep.Verdict.Seq {
				t.Errorf("a second denial: %+v", again)
			}
		}
	}
	if v := last["checkout-1"]; v.Outcome != rollout.Succeeded {
		t.Errorf("the approved canary ended %s", v.Outcome)
	}
	if v := last["cart-1"]; v.Outcome != rollout.RolledBack || !strings.HasPrefix(v.Reason, "denied by dan") {
		t.Errorf("the denied canary ended %s (%s)", v.Outcome, v.Reason)
	}
	if v := last["search-1"]; v.Outcome != rollout.RolledBack || v.Approval != nil {
		t.Errorf("the bad canary ended %s", v.Outcome)
	}
	httpError("checkout-1/approve", `{"by":"ann","step":3}`, http.StatusOK, "")
	httpError("checkout-1/deny", `{"by":"ann"}`, http.StatusConflict, "the rollout has ended: succeeded")
	if rep := natsAnswer("checkout", message.ApprovalRequest{Action: "approve", By: "ann"}); !strings.Contains(rep.Error, "no analysis of the service waits") {
		t.Errorf("approve over NATS with nothing waiting: %+v", rep)
	}
}
