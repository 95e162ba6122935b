package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs/spec"
)

// Subjects of canaryd's messages. Deploy events arrive on
// canary.deploy.<namespace>.<service>; verdicts and rejections leave on
// canary.verdict.<namespace>.<service> and canary.rejected.<namespace>.<service>.
const (
	DeployPrefix   = "canary.deploy."
	VerdictPrefix  = "canary.verdict."
	RejectedPrefix = "canary.rejected."
)

// MaxEventBytes bounds a deploy event, over NATS and HTTP alike.
const MaxEventBytes = 1 << 20

// Event is a deploy event: the JSON body of a message on
// canary.deploy.<namespace>.<service>, or of POST /api/v1/analyses. ID is
// the idempotency key: a second event with the same ID starts nothing.
type Event struct {
	ID        string            `json:"id"`
	Service   string            `json:"service"`
	Namespace string            `json:"namespace"`
	Template  string            `json:"template"`
	Baseline  analysis.Version  `json:"baseline"`
	Canary    analysis.Version  `json:"canary"`
	Variables map[string]string `json:"variables,omitempty"`
}

// Target returns what the event's analysis compares.
func (e *Event) Target() analysis.Target {
	return analysis.Target{
		Service:   e.Service,
		Namespace: e.Namespace,
		Baseline:  e.Baseline,
		Canary:    e.Canary,
		Vars:      e.Variables,
	}
}

var (
	// idRE keeps ids usable as key-value keys and message ids.
	idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	// nameRE keeps names usable as subject tokens (Kubernetes names fit).
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,252}$`)
)

// ValidID reports whether id can name an analysis: it is a key-value key
// and a message id.
func ValidID(id string) bool { return idRE.MatchString(id) }

// ValidName reports whether s is a valid service or namespace name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// DecodeEvent parses one event strictly: unknown fields and trailing data
// are errors.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	if len(b) > MaxEventBytes {
		return e, fmt.Errorf("event is %d bytes, more than the %d allowed", len(b), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("decode event: %w", err)
	}
	if dec.More() {
		return e, errors.New("decode event: trailing data after the JSON object")
	}
	return e, nil
}

// Templates finds a config's analysis templates by name (nil for none):
// *configs.Config is one. Taking it rather than the config keeps this
// package, and the consumers that import it, free of the config's loader
// and its HTTP client settings.
type Templates interface {
	Template(name string) *spec.Template
}

// Validate checks e against cfg: names, the template, and that every query
// of the template renders with the event's versions and variables.
func (e *Event) Validate(cfg Templates) error {
	var errs []string
	if e.ID != "" && !idRE.MatchString(e.ID) {
		errs = append(errs, fmt.Sprintf("id %q must match %s", e.ID, idRE))
	}
	if e.ID == "" {
		errs = append(errs, "id is required")
	}
	if !nameRE.MatchString(e.Service) {
		errs = append(errs, fmt.Sprintf("service %q must match %s", e.Service, nameRE))
	}
	if !nameRE.MatchString(e.Namespace) {
		errs = append(errs, fmt.Sprintf("namespace %q must match %s", e.Namespace, nameRE))
	}
	for _, v := range []struct{ field, value string }{{"baseline.version", e.Baseline.Version}, {"canary.version", e.Canary.Version}} {
		if !safeValue(v.value) {
			errs = append(errs, fmt.Sprintf("%s %q must not hold quotes, backslashes or control characters (it goes into PromQL strings)", v.field, v.value))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Variables)) {
		if !safeValue(e.Variables[k]) {
			errs = append(errs, fmt.Sprintf("variables.%s %q must not hold quotes, backslashes or control characters (it goes into PromQL strings)", k, e.Variables[k]))
		}
	}
	var tmpl *spec.Template
	switch {
	case e.Template == "":
		errs = append(errs, "template is required")
	default:
		if tmpl = cfg.Template(e.Template); tmpl == nil {
			errs = append(errs, fmt.Sprintf("template %q is not in the config", e.Template))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	now := time.Unix(0, 0)
	if _, err := analysis.Queries(tmpl, e.Target(), 0, now, now.Add(time.Duration(tmpl.Interval)), nil, nil); err != nil {
		return fmt.Errorf("template %q: %w", e.Template, err)
	}
	return nil
}

// safeValue reports whether v can be put between the quotes of a PromQL
// string as it is: a quote or backslash would end or escape the string and
// let an event rewrite its template's queries.
func safeValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool {
		return r == '"' || r == '\'' || r == '`' || r == '\\' || unicode.IsControl(r)
	})
}

// Rejection is published on canary.rejected.<namespace>.<service> for an
// event that cannot start an analysis.
type Rejection struct {
	EventID    string    `json:"event_id,omitempty"`
	Service    string    `json:"service,omitempty"`
	Namespace  string    `json:"namespace,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	Reason     string    `json:"reason"`
	Event      string    `json:"event,omitempty"` // the raw event, cut at 4 KiB
	RejectedAt time.Time `json:"rejected_at"`
}

// DeployNames returns the namespace and service tokens of a deploy
// subject, or "" when it does not have exactly that shape.
func DeployNames(subject string) (namespace, service string) {
	rest, ok := strings.CutPrefix(subject, DeployPrefix)
	if !ok {
		return "", ""
	}
	ns, svc, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(svc, ".") {
		return "", ""
	}
	return ns, svc
}

// PublishedOn is the subject r is published on: the deploy subject's
// names when they are usable, else the event's, else "_".
func (r *Rejection) PublishedOn() string {
	ns, svc := DeployNames(r.Subject)
	if !nameRE.MatchString(ns) || !nameRE.MatchString(svc) {
		ns, svc = r.Namespace, r.Service
	}
	if !nameRE.MatchString(ns) {
		ns = "_"
	}
	if !nameRE.MatchString(svc) {
		svc = "_"
	}
	return RejectedPrefix + ns + "." + svc
}

// NewRejection returns the rejection of the event raw, received on
// subject (decoded as e, nil when it did not decode), for reason; the raw
// event is kept, cut at 4 KiB and made valid UTF-8.
func NewRejection(subject string, raw []byte, e *Event, reason error, now time.Time) *Rejection {
	r := &Rejection{Subject: subject, Reason: reason.Error(), RejectedAt: now.UTC()}
	if e != nil {
		r.EventID, r.Service, r.Namespace = e.ID, e.Service, e.Namespace
	}
	const maxRaw = 4 << 10
	if len(raw) > maxRaw {
		raw = raw[:maxRaw]
	}
	r.Event = strings.ToValidUTF8(string(raw), "\uFFFD")
	return r
}
