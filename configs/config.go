// Package configs loads canaryd's configuration: the global settings of the
// daemon (Prometheus, NATS) and the analysis templates SREs write.
//
// Loading is strict: unknown fields are errors. Defaults are set and
// validated in one place (Load), and every problem is reported with the
// file, the line and the field, all at once, so that check-config shows
// an SRE everything to fix in one run.
package configs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"

	promsource "github.com/canaryd/canaryd/metrics/prometheus"
)

// Config is the whole configuration file.
type Config struct {
	Global    Global     `yaml:"global,omitempty"`
	Templates []Template `yaml:"templates"`

	// File is where the config was loaded from ("" for Load).
	File string `yaml:"-"`
}

// Global holds the daemon's connections.
type Global struct {
	// Prometheus is the metrics source: url plus prometheus/common's HTTP
	// client settings (basic_auth, authorization, tls_config, proxy_url…),
	// a per-query timeout and retries.
	Prometheus promsource.Config `yaml:"prometheus,omitempty"`
	// NATS is the message bus; an empty URL runs an embedded server.
	NATS NATS `yaml:"nats,omitempty"`
}

// Template returns the template with the given name, or nil.
func (c *Config) Template(name string) *Template {
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
var unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

func load(b []byte, file string) (*Config, error) {
	cfg := &Config{}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, Problems{{File: file, Msg: "the file is empty: a config needs at least one template"}}
	}
	var nodes yaml3.Node
	_ = yaml3.Unmarshal(b, &nodes) // only used to find lines; yaml.v2 reports syntax errors

	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var ps Problems
			for _, e := range te.Errors {
				p := Problem{File: file, Msg: e}
				if m := yamlLineRE.FindStringSubmatch(e); m != nil {
					p.Line, _ = strconv.Atoi(m[1])
					p.Msg = m[2]
					if u := unknownFieldRE.FindStringSubmatch(p.Msg); u != nil {
						p.Field = u[1]
						p.Msg = "unknown field (not in " + strings.TrimPrefix(u[2], "configs.") + ")"
					}
				}
				ps = append(ps, p)
			}
			return nil, ps
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		p := Problem{File: file, Msg: msg}
		if m := regexp.MustCompile(`^line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Msg = m[2]
		}
		return nil, Problems{p}
	}

	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{File: file, Line: lineOf(&nodes, path), Field: path, Msg: fmt.Sprintf(format, args...)})
	}
	cfg.setDefaults()
	cfg.validate(add)
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return nil, ps
	}
	return cfg, nil
}

func (c *Config) setDefaults() {
	for i := range c.Templates {
		c.Templates[i].setDefaults()
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
		t.validate(p, add)
	}
}

var pathPartRE = regexp.MustCompile(`^([^\[]+)(?:\[(\d+)\])?$`)

// lineOf finds the line of a field path such as templates[0].metrics[1].name
// in the parsed document; it returns the deepest line found.
func lineOf(doc *yaml3.Node, path string) int {
	n := doc
	if n.Kind == yaml3.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		m := pathPartRE.FindStringSubmatch(part)
		if m == nil || n == nil || n.Kind != yaml3.MappingNode {
			return line
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
			return line
		}
		n = next
		if m[2] != "" {
			idx, _ := strconv.Atoi(m[2])
			if n.Kind != yaml3.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		}
	}
	return line
}
