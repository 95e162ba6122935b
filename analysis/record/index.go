package record

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/rollout/bus"
)

// IndexPrefix prefixes the index keys: one key per analysis,
//
//	by.<namespace>.<service>.<state>.<cursor>
//
// where cursor is <created, Unix nanoseconds, 19 digits>-<id>, so that
// the bucket's subject index finds the analyses of a service, a namespace
// or a state, in creation order, without reading a record. The key's
// value is the id; what a listing shows is read from the records it
// names, a page at a time.
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
	if state == Running {
		r.indexed = state
		return nil
	}
	// Purged from the stream, not deleted: a deleted key leaves a marker
	// that the subject index would still list.
	running := s.subjects + indexKey(r.Event.Namespace, r.Event.Service, Running, cursor)
	err = bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) error {
		return s.stream.Purge(ctx, jetstream.WithPurgeSubject(running))
	})
	if err != nil {
		return fmt.Errorf("index analysis %s: drop its running key: %w", r.ID, err)
	}
	r.indexed = state
	return nil
}

// Find lists the index's entries of the analyses in namespace, of service
// and in state ("" for any), in creation order, from the bucket's subject
// index: no record is read.
func (s *Store) Find(ctx context.Context, namespace, service, state string) ([]Entry, error) {
	orAll := func(v string) string {
		if v == "" {
			return "*"
		}
		return v
	}
	filter := s.subjects + indexKey(orAll(namespace), orAll(service), orAll(state), "*")
	subjects, err := s.subjectsOf(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("find analyses: %w", err)
	}
	out := make([]Entry, 0, len(subjects))
	for _, subj := range subjects {
		t := strings.Split(strings.TrimPrefix(subj, s.subjects+IndexPrefix), ".")
		if len(t) != 4 || !ValidCursor(t[3]) {
			continue // not written by this layout
		}
		out = append(out, Entry{Namespace: t[0], Service: t[1], State: t[2], Cursor: t[3]})
	}
	slices.SortFunc(out, func(x, y Entry) int { return strings.Compare(x.Cursor, y.Cursor) })
	return out, nil
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
