package message

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

func auditSample() AuditRecord {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	v := Verdict{AnalysisID: "c1", Service: "web", Namespace: "prod", Seq: 3, Step: 2, Weight: 10, NextWeight: 50,
		Verdict: analysis.Promote, Score: 100, Reason: "approved by ann", Metrics: []analysis.MetricResult{{Name: "latency", NBaseline: 30, NCanary: 29}},
		Approval: &rollout.Approval{Step: 2, Approved: true, By: "ann", At: at, Seq: 3}, IssuedAt: at}
	return AuditRecord{Version: AuditVersion, ID: VerdictAuditID("c1", 3), AnalysisID: "c1", Service: "web", Namespace: "prod",
		Action: AuditActionOf(&v), Actor: Actor{Kind: ActorPerson, Name: "ann"}, At: at, Reason: v.Reason,
		Template: "web", TemplateHash: "sha256:0123456789abcdef",
		Window:  &AuditWindow{Start: at.Add(-time.Minute), End: at},
		Queries: []AuditQuery{{Metric: "latency", Role: "canary", Expr: `latency{version="v2"}`, Start: at, End: at, Step: "2s"}},
		Samples: []AuditSamples{{Metric: "latency", Baseline: 30, Canary: 29}}, Verdict: &v}
}

// TestAuditEncode holds Encode, which splices the verdict's own encoding
// in, to encoding/json's output, and the record to its schema.
func TestAuditEncode(t *testing.T) {
	a := auditSample()
	want, err := json.Marshal(&a)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := a.Verdict.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	a.StreamSeq = 7 // set by readers, never written
	got, err := a.Encode(vb)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Encode:\n%s\nencoding/json:\n%s", got, want)
	}
	a.Verdict = nil
	got, _ = a.Encode(nil)
	if strings.Contains(string(got), "verdict") || strings.Contains(string(got), "stream_seq") {
		t.Errorf("without a verdict: %s", got)
	}
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(schemas["audit-record.schema.json"], &s); err != nil {
		t.Fatal(err)
	}
	if err := validate(s, decode(t, want), "audit"); err != nil {
		t.Errorf("schema: %v", err)
	}
}

// TestDecodeAudit: a record of this version decodes; one of a later
// version is reported with what this version knows of it; one without a
// version or not JSON is an error of its own.
func TestDecodeAudit(t *testing.T) {
	a := auditSample()
	b, _ := json.Marshal(&a)
	got, err := DecodeAudit(b)
	if err != nil || got.ID != a.ID || got.Verdict == nil || got.Verdict.Approval.By != "ann" {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		in, err string
		later   bool
	}{
		{`{"version":2,"id":"c1-v9","analysis_id":"c1","action":"teleport"}`, "audit record of a later version: version 2, this canaryd reads up to 1", true},
		{`{"version":7,"id":"c1-v9","at":{"unix":1}}`, "audit record of a later version: version 7", true},
		{`{"id":"c1-v9"}`, "version 0, want 1 to 1", false},
		{`not json`, "decode audit record: invalid character", false},
	} {
		got, err := DecodeAudit([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.err) || errors.Is(err, ErrAuditVersion) != tt.later {
			t.Errorf("%s: %v, want %q (later %v)", tt.in, err, tt.err, tt.later)
		}
		if tt.later && got.ID != "c1-v9" && !strings.Contains(tt.in, "unix") {
			t.Errorf("%s: the fields this version knows are lost: %+v", tt.in, got)
		}
	}
}

// TestAuditActionOf names each kind of verdict's decision.
func TestAuditActionOf(t *testing.T) {
	for _, tt := range []struct {
		v    Verdict
		want string
	}{
		{Verdict{Verdict: analysis.Hold}, AuditVerdict},
		{Verdict{Verdict: analysis.Rollback, Final: true, Outcome: rollout.RolledBack}, AuditVerdict},
		{Verdict{Approval: &rollout.Approval{Approved: true}}, AuditApprove},
		{Verdict{Approval: &rollout.Approval{}}, AuditDeny},
		{Verdict{Final: true, Outcome: rollout.Aborted}, AuditAbort},
		{Verdict{Final: true, Outcome: rollout.Expired}, AuditExpire},
		{Verdict{Verdict: analysis.Rollback, Final: true, Outcome: rollout.RolledBack, Reason: "lifetime reached: rollback (judged hold: …)"}, AuditExpire},
		{Verdict{Verdict: analysis.Rollback, Final: true, Outcome: rollout.RolledBack, Reason: "no approval to enter step 2 (weight 100%) within 3 judgement(s): rollback (judged promote: …)"}, AuditExpire},
	} {
		if got := AuditActionOf(&tt.v); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.v, got, tt.want)
		}
	}
	if s := AuditSubject("shop", "web", "c1"); s != "canary.audit.shop.web.c1" || AuditFilter("c1") != "canary.audit.*.*.c1" {
		t.Errorf("subjects %s %s", s, AuditFilter("c1"))
	}
}
