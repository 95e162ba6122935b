package embedded

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// A target's state between scrapes, what a failed or ended scrape leaves
// (stale markers, up), and how target labels join scraped ones.

// target is what a scrape loop remembers of one target between scrapes.
type target struct {
	mu sync.Mutex
	// last holds the series of the last scrape that carried no explicit
	// timestamp, by label hash: the series that go stale when a scrape no
	// longer has them.
	last map[uint64]labels.Labels
	// up is set once Scrape has written the target's up series.
	up bool
}

// failScrape records a scrape that failed before it could be parsed and
// returns err joined with any error recording it.
func (s *Source) failScrape(tl labels.Labels, ts time.Time, withUp bool, err error) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return errors.Join(err, ErrClosed)
	}
	if ts.IsZero() {
		return err
	}
	tgt := s.target(tl)
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	return errors.Join(err, s.markFailed(tgt, tl, ts.UnixMilli(), withUp))
}

// markFailed stores what a failed scrape leaves: a stale marker at t for
// every series of the target's last scrape, and up=0 if withUp. The caller
// holds tgt.mu and the life lock.
func (s *Source) markFailed(tgt *target, tl labels.Labels, t int64, withUp bool) error {
	s.m.scrapeFailed.Inc()
	app := s.head.AppenderV2(context.Background())
	n := 0
	for _, lset := range tgt.last {
		if appendStale(app, lset, t) {
			n++
		}
	}
	if withUp {
		if _, err := app.Append(0, upSeries(tl), 0, t, 0, nil, nil, storage.AOptions{}); err == nil {
			n++
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("stale markers for %s: %w", tl, err)
	}
	tgt.last = nil
	tgt.up = tgt.up || withUp
	s.m.appended.Add(float64(n))
	return nil
}

// EndTarget marks every series of the target's last scrape stale at ts (and
// its up series, if Scrape wrote one) and forgets the target, as Prometheus
// does when a target leaves service discovery. Call it when a simulated
// service stops, so that queries stop seeing its series at ts rather than
// one lookback delta later. A target never ingested is no error.
func (s *Source) EndTarget(ts time.Time, target map[string]string) error {
	tl, err := targetLabels(target)
	if err != nil {
		return err
	}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return ErrClosed
	}
	key := tl.String()
	s.targetsMu.Lock()
	tgt, ok := s.targets[key]
	delete(s.targets, key)
	s.targetsMu.Unlock()
	if !ok {
		return nil
	}
	tgt.mu.Lock()
	defer tgt.mu.Unlock()
	t := ts.UnixMilli()
	app := s.head.AppenderV2(context.Background())
	n := 0
	for _, lset := range tgt.last {
		if appendStale(app, lset, t) {
			n++
		}
	}
	if tgt.up && appendStale(app, upSeries(tl), t) {
		n++
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("end target %s: %w", tl, err)
	}
	tgt.last, tgt.up = nil, false
	s.m.appended.Add(float64(n))
	return nil
}

// appendStale appends a stale marker; a refusal (the series already has a
// newer sample) is not an error, as in Prometheus.
func appendStale(app storage.AppenderV2, lset labels.Labels, t int64) bool {
	_, err := app.Append(0, lset, 0, t, math.Float64frombits(value.StaleNaN), nil, nil, storage.AOptions{})
	return err == nil
}

func upSeries(tl labels.Labels) labels.Labels {
	b := labels.NewBuilder(tl)
	b.Set(model.MetricNameLabel, "up")
	return b.Labels()
}

// withTargetLabels returns scraped with the target labels set over it, as
// Prometheus does with honor_labels: false: a scraped label whose name a
// target label takes is kept as exported_<name> (with more exported_
// prefixes while that name is taken too).
func withTargetLabels(lb *labels.Builder, scraped, tl labels.Labels) labels.Labels {
	lb.Reset(scraped)
	var clashes []labels.Label
	tl.Range(func(l labels.Label) {
		if v := scraped.Get(l.Name); v != "" {
			clashes = append(clashes, labels.Label{Name: l.Name, Value: v})
		}
		lb.Set(l.Name, l.Value)
	})
	for _, c := range clashes {
		name := model.ExportedLabelPrefix + c.Name
		for lb.Get(name) != "" {
			name = model.ExportedLabelPrefix + name
		}
		lb.Set(name, c.Value)
	}
	return lb.Labels()
}

// targetLabels turns a target's labels into labels.Labels, dropping empty
// values and refusing invalid or reserved names.
func targetLabels(m map[string]string) (labels.Labels, error) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case !model.UTF8Validation.IsValidLabelName(name):
			return labels.EmptyLabels(), fmt.Errorf("target label %q: invalid name: %w", name, ErrInvalidLabels)
		case strings.HasPrefix(name, model.ReservedLabelPrefix):
			return labels.EmptyLabels(), fmt.Errorf("target label %q: names starting with %q are reserved: %w", name, model.ReservedLabelPrefix, ErrInvalidLabels)
		case !model.LabelValue(m[name]).IsValid():
			return labels.EmptyLabels(), fmt.Errorf("target label %q: value is not valid UTF-8: %w", name, ErrInvalidLabels)
		}
	}
	return labels.FromMap(m).WithoutEmpty(), nil
}

// target returns the state of the target with labels tl.
func (s *Source) target(tl labels.Labels) *target {
	key := tl.String()
	s.targetsMu.Lock()
	defer s.targetsMu.Unlock()
	tgt, ok := s.targets[key]
	if !ok {
		tgt = &target{}
		s.targets[key] = tgt
	}
	return tgt
}
