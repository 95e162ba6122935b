package spec

import (
	"strings"
	"testing"

	"github.com/canaryd/canaryd/metrics/companion"
)

func TestQueryTemplateRender(t *testing.T) {
	data := QueryData{
		Service:   "checkout",
		Namespace: "shop",
		Role:      "canary",
		Version:   "v2.3.1",
		Interval:  "1m",
		Vars:      map[string]string{"region": "eu-west-1", "tier": ""},
	}
	tests := []struct {
		name, text, want string
	}{
		{
			"every field",
			`sum(rate(http_requests_total{service="{{.Service}}",namespace="{{.Namespace}}",track="{{.Role}}",version="{{.Version}}",region="{{.Vars.region}}"}[{{.Interval}}]))`,
			`sum(rate(http_requests_total{service="checkout",namespace="shop",track="canary",version="v2.3.1",region="eu-west-1"}[1m]))`,
		},
		{"root variable", `up{service="{{$.Service}}"}`, `up{service="checkout"}`},
		{"variable present but empty", `up{tier="{{.Vars.tier}}"}`, `up{tier=""}`},
		{"optional field guarded by if", `up{service="{{.Service}}"{{if .Vars.tier}},tier="{{.Vars.tier}}"{{end}}}`, `up{service="checkout"}`},
		{"with changes dot", `{{with .Vars}}up{region="{{.region}}"}{{end}}`, `up{region="eu-west-1"}`},
		{"no actions", `sum(up)`, `sum(up)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qt, err := ParseQueryTemplate("latency_p99", tt.text)
			if err != nil {
				t.Fatalf("ParseQueryTemplate: %v", err)
			}
			got, err := qt.Render(data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Errorf("Render =\n%s\nwant\n%s", got, tt.want)
			}
			if qt.Metric() != "latency_p99" || qt.String() != tt.text {
				t.Errorf("Metric, String = %q, %q", qt.Metric(), qt.String())
			}
		})
	}
}

func TestQueryTemplateParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"empty", "  ", []string{`metric "error_rate"`, "empty query"}},
		{"syntax", `up{service="{{.Service"}`, []string{`metric "error_rate"`, "parse query template"}},
		{"unknown field", `up{service="{{.Servce}}"}`, []string{`metric "error_rate"`, "{{.Servce}}", "does not exist", ".Service"}},
		{"unknown root field", `up{service="{{$.Team}}"}`, []string{`metric "error_rate"`, "{{.Team}}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQueryTemplate("error_rate", tt.text)
			if err == nil {
				t.Fatal("ParseQueryTemplate succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestQueryTemplateRenderErrors(t *testing.T) {
	full := QueryData{Service: "checkout", Namespace: "shop", Role: "baseline", Version: "v1", Interval: "1m",
		Vars: map[string]string{"region": "eu", "tier": "web"}}
	tests := []struct {
		name, text string
		data       QueryData
		want       []string
	}{
		{"missing variable", `up{team="{{.Vars.team}}"}`, full,
			[]string{`metric "cpu"`, "{{.Vars.team}}", `no variable "team"`, "it has: region, tier"}},
		{"missing variable, none given", `up{team="{{.Vars.team}}"}`, QueryData{Service: "s"},
			[]string{`metric "cpu"`, `no variable "team"`, "it has none"}},
		{"missing variable in if", `up{{if .Vars.team}}{x="1"}{{end}}`, full,
			[]string{`metric "cpu"`, `no variable "team"`}},
		{"empty version", `up{version="{{.Version}}"}`, QueryData{Service: "s", Role: "canary"},
			[]string{`metric "cpu"`, "{{.Version}}", "Version is empty"}},
		{"empty role", `up{track="{{.Role}}"}`, QueryData{Service: "s"},
			[]string{`metric "cpu"`, "Role is empty"}},
		{"missing key inside with", `{{with .Vars}}up{team="{{.team}}"}{{end}}`, full,
			[]string{`metric "cpu"`, `"team"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qt, err := ParseQueryTemplate("cpu", tt.text)
			if err != nil {
				t.Fatalf("ParseQueryTemplate: %v", err)
			}
			got, err := qt.Render(tt.data)
			if err == nil {
				t.Fatalf("Render = %q, want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestQueryTemplatePlainPath checks the reflection-free rendering of plain
// templates against text/template's, and that every other template takes
// text/template's path.
func TestQueryTemplatePlainPath(t *testing.T) {
	data := QueryData{Service: "check\"out", Namespace: "shop", Role: "canary", Version: "v2 <&>", Interval: "1m",
		Vars: map[string]string{"region": "eu-west-1", "tier": "", "é": "ü"}}
	tests := []struct {
		text  string
		plain bool
	}{
		{`sum(rate(x{service="{{.Service}}",ns="{{.Namespace}}",track="{{.Role}}",v="{{.Version}}",r="{{.Vars.region}}"}[{{.Interval}}]))`, true},
		{`up{service="{{$.Service}}",tier="{{$.Vars.tier}}"}`, true},
		{`  {{- .Service -}}  x {{.Vars.é}}`, true},
		{`sum(up)`, true},
		{`{{.Service}}{{.Service}}`, true},
		{`up{service="{{.Service}}"{{if .Vars.tier}},tier="{{.Vars.tier}}"{{end}}}`, false},
		{`{{with .Vars}}up{region="{{.region}}"}{{end}}`, false},
		{`up{s={{printf "%q" .Service}}}`, false},
		{`up{s="{{.Service | print}}"}`, false},
		{`{{/* note */}}up`, true}, // the parser drops comments
		{`{{"lit"}}`, false},
		{`{{$x := .Service}}{{$x}}`, false},
	}
	for _, tt := range tests {
		qt, err := ParseQueryTemplate("m", tt.text)
		if err != nil {
			t.Fatalf("%s: %v", tt.text, err)
		}
		if (qt.plain != nil) != tt.plain {
			t.Errorf("%s: plain path %v, want %v", tt.text, qt.plain != nil, tt.plain)
		}
		got, err := qt.Render(data)
		if err != nil {
			t.Fatalf("%s: %v", tt.text, err)
		}
		var want strings.Builder
		if err := qt.tmpl.Execute(&want, data); err != nil {
			t.Fatalf("%s: text/template: %v", tt.text, err)
		}
		if got != want.String() {
			t.Errorf("%s:\n got %s\nwant %s", tt.text, got, want.String())
		}
	}
}

func BenchmarkQueryTemplateRender(b *testing.B) {
	const text = `sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Interval}}])) / sum(rate(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Interval}}]))`
	qt, err := ParseQueryTemplate("m", text)
	if err != nil {
		b.Fatal(err)
	}
	d := QueryData{Service: "checkout", Namespace: "shop", Role: "canary", Version: "v2", Interval: "1m"}
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := qt.Render(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The query and its freshness companion, as every judgement renders
	// them.
	b.Run("plain-freshness", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, f, err := qt.RenderFreshness(companion.Of, d); err != nil || f == "" {
				b.Fatal(f, err)
			}
		}
	})
	b.Run("text-template", func(b *testing.B) {
		slow, err := ParseQueryTemplate("m", text)
		if err != nil {
			b.Fatal(err)
		}
		slow.plain = nil
		b.ReportAllocs()
		for b.Loop() {
			if _, err := slow.Render(d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRenderFreshnessPlan holds the concatenated companion of plain
// templates (companion.Of: the test imports package metrics/companion,
// spec itself does not) to the one parsed from each rendered query,
// values that need escaping included, and checks that templates whose
// fields are not label values fall back to parsing.
func TestRenderFreshnessPlan(t *testing.T) {
	tests := []struct {
		text     string
		planned  bool
		wantNone bool
	}{
		{`sum(rate(req{service="{{.Service}}",ns='{{.Namespace}}',track="{{.Role}}"}[{{.Interval}}])) / sum(rate(req{service="{{.Service}}"}[1m]))`, true, false},
		{"histogram_quantile(0.9, sum by (le) (rate(lat_bucket{v=`{{.Version}}`,team=\"{{.Vars.team}}\"}[1m])))", true, false},
		{`{{.Vars.metric}}{service="{{.Service}}"}`, true, false}, // a metric name: concatenates as well
		{`x{service="{{.Service}}"} > {{.Vars.limit}}`, false, false},
		{`vector({{.Vars.limit}})`, false, true},
	}
	datas := []QueryData{
		{Service: "checkout", Namespace: "shop", Role: "canary", Version: "v2", Interval: "1m", Vars: map[string]string{"team": "a", "metric": "up", "limit": "5"}},
		{Service: `odd"one\`, Namespace: "shop", Role: "baseline", Version: "v1", Interval: "1m", Vars: map[string]string{"team": "b\n", "metric": "up", "limit": "7"}},
		{Service: "other", Namespace: "x", Role: "canary", Version: "v3", Interval: "30s", Vars: map[string]string{"team": "c", "metric": "down", "limit": "1"}},
	}
	for _, tt := range tests {
		qt, err := ParseQueryTemplate("m", tt.text)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range datas {
			expr, fresh, err := qt.RenderFreshness(companion.Of, d)
			if err != nil {
				t.Fatalf("%s: %v", tt.text, err)
			}
			if tt.wantNone {
				if fresh != "" {
					t.Errorf("%s: companion %s, want none", tt.text, fresh)
				}
				continue
			}
			want, err := companion.Of(expr)
			if err != nil && d.Service == "checkout" {
				t.Fatalf("%s: %v", expr, err)
			}
			if err == nil && fresh != want {
				t.Errorf("%s with %+v:\n got %s\nwant %s", tt.text, d, fresh, want)
			}
			if p := qt.fresh.Load(); (p != nil && p.parts != nil) != tt.planned {
				t.Errorf("%s: planned %v, want %v", tt.text, p != nil && p.parts != nil, tt.planned)
			}
		}
	}
}
