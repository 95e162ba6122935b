package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/analysis/record"
	"github.com/canaryd/canaryd/rollout/bus"
	"github.com/canaryd/canaryd/rollout/message"
)

// burstConfig has one template judged hourly: the burst's analyses start
// and then wait, so the test measures intake, not judging.
const burstConfig = `
global:
  prometheus:
    url: http://127.0.0.1:9
templates:
  - name: idle
    interval: 1h
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",version="{{.Version}}"}'
`

// burstHeapBound bounds the live memory (heap in use plus goroutine
// stacks, after a GC) of the whole test process after the burst: the
// daemon with its 9,000 waiting analyses (a goroutine each), the
// in-process NATS server holding the stream, and the test's client.
// Measured: about 170 MiB (100 MiB heap, 70 MiB stacks), 225 MiB with
// -race, which doubles stacks.
const burstHeapBound = 384 << 20

// malformedKind is one way a deploy event can be wrong; the service
// names the kind, so that its rejections arrive on
// canary.rejected.prod.<service>.
type malformedKind struct {
	service string
	n       int
	body    func(i int) []byte
	reason  string // in every rejection's reason
}

var malformedKinds = []malformedKind{
	{"badjson", 300, func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"bj-%d","service":"badjson","namespace":"prod",`, i)
	}, "decode event"},
	{"notemplate", 300, func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"nt-%d","service":"notemplate","namespace":"prod","template":"nope","baseline":{"version":"v1"},"canary":{"version":"v2"}}`, i)
	}, `template "nope" is not in the config`},
	{"noid", 300, func(int) []byte {
		return []byte(`{"service":"noid","namespace":"prod","template":"idle","baseline":{"version":"v1"},"canary":{"version":"v2"}}`)
	}, "id is required"},
	{"unknownfield", 80, func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"uf-%d","service":"unknownfield","namespace":"prod","template":"idle","colour":"blue"}`, i)
	}, `unknown field "colour"`},
	{"oversize", 20, func(i int) []byte {
		return fmt.Appendf(nil, `{"id":"big-%d","service":"oversize","namespace":"prod","template":"idle","baseline":{"version":"v1"},"canary":{"version":"v2"},"variables":{"pad":"%s"}}`,
			i, strings.Repeat("x", message.MaxEventBytes))
	}, "more than the 1048576 allowed"},
}

// TestReliabilityBurst publishes 10,000 deploy events, 1,000 of them
// malformed in five ways (bad JSON, an unknown template, no id, an unknown
// field, more than 1 MiB), interleaved. Every valid event starts its
// analysis (9,000 in the bucket), every malformed one is rejected on
// canary.rejected.prod.<kind> with the reason, nothing stays pending on
// the consumer, and the heap afterwards stays within burstHeapBound.
func TestReliabilityBurst(t *testing.T) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		MaxPayload: 2 << 20, // so that events over canaryd's 1 MiB reach it
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	a := startApp(t, s, newFakeClock(), writeConfig(t, t.TempDir(), burstConfig), func(o *Options, h *hooks) {
		// Stop would hand 9,000 leases back one by one: not what this
		// test measures.
		h.keepLeases = true
		// 1,000 rejections would be 1,000 warnings: errors only.
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	})
	c := connect(t, s)
	rejections := stored[message.Rejection](c, message.RejectedPrefix+">")

	const total, valid = 10_000, 9_000
	js, err := jetstream.New(c.nc, jetstream.WithPublishAsyncMaxPending(2048))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]malformedKind{}
	var bad []publishable
	for _, k := range malformedKinds {
		kinds[k.service] = k
		for i := range k.n {
			bad = append(bad, publishable{message.DeployPrefix + "prod." + k.service, k.body(i)})
		}
	}
	if len(bad) != total-valid {
		t.Fatalf("%d malformed events, want %d", len(bad), total-valid)
	}
	began := time.Now()
	for i, v := 0, 0; i < total; i++ {
		m := publishable{}
		if i%10 == 9 {
			m = bad[i/10]
		} else {
			e := event(fmt.Sprintf("burst-%05d", v), "v2")
			e.Template = "idle"
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			m = publishable{message.DeployPrefix + "prod.web", b}
			v++
		}
		if js.PublishAsyncPending() >= 1024 {
			awaitAcks(t, js)
		}
		if _, err := js.PublishAsync(m.subject, m.body); err != nil {
			t.Fatalf("publish event %d: %v", i, err)
		}
	}
	awaitAcks(t, js)
	t.Logf("burst published in %s", time.Since(began).Round(time.Millisecond))

	byKind := map[string]int{}
	for range total - valid {
		r := next(t, rejections)
		svc := strings.TrimPrefix((&r).PublishedOn(), message.RejectedPrefix+"prod.")
		k, ok := kinds[svc]
		if !ok {
			t.Fatalf("rejection on %s: %+v", (&r).PublishedOn(), r)
		}
		if !strings.Contains(r.Reason, k.reason) || r.Subject != message.DeployPrefix+"prod."+svc || len(r.Event) > 4<<10 {
			t.Errorf("%s rejection: reason %q, subject %s, %d bytes of event; want the reason to hold %q", svc, r.Reason, r.Subject, len(r.Event), k.reason)
		}
		byKind[svc]++
	}
	t.Logf("rejections received after %s", time.Since(began).Round(time.Millisecond))
	for _, k := range malformedKinds {
		if byKind[k.service] != k.n {
			t.Errorf("%s: %d rejections, want %d", k.service, byKind[k.service], k.n)
		}
	}
	waitFor(t, "every valid event to start its analysis", func() bool {
		return value(t, a.rmetrics.Events.WithLabelValues("started")) == valid
	})
	t.Logf("burst of %d events taken in %s", total, time.Since(began).Round(time.Millisecond))
	if got := value(t, a.rmetrics.Events.WithLabelValues("rejected")); got != total-valid {
		t.Errorf("canaryd_deploy_events_total{result=\"rejected\"} = %v, want %d", got, total-valid)
	}
	kv, err := c.js.KeyValue(t.Context(), "canaryd_analyses")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		if strings.HasPrefix(k, record.KeyPrefix) { // not the index's keys
			n++
		}
	}
	if n != valid {
		t.Errorf("the bucket holds %d analyses, want %d", n, valid)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	cons, err := c.js.Consumer(ctx, "CANARY", bus.ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("deploy consumer after the burst: %d pending, %d unacknowledged, %d redelivered",
			info.NumPending, info.NumAckPending, info.NumRedelivered)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	live := ms.HeapInuse + ms.StackInuse
	t.Logf("after the burst: heap in use %d MiB, stacks %d MiB, %d goroutines",
		ms.HeapInuse>>20, ms.StackInuse>>20, runtime.NumGoroutine())
	if live > burstHeapBound {
		t.Errorf("heap in use plus stacks after the burst: %d MiB, want at most %d MiB", live>>20, burstHeapBound>>20)
	}
}

type publishable struct {
	subject string
	body    []byte
}

// awaitAcks waits until the stream has acknowledged every message js
// published asynchronously.
func awaitAcks(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(waitTimeout):
		t.Fatal("the stream did not acknowledge the burst")
	}
}
