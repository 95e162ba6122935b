package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// RecordingVersion is the version of the recording format this package
// writes; ReadRecording reads it, version 1 (the same without freshness)
// and the minimal scenario form.
const RecordingVersion = 2

// Recording is everything an analysis fetched, per judgement interval, metric
// and role, so the analysis can be replayed exactly (Provider) or judged
// again offline. Its JSON form is written by WriteTo and read by
// ReadRecording.
//
// Record, WriteTo and Provider's Fetch are safe for concurrent use; do not
// modify the exported fields while any of them may run.
type Recording struct {
	// Version is the format version the recording was read from:
	// RecordingVersion, 1, or 0 when it was read from the minimal form. WriteTo
	// always writes RecordingVersion.
	Version int
	// Meta is free-form context the writer chose to keep (analysis id,
	// service, versions); replay ignores it.
	Meta map[string]string
	// Intervals are sorted by Index, each Index at most once.
	Intervals []RecordedInterval

	mu sync.RWMutex
}

// RecordedInterval is what one judgement interval fetched.
type RecordedInterval struct {
	Index      int                         // 0-based judgement index
	Start, End time.Time                   // the interval's window
	Metrics    map[string]map[Role]Samples // metric name -> role -> samples
}

// ErrNotRecorded is returned (wrapped) by a replay Fetch for a query the
// recording has no samples for.
var ErrNotRecorded = errors.New("not in the recording")

// Record keeps a copy of s as what metric fetched for role in the judgement
// interval with the given index and window. A second Record of the same
// interval, metric and role replaces the first, and the interval's window
// becomes the latest one given. It is safe for concurrent use.
func (r *Recording) Record(interval int, start, end time.Time, metric string, role Role, s Samples) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, found := slices.BinarySearchFunc(r.Intervals, interval, func(iv RecordedInterval, idx int) int { return iv.Index - idx })
	if !found {
		r.Intervals = slices.Insert(r.Intervals, i, RecordedInterval{Index: interval})
	}
	iv := &r.Intervals[i]
	iv.Start, iv.End = start, end
	if iv.Metrics == nil {
		iv.Metrics = make(map[string]map[Role]Samples)
	}
	if iv.Metrics[metric] == nil {
		iv.Metrics[metric] = make(map[Role]Samples, 2)
	}
	iv.Metrics[metric][role] = s.Clone()
}

// Provider returns a Provider that replays r: Fetch answers from the samples
// recorded for the query's (Interval, Metric, Role), ignoring its Expr,
// window and Aggregate (the recording holds what was fetched, already
// aggregated). A query the recording cannot answer fails with an error
// wrapping ErrNotRecorded that says what the recording does have. The
// samples returned are copies; the Query field is the recorded query text,
// empty for a recording read from the minimal form.
func (r *Recording) Provider() Provider { return replay{r} }

type replay struct{ r *Recording }

func (p replay) Fetch(ctx context.Context, q Query) (Samples, error) {
	if err := ctx.Err(); err != nil {
		return Samples{}, fmt.Errorf("replay %s: %w", q, err)
	}
	r := p.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, found := slices.BinarySearchFunc(r.Intervals, q.Interval, func(iv RecordedInterval, idx int) int { return iv.Index - idx })
	if !found {
		return Samples{}, fmt.Errorf("replay %s: interval %d %w (%s)", q, q.Interval, ErrNotRecorded, r.describeIntervals())
	}
	iv := r.Intervals[i]
	roles, ok := iv.Metrics[q.Metric]
	if !ok {
		return Samples{}, fmt.Errorf("replay %s: metric %q in interval %d %w (recorded metrics: %s)",
			q, q.Metric, q.Interval, ErrNotRecorded, describeKeys(iv.Metrics))
	}
	s, ok := roles[q.Role]
	if !ok {
		return Samples{}, fmt.Errorf("replay %s: %s samples of metric %q in interval %d %w (recorded roles: %s)",
			q, q.Role, q.Metric, q.Interval, ErrNotRecorded, describeKeys(roles))
	}
	return s.Clone(), nil
}

// describeIntervals says which interval indexes r holds; r.mu is held.
func (r *Recording) describeIntervals() string {
	n := len(r.Intervals)
	switch {
	case n == 0:
		return "the recording has no intervals"
	case r.Intervals[n-1].Index-r.Intervals[0].Index == n-1:
		return fmt.Sprintf("the recording has intervals %d to %d", r.Intervals[0].Index, r.Intervals[n-1].Index)
	}
	idx := make([]string, n)
	for i, iv := range r.Intervals {
		idx[i] = fmt.Sprint(iv.Index)
	}
	return "the recording has intervals " + strings.Join(idx, ", ")
}

func describeKeys[K ~string, V any](m map[K]V) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
