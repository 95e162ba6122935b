package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/rollout"
)

// SchemaID prefixes the $id of every schema; the file name follows.
const SchemaID = "https://github.com/canaryd/canaryd/rollout/message/schemas/"

// schemaSpec is one message and how its schema differs from the rule.
type schemaSpec struct {
	file, title, description string
	typ                      reflect.Type
	// closed forbids properties the type does not have: the daemon
	// decodes the deploy event strictly. Outgoing messages stay open, so
	// that a consumer's validation survives fields added later.
	closed bool
	// required overrides the rule that every field without omitempty is
	// required (it always is in what canaryd publishes): an incoming
	// message requires what its validation requires.
	required []string
}

var schemaSpecs = []schemaSpec{
	{file: "deploy-event.schema.json", title: "canaryd deploy event",
		description: "Starts an analysis: the body of a message on canary.deploy.<namespace>.<service> or of POST /api/v1/analyses. " +
			"id is the idempotency key (required on NATS; generated over HTTP when left out).",
		typ: reflect.TypeFor[Event](), closed: true, required: []string{"service", "namespace", "template"}},
	{file: "verdict.schema.json", title: "canaryd verdict",
		description: "A verdict with its evidence: GET /api/v1/analyses/{id}/verdict, the verdicts of GET /api/v1/analyses/{id}, " +
			"and the verdict of an audit record (canary.audit.<namespace>.<service>.<analysis_id>, message id <analysis_id>-v<seq>). " +
			"canary.verdict.<namespace>.<service> carries its summary (verdict-summary.schema.json).",
		typ: reflect.TypeFor[Verdict]()},
	{file: "verdict-summary.schema.json", title: "canaryd verdict summary",
		description: "Published on canary.verdict.<namespace>.<service> after every judgement, message id <analysis_id>-<seq>: " +
			"the decision, the reason (cut to fit, ending in \"" + TruncatedMark + "\") and each metric's classification, " +
			"at most " + strconv.Itoa(MaxSummaryBytes) + " bytes. The verdict with its evidence is the audit record <analysis_id>-v<seq> " +
			"(GET /api/v1/analyses/{id}/audit) and, while the analysis is kept, in GET /api/v1/analyses/{id}.",
		typ: reflect.TypeFor[VerdictSummary]()},
	{file: "approval-request.schema.json", title: "canaryd approval request",
		description: "Answers an approval gate: the body of POST /api/v1/analyses/{id}/approve or /deny, or a request on " +
			"canary.approval.<namespace>.<service> (with action, and analysis_id unless one analysis of the service waits).",
		typ: reflect.TypeFor[ApprovalRequest](), closed: true, required: []string{"by"}},
	{file: "approval-reply.schema.json", title: "canaryd approval reply",
		description: "The reply to a request on canary.approval.<namespace>.<service>.",
		typ:         reflect.TypeFor[ApprovalReply]()},
	{file: "audit-record.schema.json", title: "canaryd audit record",
		description: "One decision of the audit trail, on canary.audit.<namespace>.<service>.<analysis_id> in its own stream, " +
			"message id its id; never rewritten. A reader meets later versions (version above the one it knows) and reports them.",
		typ: reflect.TypeFor[AuditRecord]()},
	{file: "rejection.schema.json", title: "canaryd rejection",
		description: "Published on canary.rejected.<namespace>.<service> for a deploy event that cannot start an analysis.",
		typ:         reflect.TypeFor[Rejection]()},
}

// Schemas returns the JSON Schema (draft 2020-12) of every message, by
// file name, generated from the Go types: property names and optionality
// from their json tags, enumerations from packages rollout and analysis.
func Schemas() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, s := range schemaSpecs {
		root := schemaOf(s.typ)
		if s.closed {
			root["additionalProperties"] = false
		}
		if s.required != nil {
			root["required"] = s.required
		}
		root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		root["$id"] = SchemaID + s.file
		root["title"] = s.title
		root["description"] = s.description
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(root); err != nil {
			return nil, fmt.Errorf("schema %s: %w", s.file, err)
		}
		out[s.file] = b.Bytes()
	}
	return out, nil
}

// schemaOf returns the schema of a value of type t as encoding/json
// writes it (or, for the types with their own encoding, as they do).
func schemaOf(t reflect.Type) map[string]any {
	switch t {
	case reflect.TypeFor[analysis.Float]():
		return map[string]any{"description": "a number; null for NaN (not measured), \"+Inf\" or \"-Inf\" for infinities",
			"oneOf": []any{map[string]any{"type": "number"}, map[string]any{"type": "null"}, map[string]any{"enum": []string{"+Inf", "-Inf"}}}}
	case reflect.TypeFor[time.Time]():
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeFor[rollout.Verdict]():
		return map[string]any{"enum": rollout.Verdicts[:]}
	case reflect.TypeFor[rollout.Outcome]():
		var values []rollout.Outcome
		for _, o := range rollout.Outcomes {
			if o != rollout.Running { // left out instead (omitempty)
				values = append(values, o)
			}
		}
		return map[string]any{"enum": values}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Pointer:
		return schemaOf(t.Elem()) // omitempty leaves out a nil
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = schemaOf(f.Type)
			if o := strings.Split(opts, ","); !slices.Contains(o, "omitempty") && !slices.Contains(o, "omitzero") {
				required = append(required, name)
			}
		}
		s := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	panic("message: no schema for " + t.String())
}
