package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/rollout/bus"
)

// ErrDuplicate is returned by Store.Create when the id is taken.
var ErrDuplicate = errors.New("analysis exists")

// ErrNotFound is returned by Store.Get for an unknown id.
var ErrNotFound = errors.New("analysis not found")

// Store keeps records in a JetStream key-value bucket.
type Store struct {
	kv jetstream.KeyValue
	// stream is the bucket's stream.
	stream jetstream.Stream
	// subjects prefixes a key to make its subject in stream, as the
	// stream's config says ("$KV.<bucket>.").
	subjects string
	// bufs holds encoding buffers (*[]byte) for update.
	bufs sync.Pool
	// writes bounds the updates encoded and in flight at once: the
	// bucket's stream takes them one by one, so more only hold more
	// buffers.
	writes chan struct{}
	// onUnreadable is told of each record that cannot be read, once.
	onUnreadable func(id string, err error)
	// unreadable holds the ids of the records reported unreadable.
	unreadable sync.Map
	// index is the index in memory (WatchIndex).
	index *indexCache
}

// maxWritesInFlight is the size of Store.writes.
const maxWritesInFlight = 128

// NewStore returns the store of the bucket kv, whose stream is stream.
// onUnreadable (if not nil) is told, once per analysis, of a record that
// cannot be read (ErrUnreadable): whoever reads it gets the error, and the
// operator hears of it once.
func NewStore(kv jetstream.KeyValue, stream jetstream.Stream, onUnreadable func(id string, err error)) *Store {
	subjects := "$KV." + kv.Bucket() + "." // what every NATS version makes
	if info := stream.CachedInfo(); info != nil && len(info.Config.Subjects) == 1 {
		subjects = strings.TrimSuffix(info.Config.Subjects[0], ">")
	}
	return &Store{kv: kv, stream: stream, subjects: subjects, writes: make(chan struct{}, maxWritesInFlight), onUnreadable: onUnreadable,
		index: newIndexCache()}
}

// reportUnreadable tells onUnreadable of analysis id the first time.
func (s *Store) reportUnreadable(id string, err error) {
	if _, seen := s.unreadable.LoadOrStore(id, true); !seen && s.onUnreadable != nil {
		s.onUnreadable(id, err)
	}
}

func (s *Store) Create(ctx context.Context, r *Record) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	var rev uint64
	err = bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) (err error) {
		rev, err = s.kv.Create(ctx, KeyPrefix+r.ID, b)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrDuplicate
	}
	if err != nil {
		return 0, fmt.Errorf("create analysis %s: %w", r.ID, err)
	}
	_ = s.Index(ctx, r) // the scan repairs a failure
	return rev, nil
}

func (s *Store) Get(ctx context.Context, id string) (*Record, uint64, error) {
	var e jetstream.KeyValueEntry
	err := bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) (err error) {
		e, err = s.kv.Get(ctx, KeyPrefix+id)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get analysis %s: %w", id, err)
	}
	r, err := Decode(e.Value())
	if err != nil {
		err = fmt.Errorf("analysis %s: %w", id, err)
		s.reportUnreadable(id, err)
		return nil, 0, err
	}
	return r, e.Revision(), nil
}

// Summary reads what a listing shows of analysis id (DecodeSummary): the
// record must not be written.
func (s *Store) Summary(ctx context.Context, id string) (*Record, error) {
	var e jetstream.KeyValueEntry
	err := bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) (err error) {
		e, err = s.kv.Get(ctx, KeyPrefix+id)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get analysis %s: %w", id, err)
	}
	r, err := DecodeSummary(e.Value())
	if err != nil {
		err = fmt.Errorf("analysis %s: %w", id, err)
		s.reportUnreadable(id, err)
		return nil, err
	}
	return r, nil
}

// Update writes r if the stored revision is still rev; a conflict is
// jetstream.ErrKeyRevisionMismatch.
func (s *Store) Update(ctx context.Context, r *Record, rev uint64) (uint64, error) {
	select {
	case s.writes <- struct{}{}:
		defer func() { <-s.writes }()
	case <-ctx.Done():
		return 0, fmt.Errorf("update analysis %s: %w", r.ID, ctx.Err())
	}
	// The client copies the value before Update returns, so one buffer
	// serves write after write.
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.bufs.Put(bp)
	b, err := r.appendJSON((*bp)[:0])
	if err != nil {
		return 0, fmt.Errorf("encode analysis %s: %w", r.ID, err)
	}
	*bp = b
	// Tried again after a lost leader, a write that did land the first
	// time is a revision mismatch: the writer reads its own write back.
	var n uint64
	err = bus.Retry(ctx, bus.ElectionWait, func(ctx context.Context) (err error) {
		n, err = s.kv.Update(ctx, KeyPrefix+r.ID, b, rev)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("update analysis %s: %w", r.ID, err)
	}
	if r.Done() && r.indexed != r.State() {
		_ = s.Index(ctx, r) // the scan repairs a failure
	}
	return n, nil
}

// IDs lists the ids of every stored analysis, from the bucket's subject
// index: the server reads no record, so listing costs the same whatever
// the records hold (a key lister would load every record).
func (s *Store) IDs(ctx context.Context) ([]string, error) {
	filter := s.subjects + KeyPrefix + ">"
	subjects, err := s.subjectsOf(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list analyses: %w", err)
	}
	ids := make([]string, 0, len(subjects))
	for _, subj := range subjects {
		if id, ok := strings.CutPrefix(subj, filter[:len(filter)-1]); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
