package bus_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/bus/bustest"
	"github.com/canaryd/canaryd/rollout/message"
)

// TestAuditLog: SetupAudit makes the audit stream with the configured
// retention and later applies a changed one; a record appended twice is
// stored once; Page reads one analysis' records a page at a time, Export a
// time range of a service's, Last the latest of a subject.
func TestAuditLog(t *testing.T) {
	s, err := bus.StartEmbedded(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	js := jsOf(t, s.ClientURL())
	ctx := ctxOf(t)
	n := &configs.NATS{}
	short := &configs.Audit{Retention: model.Duration(2 * time.Hour)}
	if ch, _, err := bus.CheckAudit(ctx, js, short, n); err != nil || !slices.Equal(ch, []string{"audit stream CANARY_AUDIT: missing, created at start with 1 replica(s)"}) {
		t.Fatalf("check before setup: %q, %v", ch, err)
	}
	a := &bus.Assets{}
	if err := a.SetupAudit(ctx, js, short, n, time.Minute); err != nil {
		t.Fatal(err)
	}
	if cfg := a.Audit.CachedInfo().Config; cfg.MaxAge != 2*time.Hour || cfg.Duplicates != time.Minute || !cfg.DenyDelete || !cfg.DenyPurge ||
		!slices.Equal(cfg.Subjects, []string{"canary.audit.>"}) {
		t.Fatalf("audit stream %+v", cfg)
	}
	long := &configs.Audit{}
	if ch, _, err := bus.CheckAudit(ctx, js, long, n); err != nil || len(ch) != 1 || !strings.Contains(ch[0], "max age 2160h0m0s, was 2h0m0s") {
		t.Errorf("check with a longer retention: %q, %v", ch, err)
	}
	b := &bus.Assets{}
	if err := b.SetupAudit(ctx, js, long, n, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := b.Audit.CachedInfo().Config.MaxAge; got != time.Duration(configs.DefaultAuditRetention) || len(b.Changes) != 1 {
		t.Errorf("retention %s after asking for the default; changes %q", got, b.Changes)
	}

	log := bus.NewAuditLog(js, b.Audit)
	appendRec := func(id string, seq int) {
		t.Helper()
		r := &message.AuditRecord{ID: message.VerdictAuditID(id, seq), AnalysisID: id, Service: "web", Namespace: "prod",
			Action: message.AuditVerdict, At: time.Now().UTC(), Reason: "seq " + strconv.Itoa(seq)}
		if err := log.Append(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	for seq := 1; seq <= 5; seq++ {
		appendRec("a1", seq)
		appendRec("a2", seq)
	}
	between := time.Now()
	appendRec("a1", 6)
	appendRec("a1", 6) // a retry: stored once
	var got []string
	var after uint64
	for {
		page, more, err := log.Page(ctx, "a1", after, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Err != nil || e.Record.Version != message.AuditVersion || e.Record.StreamSeq != e.StreamSeq {
				t.Errorf("entry %+v", e)
			}
			got = append(got, e.Record.Reason)
		}
		if !more {
			break
		}
		after = page[len(page)-1].StreamSeq
	}
	if want := "seq 1,seq 2,seq 3,seq 4,seq 5,seq 6"; strings.Join(got, ",") != want {
		t.Errorf("pages of a1: %q, want %q", got, want)
	}
	if page, more, err := log.Page(ctx, "nope", 0, 10); err != nil || len(page) != 0 || more {
		t.Errorf("an analysis without records: %d, %v, %v", len(page), more, err)
	}
	var exported []string
	err = log.Export(ctx, message.AuditSubject("prod", "web", "*"), between, time.Time{}, func(e bus.AuditEntry) error {
		exported = append(exported, e.Record.ID)
		return nil
	})
	if err != nil || !slices.Equal(exported, []string{"a1-v6"}) {
		t.Errorf("export since the sixth: %q, %v", exported, err)
	}
	exported = nil
	err = log.Export(ctx, message.AuditSubject("prod", "web", "a2"), time.Time{}, between, func(e bus.AuditEntry) error {
		exported = append(exported, e.Record.ID)
		return nil
	})
	if err != nil || len(exported) != 5 || exported[4] != "a2-v5" {
		t.Errorf("export of a2 until the sixth: %q, %v", exported, err)
	}
	if last, err := log.Last(ctx, message.AuditSubject("prod", "web", "a1")); err != nil || last.ID != "a1-v6" {
		t.Errorf("last of a1: %+v, %v", last, err)
	}
	// No consumer is left behind.
	if info, err := b.Audit.Info(ctx); err != nil || info.State.Consumers != 0 {
		t.Errorf("consumers left: %+v, %v", info.State.Consumers, err)
	}
}

// TestSetupAuditReplicas on a 3-server cluster: the audit stream follows
// global.nats.replicas up, never down.
func TestSetupAuditReplicas(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	js := jsOf(t, c.URLs())
	ctx := ctxOf(t)
	audit := &configs.Audit{}
	a := &bus.Assets{}
	if err := a.SetupAudit(ctx, js, audit, &configs.NATS{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := a.Audit.CachedInfo().Config.Replicas; r != 1 {
		t.Fatalf("replicas %d, want 1", r)
	}
	b := &bus.Assets{}
	if err := b.SetupAudit(ctx, js, audit, &configs.NATS{Replicas: 3}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r := b.Audit.CachedInfo().Config.Replicas; r != 3 || !slices.Equal(b.Changes, []string{"audit stream CANARY_AUDIT: replicas raised to 3, was 1"}) {
		t.Fatalf("replicas %d after asking for 3; changes %q", r, b.Changes)
	}
	d := &bus.Assets{}
	if err := d.SetupAudit(ctx, js, audit, &configs.NATS{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := []string{"audit stream CANARY_AUDIT has 3 replicas, global.nats.replicas says 1: kept (canaryd never lowers replicas)"}
	if r := d.Audit.CachedInfo().Config.Replicas; r != 3 || !slices.Equal(d.Warnings, want) {
		t.Errorf("replicas %d after asking for 1; warnings %q", r, d.Warnings)
	}
	if _, w, err := bus.CheckAudit(ctx, js, audit, &configs.NATS{}); err != nil || !slices.Equal(w, want) {
		t.Errorf("check: %q, %v", w, err)
	}
}
