package configs

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"
)

// A decoder checks a parsed YAML document against the Go type it decodes
// into before anything is decoded, so that one run finds every unknown field
// and every value of the wrong kind, each with its line and field path.
// yaml.v2 stops at the first error of a custom unmarshaler (a duration) and
// reports unknown fields without a path; the walk below does neither.
//
// A bad value is taken out of the document (a mapping key is removed, a list
// element becomes null so later indexes keep their meaning) and its path is
// remembered, so that validation does not report it a second time.
type decoder struct {
	file     string
	problems Problems
	bad      []string // field paths whose value was refused
	zeros    []string // numeric fields given as 0, see givenZeros
}

var (
	v2Unmarshaler   = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	v3Unmarshaler   = reflect.TypeOf((*yaml3.Unmarshaler)(nil)).Elem()
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(model.Duration(0))
)

func (d *decoder) problem(n *yaml3.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// suppressed reports whether path is, lies under or holds a refused value:
// its problems are consequences of the one already reported.
func (d *decoder) suppressed(path string) bool {
	under := func(p, parent string) bool {
		return p == parent || strings.HasPrefix(p, parent+".") || strings.HasPrefix(p, parent+"[")
	}
	for _, b := range d.bad {
		if under(path, b) || strings.Contains(path, ".") && under(b, path) {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// custom reports whether t decodes itself.
func custom(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(v2Unmarshaler) || p.Implements(v3Unmarshaler) || p.Implements(textUnmarshaler)
}

// walk checks n against t at path and reports whether n may be decoded.
func (d *decoder) walk(n *yaml3.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml3.AliasNode {
		// Left to the decoder, which bounds alias expansion; following
		// aliases here could take exponential time.
		return true
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml3.ScalarNode && n.Tag == "!!null" {
		return true
	}
	if custom(t) {
		if t.Kind() == reflect.Struct && n.Kind == yaml3.MappingNode {
			// Check the fields one by one first, so that a problem has its
			// own line and path; the type's own decoding (defaults,
			// validation) then runs over what is left.
			d.fields(n, t, path)
		}
		return d.leaf(n, t, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml3.MappingNode {
			d.problem(n, path, "must be a mapping of fields, got %s", describe(n))
			return false
		}
		d.fields(n, t, path)
		return true
	case reflect.Slice:
		if n.Kind != yaml3.SequenceNode {
			d.problem(n, path, "must be a list, got %s", describe(n))
			return false
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if !d.walk(e, t.Elem(), p) {
				d.bad = append(d.bad, p)
				n.Content[i] = &yaml3.Node{Kind: yaml3.ScalarNode, Tag: "!!null", Value: "null", Line: e.Line}
			}
		}
		return true
	case reflect.Map:
		if n.Kind != yaml3.MappingNode {
			d.problem(n, path, "must be a mapping, got %s", describe(n))
			return false
		}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if d.walk(v, t.Elem(), p) {
				kept = append(kept, k, v)
			} else {
				d.bad = append(d.bad, p)
			}
		}
		n.Content = kept
		return true
	case reflect.Interface:
		return true
	}
	return d.leaf(n, t, path)
}

// fields checks every key of mapping n against struct t.
func (d *decoder) fields(n *yaml3.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if k.Tag == "!!merge" {
			kept = append(kept, k, v) // <<: *anchor, left to the decoder
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k, p, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			d.problem(k, p, "unknown field%s", suggest(k.Value, fields))
			continue
		}
		v.Line, v.Column = k.Line, k.Column // report a value's problems at its key
		if !d.walk(v, f.Type, p) {
			d.bad = append(d.bad, p)
			continue
		}
		if isNumber(f.Type) && v.Kind == yaml3.ScalarNode {
			if z := reflect.New(f.Type); decodeScalar(v, z.Interface()) == nil && z.Elem().IsZero() {
				d.zeros = append(d.zeros, p)
			}
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
}

// leaf decodes n into a new t the way Load will, and reports why it cannot.
func (d *decoder) leaf(n *yaml3.Node, t reflect.Type, path string) bool {
	v := reflect.New(t)
	err := decodeScalar(n, v.Interface())
	if err == nil {
		return true
	}
	got := describe(n)
	switch {
	case t == durationType && strings.HasPrefix(strings.TrimSpace(n.Value), "-"):
		d.problem(n, path, "must be positive, got %s", got)
	case t == durationType:
		d.problem(n, path, "must be a duration such as 30s, 1m or 1h30m, got %s", got)
	case custom(t):
		d.problem(n, path, "%s", cleanYAMLError(err))
	case t.Kind() == reflect.Bool:
		d.problem(n, path, "must be true or false, got %s", got)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		d.problem(n, path, "must be a whole number, got %s", got)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		d.problem(n, path, "must be a number, got %s", got)
	case t.Kind() == reflect.String:
		d.problem(n, path, "must be text, got %s", got)
	default:
		d.problem(n, path, "%s", cleanYAMLError(err))
	}
	return false
}

// decodeScalar decodes one node with yaml.v2, the decoder Load uses, so that
// what the walk accepts Load accepts too.
func decodeScalar(n *yaml3.Node, out any) error {
	b, err := yaml3.Marshal(n)
	if err != nil {
		return err
	}
	return yaml.UnmarshalStrict(b, out)
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// describe quotes a scalar, or names a node's kind.
func describe(n *yaml3.Node) string {
	switch n.Kind {
	case yaml3.SequenceNode:
		return "a list"
	case yaml3.MappingNode:
		return "a mapping"
	}
	return strconv.Quote(n.Value)
}

// cleanYAMLError drops yaml's prefixes ("yaml: unmarshal errors:\n  line 1: ")
// from the error of a value decoded on its own: its line would be wrong.
func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		s = m[2]
	}
	return s
}

// yamlFields maps the YAML keys of struct t, inlined structs included, to
// their fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					v.Index = append([]int{i}, v.Index...)
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v2's default key
		}
		out[name] = f
	}
	return out
}

// suggest names the closest known field when there is one a typo or two
// away, else lists them all.
func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
		if dist := editDistance(key, name); dist < bestD || dist == bestD && name < best {
			best, bestD = name, dist
		}
	}
	if best != "" && bestD <= 2 {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldAt returns the value at a field path such as templates[0].interval
// inside v, or false when the path leads nowhere.
func fieldAt(v reflect.Value, path string) (reflect.Value, bool) {
	for _, part := range strings.Split(path, ".") {
		m := pathPartRE.FindStringSubmatch(part)
		if m == nil {
			return reflect.Value{}, false
		}
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		f, ok := yamlFields(v.Type())[m[1]]
		if !ok {
			return reflect.Value{}, false
		}
		v = v.FieldByIndex(f.Index)
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			if v.Kind() != reflect.Slice || i >= v.Len() {
				return reflect.Value{}, false
			}
			v = v.Index(i)
		}
	}
	return v, true
}
