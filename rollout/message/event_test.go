package message

import (
	"strings"
	"testing"
)

func TestDeployNames(t *testing.T) {
	tests := []struct{ subject, ns, svc string }{
		{"canary.deploy.prod.web", "prod", "web"},
		{"canary.deploy.prod", "", ""},
		{"canary.deploy.prod.web.extra", "", ""},
		{"canary.verdict.prod.web", "", ""},
	}
	for _, tt := range tests {
		if ns, svc := DeployNames(tt.subject); ns != tt.ns || svc != tt.svc {
			t.Errorf("DeployNames(%q) = %q, %q; want %q, %q", tt.subject, ns, svc, tt.ns, tt.svc)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct{ name, body, err string }{
		{"valid", `{"id":"a","service":"web","namespace":"prod","template":"web","canary":{"version":"v2","labels":{"track":"canary"}}}`, ""},
		{"trailing data", `{"id":"a"} {"id":"b"}`, "trailing data"},
		{"unknown field", `{"id":"a","tmpl":"web"}`, `unknown field "tmpl"`},
		{"wrong type", `{"id":1}`, "cannot unmarshal number"},
		{"too big", `{"id":"` + strings.Repeat("x", MaxEventBytes) + `"}`, "more than the"},
	}
	for _, tt := range tests {
		_, err := DecodeEvent([]byte(tt.body))
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
		}
	}
}
