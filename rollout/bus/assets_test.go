package bus_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/bus/bustest"
)

func jsOf(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestSetupKeepsForeignSettings: on a stream and bucket an operator made,
// Setup changes only what canaryd owns, and says what differs.
func TestSetupKeepsForeignSettings(t *testing.T) {
	s, err := bus.StartEmbedded(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	js := jsOf(t, s.ClientURL())
	ctx := ctxOf(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: configs.DefaultStream, Subjects: []string{"canary.deploy.>", "audit.>"},
		Storage: jetstream.MemoryStorage, MaxMsgs: 12345, Discard: jetstream.DiscardNew, Description: "ops'",
	}); err != nil {
		t.Fatal(err)
	}
	a, err := bus.Setup(ctx, js, &configs.NATS{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := a.Stream.CachedInfo().Config
	if got.MaxMsgs != 12345 || got.Discard != jetstream.DiscardNew || got.Storage != jetstream.MemoryStorage || got.Description != "ops'" {
		t.Errorf("foreign settings rewritten: %+v", got)
	}
	for _, subj := range []string{"audit.>", "canary.deploy.>", "canary.verdict.>", "canary.rejected.>"} {
		if !slices.Contains(got.Subjects, subj) {
			t.Errorf("subjects %v lack %s", got.Subjects, subj)
		}
	}
	if got.MaxAge != time.Duration(configs.DefaultStreamMaxAge) || got.Duplicates != time.Minute {
		t.Errorf("owned settings not applied: max age %s, duplicates %s", got.MaxAge, got.Duplicates)
	}
	want := "stream CANARY uses memory storage, canaryd creates it with file storage: kept"
	if !slices.Contains(a.Warnings, want) {
		t.Errorf("warnings %q lack %q", a.Warnings, want)
	}
	if a.KVStream.CachedInfo().Config.Name != "KV_"+configs.DefaultKVBucket {
		t.Errorf("bucket stream %s", a.KVStream.CachedInfo().Config.Name)
	}
	// A second start finds everything as it left it: no change, the
	// same warning.
	b, err := bus.Setup(ctx, js, &configs.NATS{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Changes) != 0 || !slices.Equal(a.Warnings, b.Warnings) {
		t.Errorf("second setup: changes %q, warnings %q", b.Changes, b.Warnings)
	}
	changes, warnings, err := bus.Check(ctx, js, &configs.NATS{})
	if err != nil || len(changes) != 0 || !slices.Equal(warnings, a.Warnings) {
		t.Errorf("check: changes %q, warnings %q, err %v", changes, warnings, err)
	}
	for _, h := range bus.StreamHealth(ctx, js, a.Names()...) {
		if h.Status != bus.Healthy || h.Replicas != 1 {
			t.Errorf("health %+v", h)
		}
	}
}

// TestSetupReplicas on a 3-server cluster: assets are created with the
// configured replicas, raised when the config asks for more, and never
// lowered when it asks for fewer; the health shows a lost server.
func TestSetupReplicas(t *testing.T) {
	c := bustest.StartCluster(t, 3)
	js := jsOf(t, c.URLs())
	ctx := ctxOf(t)

	one := &configs.NATS{}
	if changes, _, err := bus.Check(ctx, js, one); err != nil || len(changes) != 2 {
		t.Fatalf("check before setup: %q, %v", changes, err)
	}
	a, err := bus.Setup(ctx, js, one, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	replicas := func(a *bus.Assets) []int {
		return []int{a.Stream.CachedInfo().Config.Replicas, a.KVStream.CachedInfo().Config.Replicas}
	}
	if r := replicas(a); !slices.Equal(r, []int{1, 1}) {
		t.Fatalf("replicas %v, want 1 1", r)
	}
	three := &configs.NATS{Replicas: 3}
	_, _, err = bus.Check(ctx, js, three)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.Setup(ctx, js, three, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r := replicas(b); !slices.Equal(r, []int{3, 3}) {
		t.Fatalf("replicas %v after asking for 3", r)
	}
	if len(b.Changes) != 2 || !strings.Contains(b.Changes[0], "replicas raised to 3, was 1") {
		t.Errorf("changes %q", b.Changes)
	}
	// A replica still configured for 1 (an upgrade in progress, a
	// forgotten setting) must not scale the assets back down.
	d, err := bus.Setup(ctx, js, one, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r := replicas(d); !slices.Equal(r, []int{3, 3}) {
		t.Fatalf("replicas %v: lowered", r)
	}
	wantWarn := []string{
		"stream CANARY has 3 replicas, global.nats.replicas says 1: kept (canaryd never lowers replicas)",
		"key-value bucket KV_canaryd_analyses has 3 replicas, global.nats.replicas says 1: kept (canaryd never lowers replicas)",
	}
	if !slices.Equal(d.Warnings, wantWarn) {
		t.Errorf("warnings %q, want %q", d.Warnings, wantWarn)
	}
	if _, w, err := bus.Check(ctx, js, one); err != nil || !slices.Equal(w, wantWarn) {
		t.Errorf("check: warnings %q, %v", w, err)
	}

	c.WaitFor("every replica current", func() bool {
		for _, h := range bus.StreamHealth(ctx, js, d.Names()...) {
			if h.Status != bus.Healthy || h.Current != 3 {
				return false
			}
		}
		return true
	})
	// Lose a server that is not the stream's leader: still writable,
	// degraded.
	victim := ""
	leader := bus.StreamHealth(ctx, js, "CANARY")[0].Leader
	for _, s := range c.Servers {
		if s.Name() != leader {
			victim = s.Name()
			break
		}
	}
	c.Kill(victim)
	var last bus.Health
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("killed %s (leader was %s); the stream's health last seen: %+v", victim, leader, last)
		}
	})
	c.WaitFor("the stream degraded", func() bool {
		// A request the lost server took is never answered: each poll
		// has its own deadline, as /-/ready's has.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last = bus.StreamHealth(pctx, js, "CANARY")[0]
		return last.Status == bus.Degraded && last.Current == 2
	})
}
