package app

import (
	"strings"
	"testing"

	"github.com/canaryd/canaryd/analysis"
)

func TestSubjectNames(t *testing.T) {
	tests := []struct{ subject, ns, svc string }{
		{"canary.deploy.prod.web", "prod", "web"},
		{"canary.deploy.prod", "", ""},
		{"canary.deploy.prod.web.extra", "", ""},
		{"canary.verdict.prod.web", "", ""},
	}
	for _, tt := range tests {
		if ns, svc := subjectNames(tt.subject); ns != tt.ns || svc != tt.svc {
			t.Errorf("subjectNames(%q) = %q, %q; want %q, %q", tt.subject, ns, svc, tt.ns, tt.svc)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct{ name, body, err string }{
		{"valid", `{"id":"a","service":"web","namespace":"prod","template":"web","canary":{"version":"v2","labels":{"track":"canary"}}}`, ""},
		{"trailing data", `{"id":"a"} {"id":"b"}`, "trailing data"},
		{"unknown field", `{"id":"a","tmpl":"web"}`, `unknown field "tmpl"`},
		{"wrong type", `{"id":1}`, "cannot unmarshal number"},
		{"too big", `{"id":"` + strings.Repeat("x", maxEventBytes) + `"}`, "more than the"},
	}
	for _, tt := range tests {
		_, err := decodeEvent([]byte(tt.body))
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestAddVerdictKeepsRecentEvidence(t *testing.T) {
	r := &Record{}
	for seq := 1; seq <= historyCap+5; seq++ {
		r.Published = seq - 2 // the latest two are not published yet
		r.addVerdict(Verdict{Seq: seq, Metrics: []analysis.MetricResult{{Name: "m"}}})
	}
	if len(r.History) != historyCap || r.History[0].Seq != 6 || r.Latest().Seq != historyCap+5 {
		t.Fatalf("history of %d from seq %d to %d", len(r.History), r.History[0].Seq, r.Latest().Seq)
	}
	for i, v := range r.History {
		want := 0
		if i >= len(r.History)-evidenceCap || v.Seq > r.Published {
			want = 1 // the latest, and any not yet published
		}
		if len(v.Metrics) != want {
			t.Errorf("verdict seq %d keeps %d metrics, want %d", v.Seq, len(v.Metrics), want)
		}
	}
}
