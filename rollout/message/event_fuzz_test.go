package message

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/canaryd/canaryd/analysis"
	"github.com/canaryd/canaryd/configs"
)

// fuzzEventConfig has a template using every field an event can fill in a
// query: versions, service, namespace and a variable.
const fuzzEventConfig = `
templates:
  - name: web
    interval: 1m
    metrics:
      - name: latency
        query: 'latency_seconds{service="{{.Service}}",namespace="{{.Namespace}}",version="{{.Version}}",cluster="{{.Vars.cluster}}"}'
`

// FuzzDecodeEvent feeds arbitrary bytes to the deploy-event decoder and,
// when they decode, to the validation against a config. Neither may panic;
// an event that validates must be usable as it is: its id is a key and
// message id, its rejection subject is a valid subject, it survives a JSON
// round trip unchanged, and every query it renders is PromQL in which its
// version and variable stay label values (no query injection).
func FuzzDecodeEvent(f *testing.F) {
	cfg, err := configs.Load(fuzzEventConfig)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		`{"id":"e1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"},"variables":{"cluster":"eu-1"}}`,
		`{"id":"e1","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1","labels":{"track":"stable"}},"canary":{"version":"v2","labels":{"track":"canary"}},"variables":{"cluster":"eu-1"}}`,
		`{"id":"e2","service":"web","namespace":"prod","template":"nope","baseline":{"version":"v1"},"canary":{"version":"v2"}}`,
		`{"id":"e3","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"}}`,
		`{"id":"a b","service":"web","namespace":"prod","template":"web"}`,
		`{"service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"},"variables":{"cluster":"x"}}`,
		`{"id":"e4","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2\"} or vector(1) or x{a=\""},"variables":{"cluster":"eu-1"}}`,
		`{"id":"e5","service":"web","namespace":"prod","template":"web","baseline":{"version":"v1"},"canary":{"version":"v2"},"variables":{"cluster":"\\"}}`,
		`{"id":"e1","colour":"blue"}`,
		`{"id":"e1"} {"id":"e2"}`,
		`{"id": "x",`,
		`null`,
		`[]`,
		`"\ud800"`,
		``,
	} {
		f.Add([]byte(seed))
	}
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			rej := NewRejection("canary.deploy.prod.web", b, &e, err, time.Unix(0, 0))
			checkRejection(t, rej)
			return
		}
		if err := e.Validate(cfg); err != nil {
			if err.Error() == "" {
				t.Fatal("validation failed with an empty reason")
			}
			checkRejection(t, NewRejection("canary.deploy."+e.Namespace+"."+e.Service, b, &e, err, time.Unix(0, 0)))
			return
		}
		if !idRE.MatchString(e.ID) || !nameRE.MatchString(e.Service) || !nameRE.MatchString(e.Namespace) || cfg.Template(e.Template) == nil {
			t.Fatalf("a valid event with unusable names: %+v", e)
		}
		again, err := json.Marshal(&e)
		if err != nil {
			t.Fatalf("re-encode a valid event: %v", err)
		}
		e2, err := DecodeEvent(again)
		if err != nil || !reflect.DeepEqual(normalEvent(e), normalEvent(e2)) {
			t.Fatalf("a valid event does not survive a JSON round trip: %v\n%+v\n%+v", err, e, e2)
		}
		now := time.Unix(0, 0)
		qs, err := analysis.Queries(cfg.Template(e.Template), e.Target(), 0, now, now.Add(time.Minute), nil, nil)
		if err != nil {
			t.Fatalf("a valid event's queries do not render: %v", err)
		}
		for _, q := range qs {
			want := map[string]string{"service": e.Service, "namespace": e.Namespace, "version": e.Baseline.Version, "cluster": e.Variables["cluster"]}
			if q.Role == "canary" {
				want["version"] = e.Canary.Version
			}
			checkQuery(t, p, q.Expr, want)
		}
	})
}

// normalEvent maps empty maps to nil: JSON cannot tell them apart once
// omitempty drops them.
func normalEvent(e Event) Event {
	if len(e.Variables) == 0 {
		e.Variables = nil
	}
	for _, v := range []*analysis.Version{&e.Baseline, &e.Canary} {
		if len(v.Labels) == 0 {
			v.Labels = nil
		}
	}
	return e
}

// checkRejection asserts that a rejection can be published as it is.
func checkRejection(t *testing.T, r *Rejection) {
	t.Helper()
	if r.Reason == "" {
		t.Fatal("rejection without a reason")
	}
	if !utf8.ValidString(r.Event) || len(r.Event) > 3*(4<<10) {
		t.Fatalf("rejection's raw event is %d bytes or not UTF-8", len(r.Event))
	}
	subj := r.PublishedOn()
	tokens := strings.Split(subj, ".")
	if len(tokens) != 4 || tokens[0]+"."+tokens[1]+"." != RejectedPrefix {
		t.Fatalf("rejection subject %q", subj)
	}
	for _, tok := range tokens[2:] {
		if tok != "_" && !nameRE.MatchString(tok) {
			t.Fatalf("rejection subject %q has the token %q", subj, tok)
		}
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("encode rejection: %v", err)
	}
}

// checkQuery asserts that expr is PromQL with one selector of
// latency_seconds whose equality matchers carry exactly want.
func checkQuery(t *testing.T, p parser.Parser, expr string, want map[string]string) {
	t.Helper()
	ast, err := p.ParseExpr(expr)
	if err != nil {
		t.Fatalf("a valid event renders a query that is not PromQL: %v\n%s", err, expr)
	}
	sels := parser.ExtractSelectors(ast)
	if len(sels) != 1 {
		t.Fatalf("a valid event renders %d selectors, want 1 (query injection?):\n%s", len(sels), expr)
	}
	got := map[string]string{}
	for _, m := range sels[0] {
		if m.Name == "__name__" {
			if m.Value != "latency_seconds" {
				t.Fatalf("the event changed the metric name to %q:\n%s", m.Value, expr)
			}
			continue
		}
		got[m.Name] = m.Value
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the event's values escaped their label matchers (query injection):\ngot  %q\nwant %q\n%s", got, want, expr)
	}
}
