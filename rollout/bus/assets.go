package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/message"
)

// Assets are canaryd's JetStream assets, as Setup found or made them.
type Assets struct {
	Stream   jetstream.Stream
	Consumer jetstream.Consumer
	KV       jetstream.KeyValue
	// KVStream is the stream behind the bucket: its subject index lists
	// keys without reading values.
	KVStream jetstream.Stream
	// Audit is the audit trail's stream, once SetupAudit made it.
	Audit jetstream.Stream
	// Warnings say where an existing asset differs from the config in a
	// way canaryd leaves alone (more replicas, settings it does not own).
	Warnings []string
	// Changes say what Setup changed on existing assets.
	Changes []string
}

// Names returns the names of the streams Setup found or made: the
// stream's, then the bucket's, then the audit stream's.
func (a *Assets) Names() []string {
	names := []string{a.Stream.CachedInfo().Config.Name, a.KVStream.CachedInfo().Config.Name}
	if a.Audit != nil {
		names = append(names, a.Audit.CachedInfo().Config.Name)
	}
	return names
}

// streamSubjects are the subjects canaryd publishes and consumes on.
var streamSubjects = []string{message.DeployPrefix + ">", message.VerdictPrefix + ">", message.RejectedPrefix + ">"}

// streamWant is the stream canaryd creates for c.
func streamWant(c *configs.NATS, dedupe time.Duration) jetstream.StreamConfig {
	// NATS refuses a duplicate window longer than the stream keeps
	// messages; a verdict older than that is gone anyway.
	dedupe = min(dedupe, c.StreamMaxAgeOrDefault())
	maxBytes := int64(-1) // no bound
	if c.StreamMaxBytes > 0 {
		maxBytes = int64(c.StreamMaxBytes)
	}
	return jetstream.StreamConfig{
		Name:        c.StreamOrDefault(),
		Description: "canaryd deploy events, verdicts and rejections",
		Subjects:    slices.Clone(streamSubjects),
		Storage:     jetstream.FileStorage,
		MaxAge:      c.StreamMaxAgeOrDefault(),
		MaxBytes:    maxBytes,
		Duplicates:  dedupe,
		Replicas:    c.ReplicasOrDefault(),
	}
}

// kvWant is the bucket canaryd creates for c.
func kvWant(c *configs.NATS) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      c.KVBucketOrDefault(),
		Description: "canaryd analyses",
		Storage:     jetstream.FileStorage,
		TTL:         AnalysisTTL,
		Replicas:    c.ReplicasOrDefault(),
	}
}

// owned merges what canaryd owns of want into cur, an existing stream's
// config: its subjects (added, others kept), the age, size and duplicate
// window, and the replicas, raised but never lowered. Everything else is
// the operator's and stays. It returns the merged config, what it changed
// and what differs but stays.
func owned(cur, want jetstream.StreamConfig, kind string, subjects bool) (jetstream.StreamConfig, []string, []string) {
	out := cur
	out.Subjects = slices.Clone(cur.Subjects)
	var changes, warnings []string
	name := kind + " " + cur.Name
	if subjects {
		for _, s := range want.Subjects {
			if !slices.Contains(out.Subjects, s) {
				out.Subjects = append(out.Subjects, s)
				changes = append(changes, fmt.Sprintf("%s: subject %s added", name, s))
			}
		}
	}
	if cur.MaxAge != want.MaxAge {
		out.MaxAge = want.MaxAge
		changes = append(changes, fmt.Sprintf("%s: max age %s, was %s", name, want.MaxAge, cur.MaxAge))
	}
	if want.MaxBytes != 0 && cur.MaxBytes != want.MaxBytes {
		out.MaxBytes = want.MaxBytes
		changes = append(changes, fmt.Sprintf("%s: max bytes %d, was %d", name, want.MaxBytes, cur.MaxBytes))
	}
	if want.Duplicates != 0 && cur.Duplicates != want.Duplicates {
		out.Duplicates = want.Duplicates
		changes = append(changes, fmt.Sprintf("%s: duplicate window %s, was %s", name, want.Duplicates, cur.Duplicates))
	}
	switch {
	case cur.Replicas < want.Replicas:
		out.Replicas = want.Replicas
		changes = append(changes, fmt.Sprintf("%s: replicas raised to %d, was %d", name, want.Replicas, max(cur.Replicas, 1)))
	case cur.Replicas > want.Replicas:
		warnings = append(warnings, fmt.Sprintf("%s has %d replicas, global.nats.replicas says %d: kept (canaryd never lowers replicas)", name, cur.Replicas, want.Replicas))
	}
	if cur.Storage != want.Storage {
		warnings = append(warnings, fmt.Sprintf("%s uses %s storage, canaryd creates it with %s storage: kept", name,
			strings.ToLower(cur.Storage.String()), strings.ToLower(want.Storage.String())))
	}
	if cur.Placement != nil {
		warnings = append(warnings, fmt.Sprintf("%s has a placement (cluster %q, tags %v) canaryd does not set: kept", name, cur.Placement.Cluster, cur.Placement.Tags))
	}
	return out, changes, warnings
}

// Setup finds or creates the stream, the shared durable consumer and the
// key-value bucket. An existing asset keeps every setting canaryd does not
// own and its replicas unless the config asks for more (see owned); where
// it differs from the config, Assets.Warnings says so.
func Setup(ctx context.Context, js jetstream.JetStream, c *configs.NATS, dedupe time.Duration) (*Assets, error) {
	a := &Assets{}
	want := streamWant(c, dedupe)
	stream, err := ensureStream(ctx, js, want, "stream", true, a)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", want.Name, err)
	}
	a.Stream = stream
	a.Consumer, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "deploy events, shared by every canaryd replica",
		FilterSubject: message.DeployPrefix + ">",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    MaxDeliver,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	kw := kvWant(c)
	kv, err := js.KeyValue(ctx, kw.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, kw)
		if errors.Is(err, jetstream.ErrBucketExists) { // another replica was first
			kv, err = js.KeyValue(ctx, kw.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", kw.Bucket, err)
	}
	a.KV = kv
	name, err := kvStreamName(ctx, kv)
	if err != nil {
		return nil, err
	}
	kvs := jetstream.StreamConfig{Name: name, MaxAge: kw.TTL, Storage: kw.Storage, Replicas: kw.Replicas}
	if a.KVStream, err = ensureStream(ctx, js, kvs, "key-value bucket", false, a); err != nil {
		return nil, fmt.Errorf("key-value bucket %s: %w", kw.Bucket, err)
	}
	return a, nil
}

// kvStreamName returns the name of the stream behind kv, as the server
// reports it.
func kvStreamName(ctx context.Context, kv jetstream.KeyValue) (string, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return "", fmt.Errorf("key-value bucket %s: %w", kv.Bucket(), err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return "", fmt.Errorf("key-value bucket %s: no stream info in its status", kv.Bucket())
	}
	return bs.StreamInfo().Config.Name, nil
}

// ensureStream returns the stream want names: created with want when
// missing (only with subjects: a bucket's stream is created as a bucket),
// else updated with what canaryd owns of want.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, kind string, create bool, a *Assets) (jetstream.Stream, error) {
	for try := 0; ; try++ {
		s, err := js.Stream(ctx, want.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) && create && try == 0 {
			s, err = js.CreateStream(ctx, want)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // another replica was first: take it as found
			}
			return s, err
		}
		if err != nil {
			return nil, err
		}
		cur := s.CachedInfo().Config
		merged, changes, warnings := owned(cur, want, kind, create)
		a.Warnings = append(a.Warnings, warnings...)
		if len(changes) == 0 {
			return s, nil
		}
		if s, err = js.UpdateStream(ctx, merged); err != nil {
			return nil, fmt.Errorf("update (%v): %w", changes, err)
		}
		a.Changes = append(a.Changes, changes...)
		return s, nil
	}
}

// Check compares the assets on the server with what canaryd would make of
// c, changing nothing: what Setup would change and warn about, and which
// assets are missing (Setup creates them).
func Check(ctx context.Context, js jetstream.JetStream, c *configs.NATS) (changes, warnings []string, err error) {
	want := streamWant(c, minDedupeWindow)
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		changes = append(changes, fmt.Sprintf("stream %s: missing, created at start with %d replica(s)", want.Name, want.Replicas))
	case err != nil:
		return nil, nil, fmt.Errorf("stream %s: %w", want.Name, err)
	default:
		cur := s.CachedInfo().Config
		want.Duplicates = 0 // the daemon's window depends on its flags
		_, ch, w := owned(cur, want, "stream", true)
		changes, warnings = append(changes, ch...), append(warnings, w...)
	}
	kw := kvWant(c)
	kv, err := js.KeyValue(ctx, kw.Bucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		changes = append(changes, fmt.Sprintf("key-value bucket %s: missing, created at start with %d replica(s)", kw.Bucket, kw.Replicas))
		return changes, warnings, nil
	case err != nil:
		return nil, nil, fmt.Errorf("key-value bucket %s: %w", kw.Bucket, err)
	}
	name, err := kvStreamName(ctx, kv)
	if err != nil {
		return nil, nil, err
	}
	ks, err := js.Stream(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("key-value bucket %s: %w", kw.Bucket, err)
	}
	_, ch, w := owned(ks.CachedInfo().Config, jetstream.StreamConfig{Name: name, MaxAge: kw.TTL, Storage: kw.Storage, Replicas: kw.Replicas}, "key-value bucket", false)
	return append(changes, ch...), append(warnings, w...), nil
}

// Health is the state of one of canaryd's streams in the cluster.
type Health struct {
	Stream   string `json:"stream"`
	Replicas int    `json:"replicas"`
	// Leader is the server that takes the stream's writes; none while
	// the replicas elect one.
	Leader string `json:"leader,omitempty"`
	// Current counts the replicas, leader included, that are online and
	// caught up.
	Current int `json:"current"`
	// Status is healthy, degraded (a replica lost or behind, writes still
	// go through) or unavailable (no leader, or the stream did not
	// answer).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Health states.
const (
	Healthy     = "healthy"
	Degraded    = "degraded"
	Unavailable = "unavailable"
)

// StreamHealth asks the server for the state of the named streams.
func StreamHealth(ctx context.Context, js jetstream.JetStream, names ...string) []Health {
	out := make([]Health, 0, len(names))
	for _, name := range names {
		h := Health{Stream: name, Status: Unavailable}
		s, err := js.Stream(ctx, name)
		if err != nil {
			h.Error = err.Error()
			out = append(out, h)
			continue
		}
		info := s.CachedInfo()
		h.Replicas = max(info.Config.Replicas, 1)
		switch cl := info.Cluster; {
		case cl == nil: // a single server
			h.Current, h.Status = 1, Healthy
		case cl.Leader == "":
			h.Error = "no leader: the replicas are electing one"
		default:
			h.Leader, h.Current = cl.Leader, 1
			for _, p := range cl.Replicas {
				if p.Current && !p.Offline {
					h.Current++
				}
			}
			h.Status = Healthy
			if h.Current < h.Replicas {
				h.Status = Degraded
			}
		}
		out = append(out, h)
	}
	return out
}
