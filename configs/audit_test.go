package configs

import (
	"testing"
	"time"
)

// TestAuditDefaults: without global.audit the trail is kept 90 days in
// CANARY_AUDIT; the config's values win when set.
func TestAuditDefaults(t *testing.T) {
	const tmpl = "templates:\n  - name: web\n    metrics:\n      - name: up\n        query: 'up{service=\"{{.Service}}\",version=\"{{.Version}}\"}'\n"
	cfg, err := Load(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if a := &cfg.Global.Audit; a.StreamOrDefault() != "CANARY_AUDIT" || a.RetentionOrDefault() != 90*24*time.Hour {
		t.Errorf("defaults: %s, %s", a.StreamOrDefault(), a.RetentionOrDefault())
	}
	cfg, err = Load("global:\n  audit:\n    retention: 400d\n    stream: AUDIT_prod\n" + tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if a := &cfg.Global.Audit; a.StreamOrDefault() != "AUDIT_prod" || a.RetentionOrDefault() != 400*24*time.Hour {
		t.Errorf("set: %s, %s", a.StreamOrDefault(), a.RetentionOrDefault())
	}
}
