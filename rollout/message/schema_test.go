package message

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
)

var update = flag.Bool("update", false, "rewrite schemas/ from the types")

// TestSchemas holds the published schemas to the types: a field added,
// renamed or made optional changes the generated schema, and the checked-in
// file must follow (go test ./rollout/message -run TestSchemas -update).
func TestSchemas(t *testing.T) {
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("schemas", "*.json"))
	for _, f := range files {
		if _, ok := schemas[filepath.Base(f)]; !ok {
			t.Errorf("%s is no message's schema", f)
		}
	}
	for name, want := range schemas {
		path := filepath.Join("schemas", name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (generate it: go test ./rollout/message -run TestSchemas -update)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from the schema its type generates; rerun with -update and commit it", path)
		}
	}
}

// TestMessagesMatchSchemas validates what canaryd writes (random verdicts
// and their summaries through the fast encoders, rejections, events)
// against the schemas.
func TestMessagesMatchSchemas(t *testing.T) {
	schemas, err := Schemas()
	if err != nil {
		t.Fatal(err)
	}
	load := func(name string) map[string]any {
		var s map[string]any
		if err := json.Unmarshal(schemas[name], &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	verdict, event, rejection := load("verdict.schema.json"), load("deploy-event.schema.json"), load("rejection.schema.json")
	summary := load("verdict-summary.schema.json")
	r := rand.New(rand.NewPCG(3, 5))
	for i := range 500 {
		var v Verdict
		fillRandom(t, r, reflect.ValueOf(&v).Elem())
		v.Verdict = []Verdict{{Verdict: "promote"}, {Verdict: "hold"}, {Verdict: "rollback"}}[i%3].Verdict
		v.Outcome = ""
		if v.Metrics == nil {
			v.Metrics = []analysis.MetricResult{} // as NewVerdict makes it
		}
		if i%2 == 0 {
			v.Final, v.Outcome = true, "rolled_back"
		}
		b, err := v.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(verdict, decode(t, b), "verdict"); err != nil {
			t.Fatalf("verdict %d: %v\n%s", i, err, b)
		}
		sum := v.Summary()
		if b, err = sum.Encode(); err != nil {
			t.Fatal(err)
		}
		if err := validate(summary, decode(t, b), "summary"); err != nil {
			t.Fatalf("summary %d: %v\n%s", i, err, b)
		}
	}
	e := Event{ID: "e1", Service: "web", Namespace: "prod", Template: "web", Variables: map[string]string{"cluster": "eu-1"}}
	e.Canary.Version = "v2"
	b, _ := json.Marshal(e)
	if err := validate(event, decode(t, b), "event"); err != nil {
		t.Errorf("event: %v\n%s", err, b)
	}
	if err := validate(event, decode(t, []byte(`{"service":"web","namespace":"prod","template":"web","colour":"blue"}`)), "event"); err == nil {
		t.Error("the event schema accepts an unknown field, which the daemon rejects")
	}
	rej := NewRejection("canary.deploy.prod.web", []byte(`{"id":1}`), nil, fmt.Errorf("decode event: bad"), time.Unix(0, 0))
	b, _ = json.Marshal(rej)
	if err := validate(rejection, decode(t, b), "rejection"); err != nil {
		t.Errorf("rejection: %v\n%s", err, b)
	}
}

// TestEventSchemaRequiresWhatValidationRequires holds the deploy event
// schema's required fields to Validate: an event lacking one is invalid.
func TestEventSchemaRequiresWhatValidationRequires(t *testing.T) {
	cfg, err := configs.Load("templates:\n  - name: web\n    interval: 1m\n    metrics:\n      - name: up\n        query: 'up{service=\"{{.Service}}\"}'\n")
	if err != nil {
		t.Fatal(err)
	}
	full := `{"id":"e1","service":"web","namespace":"prod","template":"web","canary":{"version":"v2"}}`
	e, err := DecodeEvent([]byte(full))
	if err != nil || e.Validate(cfg) != nil {
		t.Fatalf("the full event does not validate: %v, %v", err, e.Validate(cfg))
	}
	for _, spec := range schemaSpecs {
		if spec.typ != reflect.TypeFor[Event]() {
			continue
		}
		for _, field := range spec.required {
			var m map[string]any
			_ = json.Unmarshal([]byte(full), &m)
			delete(m, field)
			b, _ := json.Marshal(m)
			e, err := DecodeEvent(b)
			if err == nil {
				err = e.Validate(cfg)
			}
			if err == nil {
				t.Errorf("an event without %s validates, but the schema requires it", field)
			}
		}
	}
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// validate checks v against the subset of JSON Schema that Schemas
// writes: type, properties, required, additionalProperties, items,
// minItems, maxItems, enum and oneOf.
func validate(s map[string]any, v any, at string) error {
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			if validate(a.(map[string]any), v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %v matches %d of oneOf", at, v, n)
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v not in %v", at, v, enum)
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "":
	case "null":
		if v != nil {
			return fmt.Errorf("%s: %v is not null", at, v)
		}
	case "string", "boolean", "number", "integer":
		ok := false
		switch x := v.(type) {
		case string:
			ok = typ == "string"
		case bool:
			ok = typ == "boolean"
		case float64:
			ok = typ == "number" || typ == "integer" && x == math.Trunc(x)
		}
		if !ok {
			return fmt.Errorf("%s: %v is not a %s", at, v, typ)
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %v is not an array", at, v)
		}
		if n, ok := s["minItems"].(float64); ok && float64(len(a)) < n {
			return fmt.Errorf("%s: %d items, want at least %v", at, len(a), n)
		}
		if n, ok := s["maxItems"].(float64); ok && float64(len(a)) > n {
			return fmt.Errorf("%s: %d items, want at most %v", at, len(a), n)
		}
		for i, x := range a {
			if err := validate(s["items"].(map[string]any), x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "object":
		o, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %v is not an object", at, v)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := o[r.(string)]; !ok {
				return fmt.Errorf("%s: lacks %s", at, r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, x := range o {
			ps, ok := props[k].(map[string]any)
			if !ok {
				switch ap := s["additionalProperties"].(type) {
				case bool:
					if !ap {
						return fmt.Errorf("%s: unknown property %s", at, k)
					}
					continue
				case map[string]any:
					ps = ap
				default:
					continue
				}
			}
			if err := validate(ps, x, at+"."+strings.ReplaceAll(k, ".", "_")); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%s: schema type %q not supported here", at, typ)
	}
	return nil
}
