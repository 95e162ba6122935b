package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	flaggerv1 "github.com/fluxcd/flagger/pkg/apis/flagger/v1beta1"
	"github.com/fluxcd/flagger/pkg/canary"
	fakeflagger "github.com/fluxcd/flagger/pkg/client/clientset/versioned/fake"
	flaggerinformers "github.com/fluxcd/flagger/pkg/client/informers/externalversions"
	"github.com/fluxcd/flagger/pkg/controller"
	"github.com/fluxcd/flagger/pkg/logger"
	"github.com/fluxcd/flagger/pkg/metrics/observers"
	"github.com/fluxcd/flagger/pkg/notifier"
	"github.com/fluxcd/flagger/pkg/router"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// flaggerController is Flagger's own controller (scheduler, deployment
// controller, Istio router) on fake Kubernetes clientsets. A reactor plays
// Kubernetes' deployment controller: every deployment written is rolled
// out at once (its status says all replicas updated and available).
type flaggerController struct {
	kube    *k8sfake.Clientset
	flagger *fakeflagger.Clientset
}

func startFlaggerController(t *testing.T, promURL string, canaries ...*flaggerv1.Canary) *flaggerController {
	t.Helper()
	kube := k8sfake.NewSimpleClientset()
	rollOut := func(action k8stesting.Action) (bool, runtime.Object, error) {
		obj, ok := action.(interface{ GetObject() runtime.Object })
		if !ok {
			return false, nil, nil
		}
		if d, ok := obj.GetObject().(*appsv1.Deployment); ok {
			n := int32(1)
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		}
		return false, nil, nil
	}
	kube.PrependReactor("create", "deployments", rollOut)
	kube.PrependReactor("update", "deployments", rollOut)
	objs := make([]runtime.Object, len(canaries))
	for i, c := range canaries {
		objs[i] = c
	}
	fl := fakeflagger.NewSimpleClientset(objs...)
	log, err := logger.NewLogger("error")
	if err != nil {
		t.Fatal(err)
	}
	inf := flaggerinformers.NewSharedInformerFactory(fl, 0)
	fi := controller.Informers{
		CanaryInformer: inf.Flagger().V1beta1().Canaries(),
		MetricInformer: inf.Flagger().V1beta1().MetricTemplates(),
		AlertInformer:  inf.Flagger().V1beta1().AlertProviders(),
	}
	observerFactory, err := observers.NewFactory(promURL)
	if err != nil {
		t.Fatal(err)
	}
	tracker := &canary.ConfigTracker{Logger: log, KubeClient: kube, FlaggerClient: fl}
	c := controller.NewController(kube, fl, fi, time.Second, log, &notifier.NopNotifier{},
		canary.NewFactory(kube, fl, tracker, []string{"app", "name"}, []string{""}, log),
		router.NewFactory(nil, kube, fl, "", "", log, fl, true),
		observerFactory, flaggerv1.IstioProvider, "contract-test", "", "", false)
	stop := make(chan struct{})
	inf.Start(stop)
	inf.WaitForCacheSync(stop)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(2, stop)
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		inf.Shutdown()
	})
	return &flaggerController{kube: kube, flagger: fl}
}

// deployment is the workload of a Canary: image is its revision.
func deployment(name, namespace, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// release deploys image as the next revision of the Canary's workload.
func (f *flaggerController) release(t *testing.T, d *appsv1.Deployment, image string) {
	t.Helper()
	deps := f.kube.AppsV1().Deployments(d.Namespace)
	cur, err := deps.Get(t.Context(), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = image
	if _, err := deps.Update(t.Context(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// until follows the Canary's status until one satisfies done, and returns
// the canary weights it went through.
func (f *flaggerController) until(t *testing.T, name, namespace string, done func(flaggerv1.CanaryStatus) bool) (flaggerv1.CanaryStatus, []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	w, err := f.flagger.FlaggerV1beta1().Canaries(namespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	cur, err := f.flagger.FlaggerV1beta1().Canaries(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var weights []int
	st := cur.Status
	for !done(st) {
		select {
		case ev := <-w.ResultChan():
			c, ok := ev.Object.(*flaggerv1.Canary)
			if !ok || c.Name != name || ev.Type != watch.Modified {
				continue
			}
			st = c.Status
			if n := len(weights); st.CanaryWeight > 0 && (n == 0 || weights[n-1] != st.CanaryWeight) {
				weights = append(weights, st.CanaryWeight)
			}
		case <-ctx.Done():
			t.Fatalf("canary %s: still %s (weight %d, %d failed checks) after 4 minutes", name, st.Phase, st.CanaryWeight, st.FailedChecks)
		}
	}
	return st, weights
}

// versionOf returns the canary version of the latest analysis of service,
// "" before there is one.
func versionOf(base, service string) string {
	resp, err := http.Get(base + "/api/v1/analyses?namespace=shop&service=" + service)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var list struct {
		Analyses []struct {
			Canary struct {
				Version string `json:"version"`
			} `json:"canary"`
		} `json:"analyses"`
	}
	if json.NewDecoder(resp.Body).Decode(&list) != nil || len(list.Analyses) == 0 {
		return ""
	}
	return list.Analyses[len(list.Analyses)-1].Canary.Version
}

// TestFlaggerController runs the README's Canary in Flagger's own
// controller: Flagger initializes the canary, detects each new revision of
// its deployment, calls canaryd's webhooks on its own schedule and shifts
// the traffic (Istio routes on fake clientsets).
func TestFlaggerController(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	recipe := readFlaggerRecipe(t)
	steps := recipe.Spec.Analysis.StepWeights

	type tc struct {
		name     string
		level    float64 // the canary's latency; 0: no series
		template string  // in place of the recipe's, when set
	}
	cases := []tc{
		{name: "healthy", level: 0.1},
		{name: "regressed", level: 0.3},
		{name: "nodata"},
		{name: "unknown", level: 0.1, template: "nope"},
	}
	var canaries []*flaggerv1.Canary
	for _, c := range cases {
		cd := recipe.DeepCopy()
		cd.Name, cd.Spec.TargetRef.Name = "ctl-"+c.name, "ctl-"+c.name
		cd.Spec.Analysis.Interval = "10s" // Flagger's shortest
		for i := range cd.Spec.Analysis.Webhooks {
			w := &cd.Spec.Analysis.Webhooks[i]
			w.URL = e.local(w.URL)
			if c.template != "" && w.Type == flaggerv1.PreRolloutHook {
				md := map[string]string{"template": c.template}
				w.Metadata = &md
			}
		}
		canaries = append(canaries, cd)
	}
	// canaryd's analysis names the canary's version (Flagger's checksum):
	// the canary's series appear under it.
	for _, c := range cases {
		e.latency.set("ctl-"+c.name, "primary", 0.1)
		e.latency.follow("ctl-"+c.name, c.level)
	}
	f := startFlaggerController(t, e.prom)
	deps := map[string]*appsv1.Deployment{}
	for _, c := range canaries {
		d := deployment(c.Name, c.Namespace, "registry.example/"+c.Name+":1")
		if _, err := f.kube.AppsV1().Deployments(c.Namespace).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.flagger.FlaggerV1beta1().Canaries(c.Namespace).Create(t.Context(), c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deps[c.Name] = d
	}
	for _, c := range cases {
		name := "ctl-" + c.name
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f.until(t, name, "shop", func(s flaggerv1.CanaryStatus) bool { return s.Phase == flaggerv1.CanaryPhaseInitialized })
			f.release(t, deps[name], fmt.Sprintf("registry.example/%s:2", name))
			st, weights := f.until(t, name, "shop", func(s flaggerv1.CanaryStatus) bool {
				return s.Phase == flaggerv1.CanaryPhaseSucceeded || s.Phase == flaggerv1.CanaryPhaseFailed
			})
			t.Logf("%s: weights %v, then %s", name, weights, st.Phase)
			want := flaggerv1.CanaryPhaseFailed
			if c.name == "healthy" {
				want = flaggerv1.CanaryPhaseSucceeded
			}
			if st.Phase != want {
				t.Fatalf("%s: %s after weights %v, want %s", name, st.Phase, weights, want)
			}
			switch c.name {
			case "healthy":
				if !slices.Equal(weights, steps) {
					t.Errorf("%s: weights %v, want the steps %v", name, weights, steps)
				}
			case "unknown": // rolled back after its failed checks (Flagger resets their count as it does)
				if len(weights) != 0 {
					t.Errorf("%s: weights %v, want none", name, weights)
				}
			default: // held at the first step, then rolled back
				if !slices.Equal(weights, steps[:1]) {
					t.Errorf("%s: weights %v, want %v", name, weights, steps[:1])
				}
			}
			if c.name != "healthy" {
				return
			}
			// The next release, regressed: the previous revision's
			// promotion does not approve it.
			e.latency.follow(name, 0.3)
			approved := st.LastAppliedSpec
			f.release(t, deps[name], fmt.Sprintf("registry.example/%s:3", name))
			st, weights = f.until(t, name, "shop", func(s flaggerv1.CanaryStatus) bool {
				return s.LastAppliedSpec != approved && (s.Phase == flaggerv1.CanaryPhaseSucceeded || s.Phase == flaggerv1.CanaryPhaseFailed)
			})
			t.Logf("%s, next release: weights %v, then %s", name, weights, st.Phase)
			if st.Phase != flaggerv1.CanaryPhaseFailed || !slices.Equal(weights, steps[:1]) {
				t.Errorf("%s, regressed next release: %s after weights %v, want rolled back at %v", name, st.Phase, weights, steps[:1])
			}
		})
	}
}
