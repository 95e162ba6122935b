package record

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/rollout/bus"
)

// IndexPrefix prefixes the index keys: one key per analysis,
//
//	by.<namespace>.<service>.<state>.<cursor>
//
// where cursor is <created, Unix nanoseconds, 19 digits>-<id>, so that
// the keys alone say which analyses a service, a namespace or a state
// has, in creation order, without reading a record. Each replica keeps
// them in memory (WatchIndex: a watch of by.>, a few hundred bytes per
// analysis), so that finding asks nothing of the server. The key's value
// is the id; what a listing shows is read from the records it names, a
// page at a time.
const IndexPrefix = "by."

// Running is the state of an analysis not yet ended (rollout.Rollout's
// State).
const Running = "running"

// Entry is an analysis as the index finds it.
type Entry struct {
	Namespace, Service, State string
	// Cursor orders entries by creation, then id: <created>-<id>.
	Cursor string
}

// ID returns the entry's analysis id.
func (e Entry) ID() string { return e.Cursor[cursorTimeDigits+1:] }

// cursorTimeDigits is the width of a cursor's creation time.
const cursorTimeDigits = 19

// cursorRE is a valid cursor: the time, then an id (message.ValidID).
var cursorRE = regexp.MustCompile(`^[0-9]{19}-[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// ValidCursor reports whether c is a cursor (an API's continue token).
func ValidCursor(c string) bool { return cursorRE.MatchString(c) }

// CursorOf returns r's cursor.
func CursorOf(r *Record) string {
	return fmt.Sprintf("%0*d-%s", cursorTimeDigits, r.CreatedAt.UnixNano(), r.ID)
}

func indexKey(namespace, service, state, cursor string) string {
	return IndexPrefix + namespace + "." + service + "." + state + "." + cursor
}

// Index writes r's index key for its current state and, for an ended
// analysis, removes its key as running. A failure leaves the record as it
// is: the orphan scan repairs the index (Runner's scan).
func (s *Store) Index(ctx context.Context, r *Record) error {
	cursor := CursorOf(r)
	state := r.State()
	err := bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) error {
		_, err := s.kv.Put(ctx, indexKey(r.Event.Namespace, r.Event.Service, state, cursor), []byte(r.ID))
		return err
	})
	if err != nil {
		return fmt.Errorf("index analysis %s: %w", r.ID, err)
	}
	s.index.put(indexKey(r.Event.Namespace, r.Event.Service, state, cursor))
	if state == Running {
		r.indexed = state
		return nil
	}
	// A purge, which watchers see (and the cache with them); its marker
	// leaves with the bucket's TTL.
	runningKey := indexKey(r.Event.Namespace, r.Event.Service, Running, cursor)
	err = bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) error {
		return s.kv.Purge(ctx, runningKey)
	})
	if err != nil {
		return fmt.Errorf("index analysis %s: drop its running key: %w", r.ID, err)
	}
	s.index.remove(runningKey)
	r.indexed = state
	return nil
}

// Find lists the index's entries of the analyses in namespace, of service
// and in state ("" for any), in creation order, from the copy of the
// index WatchIndex keeps: no record is read, and nothing is asked of the
// server. It lists at most limit (0: no bound) entries after the cursor
// after ("" from the first), and says whether more follow.
func (s *Store) Find(ctx context.Context, namespace, service, state, after string, limit int) ([]Entry, bool, error) {
	if err := s.index.wait(ctx); err != nil {
		return nil, false, fmt.Errorf("find analyses: %w", err)
	}
	out, more := s.index.find(namespace, service, state, after, limit)
	return out, more, nil
}

// FindNewest is Find in the other order: the entries of the analyses in
// namespace, of service and in state ("" for any), newest first, at most
// limit (0: no bound) of those created before the cursor before ("" from
// the newest), and whether more follow.
func (s *Store) FindNewest(ctx context.Context, namespace, service, state, before string, limit int) ([]Entry, bool, error) {
	if err := s.index.wait(ctx); err != nil {
		return nil, false, fmt.Errorf("find analyses: %w", err)
	}
	out, more := s.index.findNewest(namespace, service, state, before, limit)
	return out, more, nil
}

// Facets returns what the index holds to filter by: the states of its
// analyses (sorted), and how many analyses it names.
func (s *Store) Facets(ctx context.Context) (states []string, total int, err error) {
	if err := s.index.wait(ctx); err != nil {
		return nil, 0, fmt.Errorf("index facets: %w", err)
	}
	states, total = s.index.facets()
	return states, total, nil
}

// Forget drops an index entry whose analysis has left the bucket (its
// TTL), which no watcher is told of.
func (s *Store) Forget(e Entry) {
	s.index.remove(indexKey(e.Namespace, e.Service, e.State, e.Cursor))
}

// WatchIndex keeps a copy of the index in memory, from the bucket's
// current keys and every change after, until stop is called; it returns
// once the copy holds every current key (or ctx ends first).
func (s *Store) WatchIndex(ctx context.Context) (stop func(), err error) {
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// A bucket just made R3 may still be electing its leader.
	var w jetstream.KeyWatcher
	err = bus.Retry(ctx, bus.ElectionWait, func(context.Context) (err error) {
		w, err = s.kv.Watch(life, IndexPrefix+">")
		return err
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch the index: %w", err)
	}
	loaded, done := make(chan struct{}), make(chan struct{})
	stop = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		defer func() { _ = w.Stop() }()
		first := true
		for {
			select {
			case <-life.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil { // every current key delivered
					if first {
						first = false
						s.index.loaded()
						close(loaded)
					}
					continue
				}
				if e.Operation() == jetstream.KeyValuePut {
					s.index.put(e.Key())
				} else {
					s.index.remove(e.Key())
				}
			}
		}
	}()
	select {
	case <-loaded:
		return stop, nil
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("watch the index: %w", ctx.Err())
	}
}

// indexCache is the index in memory: its entries in cursor order.
type indexCache struct {
	mu      sync.RWMutex
	ready   chan struct{}
	once    sync.Once
	entries []Entry // sorted by Cursor, then state
}

func newIndexCache() *indexCache { return &indexCache{ready: make(chan struct{})} }

func (c *indexCache) loaded() { c.once.Do(func() { close(c.ready) }) }

// wait returns once the cache is loaded.
func (c *indexCache) wait(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func entryOf(key string) (Entry, bool) {
	t := strings.Split(strings.TrimPrefix(key, IndexPrefix), ".")
	if len(t) != 4 || !ValidCursor(t[3]) {
		return Entry{}, false // not written by this layout
	}
	return Entry{Namespace: t[0], Service: t[1], State: t[2], Cursor: t[3]}, true
}

func compareEntries(x, y Entry) int {
	if c := strings.Compare(x.Cursor, y.Cursor); c != 0 {
		return c
	}
	return strings.Compare(x.State, y.State)
}

func (c *indexCache) put(key string) {
	e, ok := entryOf(key)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := slices.BinarySearchFunc(c.entries, e, compareEntries); !found {
		c.entries = slices.Insert(c.entries, i, e)
	}
}

func (c *indexCache) remove(key string) {
	e, ok := entryOf(key)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, found := slices.BinarySearchFunc(c.entries, e, compareEntries); found {
		c.entries = slices.Delete(c.entries, i, i+1)
	}
}

func (c *indexCache) find(namespace, service, state, after string, limit int) ([]Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	from, _ := slices.BinarySearchFunc(c.entries, after, func(e Entry, after string) int {
		if e.Cursor <= after {
			return -1
		}
		return 1
	})
	var out []Entry
	for _, e := range c.entries[from:] {
		if (namespace == "" || e.Namespace == namespace) && (service == "" || e.Service == service) && (state == "" || e.State == state) {
			if limit > 0 && len(out) == limit {
				return out, true
			}
			out = append(out, e)
		}
	}
	return out, false
}

func (c *indexCache) findNewest(namespace, service, state, before string, limit int) ([]Entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	end := len(c.entries)
	if before != "" {
		end, _ = slices.BinarySearchFunc(c.entries, before, func(e Entry, before string) int {
			if e.Cursor < before {
				return -1
			}
			return 1
		})
	}
	var out []Entry
	for i := end - 1; i >= 0; i-- {
		e := c.entries[i]
		if (namespace == "" || e.Namespace == namespace) && (service == "" || e.Service == service) && (state == "" || e.State == state) {
			if limit > 0 && len(out) == limit {
				return out, true
			}
			out = append(out, e)
		}
	}
	return out, false
}

func (c *indexCache) facets() (states []string, total int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	last := ""
	for _, e := range c.entries {
		// An analysis that just ended may be under both of its states
		// for a moment: count it once.
		if e.Cursor != last {
			total++
			last = e.Cursor
		}
		if !slices.Contains(states, e.State) {
			states = append(states, e.State)
		}
	}
	slices.Sort(states)
	return states, total
}

// subjectsOf returns the subjects of the bucket's stream that match
// filter and hold a message.
func (s *Store) subjectsOf(ctx context.Context, filter string) ([]string, error) {
	var info *jetstream.StreamInfo
	err := bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) (err error) {
		info, err = s.stream.Info(ctx, jetstream.WithSubjectFilter(filter))
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		out = append(out, subj)
	}
	return out, nil
}

// CreatedOf returns the creation time a cursor holds.
func CreatedOf(cursor string) time.Time {
	n, _ := strconv.ParseInt(cursor[:cursorTimeDigits], 10, 64)
	return time.Unix(0, n).UTC()
}
