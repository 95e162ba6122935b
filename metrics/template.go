package metrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// TemplateData is what a query template is filled with, per analysis and role.
type TemplateData struct {
	Service   string            // the service under analysis
	Namespace string            // its namespace
	Role      Role              // baseline or canary
	Version   string            // that role's version
	Interval  string            // the judgement interval as a PromQL duration, e.g. "1m"
	Vars      map[string]string // variables from the deploy event
}

// templateFields lists the names a template may refer to at its root, for
// error messages; isTemplateField must agree with it.
const templateFields = ".Service, .Namespace, .Role, .Version, .Interval, .Vars"

func isTemplateField(name string) bool {
	switch name {
	case "Service", "Namespace", "Role", "Version", "Interval", "Vars":
		return true
	}
	return false
}

// fieldRef is a field chain evaluated against the template's root data, e.g.
// [Vars team] for {{.Vars.team}}. Conditional references sit inside an
// {{if}}, {{with}} or {{range}}: they may be empty (a template can guard an
// optional field with {{if .Version}}...{{end}}).
type fieldRef struct {
	path        []string
	conditional bool
}

// QueryTemplate is a metric's query, a Go text/template parsed once and
// rendered per analysis and role. It is safe for concurrent use.
//
// Rendering is strict: a reference to a variable the event does not carry
// ({{.Vars.team}}), or to a field left empty ({{.Version}} with no version)
// outside any {{if}}, {{with}} or {{range}}, is an error naming the metric and
// the key. An empty field would otherwise render as a matcher like
// version="" that silently matches series without the label.
type QueryTemplate struct {
	metric string
	text   string
	tmpl   *template.Template
	refs   []fieldRef
}

// ParseQueryTemplate parses text, the query of the metric named metric.
// Errors name the metric; so does a reference to a field TemplateData does
// not have (e.g. {{.Servce}}), caught here rather than at the first render.
func ParseQueryTemplate(metric, text string) (*QueryTemplate, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("metric %q: empty query", metric)
	}
	tmpl, err := template.New(metric).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("metric %q: parse query template: %w", metric, err)
	}
	var refs []fieldRef
	collectRefs(tmpl.Root, true, false, &refs)
	for _, r := range refs {
		if !isTemplateField(r.path[0]) {
			return nil, fmt.Errorf("metric %q: query template uses {{.%s}}, which does not exist (known: %s)",
				metric, strings.Join(r.path, "."), templateFields)
		}
	}
	return &QueryTemplate{metric: metric, text: text, tmpl: tmpl, refs: refs}, nil
}

// Metric returns the name of the metric the template belongs to.
func (t *QueryTemplate) Metric() string { return t.metric }

// String returns the template's source text.
func (t *QueryTemplate) String() string { return t.text }

// Render fills the template with d and returns the PromQL text. A missing
// variable or an empty field the template uses is an error naming the metric
// and the key.
func (t *QueryTemplate) Render(d TemplateData) (string, error) {
	for _, r := range t.refs {
		if err := checkRef(d, r); err != nil {
			return "", fmt.Errorf("metric %q: %w", t.metric, err)
		}
	}
	var b strings.Builder
	if err := t.tmpl.Execute(&b, d); err != nil {
		// Reached only through references checkRef cannot see, such as
		// fields used inside {{with}} or {{range}}.
		return "", fmt.Errorf("metric %q: render query: %w", t.metric, err)
	}
	return b.String(), nil
}

func checkRef(d TemplateData, fr fieldRef) error {
	r := fr.path
	ref := "{{." + strings.Join(r, ".") + "}}"
	var v string
	switch r[0] {
	case "Vars":
		if len(r) < 2 {
			return nil
		}
		if _, ok := d.Vars[r[1]]; !ok {
			have := "it has none"
			if len(d.Vars) > 0 {
				have = "it has: " + strings.Join(slices.Sorted(maps.Keys(d.Vars)), ", ")
			}
			return fmt.Errorf("query template uses %s but the deploy event has no variable %q (%s)", ref, r[1], have)
		}
		return nil
	case "Service":
		v = d.Service
	case "Namespace":
		v = d.Namespace
	case "Role":
		v = string(d.Role)
	case "Version":
		v = d.Version
	case "Interval":
		v = d.Interval
	}
	if v == "" && !fr.conditional {
		return errors.New("query template uses " + ref + " but " + r[0] + " is empty")
	}
	return nil
}

// collectRefs appends every field chain evaluated against the template's
// root data. rootDot says whether dot is still the root: inside {{with}} and
// {{range}} bodies it is not, so plain .Field references there are skipped
// ($.Field always means the root and is collected). cond says whether n sits
// inside a conditional construct.
func collectRefs(n parse.Node, rootDot, cond bool, refs *[]fieldRef) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			collectRefs(c, rootDot, cond, refs)
		}
	case *parse.ActionNode:
		collectRefs(n.Pipe, rootDot, cond, refs)
	case *parse.IfNode:
		collectRefs(n.Pipe, rootDot, true, refs)
		collectRefs(n.List, rootDot, true, refs)
		collectRefs(n.ElseList, rootDot, true, refs)
	case *parse.WithNode:
		collectRefs(n.Pipe, rootDot, true, refs)
		collectRefs(n.List, false, true, refs)
		collectRefs(n.ElseList, rootDot, true, refs)
	case *parse.RangeNode:
		collectRefs(n.Pipe, rootDot, true, refs)
		collectRefs(n.List, false, true, refs)
		collectRefs(n.ElseList, rootDot, true, refs)
	case *parse.TemplateNode:
		collectRefs(n.Pipe, rootDot, cond, refs)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			collectRefs(c, rootDot, cond, refs)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			collectRefs(a, rootDot, cond, refs)
		}
	case *parse.ChainNode:
		collectRefs(n.Node, rootDot, cond, refs)
	case *parse.FieldNode:
		if rootDot {
			*refs = append(*refs, fieldRef{path: n.Ident, conditional: cond})
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			*refs = append(*refs, fieldRef{path: n.Ident[1:], conditional: cond})
		}
	}
}
