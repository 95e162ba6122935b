package embedded

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// ErrInvalidLabels is returned for a series whose labels Prometheus would
// not store: no metric name, an invalid name, or a label name used twice.
var ErrInvalidLabels = errors.New("invalid labels")

// Append stores one sample of the series lbls (which must include
// __name__; empty values mean the label is absent) at ts. Each call is its
// own transaction; to add many samples use a Batch.
func (s *Source) Append(ts time.Time, lbls map[string]string, v float64) error {
	b := s.NewBatch()
	if err := b.Add(ts, labels.FromMap(lbls), v); err != nil {
		return errors.Join(err, b.Rollback())
	}
	return b.Commit()
}

// Batch adds samples directly, without the exposition format: the fast path
// for synthetic data. Its samples become visible to queries together, at
// Commit. A Batch is not safe for concurrent use; use one per goroutine.
// It must end with Commit or Rollback.
type Batch struct {
	s        *Source
	app      storage.AppenderV2
	appended int
	err      error // why the batch takes no more samples: ended, failed, or the source closed
}

// NewBatch starts a Batch.
func (s *Source) NewBatch() *Batch {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return &Batch{s: s, err: ErrClosed}
	}
	return &Batch{s: s, app: s.head.AppenderV2(context.Background())}
}

// Add adds the sample v of the series lbls at ts. lbls must hold a metric
// name (__name__) and valid, distinct label names; labels with empty values
// are dropped. A sample that is refused (invalid labels, older than the
// series' newest sample, a different value at the same time, or older than
// the head accepts) returns an error wrapping ErrInvalidLabels or
// storage.ErrOutOfOrderSample, storage.ErrDuplicateSampleForTimestamp or
// storage.ErrOutOfBounds; the rest of the batch is unaffected. A storage
// failure of another kind ends the batch: it is rolled back and every later
// call returns that error.
func (b *Batch) Add(ts time.Time, lbls labels.Labels, v float64) error {
	if b.err != nil {
		return b.err
	}
	lbls = lbls.WithoutEmpty()
	if err := validSeries(lbls); err != nil {
		b.s.m.rejected.WithLabelValues(reasonInvalid).Inc()
		return err
	}
	if ts.IsZero() {
		return fmt.Errorf("series %s: zero time", lbls)
	}
	return b.add(lbls, ts.UnixMilli(), v)
}

// add appends a sample whose labels are known to be valid.
func (b *Batch) add(lbls labels.Labels, t int64, v float64) error {
	b.s.life.RLock()
	defer b.s.life.RUnlock()
	if b.s.closed {
		b.err = ErrClosed
		return b.err
	}
	_, err := b.app.Append(0, lbls, 0, t, v, nil, nil, storage.AOptions{})
	if err == nil {
		b.appended++
		return nil
	}
	if reason := rejectReason(err); reason != "" {
		b.s.m.rejected.WithLabelValues(reason).Inc()
		return fmt.Errorf("series %s at %s: %w", lbls, formatMillis(t), err)
	}
	b.err = fmt.Errorf("append series %s: %w", lbls, err)
	if rerr := b.app.Rollback(); rerr != nil {
		b.err = errors.Join(b.err, rerr)
	}
	return b.err
}

// Len returns the number of samples added and not refused so far.
func (b *Batch) Len() int { return b.appended }

// Commit stores the batch's samples, making them visible to queries.
func (b *Batch) Commit() error {
	if b.err != nil {
		return b.err
	}
	b.s.life.RLock()
	defer b.s.life.RUnlock()
	if b.s.closed {
		b.err = ErrClosed
		return b.err
	}
	b.err = errors.New("batch already ended")
	if err := b.app.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	b.s.m.appended.Add(float64(b.appended))
	b.s.enforceRetention()
	return nil
}

// Rollback discards the batch's samples.
func (b *Batch) Rollback() error {
	if b.err != nil {
		// Already ended, rolled back by a failed Add, or the source closed.
		return nil
	}
	b.err = errors.New("batch already ended")
	b.s.life.RLock()
	defer b.s.life.RUnlock()
	if b.s.closed {
		return nil
	}
	if err := b.app.Rollback(); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// rejectReason names the reason a sample that the head refused on its own
// merits was refused, or returns "" for any other error.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return reasonOutOfOrder
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		return reasonOutOfBounds
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return reasonDuplicate
	}
	return ""
}

// validSeries checks lbls as Prometheus checks a scraped series: a valid
// metric name, valid UTF-8 label names and values, no name twice.
func validSeries(lbls labels.Labels) error {
	if lbls.Get(model.MetricNameLabel) == "" {
		return fmt.Errorf("series %s: no metric name (%s): %w", lbls, model.MetricNameLabel, ErrInvalidLabels)
	}
	if name, dup := lbls.HasDuplicateLabelNames(); dup {
		return fmt.Errorf("series %s: label %q twice: %w", lbls, name, ErrInvalidLabels)
	}
	if !lbls.IsValid(model.UTF8Validation) {
		return fmt.Errorf("series %s: invalid label name or value: %w", lbls, ErrInvalidLabels)
	}
	return nil
}

// formatMillis shows a Unix millisecond time for errors.
func formatMillis(t int64) string {
	return time.UnixMilli(t).UTC().Format(time.RFC3339Nano)
}
