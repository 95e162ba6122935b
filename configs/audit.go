package configs

import (
	"regexp"
	"time"

	"github.com/prometheus/common/model"
)

// DefaultAuditStream is the name of the audit trail's stream.
const DefaultAuditStream = "CANARY_AUDIT"

// DefaultAuditRetention is how long audit records are kept by default.
const DefaultAuditRetention = model.Duration(90 * 24 * time.Hour)

// streamNameRE is what a stream name may hold.
var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// minAuditRetention is the least retention: records must outlive the
// stream's duplicate window and a daemon's restart.
const minAuditRetention = model.Duration(time.Hour)

// Audit configures the audit trail: a JetStream stream of its own
// (canary.audit.<namespace>.<service>.<analysis_id>) holding one record
// per decision, kept for Retention whatever the verdict stream keeps (the
// verdicts' evidence is there, the verdict stream carries summaries). Its
// replicas follow global.nats.replicas.
type Audit struct {
	// Stream is the stream's name; default DefaultAuditStream.
	Stream string `yaml:"stream,omitempty"`
	// Retention is how long a record is kept; default
	// DefaultAuditRetention, at least an hour.
	Retention model.Duration `yaml:"retention,omitempty"`
}

// StreamOrDefault returns the audit stream's name.
func (a *Audit) StreamOrDefault() string {
	if a.Stream == "" {
		return DefaultAuditStream
	}
	return a.Stream
}

// RetentionOrDefault returns how long audit records are kept.
func (a *Audit) RetentionOrDefault() time.Duration {
	if a.Retention == 0 {
		return time.Duration(DefaultAuditRetention)
	}
	return time.Duration(a.Retention)
}

func (a *Audit) validate(path string, add func(path, format string, args ...any)) {
	if a.Retention != 0 && a.Retention < minAuditRetention {
		add(path+".retention", "must be at least %s, got %s", minAuditRetention, a.Retention)
	}
	if a.Stream != "" && !streamNameRE.MatchString(a.Stream) {
		add(path+".stream", "%q must be letters, digits, - and _ only", a.Stream)
	}
}
