package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/canaryd/canaryd/metrics/embedded"
)

func TestAppendAtUnixZero(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	epoch := time.Unix(0, 0)
	for i := range 5 {
		ts := epoch.Add(time.Duration(i) * 10 * time.Second)
		if err := src.Append(ts, map[string]string{"__name__": "x", "analysis": "a1"}, float64(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	assertVector(t, instant(t, u, `x`, epoch.Add(40*time.Second)), map[string]float64{`x{analysis="a1"}`: 4})
	assertVector(t, instant(t, u, `x`, epoch), map[string]float64{`x{analysis="a1"}`: 0})
	oldest, newest, ok := src.Span()
	if !ok || !oldest.Equal(epoch) || !newest.Equal(epoch.Add(40*time.Second)) {
		t.Errorf("span: %v %v %v", oldest, newest, ok)
	}
}

func TestBatch(t *testing.T) {
	src := newSource(t, embedded.Options{})
	u := start(t, src)
	b := src.NewBatch()
	for i, name := range []string{"a", "b", "c"} {
		if err := b.Add(at(0), labels.FromStrings("__name__", "x", "analysis", name), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Not visible before Commit.
	assertVector(t, instant(t, u, `x`, at(0)), map[string]float64{})
	if err := b.Add(at(0), labels.FromStrings("analysis", "nameless"), 1); !errors.Is(err, embedded.ErrInvalidLabels) {
		t.Errorf("series without a name: got %v", err)
	}
	if err := b.Add(at(0), labels.FromStrings("__name__", "bad name!", "x", "y"), 1); err != nil {
		// UTF-8 metric names are valid in Prometheus 3.
		t.Errorf("UTF-8 metric name: got %v", err)
	}
	if b.Len() != 4 {
		t.Errorf("len %d, want 4", b.Len())
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	assertVector(t, instant(t, u, `x`, at(0)), map[string]float64{`x{analysis="a"}`: 0, `x{analysis="b"}`: 1, `x{analysis="c"}`: 2})
	if err := b.Commit(); err == nil {
		t.Error("second commit succeeded")
	}

	// Refused samples do not spoil the batch.
	b = src.NewBatch()
	if err := b.Add(at(-1), labels.FromStrings("__name__", "x", "analysis", "a"), 5); !errors.Is(err, storage.ErrOutOfOrderSample) {
		t.Errorf("out of order: got %v", err)
	}
	if err := b.Add(at(0), labels.FromStrings("__name__", "x", "analysis", "a"), 5); !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
		t.Errorf("second value at one time: got %v", err)
	}
	if err := b.Add(at(1), labels.FromStrings("__name__", "x", "analysis", "a"), 6); err != nil {
		t.Errorf("in order: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	assertVector(t, instant(t, u, `x{analysis="a"}`, at(1)), map[string]float64{`x{analysis="a"}`: 6})

	// A new series more than an hour (half the head's 2h chunk range)
	// behind the newest sample is out of bounds, as in Prometheus's head.
	b = src.NewBatch()
	if err := b.Add(at(1).Add(-61*time.Minute), labels.FromStrings("__name__", "x", "analysis", "late"), 1); !errors.Is(err, storage.ErrOutOfBounds) {
		t.Errorf("61 minutes late: got %v", err)
	}
	if err := b.Add(at(1).Add(-59*time.Minute), labels.FromStrings("__name__", "x", "analysis", "late"), 1); err != nil {
		t.Errorf("59 minutes late: %v", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}

	b = src.NewBatch()
	if err := b.Add(at(2), labels.FromStrings("__name__", "x", "analysis", "a"), 7); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(); err != nil {
		t.Fatal(err)
	}
	assertVector(t, instant(t, u, `x{analysis="a"}`, at(2)), map[string]float64{`x{analysis="a"}`: 6})
}

func TestRetention(t *testing.T) {
	src := newSource(t, embedded.Options{Retention: 10 * time.Minute})
	u := start(t, src)
	base := t0
	// One sample a minute for 13 minutes: the span passes 1.25×10m at the
	// last one, and the head drops what is older than 10m behind it.
	for i := range 14 {
		if err := src.Append(base.Add(time.Duration(i)*time.Minute), map[string]string{"__name__": "x"}, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	src.WaitBackground()
	if oldest, _, _ := src.Span(); !oldest.Equal(base.Add(3 * time.Minute)) {
		t.Errorf("oldest sample at %v, want %v", oldest, base.Add(3*time.Minute))
	}
	assertVector(t, instant(t, u, `x`, base.Add(time.Minute)), map[string]float64{})
	assertVector(t, instant(t, u, `x`, base.Add(13*time.Minute)), map[string]float64{`x`: 13})
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	src, err := embedded.New(embedded.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	u, err := src.Start("")
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Append(at(0), map[string]string{"__name__": "x"}, 1); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary directory: %v", entries)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind %v", entries)
	}
	for name, err := range map[string]error{
		"append": src.Append(at(1), map[string]string{"__name__": "x"}, 1),
		"ingest": src.Ingest(at(1), nil, strings.NewReader("x 1\n"), ""),
		"close":  src.Close(),
	} {
		if !errors.Is(err, embedded.ErrClosed) {
			t.Errorf("%s after close: got %v, want ErrClosed", name, err)
		}
	}
	if _, err := src.Start(""); !errors.Is(err, embedded.ErrClosed) {
		t.Errorf("start after close: %v", err)
	}
	if resp, err := http.Get(u + "/-/ready"); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Close")
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []embedded.Options{
		{Retention: -time.Second}, {LookbackDelta: -1}, {QueryTimeout: -1}, {MaxSamples: -1},
	} {
		if src, err := embedded.New(o); err == nil {
			_ = src.Close()
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestConcurrentUse ingests four targets, appends a batch series and runs
// queries at once while retention truncates the head, for the race
// detector, then checks the newest values and that retention held.
func TestConcurrentUse(t *testing.T) {
	src := newSource(t, embedded.Options{Retention: 2 * time.Minute})
	u := start(t, src)
	const steps = 120 // 30 minutes at 15s: the head is truncated several times
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	// Writers move in step, as scrapes of one clock do: a writer far ahead
	// would have the others' samples truncated away as too old.
	wg.Go(func() {
		for i := range steps {
			var step sync.WaitGroup
			for w := range 4 {
				step.Go(func() {
					target := map[string]string{"service": fmt.Sprintf("svc%d", w)}
					body := fmt.Sprintf("requests_total %d\ninflight %d\n", i*10, w)
					if err := src.Ingest(at(i), target, strings.NewReader(body), ""); err != nil {
						errs <- err
					}
				})
			}
			step.Go(func() {
				b := src.NewBatch()
				if err := b.Add(at(i), labels.FromStrings("__name__", "synthetic", "analysis", "a1"), float64(i)); err != nil {
					errs <- err
				}
				if err := b.Commit(); err != nil {
					errs <- err
				}
			})
			step.Wait()
		}
	})
	for range 2 {
		wg.Go(func() {
			for i := range 40 {
				form := url.Values{"query": {"sum(rate(requests_total[1m]))"},
					"start": {formatSeconds(at(i))}, "end": {formatSeconds(at(i + 20))}, "step": {"15"}}
				resp, err := http.PostForm(u+"/api/v1/query_range", form)
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("query: HTTP %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	src.WaitBackground()
	assertVector(t, instant(t, u, `requests_total`, at(steps-1)), map[string]float64{
		`requests_total{service="svc0"}`: 1190, `requests_total{service="svc1"}`: 1190,
		`requests_total{service="svc2"}`: 1190, `requests_total{service="svc3"}`: 1190,
	})
	assertVector(t, instant(t, u, `synthetic`, at(steps-1)), map[string]float64{`synthetic{analysis="a1"}`: steps - 1})
	oldest, _, _ := src.Span()
	if oldest.Before(at(steps - 1).Add(-2*time.Minute - 30*time.Second)) {
		t.Errorf("oldest sample %v: retention of 2m not enforced", oldest)
	}
}

// TestTwoSourcesOneRegistry checks the documented way to register two
// sources on one registry: wrap it with a label per source.
func TestTwoSourcesOneRegistry(t *testing.T) {
	reg := prom.NewRegistry()
	for _, name := range []string{"a", "b"} {
		src := newSource(t, embedded.Options{Registerer: prom.WrapRegistererWith(prom.Labels{"source": name}, reg)})
		if err := src.Append(at(0), map[string]string{"__name__": "x"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		if got := counterValue(t, reg, "canaryd_embedded_samples_appended_total", map[string]string{"source": name}); got != 1 {
			t.Errorf("source %s appended %v, want 1", name, got)
		}
	}
}

// TestQuerier reads samples back through the storage.Queryable interface.
func TestQuerier(t *testing.T) {
	src := newSource(t, embedded.Options{})
	for i := range 4 {
		if err := src.Append(at(i), map[string]string{"__name__": "x", "track": "canary"}, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	q, err := src.Querier(at(1).UnixMilli(), at(2).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "x"))
	var got []float64
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() != chunkenc.ValNone {
			_, v := it.At()
			got = append(got, v)
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("got %v, want [1 2]", got)
	}
}
