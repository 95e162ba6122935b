package spec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"text/template/parse"
)

// QueryData is what a metric's query template is filled with, per analysis
// and role.
type QueryData struct {
	Service   string            // the service under analysis
	Namespace string            // its namespace
	Role      string            // baseline or canary
	Version   string            // that role's version
	Interval  string            // the judgement interval as a PromQL duration, e.g. "1m"
	Window    string            // an SLO query's window as a PromQL duration, e.g. "30d"; empty for a metric
	Vars      map[string]string // variables from the deploy event
}

// templateFields lists the names a template may refer to at its root, for
// error messages; isTemplateField must agree with it.
const templateFields = ".Service, .Namespace, .Role, .Version, .Interval, .Window (SLO queries only), .Vars"

func isTemplateField(name string) bool {
	switch name {
	case "Service", "Namespace", "Role", "Version", "Interval", "Window", "Vars":
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
	// plain is the template as text and field references, when it is
	// nothing else (the usual query): Render then concatenates, with no
	// reflection, what text/template would print.
	plain []plainPart
	// fresh is how the freshness companion of a plain template renders
	// without parsing PromQL (see RenderFreshness), for one interval.
	fresh atomic.Pointer[freshPlan]
}

// freshPlan renders a plain template's freshness companion by
// concatenation: the companion built once from the query rendered with a
// marker in every field, cut at the markers.
type freshPlan struct {
	interval string
	parts    []plainPart // nil: the companion is built from each rendered query
}

// plainPart is literal text, or, when field is set, a root field
// ({{.Service}}, {{$.Version}}, {{.Vars.team}}).
type plainPart struct {
	text  string
	field []string
}

// plainParts returns the parts of a template made only of text and
// single-field actions, or nil.
func plainParts(root *parse.ListNode) []plainPart {
	if root == nil {
		return nil
	}
	parts := make([]plainPart, 0, len(root.Nodes))
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, plainPart{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			var path []string
			switch a := p.Cmds[0].Args[0].(type) {
			case *parse.FieldNode:
				path = a.Ident
			case *parse.VariableNode:
				if len(a.Ident) < 2 || a.Ident[0] != "$" {
					return nil
				}
				path = a.Ident[1:]
			default:
				return nil
			}
			if len(path) == 2 && path[0] == "Vars" || len(path) == 1 && path[0] != "Vars" && isTemplateField(path[0]) {
				parts = append(parts, plainPart{field: path})
				continue
			}
			return nil
		default:
			return nil
		}
	}
	return parts
}

// value returns what text/template prints for root field path of d; the
// caller has checked that a variable exists (checkRef).
func (d *QueryData) value(path []string) string {
	switch path[0] {
	case "Service":
		return d.Service
	case "Namespace":
		return d.Namespace
	case "Role":
		return d.Role
	case "Version":
		return d.Version
	case "Interval":
		return d.Interval
	case "Window":
		return d.Window
	}
	return d.Vars[path[1]]
}

// ParseQueryTemplate parses text, the query of the metric named metric.
// Errors name the metric; so does a reference to a field QueryData does
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
	return &QueryTemplate{metric: metric, text: text, tmpl: tmpl, refs: refs, plain: plainParts(tmpl.Root)}, nil
}

// uses reports whether the template refers to field (Service, Window…).
func (t *QueryTemplate) uses(field string) bool {
	for _, r := range t.refs {
		if r.path[0] == field {
			return true
		}
	}
	return false
}

// Metric returns the name of the metric the template belongs to.
func (t *QueryTemplate) Metric() string { return t.metric }

// Variables returns the names of the deploy event variables the template
// uses ({{.Vars.cluster}} gives "cluster"), sorted, each once.
func (t *QueryTemplate) Variables() []string {
	var out []string
	for _, r := range t.refs {
		if len(r.path) >= 2 && r.path[0] == "Vars" && !slices.Contains(out, r.path[1]) {
			out = append(out, r.path[1])
		}
	}
	slices.Sort(out)
	return out
}

// String returns the template's source text.
func (t *QueryTemplate) String() string { return t.text }

// Render fills the template with d and returns the PromQL text. A missing
// variable or an empty field the template uses is an error naming the metric
// and the key.
func (t *QueryTemplate) Render(d QueryData) (string, error) {
	for _, r := range t.refs {
		if err := checkRef(d, r); err != nil {
			return "", fmt.Errorf("metric %q: %w", t.metric, err)
		}
	}
	var b strings.Builder
	if t.plain != nil {
		n := 0
		for i := range t.plain {
			n += len(t.plain[i].text) + 16
		}
		b.Grow(n)
		for i := range t.plain {
			if p := &t.plain[i]; p.field == nil {
				b.WriteString(p.text)
			} else {
				b.WriteString(d.value(p.field))
			}
		}
		return b.String(), nil
	}
	if err := t.tmpl.Execute(&b, d); err != nil {
		// Reached only through references checkRef cannot see, such as
		// fields used inside {{with}} or {{range}}.
		return "", fmt.Errorf("metric %q: render query: %w", t.metric, err)
	}
	return b.String(), nil
}

func checkRef(d QueryData, fr fieldRef) error {
	r := fr.path
	ref := func() string { return "{{." + strings.Join(r, ".") + "}}" }
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
			return fmt.Errorf("query template uses %s but the deploy event has no variable %q (%s)", ref(), r[1], have)
		}
		return nil
	case "Service":
		v = d.Service
	case "Namespace":
		v = d.Namespace
	case "Role":
		v = d.Role
	case "Version":
		v = d.Version
	case "Interval":
		v = d.Interval
	case "Window":
		v = d.Window
	}
	if v == "" && !fr.conditional {
		return errors.New("query template uses " + ref() + " but " + r[0] + " is empty")
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

// RenderFreshness renders the query for d and its freshness companion,
// companion(expr) of the rendered query (metrics/companion.Of, which
// package spec does not import: spec is the lower layer). The
// companion must be the same function at every call, or nil for none.
// It is "" when the query has no selector to follow. A plain template builds its
// companion once per interval, with a marker in each field, and then
// renders it by concatenation (escaping each value as PromQL's double
// quotes need); the first such render is checked against the companion
// built from the rendered query, and a template whose markers do not land
// where values go builds the companion from each rendered query instead.
func (t *QueryTemplate) RenderFreshness(companion func(expr string) (string, error), d QueryData) (expr, fresh string, err error) {
	expr, err = t.Render(d)
	if err != nil {
		return "", "", err
	}
	if companion == nil {
		return expr, "", nil
	}
	if t.plain != nil {
		p := t.fresh.Load()
		if p == nil || p.interval != d.Interval {
			p = t.planFreshness(companion, d, expr)
			t.fresh.Store(p)
		}
		if p.parts != nil {
			return expr, renderQuoted(p.parts, &d), nil
		}
	}
	fresh, err = companion(expr)
	if err != nil {
		return expr, "", nil // unknown freshness; a bad query fails on its own
	}
	return expr, fresh, nil
}

// freshMarker marks field i of a plain template in the query the
// companion plan is built from.
func freshMarker(i int) string { return "__canaryd_field_" + strconv.Itoa(i) + "__" }

// planFreshness builds the companion plan of a plain template for d's
// interval; expr is the query rendered for d.
func (t *QueryTemplate) planFreshness(companion func(string) (string, error), d QueryData, expr string) *freshPlan {
	p := &freshPlan{interval: d.Interval}
	var b strings.Builder
	for i, part := range t.plain {
		switch {
		case part.field == nil:
			b.WriteString(part.text)
		case part.field[0] == "Interval":
			b.WriteString(d.Interval) // one per plan: often a range, where a marker cannot go
		default:
			b.WriteString(freshMarker(i))
		}
	}
	c, err := companion(b.String())
	if err != nil {
		return p
	}
	var parts []plainPart
	for c != "" {
		at := strings.Index(c, "__canaryd_field_")
		if at < 0 {
			parts = append(parts, plainPart{text: c})
			break
		}
		end := strings.Index(c[at+len("__canaryd_field_"):], "__")
		if end < 0 {
			return p
		}
		num := c[at+len("__canaryd_field_") : at+len("__canaryd_field_")+end]
		i, err := strconv.Atoi(num)
		if err != nil || i < 0 || i >= len(t.plain) || t.plain[i].field == nil {
			return p
		}
		parts = append(parts, plainPart{text: c[:at]}, plainPart{field: t.plain[i].field})
		c = c[at+len(freshMarker(i)):]
	}
	// The plan must give what parsing gives; where a field is not a label
	// value (a number, a metric name built from parts), it may not.
	want, err := companion(expr)
	if err != nil || renderQuoted(parts, &d) != want {
		return p
	}
	p.parts = parts
	return p
}

// renderQuoted concatenates parts with d's fields escaped for PromQL's
// double-quoted strings.
func renderQuoted(parts []plainPart, d *QueryData) string {
	var b strings.Builder
	n := 0
	for i := range parts {
		n += len(parts[i].text) + 16
	}
	b.Grow(n)
	for i := range parts {
		p := &parts[i]
		if p.field == nil {
			b.WriteString(p.text)
			continue
		}
		v := d.value(p.field)
		if needsEscape(v) {
			q := strconv.Quote(v)
			v = q[1 : len(q)-1]
		}
		b.WriteString(v)
	}
	return b.String()
}

func needsEscape(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return true
		}
	}
	return false
}
