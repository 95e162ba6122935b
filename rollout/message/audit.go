package message

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/canaryd/canaryd/rollout"
)

// AuditPrefix prefixes the subjects of audit records:
// canary.audit.<namespace>.<service>.<analysis_id>, a subject per
// analysis, so that an analysis' trail is read without scanning others'.
const AuditPrefix = "canary.audit."

// AuditSubject is the subject of the audit records of analysis id (of
// service in namespace).
func AuditSubject(namespace, service, id string) string {
	return AuditPrefix + namespace + "." + service + "." + id
}

// AuditFilter is the subject filter of the audit records of analysis id,
// whatever its service: what a reader that only knows the id reads.
func AuditFilter(id string) string { return AuditPrefix + "*.*." + id }

// AuditVersion is the version of the audit record's JSON this canaryd
// writes and reads. A reader meeting a later version reports the record
// (ErrAuditVersion) and goes on: records are never rewritten, so a trail
// outlives the daemons that wrote it.
const AuditVersion = 1

// ErrAuditVersion marks an audit record written by a later canaryd.
var ErrAuditVersion = errors.New("audit record of a later version")

// Audit actions: what a record says was decided.
const (
	// AuditVerdict is a judgement's verdict (promote, hold, rollback).
	AuditVerdict = "verdict"
	// AuditApprove and AuditDeny are a person's answer at an approval
	// gate, with the verdict it issued.
	AuditApprove = "approve"
	AuditDeny    = "deny"
	// AuditAbort is an abort (POST /api/v1/analyses/{id}/abort, a
	// Flagger rollback).
	AuditAbort = "abort"
	// AuditExpire is a final verdict time made: the analysis' lifetime
	// ran out, or an approval gate's timeout passed.
	AuditExpire = "expire"
	// AuditTakeover is a replica taking an analysis over from one that
	// stopped or died.
	AuditTakeover = "takeover"
	// AuditTemplateChanged is a config reload that changed the template
	// an analysis is judged with.
	AuditTemplateChanged = "template_changed"
)

// Actor kinds.
const (
	ActorReplica = "replica" // a canaryd replica, by instance id
	ActorPerson  = "person"  // who answered an approval gate (by)
)

// Actor is who made a decision.
type Actor struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// AuditQuery is one query as the judgement sent it.
type AuditQuery struct {
	Metric string `json:"metric"`
	Role   string `json:"role"` // baseline, canary, or service (an SLO's, for the error budget)
	Expr   string `json:"expr"`
	// Start, End and Step are the range query's: End is the window's end
	// (the telemetry lag before the query was made).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Step  string    `json:"step"`
}

// AuditSamples are the samples one metric's judgement saw, per role.
type AuditSamples struct {
	Metric   string `json:"metric"`
	Baseline int    `json:"baseline"`
	Canary   int    `json:"canary"`
}

// AuditWindow is the judged window: [Start, End].
type AuditWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// AuditRecord is one decision of the audit trail, published on
// AuditSubject under message id ID and never rewritten: a record
// published twice (a retry, a resuming replica) is stored once.
type AuditRecord struct {
	// Version is the record's format, AuditVersion when written here.
	Version int `json:"version"`
	// ID is the record's message id: <analysis_id>-v<seq> for a
	// verdict's record, <analysis_id>-takeover-<seq>-<replica> and
	// <analysis_id>-template-<seq>-<hash> for the others.
	ID         string    `json:"id"`
	AnalysisID string    `json:"analysis_id"`
	Service    string    `json:"service"`
	Namespace  string    `json:"namespace"`
	Action     string    `json:"action"`
	Actor      Actor     `json:"actor"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason"`
	// Template names the analysis' template and TemplateHash its settings
	// (spec.Template.Hash) when the decision was made (a takeover carries
	// on the hash of the record before it: what the analysis was judged
	// with); PreviousHash is the hash before a template_changed.
	Template     string `json:"template"`
	TemplateHash string `json:"template_hash,omitempty"`
	PreviousHash string `json:"previous_template_hash,omitempty"`
	// PreviousOwner is the replica a takeover took the analysis from
	// (empty: it had been released).
	PreviousOwner string `json:"previous_owner,omitempty"`
	// Window, Queries and Samples are a judgement's inputs: the window
	// judged, the queries as sent and the samples each role gave.
	Window  *AuditWindow   `json:"window,omitempty"`
	Queries []AuditQuery   `json:"queries,omitempty"`
	Samples []AuditSamples `json:"samples,omitempty"`
	// Verdict is the verdict the decision issued, with its evidence.
	Verdict *Verdict `json:"verdict,omitempty"`
	// StreamSeq is the record's sequence in the audit stream, set by
	// readers (a page's cursor), never stored.
	StreamSeq uint64 `json:"stream_seq,omitempty"`
}

// VerdictAuditID is the message id of the record of verdict seq of
// analysis id.
func VerdictAuditID(id string, seq int) string { return id + "-v" + strconv.Itoa(seq) }

// AuditActionOf names what verdict v decided.
func AuditActionOf(v *Verdict) string {
	switch {
	case v.Approval != nil && v.Approval.Approved:
		return AuditApprove
	case v.Approval != nil:
		return AuditDeny
	case v.Outcome == rollout.Aborted:
		return AuditAbort
	case v.Outcome == rollout.Expired || v.Final && rollout.EndedByTime(v.Reason):
		return AuditExpire
	}
	return AuditVerdict
}

// Encode returns a's JSON, as json.Marshal writes it, with verdict, the
// verdict's JSON as message.Verdict.AppendJSON wrote it, in place of
// a.Verdict: a verdict is encoded once, for the analysis' record and the
// audit trail (TestAuditEncode holds the two equal); the verdict stream
// carries its summary.
func (a *AuditRecord) Encode(verdict []byte) ([]byte, error) {
	c := *a
	c.Verdict, c.StreamSeq = nil, 0
	b, err := json.Marshal(&c)
	if err != nil || verdict == nil {
		return b, err
	}
	// Verdict is the last field written (StreamSeq is zero).
	b = append(b[:len(b)-1], `,"verdict":`...)
	b = append(b, verdict...)
	return append(b, '}'), nil
}

// PublishedOn is the subject a is published on.
func (a *AuditRecord) PublishedOn() string {
	return AuditSubject(a.Namespace, a.Service, a.AnalysisID)
}

// DecodeAudit decodes one stored record. A record of a later version is
// decoded as far as this version knows its fields and returned with
// ErrAuditVersion; a record that is not JSON returns another error.
func DecodeAudit(b []byte) (AuditRecord, error) {
	var a AuditRecord
	if err := json.Unmarshal(b, &a); err != nil {
		var v struct {
			Version int `json:"version"`
		}
		if json.Unmarshal(b, &v) == nil && v.Version > AuditVersion {
			return a, fmt.Errorf("%w: version %d, this canaryd reads up to %d", ErrAuditVersion, v.Version, AuditVersion)
		}
		return a, fmt.Errorf("decode audit record: %w", err)
	}
	if a.Version > AuditVersion {
		return a, fmt.Errorf("%w: version %d, this canaryd reads up to %d", ErrAuditVersion, a.Version, AuditVersion)
	}
	if a.Version < 1 {
		return a, fmt.Errorf("decode audit record: version %d, want 1 to %d", a.Version, AuditVersion)
	}
	return a, nil
}
