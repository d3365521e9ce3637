package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// overlayImage is the image the overlay of docs/install.md sets.
const overlayImage = "registry.example/gatewaytenant-operator:v0.1.0"

// docsOverlay writes the overlay that docs/install.md tells users to write, plus one
// strategic-merge patch, into a directory beside a link to this checkout's config/, and
// returns the overlay's directory.
func docsOverlay(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	const first = "# my-overlay/kustomization.yaml\n"
	_, block, ok := strings.Cut(string(doc), "```yaml\n"+first)
	if !ok {
		t.Fatalf("docs/install.md has no yaml block starting with %q", first)
	}
	block, _, _ = strings.Cut(block, "```")
	var k map[string]any
	if err := yaml.UnmarshalStrict([]byte(block), &k); err != nil {
		t.Fatalf("the overlay of docs/install.md: %v", err)
	}
	patches, _ := k["patches"].([]any)
	k["patches"] = append(patches, map[string]any{"patch": `apiVersion: apps/v1
kind: Deployment
metadata: {name: gatewaytenant-controller-manager, namespace: gatewaytenant-system}
spec: {replicas: 2}
`})
	data, err := yaml.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config, err := filepath.Abs("../../config")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(config, filepath.Join(dir, "config")); err != nil {
		t.Fatal(err)
	}
	overlay := filepath.Join(dir, "my-overlay")
	if err := os.Mkdir(overlay, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return overlay
}

// kustomizeBuild is `kustomize build dir`, straight from kustomize's library.
func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := resMap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := ParseObjects(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func onlyDeployment(t *testing.T, objs []*unstructured.Unstructured) appsv1.Deployment {
	t.Helper()
	var found []appsv1.Deployment
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			var d appsv1.Deployment
			if err := fromUnstructured(o, &d); err != nil {
				t.Fatal(err)
			}
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d Deployments, want 1", len(found))
	}
	return found[0]
}

// A user's overlay with images: and patches: (the one docs/install.md shows) renders in
// `make bundle CONFIG=my-overlay` exactly as kustomize renders it, and its changes reach the
// CSV.
func TestBundleOfAnOverlayIsWhatKustomizeRenders(t *testing.T) {
	overlay := docsOverlay(t)
	want := kustomizeBuild(t, overlay)

	got, err := Render(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatal("Render differs from kustomize build")
	}

	dep := onlyDeployment(t, want)
	ctr := dep.Spec.Template.Spec.Containers[0]
	if ctr.Image != overlayImage || len(ctr.Env) == 0 || ctr.Env[0].Name != "GATEWAYTENANT_PROXY_IMAGE" || ctr.Env[0].Value != overlayImage {
		t.Fatalf("the overlay's images: and its JSON patch did not apply: image %s, env %v", ctr.Image, ctr.Env)
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Fatalf("the overlay's strategic-merge patch did not apply: replicas %v", dep.Spec.Replicas)
	}
	base := onlyDeployment(t, kustomizeBuild(t, "../../config/default"))
	if base.Spec.Template.Spec.Containers[0].Image == overlayImage {
		t.Fatal("config/default already runs the overlay's image: the test proves nothing")
	}

	files, err := Generate(options(func(o *Options) {
		o.Config = overlay
		o.Image = overlayImage
	}))
	if err != nil {
		t.Fatal(err)
	}
	var csv v1alpha1.ClusterServiceVersion
	if err := yaml.Unmarshal(files[CSVFile], &csv); err != nil {
		t.Fatal(err)
	}
	deployments := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deployments) != 1 || !equality.Semantic.DeepEqual(deployments[0].Spec, dep.Spec) {
		t.Errorf("the CSV's install strategy is not the overlay's Deployment:\n%+v\nwant\n%+v", deployments, dep.Spec)
	}
	for _, o := range want {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
		wantCRD, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if path := ManifestsDir + "/" + group + "_" + plural + ".yaml"; string(files[path]) != string(wantCRD) {
			t.Errorf("%s is not the CRD kustomize renders", path)
		}
	}
}
