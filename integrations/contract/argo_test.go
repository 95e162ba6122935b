package contract

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-rollouts/analysis"
	"github.com/argoproj/argo-rollouts/controller/metrics"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/validation"
	"github.com/argoproj/argo-rollouts/pkg/client/clientset/versioned/fake"
	informers "github.com/argoproj/argo-rollouts/pkg/client/informers/externalversions"
	analysisutil "github.com/argoproj/argo-rollouts/utils/analysis"
	"github.com/argoproj/argo-rollouts/utils/queue"
	"github.com/argoproj/argo-rollouts/utils/record"
	log "github.com/sirupsen/logrus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	kubeinformers "k8s.io/client-go/informers"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/yaml"
)

// argoRecipe is the README's Argo Rollouts recipe: the AnalysisTemplate and
// the Rollout that runs it, decoded strictly into Argo's types and checked
// by Argo's validation (the metrics', the rollout's, and the template's
// against the rollout's analysis step and its args).
type argoRecipe struct {
	template *v1alpha1.AnalysisTemplate
	rollout  *v1alpha1.Rollout
	step     *v1alpha1.RolloutAnalysis
}

func readArgoRecipe(t *testing.T) argoRecipe {
	t.Helper()
	var r argoRecipe
	tmpls, rollouts := readmeYAML(t, "AnalysisTemplate"), readmeYAML(t, "Rollout")
	if len(tmpls) != 1 || len(rollouts) != 1 {
		t.Fatalf("README: %d AnalysisTemplates and %d Rollouts, want one of each", len(tmpls), len(rollouts))
	}
	r.template, r.rollout = &v1alpha1.AnalysisTemplate{}, &v1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict(tmpls[0], r.template); err != nil {
		t.Fatalf("README's AnalysisTemplate: %v", err)
	}
	if err := yaml.UnmarshalStrict(rollouts[0], r.rollout); err != nil {
		t.Fatalf("README's Rollout: %v", err)
	}
	// Argo's validation writes dummy values into what it validates: it
	// gets copies.
	if err := analysisutil.ValidateMetrics(r.template.DeepCopy().Spec.Metrics); err != nil {
		t.Fatalf("README's AnalysisTemplate: Argo's validation: %v", err)
	}
	if errs := validation.ValidateRollout(r.rollout.DeepCopy()); len(errs) > 0 {
		t.Fatalf("README's Rollout: Argo's validation: %v", errs.ToAggregate())
	}
	for i, s := range r.rollout.Spec.Strategy.Canary.Steps {
		if s.Analysis == nil {
			continue
		}
		if s.Analysis.Templates[0].TemplateName != r.template.Name {
			t.Fatalf("README's Rollout runs template %s, the AnalysisTemplate is %s", s.Analysis.Templates[0].TemplateName, r.template.Name)
		}
		errs := validation.ValidateAnalysisTemplatesWithType(r.rollout.DeepCopy(), validation.AnalysisTemplatesWithType{
			AnalysisTemplates: []*v1alpha1.AnalysisTemplate{r.template.DeepCopy()},
			TemplateType:      validation.InlineAnalysis,
			CanaryStepIndex:   i,
			Args:              s.DeepCopy().Analysis.Args,
		})
		if len(errs) > 0 {
			t.Fatalf("README's Rollout step %d with the AnalysisTemplate: Argo's validation: %v", i, errs.ToAggregate())
		}
		r.step = s.Analysis
	}
	if r.step == nil {
		t.Fatal("README's Rollout has no analysis step")
	}
	return r
}

// run returns the AnalysisRun the rollout controller would create for the
// analysis step at a revision: the step's args with the pod-template hashes
// resolved (stable and canary), and override's values in place of the
// step's. The test's only changes to the recipe: canaryd's address, and the
// measurement interval set to the test template's.
func (r argoRecipe) run(t *testing.T, e *env, name, stable, canary string, override map[string]string) *v1alpha1.AnalysisRun {
	t.Helper()
	var args []v1alpha1.Argument
	for _, a := range r.step.Args {
		var v string
		switch {
		case override[a.Name] != "":
			v = override[a.Name]
		case a.Value != "":
			v = a.Value
		case a.ValueFrom != nil && a.ValueFrom.PodTemplateHashValue != nil && *a.ValueFrom.PodTemplateHashValue == v1alpha1.Stable:
			v = stable
		case a.ValueFrom != nil && a.ValueFrom.PodTemplateHashValue != nil && *a.ValueFrom.PodTemplateHashValue == v1alpha1.Latest:
			v = canary
		default:
			t.Fatalf("README's Rollout: arg %s has no value the test can resolve", a.Name)
		}
		args = append(args, v1alpha1.Argument{Name: a.Name, Value: &v})
	}
	run, err := analysisutil.NewAnalysisRunFromTemplates([]*v1alpha1.AnalysisTemplate{r.template.DeepCopy()}, nil, args, nil, nil,
		nil, nil, name, "", r.rollout.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	for i := range run.Spec.Metrics {
		m := &run.Spec.Metrics[i]
		if m.Provider.Web == nil || !strings.HasPrefix(m.Provider.Web.URL, canarydAddress) {
			t.Fatalf("README's AnalysisTemplate: metric %s does not call canaryd at %s", m.Name, canarydAddress)
		}
		m.Provider.Web.URL = e.local(m.Provider.Web.URL)
		m.Interval = v1alpha1.DurationString(interval.String())
	}
	return run
}

// argo is Argo Rollouts' AnalysisRun controller on fake Kubernetes
// clientsets, measuring with its real metric providers.
type argo struct {
	client *fake.Clientset
}

func startArgo(t *testing.T) *argo {
	t.Helper()
	log.SetLevel(log.WarnLevel)
	client, kube := fake.NewSimpleClientset(), k8sfake.NewSimpleClientset()
	inf := informers.NewSharedInformerFactory(client, 0)
	kinf := kubeinformers.NewSharedInformerFactory(kube, 0)
	q := workqueue.NewNamedRateLimitingQueue(queue.DefaultArgoRolloutsRateLimiter(), "AnalysisRuns")
	c := analysis.NewController(analysis.ControllerConfig{
		KubeClientSet:        kube,
		ArgoProjClientset:    client,
		AnalysisRunInformer:  inf.Argoproj().V1alpha1().AnalysisRuns(),
		JobInformer:          kinf.Batch().V1().Jobs(),
		JobPodsInformer:      kinf.Core().V1().Pods(),
		AnalysisRunWorkQueue: q,
		MetricsServer:        metrics.NewMetricsServer(metrics.ServerConfig{Addr: "127.0.0.1:0", K8SRequestProvider: &metrics.K8sRequestsCountProvider{}}),
		Recorder:             record.NewFakeEventRecorder(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	inf.Start(ctx.Done())
	kinf.Start(ctx.Done())
	for typ, ok := range inf.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer of %v not synced", typ)
		}
	}
	kinf.WaitForCacheSync(ctx.Done())
	go func() {
		defer close(done)
		_ = c.Run(ctx, 4)
	}()
	t.Cleanup(func() {
		cancel()
		q.ShutDown() // the workers wait on the queue
		<-done
		inf.Shutdown()
		kinf.Shutdown()
	})
	return &argo{client: client}
}

// measure creates run and follows it until it completes: every status the
// controller wrote, the last one complete.
func (a *argo) measure(t *testing.T, run *v1alpha1.AnalysisRun, timeout time.Duration) []v1alpha1.AnalysisRunStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	runs := a.client.ArgoprojV1alpha1().AnalysisRuns(run.Namespace)
	w, err := runs.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := runs.Create(ctx, run, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []v1alpha1.AnalysisRunStatus
	for {
		select {
		case ev := <-w.ResultChan():
			r, ok := ev.Object.(*v1alpha1.AnalysisRun)
			if !ok || r.Name != run.Name || ev.Type != watch.Modified {
				continue
			}
			seen = append(seen, r.Status)
			if r.Status.Phase.Completed() {
				return seen
			}
		case <-ctx.Done():
			t.Fatalf("AnalysisRun %s: not complete after %s; its statuses: %s", run.Name, timeout, statuses(seen))
			return nil
		}
	}
}

// statuses describes the statuses seen, for failure messages.
func statuses(seen []v1alpha1.AnalysisRunStatus) string {
	var b strings.Builder
	for _, s := range seen {
		b.WriteString("\n  " + string(s.Phase) + " " + s.Message)
		for _, m := range s.MetricResults {
			for _, ms := range m.Measurements {
				b.WriteString("\n    " + string(ms.Phase) + " " + ms.Value + " " + ms.Message)
			}
		}
	}
	return b.String()
}

// gateOf decodes a measurement's value: the gate answer.
func gateOf(m v1alpha1.Measurement) (g struct {
	Gate  string `json:"gate"`
	State string `json:"state"`
}) {
	_ = json.Unmarshal([]byte(m.Value), &g)
	return g
}

// TestArgoRollouts runs the README's Argo Rollouts recipe in Argo's
// AnalysisRun controller and web metric provider against canaryd.
func TestArgoRollouts(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	recipe := readArgoRecipe(t)
	a := startArgo(t)
	const timeout = 2 * time.Minute

	// final checks the run's end, and that no status before it was
	// Successful.
	final := func(t *testing.T, seen []v1alpha1.AnalysisRunStatus, want v1alpha1.AnalysisPhase, gate string) v1alpha1.AnalysisRunStatus {
		t.Helper()
		last := seen[len(seen)-1]
		if last.Phase != want {
			t.Fatalf("AnalysisRun ended %s, want %s; its statuses: %s", last.Phase, want, statuses(seen))
		}
		for _, s := range seen[:len(seen)-1] {
			if s.Phase == v1alpha1.AnalysisPhaseSuccessful {
				t.Fatalf("AnalysisRun was Successful before its end; its statuses: %s", statuses(seen))
			}
		}
		ms := last.MetricResults[0].Measurements
		for i, m := range ms {
			if gate == "" {
				break
			}
			g := gateOf(m)
			switch {
			case i < len(ms)-1 && (m.Phase != v1alpha1.AnalysisPhaseInconclusive || g.Gate != "running"):
				t.Errorf("measurement %d of %d: %s %s, want Inconclusive with gate running", i+1, len(ms), m.Phase, m.Value)
			case i == len(ms)-1 && gate != "" && g.Gate != gate:
				t.Errorf("the last measurement: %s %s, want gate %s", m.Phase, m.Value, gate)
			}
		}
		return last
	}

	t.Run("healthy, then a regressed new revision", func(t *testing.T) {
		t.Parallel()
		e.latency.set("checkout", "stable-a", 0.1)
		e.latency.set("checkout", "rev-a", 0.1)
		seen := a.measure(t, recipe.run(t, e, "checkout-rev-a", "stable-a", "rev-a", nil), timeout)
		final(t, seen, v1alpha1.AnalysisPhaseSuccessful, "succeeded")

		// The next release: rev-a's approval does not carry over.
		e.latency.set("checkout", "rev-b", 0.25)
		seen = a.measure(t, recipe.run(t, e, "checkout-rev-b", "rev-a", "rev-b", nil), timeout)
		final(t, seen, v1alpha1.AnalysisPhaseFailed, "failed")
	})
	t.Run("regressed", func(t *testing.T) {
		t.Parallel()
		e.latency.set("checkout", "stable-c", 0.1)
		e.latency.set("checkout", "rev-c", 0.3)
		seen := a.measure(t, recipe.run(t, e, "checkout-rev-c", "stable-c", "rev-c", nil), timeout)
		final(t, seen, v1alpha1.AnalysisPhaseFailed, "failed")
	})
	t.Run("never judged: no data", func(t *testing.T) {
		t.Parallel()
		e.latency.set("checkout", "stable-d", 0.1) // and no canary series
		seen := a.measure(t, recipe.run(t, e, "checkout-rev-d", "stable-d", "rev-d", nil), timeout)
		last := final(t, seen, v1alpha1.AnalysisPhaseFailed, "failed")
		if n := len(last.MetricResults[0].Measurements); n < 5 {
			t.Errorf("%d measurements, want the analysis' lifetime of them", n)
		}
	})
	t.Run("an analysis canaryd cannot start", func(t *testing.T) {
		t.Parallel()
		seen := a.measure(t, recipe.run(t, e, "checkout-rev-e", "stable-e", "rev-e", map[string]string{"template": "nope"}), timeout)
		last := final(t, seen, v1alpha1.AnalysisPhaseError, "")
		for _, m := range last.MetricResults[0].Measurements {
			if m.Phase != v1alpha1.AnalysisPhaseError || !strings.Contains(m.Message, "non 2xx") {
				t.Errorf("measurement %s %q, want an Error for canaryd's 400", m.Phase, m.Message)
			}
		}
	})
}
