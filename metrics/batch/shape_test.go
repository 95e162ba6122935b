package batch

import (
	"errors"
	"strings"
	"testing"
)

// render fills a template's {{s}} with each service's name.
func render(tmpl string, services ...string) [][]string {
	vals := make([][]string, len(services))
	for i, s := range services {
		l, err := lex(strings.ReplaceAll(tmpl, "{{s}}", s))
		if err != nil {
			panic(err)
		}
		vals[i] = l.vals
	}
	return vals
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, tmpl string
		want       string // "" when refused
		split      []string
	}{
		{
			name:  "histogram quantile",
			tmpl:  `histogram_quantile(0.99, sum by (le) (rate(lat_bucket{service="{{s}}",track="canary"}[1m])))`,
			want:  `histogram_quantile(0.99, sum by (le, service) (rate(lat_bucket{service=~"a\\.b|c",track="canary"}[1m])))`,
			split: []string{"service"},
		},
		{
			name:  "ratio of sums",
			tmpl:  `sum(rate(req{service="{{s}}",code=~"5.."}[1m])) / sum(rate(req{service="{{s}}"}[1m]))`,
			want:  `sum by (service) (rate(req{code=~"5..",service=~"a\\.b|c"}[1m])) / sum by (service) (rate(req{service=~"a\\.b|c"}[1m]))`,
			split: []string{"service"},
		},
		{
			name:  "gauge",
			tmpl:  `mem{service="{{s}}",track="baseline"}`,
			want:  `mem{service=~"a\\.b|c",track="baseline"}`,
			split: []string{"service"},
		},
		{
			name:  "on gets the label",
			tmpl:  `sum(a{service="{{s}}"}) / on() group_left sum(b{service="{{s}}"})`,
			want:  `sum by (service) (a{service=~"a\\.b|c"}) / on (service) group_left () sum by (service) (b{service=~"a\\.b|c"})`,
			split: []string{"service"},
		},
		{name: "topk", tmpl: `topk(1, a{service="{{s}}"})`},
		{name: "without", tmpl: `sum without (pod) (a{service="{{s}}"})`},
		{name: "or", tmpl: `a{service="{{s}}"} or b{service="{{s}}"}`},
		{name: "label_replace", tmpl: `label_replace(a{service="{{s}}"}, "x", "$1", "service", "(.*)")`},
		{name: "absent", tmpl: `absent(a{service="{{s}}"})`},
		{name: "selector without the label", tmpl: `sum(a{service="{{s}}"}) / sum(b)`},
		{name: "fixed value on the label", tmpl: `sum(a{service="{{s}}"}) / sum(b{service="x"})`},
		{name: "ignoring the label", tmpl: `a{service="{{s}}"} / ignoring(service) b{service="{{s}}"}`},
		{name: "scalar", tmpl: `a{service="{{s}}"} / scalar(b{service="{{s}}"})`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := lex(strings.ReplaceAll(tt.tmpl, "{{s}}", "a.b"))
			if err != nil {
				t.Fatal(err)
			}
			sh := newShape(l)
			got, split, err := sh.rewrite(render(tt.tmpl, "a.b", "c", "a.b"))
			if tt.want == "" {
				if !errors.Is(err, errRefused) {
					t.Fatalf("rewrite = %q, %v; want refused", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if got != tt.want || strings.Join(split, ",") != strings.Join(tt.split, ",") {
				t.Errorf("rewrite = %q split %v\nwant      %q split %v", got, split, tt.want, tt.split)
			}
		})
	}
}

func TestRewriteIdentical(t *testing.T) {
	q := `sum(rate(req{service="a"}[1m]))`
	l, err := lex(q)
	if err != nil {
		t.Fatal(err)
	}
	got, split, err := newShape(l).rewrite([][]string{l.vals, l.vals})
	if err != nil || split != nil || got != q {
		t.Errorf("rewrite of identical queries = %q, %v, %v; want %q, no split labels", got, split, err, q)
	}
}

func TestLex(t *testing.T) {
	l, err := lex(`a{x="1", y='2', z=~` + "`3.*`" + `} # "not a string"`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.vals, ",") != "1,2,3.*" || strings.Count(l.key, "\x00") != 3 {
		t.Errorf("lex = %q %q", l.key, l.vals)
	}
	l, err = lex(`a{x="a\"b", y='c\'d'} # it's a comment`)
	if err != nil || strings.Join(l.vals, ",") != `a"b,c'd` {
		t.Errorf("lex of escaped quotes = %q, %v", l.vals, err)
	}
	if _, err := lex(`a{x="unterminated}`); err == nil {
		t.Error("lex of an unterminated string: no error")
	}
}
