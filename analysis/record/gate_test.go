package record

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// storeOnNATS returns a store on a bucket of a real, embedded NATS server.
func storeOnNATS(t *testing.T) *Store {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "test"})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "KV_test")
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(kv, stream, nil)
}

// Gates asked at once, as replicas would be, confirm exactly the traffic
// increases allowed, each once; a larger allowance confirms one more.
func TestConfirmIncrease(t *testing.T) {
	st := storeOnNATS(t)
	ctx := context.Background()
	const askers, allowed = 8, 3
	var mu sync.Mutex
	confirmed := map[int]int{}
	var wg sync.WaitGroup
	for range askers {
		wg.Go(func() {
			n, ok, err := st.ConfirmIncrease(ctx, "a1", allowed)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				confirmed[n]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(confirmed) != allowed || confirmed[1] != 1 || confirmed[2] != 1 || confirmed[3] != 1 {
		t.Fatalf("confirmed %v, want increases 1, 2 and 3 once each", confirmed)
	}
	if n, ok, err := st.ConfirmIncrease(ctx, "a1", allowed); err != nil || ok || n != allowed {
		t.Errorf("past the allowance: %d %v %v, want %d false", n, ok, err, allowed)
	}
	if n, ok, err := st.ConfirmIncrease(ctx, "a1", allowed+1); err != nil || !ok || n != allowed+1 {
		t.Errorf("one more allowed: %d %v %v, want %d true", n, ok, err, allowed+1)
	}
	if n, ok, err := st.ConfirmIncrease(ctx, "other", 0); err != nil || ok || n != 0 {
		t.Errorf("another analysis, none allowed: %d %v %v", n, ok, err)
	}
	if ids, err := st.IDs(ctx); err != nil || len(ids) != 0 {
		t.Errorf("the gate's keys are listed as analyses: %v %v", ids, err)
	}
}
