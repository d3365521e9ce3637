package bundle

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// FeatureAnnotations are the OpenShift infrastructure features every CSV must state.
var FeatureAnnotations = []string{
	"features.operators.openshift.io/disconnected",
	"features.operators.openshift.io/fips-compliant",
	"features.operators.openshift.io/proxy-aware",
	"features.operators.openshift.io/tls-profiles",
	"features.operators.openshift.io/token-auth-aws",
	"features.operators.openshift.io/token-auth-azure",
	"features.operators.openshift.io/token-auth-gcp",
	"features.operators.openshift.io/cnf",
	"features.operators.openshift.io/cni",
	"features.operators.openshift.io/csi",
}

// buildCSV completes the hand-written base CSV with what config/ and the options say.
func buildCSV(o Options, p *parts) (*v1alpha1.ClusterServiceVersion, error) {
	csv := &v1alpha1.ClusterServiceVersion{}
	data, err := os.ReadFile(filepath.Join(o.Root, baseCSVFile))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(data, csv); err != nil {
		return nil, fmt.Errorf("%s: %w", baseCSVFile, err)
	}
	for _, f := range FeatureAnnotations {
		if _, ok := csv.Annotations[f]; !ok {
			return nil, fmt.Errorf("%s: annotation %s is missing", baseCSVFile, f)
		}
	}

	csv.Name = PackageName + ".v" + o.Version
	csv.Spec.Version = version.OperatorVersion{Version: semver.MustParse(o.Version)}
	csv.Annotations["containerImage"] = o.Image
	setUpgradeAndPlatforms(csv, o)
	// Mirroring into a disconnected cluster needs images pinned by digest.
	csv.Annotations["features.operators.openshift.io/disconnected"] = strconv.FormatBool(strings.Contains(o.Image, "@sha256:"))
	if csv.Annotations["alm-examples"], err = examples(o.Root); err != nil {
		return nil, err
	}
	icon, err := os.ReadFile(filepath.Join(o.Root, iconFile))
	if err != nil {
		return nil, err
	}
	csv.Spec.Icon = []v1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(icon), MediaType: "image/svg+xml"}}
	if err := ownCRDs(csv, p); err != nil {
		return nil, err
	}
	deployments, err := deploymentSpecs(p.deployments, o.Image)
	if err != nil {
		return nil, err
	}
	csv.Spec.InstallStrategy = v1alpha1.NamedInstallStrategy{
		StrategyName: v1alpha1.InstallStrategyNameDeployment,
		StrategySpec: v1alpha1.StrategyDetailsDeployment{
			DeploymentSpecs:    deployments,
			Permissions:        p.permissions,
			ClusterPermissions: p.clusterPermissions,
		},
	}
	csv.Spec.RelatedImages = []v1alpha1.RelatedImage{
		{Name: "manager", Image: o.Image},
		{Name: "proxy", Image: o.Image},
	}
	return csv, nil
}

// examples renders config/manifests/examples.yaml as the alm-examples JSON array.
func examples(root string) (string, error) {
	objs, err := ReadObjects(filepath.Join(root, examplesFile))
	if err != nil {
		return "", fmt.Errorf("%s: %w", examplesFile, err)
	}
	list := make([]map[string]any, 0, len(objs))
	for _, obj := range objs {
		list = append(list, obj.Object)
	}
	out, err := json.MarshalIndent(list, "", "  ")
	return string(out), err
}

// ownCRDs checks that the base CSV owns exactly the CRDs of config/ and fills in each one's
// kind and served storage version from the CRD itself.
func ownCRDs(csv *v1alpha1.ClusterServiceVersion, p *parts) error {
	owned := csv.Spec.CustomResourceDefinitions.Owned
	for _, u := range p.crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := fromUnstructured(u, &crd); err != nil {
			return fmt.Errorf("CRD %s: %w", u.GetName(), err)
		}
		i := slices.IndexFunc(owned, func(d v1alpha1.CRDDescription) bool { return d.Name == crd.Name })
		if i < 0 {
			return fmt.Errorf("%s owns no CRD %s: describe it under spec.customresourcedefinitions.owned", baseCSVFile, crd.Name)
		}
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				owned[i].Version = v.Name
			}
		}
		owned[i].Kind = crd.Spec.Names.Kind
	}
	for _, d := range owned {
		if !slices.ContainsFunc(p.crds, func(u *unstructured.Unstructured) bool { return u.GetName() == d.Name }) {
			return fmt.Errorf("%s owns CRD %s, which config/crd does not have", baseCSVFile, d.Name)
		}
	}
	return nil
}

// deploymentSpecs are the install strategy's Deployments, with config's image (in container
// images and in environment values such as GATEWAYTENANT_PROXY_IMAGE) replaced by image.
func deploymentSpecs(deployments []appsv1.Deployment, image string) ([]v1alpha1.StrategyDeploymentSpec, error) {
	var specs []v1alpha1.StrategyDeploymentSpec
	var configImage string
	for _, d := range deployments {
		d := d.DeepCopy()
		pod := &d.Spec.Template.Spec
		for i := range pod.Containers {
			c := &pod.Containers[i]
			if configImage == "" {
				configImage = c.Image
			}
			if c.Image != configImage {
				return nil, fmt.Errorf("deployment %s: container %s runs image %s, not %s: the bundle knows one image", d.Name, c.Name, c.Image, configImage)
			}
			c.Image = image
			for j := range c.Env {
				if c.Env[j].Value == configImage {
					c.Env[j].Value = image
				}
			}
		}
		specs = append(specs, v1alpha1.StrategyDeploymentSpec{Name: d.Name, Label: d.Labels, Spec: d.Spec})
	}
	return specs, nil
}

// marshalCSV renders the CSV without the fields a typed object always carries and a bundle
// must not: status and empty creation timestamps.
func marshalCSV(csv *v1alpha1.ClusterServiceVersion) ([]byte, error) {
	csv = csv.DeepCopy()
	csv.APIVersion = v1alpha1.SchemeGroupVersion.String()
	csv.Kind = v1alpha1.ClusterServiceVersionKind
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(csv)
	if err != nil {
		return nil, err
	}
	delete(obj, "status")
	return yaml.Marshal(prune(obj))
}

// prune drops null values (such as creationTimestamp), recursively. Empty objects stay:
// some mean something (emptyDir: {}).
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = prune(e)
		}
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
	}
	return v
}

// Channels are the OLM channels a bundle may be published in, from the least to the most
// conservative: every version enters candidate, and moves to fast and then stable as it
// proves itself (docs/install.md).
var Channels = []string{"candidate", "fast", "stable"}

// Upgrade says which installed versions OLM may upgrade from to this one.
type Upgrade struct {
	// Replaces is the version this one replaces in the update graph (the previous release);
	// empty for the first release.
	Replaces string
	// SkipRange is a semver range of versions that may upgrade straight to this one
	// (annotation olm.skipRange), e.g. "<0.2.0"; empty for none.
	SkipRange string
}

// validateDayTwo checks the options of channels, upgrades and platforms.
func (o Options) validateDayTwo() error {
	for _, c := range o.Channels {
		if !slices.Contains(Channels, c) {
			return fmt.Errorf("channel %q: must be one of %q", c, Channels)
		}
	}
	if o.Replaces != "" {
		prev, err := semver.Parse(o.Replaces)
		if err != nil {
			return fmt.Errorf("replaces %q: %w (give x.y.z of the previous release)", o.Replaces, err)
		}
		if !prev.LT(semver.MustParse(o.Version)) {
			return fmt.Errorf("replaces %q: must be below the version %s", o.Replaces, o.Version)
		}
	}
	if o.SkipRange != "" {
		r, err := semver.ParseRange(o.SkipRange)
		if err != nil {
			return fmt.Errorf("skip range %q: %w", o.SkipRange, err)
		}
		if r(semver.MustParse(o.Version)) {
			return fmt.Errorf("skip range %q: must not include the version %s itself", o.SkipRange, o.Version)
		}
	}
	for _, p := range o.Platforms {
		if os, arch, ok := strings.Cut(p, "/"); !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
			return fmt.Errorf("platform %q: must be os/arch, e.g. linux/amd64", p)
		}
	}
	return nil
}

// setUpgradeAndPlatforms writes the update graph and the supported platforms into the CSV:
// spec.replaces, the olm.skipRange annotation, and an operatorframework.io/os.* and
// operatorframework.io/arch.* label for each platform.
func setUpgradeAndPlatforms(csv *v1alpha1.ClusterServiceVersion, o Options) {
	if o.Replaces != "" {
		csv.Spec.Replaces = PackageName + ".v" + o.Replaces
	}
	if o.SkipRange != "" {
		csv.Annotations["olm.skipRange"] = o.SkipRange
	}
	if csv.Labels == nil {
		csv.Labels = map[string]string{}
	}
	for _, p := range o.Platforms {
		os, arch, _ := strings.Cut(p, "/")
		csv.Labels["operatorframework.io/os."+os] = "supported"
		csv.Labels["operatorframework.io/arch."+arch] = "supported"
	}
}
