package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"
	yaml "go.yaml.in/yaml/v3"

	"github.com/canaryd/canaryd/cmd/canaryd/app"
	"github.com/canaryd/canaryd/configs"
	"github.com/canaryd/canaryd/rollout/message"
)

// codeBlock is one fenced block of the README.
type codeBlock struct {
	lang string
	text string
	line int // of the opening fence
}

func readmeBlocks(t *testing.T, path string) []codeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []codeBlock
	var cur *codeBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &codeBlock{lang: strings.TrimPrefix(l, "```"), line: n}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// commands splits a shell block into commands: comments dropped,
// continuation lines joined, words split as the shell would for the quoting
// the README uses.
func commands(text string) [][]string {
	var out [][]string
	var cur string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || l == "" && cur == "" {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		cur += l
		if w := shellWords(cur); len(w) > 0 {
			out = append(out, w)
		}
		cur = ""
	}
	return out
}

func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// knownFlag reports whether canaryd (or canaryd demo) defines --name.
func knownFlag(name string) bool {
	var opts app.Options
	fs := daemonFlags(&opts, &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()})
	return fs.Lookup(name) != nil
}

var flagRE = regexp.MustCompile(`--([a-z][a-z0-9.-]*)`)

// TestREADME runs or checks every code block of the README against the
// example config, so that what a new user copies works as written:
//   - shell blocks: `go run ./cmd/canaryd …` starts the real daemon with the
//     README's flags; `curl` calls go to it (the deploy event block posted
//     as written must start an analysis); `go run ./cmd/canaryctl …` runs the
//     CLI; every other `canaryd` command line uses only flags canaryd has;
//   - JSON blocks are valid, and the verdict shows only fields the daemon's
//     verdicts have;
//   - the Argo Rollouts and Flagger recipes' requests answer on the daemon;
//   - the Go consumer (package rollout/follower) compiles; the systemd unit's
//     flags exist.
func TestREADME(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, filepath.Join(root, "README.md"))
	work := t.TempDir()

	// The deploy event, as event.json for the curl calls.
	var event map[string]any
	for _, b := range blocks {
		if b.lang == "json" && strings.Contains(b.text, `"template"`) {
			if err := json.Unmarshal([]byte(b.text), &event); err != nil {
				t.Fatalf("README:%d: deploy event: %v", b.line, err)
			}
			if err := os.WriteFile(filepath.Join(work, "event.json"), []byte(b.text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if event == nil {
		t.Fatal("README: no deploy event block")
	}

	var base string // the daemon's URL once started
	var canaryctl string
	var verdictJSON string
	ran := map[string]int{}
	for _, b := range blocks {
		switch b.lang {
		case "sh":
			for _, cmd := range commands(b.text) {
				where := fmt.Sprintf("README:%d: %s", b.line, strings.Join(cmd, " "))
				switch {
				case len(cmd) >= 3 && cmd[0] == "go" && cmd[1] == "run" && cmd[2] == "./cmd/canaryd" && len(cmd) > 3 && cmd[3] == "demo":
					if !strings.Contains(usageText(t), "\n  demo ") {
						t.Errorf("%s: canaryd --help does not list demo", where)
					}
					if code := run([]string{"demo", "--help"}); code != 0 {
						t.Errorf("%s: canaryd demo --help exits %d", where, code)
					}
					ran["demo"]++
				case len(cmd) >= 3 && cmd[0] == "go" && cmd[1] == "run" && cmd[2] == "./cmd/canaryd":
					base = startREADMEDaemon(t, root, work, cmd[3:])
					ran["daemon"]++
				case len(cmd) >= 3 && cmd[0] == "go" && cmd[1] == "run" && cmd[2] == "./cmd/canaryctl":
					if canaryctl == "" {
						canaryctl = buildCanaryctl(t, root)
					}
					c := exec.Command(canaryctl, cmd[3:]...)
					c.Dir = root
					out, err := c.CombinedOutput()
					// --prometheus.url needs a Prometheus the test does not
					// have: it must get as far as querying.
					if strings.Contains(strings.Join(cmd, " "), "--prometheus.url") {
						if !strings.Contains(string(out), "SUCCESS") || !strings.Contains(string(out), "queries against") {
							t.Errorf("%s: %v\n%s", where, err, out)
						}
					} else if err != nil {
						t.Errorf("%s: %v\n%s", where, err, out)
					}
					ran["canaryctl"]++
				case cmd[0] == "curl":
					if base == "" {
						t.Fatalf("%s: no daemon started before it", where)
					}
					status, body := curl(t, work, base, cmd[1:])
					if status/100 != 2 {
						t.Errorf("%s: HTTP %d: %s", where, status, body)
					}
					if strings.HasSuffix(cmd[len(cmd)-1], "/verdict") {
						verdictJSON = body
					}
					ran["curl"]++
				case cmd[0] == "./scripts/test.sh":
					if st, err := os.Stat(filepath.Join(root, cmd[0])); err != nil || st.Mode()&0o111 == 0 {
						t.Errorf("%s: not an executable script: %v", where, err)
					}
					ran["script"]++
				case cmd[0] == "canaryd":
					checkFlags(t, where, strings.Join(cmd, " "))
					ran["flags"]++
				default:
					t.Errorf("%s: the test does not know how to run this command; teach it", where)
				}
			}
		case "json":
			if !json.Valid([]byte(b.text)) {
				t.Errorf("README:%d: invalid JSON", b.line)
			}
		}
	}
	for _, k := range []string{"demo", "daemon", "canaryctl", "curl", "script", "flags"} {
		if ran[k] == 0 {
			t.Errorf("no %s command found in the README's shell blocks", k)
		}
	}

	// The verdict example shows only fields the summary of a verdict has
	// (what canary.verdict.* carries).
	var full message.Verdict
	if err := json.Unmarshal([]byte(verdictJSON), &full); err != nil {
		t.Fatalf("the daemon's verdict: %v: %s", err, verdictJSON)
	}
	summary := full.Summary()
	sb, err := summary.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var real map[string]any
	if err := json.Unmarshal(sb, &real); err != nil {
		t.Fatalf("the daemon's verdict summary: %v: %s", err, sb)
	}
	for _, b := range blocks {
		if b.lang != "json" || !strings.Contains(b.text, `"next_weight"`) {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(b.text), &doc); err != nil {
			t.Fatalf("README:%d: %v", b.line, err)
		}
		for k := range doc {
			if _, ok := real[k]; !ok {
				t.Errorf("README:%d: the verdict example has %q, which the daemon's verdict summaries do not", b.line, k)
			}
		}
	}

	for _, b := range blocks {
		switch {
		case b.lang == "yaml" && strings.HasPrefix(b.text, "global:"):
			// A fragment of canaryd's config: it must load.
			if _, err := configs.Load(b.text + "templates: [{name: t, metrics: [{name: m, query: up}]}]\n"); err != nil {
				t.Errorf("README:%d: the config fragment does not load: %v", b.line, err)
			}
		case b.lang == "yaml" && strings.HasPrefix(b.text, "templates:"):
			// A config example of templates: it must load as it is.
			if _, err := configs.Load(b.text); err != nil {
				t.Errorf("README:%d: the config example does not load: %v", b.line, err)
			}
		case b.lang == "yaml":
			checkRecipe(t, b, base)
		case b.lang == "go":
			compileSnippet(t, root, b)
		case b.lang == "ini":
			for _, l := range strings.Split(b.text, "\n") {
				if strings.HasPrefix(l, "ExecStart=") {
					i := strings.Index(b.text, l)
					end := strings.Index(b.text[i:], "\nExecReload")
					checkFlags(t, fmt.Sprintf("README:%d: ExecStart", b.line), b.text[i:i+end])
				}
			}
		}
	}
}

func usageText(t *testing.T) string {
	t.Helper()
	var opts app.Options
	fs := daemonFlags(&opts, &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat()})
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.Usage()
	return b.String()
}

func checkFlags(t *testing.T, where, line string) {
	t.Helper()
	for _, m := range flagRE.FindAllStringSubmatch(line, -1) {
		if !knownFlag(m[1]) {
			t.Errorf("%s: canaryd has no flag --%s", where, m[1])
		}
	}
}

// startREADMEDaemon runs canaryd with the README's arguments, relative to
// the repository root, on a free port and with its storage in the test's
// directory, and waits until it is ready.
func startREADMEDaemon(t *testing.T, root, work string, args []string) string {
	t.Helper()
	addr := freeAddr(t)
	full := make([]string, 0, len(args)+4)
	for i := 0; i < len(args); i++ {
		if args[i] == "--config.file" && i+1 < len(args) {
			full = append(full, args[i], filepath.Join(root, args[i+1]))
			i++
			continue
		}
		if args[i] == "--storage.path" && i+1 < len(args) {
			i++
			continue
		}
		full = append(full, args[i])
	}
	full = append(full, "--storage.path", filepath.Join(work, "data"), "--web.listen-address", addr, "--nats.listen-address", "")
	startDaemon(t, full...)
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("canaryd %q not ready: %v", full, err)
		case <-time.After(50 * time.Millisecond): // polling readiness, not synchronising on time
		}
	}
}

// curl runs the README's curl arguments (-s, -X, --data-binary @file, -o)
// against the daemon at base, in dir.
func curl(t *testing.T, dir, base string, args []string) (int, string) {
	t.Helper()
	method, url := http.MethodGet, ""
	var body io.Reader
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-s":
		case a == "-X":
			i++
			method = args[i]
		case a == "--data-binary" || a == "-d":
			i++
			data := []byte(args[i])
			if strings.HasPrefix(args[i], "@") {
				var err error
				if data, err = os.ReadFile(filepath.Join(dir, args[i][1:])); err != nil {
					t.Fatal(err)
				}
			}
			body = bytes.NewReader(data)
			if method == http.MethodGet {
				method = http.MethodPost
			}
		case a == "-o":
			i++ // the body is checked here instead
		case strings.HasPrefix(a, "http://localhost:9780"):
			url = base + strings.TrimPrefix(a, "http://localhost:9780")
		default:
			t.Fatalf("curl: the test does not know %q; teach it", a)
		}
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func buildCanaryctl(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "canaryctl")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	c := exec.Command("go", "build", "-o", bin, "./cmd/canaryctl")
	c.Dir = root
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("build canaryctl: %v\n%s", err, out)
	}
	return bin
}

// checkRecipe sends the requests an Argo Rollouts or Flagger recipe
// configures to the daemon, as the tool would with the recipe's own
// values, and wants the answers those tools read: the Argo web metric
// starts an analysis and reads its gate, Flagger's pre-rollout webhook
// starts one and its other webhooks answer for it. (The contract tests in
// integrations/contract run the recipes in the tools' own code.)
func checkRecipe(t *testing.T, b codeBlock, base string) {
	t.Helper()
	var doc struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Metrics []struct {
				Provider struct {
					Web struct {
						Method   string         `yaml:"method"`
						URL      string         `yaml:"url"`
						JSONBody map[string]any `yaml:"jsonBody"`
					} `yaml:"web"`
				} `yaml:"provider"`
			} `yaml:"metrics"`
			Analysis struct {
				Webhooks []recipeHook `yaml:"webhooks"`
			} `yaml:"analysis"`
		} `yaml:"spec"`
	}
	// yaml.v3 decodes the JSON body's objects with string keys.
	if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil {
		t.Errorf("README:%d: %v", b.line, err)
		return
	}
	const prefix = "http://canaryd.canaryd:9780"
	send := func(method, url, body string) (int, string) {
		t.Helper()
		if !strings.HasPrefix(url, prefix) {
			t.Errorf("README:%d: %s is not canaryd's address %s", b.line, url, prefix)
			return 0, ""
		}
		req, _ := http.NewRequest(method, base+strings.TrimPrefix(url, prefix), strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(out)
	}
	args := strings.NewReplacer("{{args.service}}", "checkout", "{{args.namespace}}", "shop",
		"{{args.template}}", "web", "{{args.stable-hash}}", "5f7c9d", "{{args.canary-hash}}", "6b8d4e")
	switch doc.Kind {
	case "AnalysisTemplate":
		if len(doc.Spec.Metrics) == 0 {
			t.Errorf("README:%d: an AnalysisTemplate without metrics", b.line)
		}
		for _, m := range doc.Spec.Metrics {
			w := m.Provider.Web
			body, _ := json.Marshal(w.JSONBody)
			code, out := send(w.Method, args.Replace(w.URL), args.Replace(string(body)))
			if code != http.StatusOK || !strings.Contains(out, `"gate":"running"`) {
				t.Errorf("README:%d: %s %s: HTTP %d: %s", b.line, w.Method, w.URL, code, out)
			}
		}
	case "Canary":
		payload := func(metadata map[string]string) string {
			p, _ := json.Marshal(map[string]any{"name": "checkout", "namespace": "shop", "phase": "Progressing", "checksum": "5f7c9d", "metadata": metadata})
			return string(p)
		}
		hooks := doc.Spec.Analysis.Webhooks
		// Flagger calls pre-rollout first.
		slices.SortStableFunc(hooks, func(x, y recipeHook) int {
			return cmpBool(y.Type == "pre-rollout", x.Type == "pre-rollout")
		})
		if len(hooks) == 0 || hooks[0].Type != "pre-rollout" {
			t.Errorf("README:%d: a Canary without canaryd's pre-rollout webhook", b.line)
		}
		for _, h := range hooks {
			code, out := send(http.MethodPost, h.URL, payload(h.Metadata))
			if code != http.StatusOK && (h.Type == "pre-rollout" || code != http.StatusForbidden) {
				t.Errorf("README:%d: webhook %s: HTTP %d: %s", b.line, h.Type, code, out)
			}
		}
	case "Rollout", "": // the rollout running the AnalysisTemplate; a block that is no Kubernetes object (a config excerpt)
	default:
		t.Errorf("README:%d: a YAML block of kind %q: neither a recipe nor a rollout", b.line, doc.Kind)
	}
}

// recipeHook is a webhook of a Flagger recipe.
type recipeHook struct {
	Type     string            `yaml:"type"`
	URL      string            `yaml:"url"`
	Metadata map[string]string `yaml:"metadata"`
}

// cmpBool orders false before true.
func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// compileSnippet compiles the README's Go consumer inside a main function,
// through a build overlay (nothing is written to the repository).
func compileSnippet(t *testing.T, root string, b codeBlock) {
	t.Helper()
	src := `package main

import (
	"context"
	"log"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/canaryd/canaryd/rollout/follower"
	"github.com/canaryd/canaryd/rollout/message"
)

func setCanaryWeight(ctx context.Context, namespace, service string, weight float64) error { return nil }

func main() {
	ctx := context.Background()
` + b.text + `}
`
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	virtual := filepath.Join(root, "cmd", "canaryd", "readmesnippet", "main.go")
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{virtual: file}})
	if err := os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command("go", "build", "-overlay", filepath.Join(dir, "overlay.json"), "-o", os.DevNull, "./cmd/canaryd/readmesnippet")
	c.Dir = root
	if out, err := c.CombinedOutput(); err != nil {
		t.Errorf("README:%d: the Go consumer does not compile: %v\n%s", b.line, err, out)
	}
}
