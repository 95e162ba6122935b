package contract

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/controller"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// readFlaggerRecipe returns the README's Canary, decoded strictly into
// Flagger's type and validated against the schema of Flagger's own
// Canary CRD (its module's artifacts/flagger/crd.yaml), as the Kubernetes
// API server would on apply.
func readFlaggerRecipe(t *testing.T) *flaggerv1.Canary {
	t.Helper()
	blocks := readmeYAML(t, "Canary")
	if len(blocks) != 1 {
		t.Fatalf("README: %d Canaries, want one", len(blocks))
	}
	c := &flaggerv1.Canary{}
	if err := yaml.UnmarshalStrict(blocks[0], c); err != nil {
		t.Fatalf("README's Canary: %v", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(blocks[0], &obj); err != nil {
		t.Fatal(err)
	}
	res := canarySchema(t).Validate(obj)
	for _, err := range res.Errors {
		t.Errorf("README's Canary: Flagger's CRD schema: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if c.Spec.Analysis == nil || len(c.Spec.Analysis.StepWeights) == 0 && c.Spec.Analysis.StepWeight == 0 {
		t.Fatal("README's Canary shifts no traffic: neither stepWeights nor stepWeight")
	}
	return c
}

// canarySchema is the validator of the v1beta1 Canary schema in Flagger's
// CRD.
func canarySchema(t *testing.T) *validate.SchemaValidator {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/fluxcd/flagger").Output()
	if err != nil {
		t.Fatalf("find Flagger's module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "artifacts", "flagger", "crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(b), "\n---") {
		var crd struct {
			Spec struct {
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
			t.Fatalf("Flagger's CRDs: %v", err)
		}
		if crd.Spec.Names.Kind != "Canary" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Name != "v1beta1" {
				continue
			}
			s := &spec.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
				t.Fatalf("Flagger's Canary schema: %v", err)
			}
			return validate.NewSchemaValidator(s, nil, "", strfmt.Default)
		}
	}
	t.Fatal("Flagger's CRDs have no v1beta1 Canary")
	return nil
}

// flagger walks one Canary revision through the rules of Flagger v1.36.1's
// scheduler (pkg/controller/scheduler.go, advanceCanary and runCanary),
// calling every webhook with Flagger's own client (controller.CallWebhook),
// which builds the payload and its checksum: at each interval, rollback
// webhooks while progressing; a rollback past threshold failed checks;
// pre-rollout webhooks while the weight is 0 (a failure is a failed
// check); confirm-traffic-increase webhooks before each weight increase
// (unless waiting for promotion); at the maximum weight the
// confirm-promotion webhooks, whose refusal waits.
type flagger struct {
	canary       *flaggerv1.Canary
	weight       int
	phase        flaggerv1.CanaryPhase
	failedChecks int
	// weights are the canary weights set, in order.
	weights []int
}

// hooks calls the canary's webhooks of type typ and reports whether every
// one answered 2xx (any for rollback: one is enough to roll back).
func (f *flagger) hooks(t *testing.T, typ flaggerv1.HookType, any bool) bool {
	t.Helper()
	for _, w := range f.canary.GetAnalysis().Webhooks {
		if w.Type != typ {
			continue
		}
		err := controller.CallWebhook(*f.canary, flaggerv1.CanaryPhaseProgressing, w)
		if any && err == nil {
			return true
		}
		if !any && err != nil {
			return false
		}
	}
	return !any
}

func (f *flagger) maxWeight() int {
	a := f.canary.GetAnalysis()
	if n := len(a.StepWeights); n > 0 {
		return min(100, a.StepWeights[n-1])
	}
	if a.MaxWeight > 0 {
		return a.MaxWeight
	}
	return 100
}

func (f *flagger) nextStepWeight() int {
	a := f.canary.GetAnalysis()
	if a.StepWeight > 0 || len(a.StepWeights) == 0 {
		return a.StepWeight
	}
	left := 100 - f.weight
	if left == 0 {
		return 1
	}
	if f.weight == 0 {
		return min(left, a.StepWeights[0])
	}
	for i := 0; i < len(a.StepWeights)-1; i++ {
		if a.StepWeights[i] == f.weight {
			return min(left, a.StepWeights[i+1]-f.weight)
		}
	}
	return left
}

// advance is one interval of the scheduler; it reports whether the
// revision is done (promoted or rolled back).
func (f *flagger) advance(t *testing.T) bool {
	t.Helper()
	if f.hooks(t, flaggerv1.RollbackHook, true) {
		f.phase, f.weight = flaggerv1.CanaryPhaseFailed, 0
		return true
	}
	if f.failedChecks >= f.canary.GetAnalysisThreshold() {
		f.phase, f.weight = flaggerv1.CanaryPhaseFailed, 0
		return true
	}
	if f.weight == 0 {
		if !f.hooks(t, flaggerv1.PreRolloutHook, false) {
			f.failedChecks++
			return false
		}
	} else if !f.hooks(t, flaggerv1.RolloutHook, false) {
		f.failedChecks++
		return false
	}
	if f.nextStepWeight() <= 0 {
		return false
	}
	if f.phase != flaggerv1.CanaryPhaseWaitingPromotion && !f.hooks(t, flaggerv1.ConfirmTrafficIncreaseHook, false) {
		return false
	}
	if f.weight < f.maxWeight() {
		f.weight = min(100, f.weight+f.nextStepWeight())
		f.weights = append(f.weights, f.weight)
		return false
	}
	if !f.hooks(t, flaggerv1.ConfirmPromotionHook, false) {
		f.phase = flaggerv1.CanaryPhaseWaitingPromotion
		return false
	}
	f.phase = flaggerv1.CanaryPhasePromoting
	return true
}

// checksum is the checksum Flagger's webhook client sends for c, caught
// by a local server.
func checksum(t *testing.T, c *flaggerv1.Canary) string {
	t.Helper()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p flaggerv1.CanaryWebhookPayload
		_ = json.Unmarshal(b, &p)
		got <- p.Checksum
	}))
	defer srv.Close()
	if err := controller.CallWebhook(*c, flaggerv1.CanaryPhaseProgressing, flaggerv1.CanaryWebhook{Name: "probe", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	return <-got
}

// TestFlagger runs the README's Canary through Flagger's webhook client,
// following Flagger's scheduler rules, against canaryd.
func TestFlagger(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	recipe := readFlaggerRecipe(t)
	const flaggerInterval = time.Second // Flagger asks more often than canaryd judges

	// revision returns a Flagger walking the recipe for a revision of
	// service: the recipe with canaryd's address made local, the service's
	// name, and the revision's last applied spec; the baseline's series,
	// and the canary's at canaryLevel (none when 0), keyed by the
	// checksum that is the canary's version.
	revision := func(t *testing.T, service, spec string, canaryLevel float64, metadata map[string]string) *flagger {
		c := recipe.DeepCopy()
		c.Name = service
		c.Status.LastAppliedSpec = spec
		for i := range c.Spec.Analysis.Webhooks {
			w := &c.Spec.Analysis.Webhooks[i]
			if !strings.HasPrefix(w.URL, canarydAddress) {
				t.Fatalf("README's Canary: webhook %s does not call canaryd at %s", w.Name, canarydAddress)
			}
			w.URL = e.local(w.URL)
			if w.Type == flaggerv1.PreRolloutHook && metadata != nil {
				w.Metadata = &metadata
			}
		}
		e.latency.set(service, "primary", 0.1)
		if canaryLevel > 0 {
			e.latency.set(service, checksum(t, c), canaryLevel)
		}
		return &flagger{canary: c, phase: flaggerv1.CanaryPhaseProgressing}
	}
	// walk runs f at Flagger's interval until it is done.
	walk := func(t *testing.T, f *flagger) {
		t.Helper()
		tick := time.NewTicker(flaggerInterval)
		defer tick.Stop()
		deadline := time.After(2 * time.Minute)
		for !f.advance(t) {
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s: not done after 2 minutes: weight %d, phase %s, %d failed checks", f.canary.Name, f.weight, f.phase, f.failedChecks)
			}
		}
		t.Logf("%s: weights %v, then %s", f.canary.Name, f.weights, f.phase)
	}
	steps := recipe.Spec.Analysis.StepWeights

	t.Run("healthy, then a regressed new revision", func(t *testing.T) {
		t.Parallel()
		f := revision(t, "checkout-a", "spec-1", 0.1, nil)
		walk(t, f)
		if f.phase != flaggerv1.CanaryPhasePromoting || !slices.Equal(f.weights, steps) {
			t.Fatalf("healthy: %s after weights %v, want promoted after %v", f.phase, f.weights, steps)
		}

		// The next release of the service: the previous revision's
		// promotion does not approve it.
		next := revision(t, "checkout-a", "spec-2", 0.3, nil)
		if checksum(t, next.canary) == checksum(t, f.canary) {
			t.Fatal("two revisions with one checksum")
		}
		if next.hooks(t, flaggerv1.ConfirmPromotionHook, false) {
			t.Fatal("the new revision's promotion confirmed by the previous revision's analysis")
		}
		walk(t, next)
		if next.phase != flaggerv1.CanaryPhaseFailed {
			t.Fatalf("regressed new revision: %s after weights %v, want rolled back", next.phase, next.weights)
		}
	})
	t.Run("regressed", func(t *testing.T) {
		t.Parallel()
		f := revision(t, "checkout-b", "spec-1", 0.3, nil)
		walk(t, f)
		if f.phase != flaggerv1.CanaryPhaseFailed || len(f.weights) != 1 {
			t.Fatalf("regressed: %s after weights %v, want rolled back at the first step", f.phase, f.weights)
		}
	})
	t.Run("never judged: no data", func(t *testing.T) {
		t.Parallel()
		f := revision(t, "checkout-c", "spec-1", 0, nil)
		walk(t, f)
		if f.phase != flaggerv1.CanaryPhaseFailed || len(f.weights) != 1 {
			t.Fatalf("no data: %s after weights %v, want held at the first step, then rolled back", f.phase, f.weights)
		}
	})
	t.Run("an analysis canaryd cannot start", func(t *testing.T) {
		t.Parallel()
		f := revision(t, "checkout-d", "spec-1", 0.1, map[string]string{"template": "nope"})
		walk(t, f)
		if f.phase != flaggerv1.CanaryPhaseFailed || len(f.weights) != 0 || f.failedChecks != f.canary.GetAnalysisThreshold() {
			t.Fatalf("unknown template: %s after weights %v and %d failed checks, want rolled back at weight 0 after the threshold",
				f.phase, f.weights, f.failedChecks)
		}
	})
}
