// Package configs loads canaryd's configuration: the global settings of the
// daemon (Prometheus, NATS) and the analysis templates SREs write, whose
// types, defaults and validation live in configs/spec.
//
// Loading is strict: unknown fields are errors. Defaults are set and
// validated in one place (Load), and every problem is reported with the
// file, the line and the field, all at once, so that check-config shows
// an SRE everything to fix in one run.
package configs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/canaryd/canaryd/configs/spec"
	yaml "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	Global    Global          `yaml:"global,omitempty"`
	Templates []spec.Template `yaml:"templates"`

	// File is where the config was loaded from ("" for Load).
	File string `yaml:"-"`

	doc *yaml3.Node // the parsed file, for Line
}

// Global holds the daemon's connections.
type Global struct {
	// Prometheus is the metrics source: url plus prometheus/common's HTTP
	// client settings (basic_auth, authorization, tls_config, proxy_url…),
	// a per-query timeout and retries.
	Prometheus Prometheus `yaml:"prometheus,omitempty"`
	// NATS is the message bus; an empty URL runs an embedded server.
	NATS NATS `yaml:"nats,omitempty"`
	// Audit is the audit trail's stream and retention.
	Audit Audit `yaml:"audit,omitempty"`
}

// Template returns the template with the given name, or nil.
func (c *Config) Template(name string) *spec.Template {
	for i := range c.Templates {
		if c.Templates[i].Name == name {
			return &c.Templates[i]
		}
	}
	return nil
}

// Problem is one thing wrong with a config file.
type Problem struct {
	File  string
	Line  int    // 0 when unknown
	Field string // a path such as templates[0].metrics[2].allowed_change
	Msg   string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	if p.Line > 0 {
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteByte(':')
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one file, ordered by line.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// LoadFile reads and validates a config file. A *Problems error lists
// every problem found.
func LoadFile(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := load(b, path)
	if err != nil {
		return nil, err
	}
	cfg.File = path
	dir := filepath.Dir(path)
	cfg.Global.Prometheus.SetDirectory(dir)
	cfg.Global.NATS.TLSConfig.SetDirectory(dir)
	for _, f := range []*string{&cfg.Global.NATS.CredentialsFile, &cfg.Global.NATS.PasswordFile, &cfg.Global.NATS.TokenFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	return cfg, nil
}

// Load parses and validates a config from YAML text.
func Load(s string) (*Config, error) { return load([]byte(s), "") }

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func load(b []byte, file string) (*Config, error) {
	cfg := &Config{}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, Problems{{File: file, Msg: "the file is empty: a config needs at least one template"}}
	}
	var doc yaml3.Node
	if err := yaml3.Unmarshal(b, &doc); err != nil {
		return nil, Problems{syntaxProblem(file, err)}
	}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: file, Msg: "the file is empty: a config needs at least one template"}}
	}
	lines := &yaml3.Node{}
	_ = yaml3.Unmarshal(b, lines) // an untouched copy to find lines in

	// Check the document against the types first: every unknown field and
	// every value of the wrong kind, each with its line, and the document
	// is left with what decodes.
	d := &decoder{file: file}
	d.walk(doc.Content[0], reflect.TypeOf(cfg).Elem(), "")
	clean, err := yaml3.Marshal(&doc)
	if err == nil {
		err = yaml.UnmarshalStrict(clean, cfg)
	}
	if err != nil {
		// The walk should have caught it; report it rather than lose it.
		d.problems = append(d.problems, syntaxProblem(file, err))
	}

	ps := d.problems
	add := func(path, format string, args ...any) {
		if d.suppressed(path) {
			return
		}
		ps = append(ps, Problem{File: file, Line: lineOf(lines, path), Field: path, Msg: fmt.Sprintf(format, args...)})
	}
	given := map[string]any{}
	root := reflect.ValueOf(cfg)
	for _, path := range d.zeros {
		if v, ok := fieldAt(root, path); ok {
			given[path] = v.Interface()
		}
	}
	cfg.setDefaults()
	// A 0 that setDefaults replaces would silently mean the default: refuse
	// it, whatever the field (interval: 0s, confidence: 0, min_samples: 0).
	for _, path := range d.zeros {
		if v, ok := fieldAt(root, path); ok && v.Interface() != given[path] {
			if v.Type() == durationType {
				add(path, "must be positive, got %v (leave the field out for the default, %v)", given[path], v.Interface())
			} else {
				add(path, "must not be 0 (leave the field out for the default, %v)", v.Interface())
			}
			d.bad = append(d.bad, path)
		}
	}
	cfg.validate(add)
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return nil, ps
	}
	cfg.doc = lines
	return cfg, nil
}

// syntaxProblem turns a YAML error into a problem with its line.
func syntaxProblem(file string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	p := Problem{File: file, Msg: msg}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Msg = m[2]
	}
	return p
}

// Line returns the line of a field path such as templates[0].metrics[1].query
// in the file the config was loaded from, or 0 when the file does not give
// that field; tools that check a loaded config further report their
// findings with it.
func (c *Config) Line(path string) int {
	if c.doc == nil {
		return 0
	}
	line, whole := lineOfPath(c.doc, path)
	if !whole {
		return 0
	}
	return line
}

func (c *Config) setDefaults() {
	for i := range c.Templates {
		c.Templates[i].SetDefaults()
	}
}

func (c *Config) validate(add func(path, format string, args ...any)) {
	// Offline use (judge, replay) needs no Prometheus; the daemon checks
	// that a URL is set before it starts.
	if c.Global.Prometheus.URL != "" {
		if err := c.Global.Prometheus.Validate(); err != nil {
			add("global.prometheus", "%v", err)
		}
	}
	c.Global.NATS.validate("global.nats", add)
	c.Global.Audit.validate("global.audit", add)
	if len(c.Templates) == 0 {
		add("templates", "a config needs at least one template")
	}
	seen := map[string]bool{}
	for i := range c.Templates {
		t := &c.Templates[i]
		p := fmt.Sprintf("templates[%d]", i)
		if t.Name != "" && seen[t.Name] {
			add(p+".name", "duplicate template name %q", t.Name)
		}
		seen[t.Name] = true
		t.Validate(p, add)
	}
}

var pathPartRE = regexp.MustCompile(`^([^\[]+)(?:\[(\d+)\])?$`)

// lineOf finds the line of a field path such as templates[0].metrics[1].name
// in the parsed document; it returns the deepest line found.
func lineOf(doc *yaml3.Node, path string) int {
	line, _ := lineOfPath(doc, path)
	return line
}

// lineOfPath is lineOf, and whether the whole path was found.
func lineOfPath(doc *yaml3.Node, path string) (int, bool) {
	n := doc
	if n.Kind == yaml3.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		m := pathPartRE.FindStringSubmatch(part)
		if m == nil || n == nil || n.Kind != yaml3.MappingNode {
			return line, false
		}
		var next *yaml3.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == m[1] {
				line = n.Content[i].Line
				next = n.Content[i+1]
				break
			}
		}
		if next == nil {
			return line, false
		}
		n = next
		if m[2] != "" {
			idx, _ := strconv.Atoi(m[2])
			if n.Kind != yaml3.SequenceNode || idx >= len(n.Content) {
				return line, false
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line, true
}
