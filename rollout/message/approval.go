package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ApprovalPrefix prefixes the subject approvals arrive on:
// canary.approval.<namespace>.<service>.
const ApprovalPrefix = "canary.approval."

// ApprovalSubject is the subject of the approvals of service in namespace.
func ApprovalSubject(namespace, service string) string {
	return ApprovalPrefix + namespace + "." + service
}

// ApprovalNames returns the namespace and service tokens of an approval
// subject, or "" when it does not have exactly that shape.
func ApprovalNames(subject string) (namespace, service string) {
	rest, ok := strings.CutPrefix(subject, ApprovalPrefix)
	if !ok {
		return "", ""
	}
	ns, svc, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(svc, ".") {
		return "", ""
	}
	return ns, svc
}

// Actions an approval request can ask for.
const (
	ActionApprove = "approve"
	ActionDeny    = "deny"
)

// MaxApprovalBytes bounds an approval request.
const MaxApprovalBytes = 16 << 10

// ApprovalRequest answers an approval gate: the body of POST
// /api/v1/analyses/{id}/approve or .../deny (which name the action and
// the analysis in the path), or of a request on
// canary.approval.<namespace>.<service>, whose reply is an ApprovalReply.
type ApprovalRequest struct {
	// AnalysisID names the analysis (NATS only); left out, the one
	// analysis of the subject's service that waits for an approval.
	AnalysisID string `json:"analysis_id,omitempty"`
	// Action is approve or deny (NATS only: the path says it over HTTP).
	Action string `json:"action,omitempty"`
	// By is who answers; required.
	By string `json:"by"`
	// Reason is why, for the record.
	Reason string `json:"reason,omitempty"`
	// Step names the 1-based step answered; left out, the step waiting.
	// Naming it makes a retried request safe: it never answers the next
	// gate.
	Step int `json:"step,omitempty"`
}

// DecodeApprovalRequest parses one request strictly (unknown fields,
// trailing data, a missing by and an unknown action are errors).
func DecodeApprovalRequest(b []byte) (ApprovalRequest, error) {
	var a ApprovalRequest
	if len(b) > MaxApprovalBytes {
		return a, fmt.Errorf("approval request is %d bytes, more than the %d allowed", len(b), MaxApprovalBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("decode approval request: %w", err)
	}
	if dec.More() {
		return a, errors.New("decode approval request: trailing data after the JSON object")
	}
	var errs []string
	if strings.TrimSpace(a.By) == "" {
		errs = append(errs, "by is required: who approves or denies")
	} else if len(a.By) > 256 || !utf8.ValidString(a.By) {
		errs = append(errs, "by must be valid UTF-8 of at most 256 bytes")
	}
	if !utf8.ValidString(a.Reason) {
		errs = append(errs, "reason must be valid UTF-8")
	}
	switch a.Action {
	case "", ActionApprove, ActionDeny:
	default:
		errs = append(errs, fmt.Sprintf("action %q must be approve or deny", a.Action))
	}
	if a.AnalysisID != "" && !ValidID(a.AnalysisID) {
		errs = append(errs, fmt.Sprintf("analysis_id %q must match %s", a.AnalysisID, idRE))
	}
	if a.Step < 0 {
		errs = append(errs, fmt.Sprintf("step must be positive, got %d", a.Step))
	}
	if len(errs) > 0 {
		return a, errors.New("approval request: " + strings.Join(errs, "; "))
	}
	return a, nil
}

// ApprovalReply answers a request on canary.approval.<namespace>.<service>:
// the answer recorded, or the error.
type ApprovalReply struct {
	AnalysisID string `json:"analysis_id,omitempty"`
	// Verdict is the verdict the answer issued (its seq), or, Repeated,
	// the one the first answer issued.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Repeated says the same answer was given before: nothing changed.
	Repeated bool   `json:"repeated,omitempty"`
	Error    string `json:"error,omitempty"`
}
