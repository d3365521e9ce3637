package bundle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	olmcrds "github.com/operator-framework/api/crds"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness/controlplane"
)

// warnings collects the API server's warnings (deprecated APIs, Pod Security, unknown
// fields): a manifest that draws one fails the test.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// Every manifest the project ships is accepted by a real API server, as
// `kubectl apply --server-side --dry-run=server` with strict field validation would:
// config/default and config/prometheus as rendered for `kubectl apply -k`, and bundle/manifests with the CSV
// checked against OLM's own ClusterServiceVersion CRD (from operator-framework/api, so no OLM
// needs to run), and the CSV's alm-examples. The manager's pod, from either Deployment,
// is admitted in a namespace enforcing the restricted Pod Security Standard.
func TestManifestsDryRun(t *testing.T) {
	c, warn := startDryRunEnv(t)
	ctx := context.Background()

	config, err := bundle.Render(filepath.Join(root(), "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	monitoring, err := bundle.Render(filepath.Join(root(), "config", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	config = append(config, monitoring...)
	b := loadBundle(t)
	const ns = "gatewaytenant-system"

	// For real first: the CRDs of the bundle, and the namespaces the rest goes into (the
	// manager's, labelled restricted by config/default, and the example tenant's).
	for _, crd := range objectsOfKind(t, b.Objects, "CustomResourceDefinition") {
		apply(ctx, t, c, crd)
	}
	for _, nsObj := range objectsOfKind(t, config, "Namespace") {
		apply(ctx, t, c, nsObj)
	}
	apply(ctx, t, c, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "my-namespace"},
	}})

	var deployments []appsv1.DeploymentSpec
	for _, o := range config {
		t.Run("config/default "+o.GetKind()+" "+o.GetName(), func(t *testing.T) {
			apply(ctx, t, c, o, client.DryRunAll)
			checkWarnings(t, warn)
		})
		if o.GetKind() == "Deployment" {
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
			deployments = append(deployments, d.Spec)
		}
	}
	for _, o := range b.Objects {
		t.Run("bundle "+o.GetKind()+" "+o.GetName(), func(t *testing.T) {
			o := o.DeepCopy()
			if o.GetKind() == "ClusterServiceVersion" || o.GetKind() == "Service" || o.GetKind() == "PrometheusRule" {
				o.SetNamespace(ns) // OLM puts them into the operator's namespace
			}
			apply(ctx, t, c, o, client.DryRunAll)
			checkWarnings(t, warn)
		})
	}
	var examples []map[string]any
	if err := json.Unmarshal([]byte(b.CSV.Annotations["alm-examples"]), &examples); err != nil || len(examples) != 2 {
		t.Fatalf("alm-examples: want an example of each kind: %d, %v", len(examples), err)
	}
	for _, e := range examples {
		o := &unstructured.Unstructured{Object: e}
		t.Run("alm-example "+o.GetKind()+" "+o.GetName(), func(t *testing.T) {
			apply(ctx, t, c, o, client.DryRunAll)
			checkWarnings(t, warn)
		})
	}
	for _, d := range b.CSV.Spec.InstallStrategy.StrategySpec.DeploymentSpecs {
		deployments = append(deployments, d.Spec)
	}
	for i, d := range deployments {
		t.Run(fmt.Sprintf("manager pod %d under restricted Pod Security", i), func(t *testing.T) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "manager-", Namespace: ns, Labels: d.Template.Labels},
				Spec:       d.Template.Spec,
			}
			// No ServiceAccount exists in a dry run; the pod's security is what counts here.
			pod.Spec.ServiceAccountName = ""
			if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
				t.Errorf("restricted namespace refuses the manager pod: %v", err)
			}
			checkWarnings(t, warn)
		})
	}
}

// startDryRunEnv starts a control plane with the operator's CRDs and OLM's
// ClusterServiceVersion CRD, and returns a client with strict field validation whose
// API server warnings are collected.
func startDryRunEnv(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	env := controlplane.StartForTest(t, nil)
	monitoring, err := controlplane.MonitoringCRDs("prometheusrules", "servicemonitors")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		CRDs:               []*apiextensionsv1.CustomResourceDefinition{olmcrds.ClusterServiceVersion()},
		Paths:              monitoring,
		ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	warn := &warnings{}
	cfg.WarningHandler = warn
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return client.WithFieldValidation(c, metav1.FieldValidationStrict), warn
}

func apply(ctx context.Context, t *testing.T, c client.Client, o *unstructured.Unstructured, opts ...client.ApplyOption) {
	t.Helper()
	opts = append(opts, client.FieldOwner("bundle-test"), client.ForceOwnership)
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
		t.Errorf("apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
}

func checkWarnings(t *testing.T, w *warnings) {
	t.Helper()
	for _, m := range w.take() {
		t.Errorf("API server warning: %s", m)
	}
}

func objectsOfKind(t *testing.T, objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	t.Helper()
	out := slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return o.GetKind() != kind })
	if len(out) == 0 {
		t.Fatalf("no %s among the manifests", kind)
	}
	return out
}

// The bundle directory holds nothing but what the loader read as objects: a file it could not
// decode would be missing from the checks above.
func TestBundleManifestsAllLoaded(t *testing.T) {
	b := loadBundle(t)
	entries, err := os.ReadDir(filepath.Join(root(), bundle.ManifestsDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(b.Objects) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("bundle/manifests has %d files (%s) but %d objects loaded", len(entries), strings.Join(names, ", "), len(b.Objects))
	}
}
