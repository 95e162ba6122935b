package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/message"
)

// auditWant is the audit trail's stream for c: a stream of its own, so
// that records are kept for the audit's retention whatever the verdict
// stream keeps. Deletes and purges are denied: records are append-only.
func auditWant(c *configs.Audit, n *configs.NATS, dedupe time.Duration) jetstream.StreamConfig {
	retention := c.RetentionOrDefault()
	return jetstream.StreamConfig{
		Name:        c.StreamOrDefault(),
		Description: "canaryd audit trail: one record per decision",
		Subjects:    []string{message.AuditPrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      retention,
		MaxBytes:    -1,
		Duplicates:  min(dedupe, retention),
		Replicas:    n.ReplicasOrDefault(),
		DenyDelete:  true,
		DenyPurge:   true,
	}
}

// SetupAudit finds or creates the audit stream of c, like Setup its
// other assets (an existing stream keeps what canaryd does not own, and
// its replicas unless n asks for more), and adds it to a.
func (a *Assets) SetupAudit(ctx context.Context, js jetstream.JetStream, c *configs.Audit, n *configs.NATS, dedupe time.Duration) error {
	want := auditWant(c, n, dedupe)
	s, err := ensureStream(ctx, js, want, "audit stream", true, a)
	if err != nil {
		return fmt.Errorf("audit stream %s: %w", want.Name, err)
	}
	a.Audit = s
	return nil
}

// CheckAudit compares the audit stream on the server with what SetupAudit
// would make of c and n, changing nothing (see Check).
func CheckAudit(ctx context.Context, js jetstream.JetStream, c *configs.Audit, n *configs.NATS) (changes, warnings []string, err error) {
	want := auditWant(c, n, minDedupeWindow)
	s, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return []string{fmt.Sprintf("audit stream %s: missing, created at start with %d replica(s)", want.Name, want.Replicas)}, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("audit stream %s: %w", want.Name, err)
	}
	want.Duplicates = 0 // the daemon's window depends on its flags
	_, changes, warnings = owned(s.CachedInfo().Config, want, "audit stream", true)
	return changes, warnings, nil
}

// AuditLog appends audit records to the audit stream and reads them back.
type AuditLog struct {
	pub    *Publisher
	stream jetstream.Stream
}

// NewAuditLog returns the audit log on stream, publishing through js.
func NewAuditLog(js jetstream.JetStream, stream jetstream.Stream) *AuditLog {
	return &AuditLog{pub: NewPublisher(js, stream), stream: stream}
}

// OpenAuditLog returns the audit log of the stream named name, as a
// reader (canaryctl audit export) finds it.
func OpenAuditLog(ctx context.Context, js jetstream.JetStream, name string) (*AuditLog, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("audit stream %s: %w", name, err)
	}
	return NewAuditLog(js, s), nil
}

// Append publishes a under its id, waiting out a leader election: a
// record appended twice within the duplicate window is stored once.
// verdict is a.Verdict's JSON when the caller has it (nil: encoded here).
func (l *AuditLog) Append(ctx context.Context, a *message.AuditRecord, verdict []byte) error {
	a.Version = message.AuditVersion
	var b []byte
	var err error
	if verdict != nil {
		b, err = a.Encode(verdict)
	} else {
		b, err = json.Marshal(a)
	}
	if err != nil {
		return fmt.Errorf("encode audit record %s: %w", a.ID, err)
	}
	return l.pub.PublishBytes(ctx, a.PublishedOn(), a.ID, b)
}

// AuditEntry is one stored record as a reader meets it: its JSON as
// stored (Raw) and the record decoded, or, for a record this version
// cannot read (a later version, corrupt), the error.
type AuditEntry struct {
	StreamSeq uint64
	Time      time.Time
	Record    message.AuditRecord
	Err       error
	Raw       []byte
}

// MaxAuditPage bounds one page of an analysis' records.
const MaxAuditPage = 1000

// Page returns up to limit (at most MaxAuditPage) records of analysis id
// stored after stream sequence after, oldest first, and whether more
// follow. It reads only the analysis' subject, through an ephemeral
// consumer filtered on it: the stream's subject index finds the records
// without reading the others'.
func (l *AuditLog) Page(ctx context.Context, id string, after uint64, limit int) ([]AuditEntry, bool, error) {
	limit = max(1, min(limit, MaxAuditPage))
	cfg := jetstream.ConsumerConfig{FilterSubject: message.AuditFilter(id), DeliverPolicy: jetstream.DeliverAllPolicy}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	var out []AuditEntry
	more := false
	err := l.read(ctx, cfg, func(e AuditEntry, pending uint64) bool {
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, e)
		return true
	})
	return out, more, err
}

// Export calls fn with every record stored on subjects matching filter
// (message.AuditPrefix and tokens, wildcards allowed) from since until
// until (zero: up to the last stored when Export began), oldest first.
func (l *AuditLog) Export(ctx context.Context, filter string, since, until time.Time, fn func(AuditEntry) error) error {
	cfg := jetstream.ConsumerConfig{FilterSubject: filter, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since}
	var ferr error
	err := l.read(ctx, cfg, func(e AuditEntry, _ uint64) bool {
		if !until.IsZero() && e.Time.After(until) {
			return false
		}
		ferr = fn(e)
		return ferr == nil
	})
	return errors.Join(err, ferr)
}

// readBatch is how many records one fetch asks for.
const readBatch = 256

// read runs an ephemeral consumer of cfg and calls fn with each record
// until fn returns false or none is pending: the records stored when read
// began, and perhaps a few more.
func (l *AuditLog) read(ctx context.Context, cfg jetstream.ConsumerConfig, fn func(AuditEntry, uint64) bool) error {
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage = true
	cfg.Replicas = 1
	cfg.InactiveThreshold = time.Minute
	var cons jetstream.Consumer
	err := Retry(ctx, ElectionWait, func(ctx context.Context) (err error) {
		cons, err = l.stream.CreateConsumer(ctx, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("read audit records %s: %w", cfg.FilterSubject, err)
	}
	name := cons.CachedInfo().Name
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tryTimeout)
		defer cancel()
		_ = l.stream.DeleteConsumer(dctx, name) // else it goes when inactive
	}()
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		fctx, cancel := context.WithTimeout(ctx, tryTimeout)
		batch, err := cons.Fetch(int(min(pending, readBatch)), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("read audit records %s: %w", cfg.FilterSubject, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				cancel()
				return fmt.Errorf("read audit records %s: %w", cfg.FilterSubject, err)
			}
			e := AuditEntry{StreamSeq: md.Sequence.Stream, Time: md.Timestamp, Raw: m.Data()}
			e.Record, e.Err = message.DecodeAudit(m.Data())
			e.Record.StreamSeq = e.StreamSeq
			pending = md.NumPending
			if !fn(e, pending) {
				cancel()
				return nil
			}
		}
		cancel()
		if got == 0 {
			// Records expire while read: those left are gone.
			return fmt.Errorf("read audit records %s: %d pending, none came: %w", cfg.FilterSubject, pending, batch.Error())
		}
	}
	return nil
}

// Last returns the latest record on subject.
func (l *AuditLog) Last(ctx context.Context, subject string) (message.AuditRecord, error) {
	var m *jetstream.RawStreamMsg
	err := Retry(ctx, ElectionWait, func(ctx context.Context) (err error) {
		m, err = l.stream.GetLastMsgForSubject(ctx, subject)
		return err
	})
	if err != nil {
		return message.AuditRecord{}, err
	}
	a, err := message.DecodeAudit(m.Data)
	a.StreamSeq = m.Sequence
	return a, err
}
