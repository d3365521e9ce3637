// Package bundle_test checks what the operator ships: the OLM bundle under bundle/ (with
// operator-framework's validators, and the checks they skip), that it is up to date with
// config/, that every manifest is accepted by a real API server, and that the Dockerfile
// builds from what the repository holds.
package bundle_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/bundle"
	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// root is the checkout: the tests run in its test/bundle.
func root() string {
	r, err := harness.RepoRoot()
	if err != nil {
		panic(err)
	}
	return r
}

func loadBundle(t *testing.T) *manifests.Bundle {
	t.Helper()
	b, err := manifests.GetBundleFromDir(filepath.Join(root(), "bundle"))
	if err != nil {
		t.Fatalf("loading bundle/: %v", err)
	}
	return b
}

// The bundle passes operator-framework's validators, OperatorHub's and the good-practice
// ones included, without a single error or warning.
func TestBundleValidators(t *testing.T) {
	b := loadBundle(t)
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": "1.37"})
	validators := map[string]interface {
		Validate(...interface{}) []errors.ManifestResult
	}{
		"Bundle":                 validation.BundleValidator,
		"ClusterServiceVersion":  validation.ClusterServiceVersionValidator,
		"CustomResourceDefinion": validation.CustomResourceDefinitionValidator,
		"OperatorHubV2":          validation.OperatorHubV2Validator,
		"GoodPractices":          validation.GoodPracticesValidator,
		"StandardCapabilities":   validation.StandardCapabilitiesValidator,
		"StandardCategories":     validation.StandardCategoriesValidator,
		"AlphaDeprecatedAPIs":    validation.AlphaDeprecatedAPIsValidator,
		"Object":                 validation.ObjectValidator,
	}
	for name, v := range validators {
		for _, result := range v.Validate(objs...) {
			for _, e := range result.Errors {
				t.Errorf("%s validator: error: %s", name, e)
			}
			for _, w := range result.Warnings {
				t.Errorf("%s validator: warning: %s", name, w)
			}
		}
	}
}

// What the validators do not check: the image labels equal annotations.yaml, every image the
// CSV runs is a related image (mirroring needs that), the OpenShift feature annotations are
// all stated, and nothing ships that must not.
func TestBundleContents(t *testing.T) {
	b := loadBundle(t)
	csv := b.CSV

	t.Run("annotations.yaml equals the LABELs of bundle.Dockerfile", func(t *testing.T) {
		var meta struct {
			Annotations map[string]string `json:"annotations"`
		}
		data, err := os.ReadFile(filepath.Join(root(), bundle.AnnotationsFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, &meta); err != nil {
			t.Fatal(err)
		}
		labels := dockerfileLabels(t, filepath.Join(root(), bundle.DockerfileName))
		if len(meta.Annotations) == 0 || !equalMaps(meta.Annotations, labels) {
			t.Errorf("annotations.yaml %v\n!= bundle.Dockerfile labels %v", meta.Annotations, labels)
		}
	})

	t.Run("every image of the CSV is a related image", func(t *testing.T) {
		var related []string
		for _, r := range csv.Spec.RelatedImages {
			related = append(related, r.Image)
		}
		images := []string{csv.Annotations["containerImage"]}
		for _, d := range csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs {
			pod := d.Spec.Template.Spec
			for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
				images = append(images, c.Image)
				for _, e := range c.Env {
					if strings.HasSuffix(e.Name, "_IMAGE") {
						images = append(images, e.Value)
					}
				}
			}
		}
		for _, img := range images {
			if img == "" || !slices.Contains(related, img) {
				t.Errorf("image %q is not in spec.relatedImages %v", img, related)
			}
		}
	})

	t.Run("every OpenShift feature annotation is stated", func(t *testing.T) {
		for _, f := range bundle.FeatureAnnotations {
			if v := csv.Annotations[f]; v != "true" && v != "false" {
				t.Errorf("annotation %s = %q, want \"true\" or \"false\"", f, v)
			}
		}
		if v := csv.Annotations["operators.openshift.io/valid-subscription"]; v == "" {
			t.Error("annotation operators.openshift.io/valid-subscription is missing")
		}
	})

	t.Run("no NetworkPolicy and no foreign CRD", func(t *testing.T) {
		for _, o := range b.Objects {
			if o.GetKind() == "NetworkPolicy" {
				t.Errorf("bundle ships NetworkPolicy %s", o.GetName())
			}
		}
		for _, crd := range b.V1CRDs {
			if crd.Spec.Group != "gatewaytenant.io" {
				t.Errorf("bundle ships CRD %s of group %s", crd.Name, crd.Spec.Group)
			}
		}
		if len(b.V1CRDs) != 2 {
			t.Errorf("bundle has %d CRDs, want GatewayTenant and GatewayDataPlane", len(b.V1CRDs))
		}
	})
}

// The MultipleArchitectures validator finds nothing to warn about except what it cannot know
// without pulling the image (there is no container engine here): its inspection of the image
// and the comparison of the node affinity with the inspected platforms. What it would learn
// from the pull is checked below instead: the CSV's labels, the manager's node affinity and
// the Makefile's PLATFORMS (what make docker-buildx builds) name the same platforms.
func TestMultipleArchitectures(t *testing.T) {
	b := loadBundle(t)
	needsPull := regexp.MustCompile(`unable to inspect the image|"error/error"|missing a node affinity configuration for the image`)
	for _, result := range validation.MultipleArchitecturesValidator.Validate(b, map[string]string{"container-tools": "none"}) {
		for _, e := range result.Errors {
			t.Errorf("MultipleArchitectures validator: error: %s", e)
		}
		for _, w := range result.Warnings {
			if needsPull.MatchString(w.Error()) {
				t.Logf("needs an image pull, not checked here: %s", w)
				continue
			}
			t.Errorf("MultipleArchitectures validator: warning: %s", w)
		}
	}

	labels := csvPlatforms(b.CSV.Labels)
	makefile, err := os.ReadFile(filepath.Join(root(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLATFORMS \?= (\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("Makefile sets no PLATFORMS")
	}
	built := strings.Split(string(m[1]), ",")
	slices.Sort(built)
	if !slices.Equal(labels, built) {
		t.Errorf("CSV labels claim %v, make docker-buildx builds %v", labels, built)
	}
	for _, d := range b.CSV.Spec.InstallStrategy.StrategySpec.DeploymentSpecs {
		var affinity []string
		if a := d.Spec.Template.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
				var oses, archs []string
				for _, e := range term.MatchExpressions {
					switch e.Key {
					case "kubernetes.io/os":
						oses = e.Values
					case "kubernetes.io/arch":
						archs = e.Values
					}
				}
				for _, o := range oses {
					for _, a := range archs {
						affinity = append(affinity, o+"/"+a)
					}
				}
			}
		}
		slices.Sort(affinity)
		if !slices.Equal(affinity, built) {
			t.Errorf("deployment %s: node affinity allows %v, the image is built for %v", d.Name, affinity, built)
		}
	}
}

func dockerfileLabels(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "LABEL ")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("%s: LABEL line %q is not key=value", path, sc.Text())
		}
		labels[k] = v
	}
	return labels
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
