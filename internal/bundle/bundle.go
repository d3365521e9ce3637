// Package bundle generates the operator's OLM bundle (registry+v1) from config/: the
// ClusterServiceVersion, the CRDs and the other objects of config/default that a bundle may
// carry, bundle/metadata/annotations.yaml and bundle.Dockerfile. hack/bundlegen (make bundle)
// writes them; the tests regenerate them to catch a stale bundle.
//
// The output is deterministic: same inputs, same bytes. There is no createdAt annotation.
package bundle

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	// PackageName is the OLM package of the operator.
	PackageName = "gatewaytenant-operator"

	// OpenShiftVersions is the com.redhat.openshift.versions label: OpenShift 4.17 (Kubernetes
	// 1.30, the CSV's minKubeVersion) and later.
	OpenShiftVersions = "v4.17"

	// Directories and files of the bundle, relative to the repository root.
	ManifestsDir     = "bundle/manifests"
	MetadataDir      = "bundle/metadata"
	AnnotationsFile  = MetadataDir + "/annotations.yaml"
	DockerfileName   = "bundle.Dockerfile"
	CSVFile          = ManifestsDir + "/" + PackageName + ".clusterserviceversion.yaml"
	baseCSVFile      = "config/manifests/bases/" + PackageName + ".clusterserviceversion.yaml"
	iconFile         = "config/manifests/icon.svg"
	examplesFile     = "config/manifests/examples.yaml"
	defaultConfigDir = "config/default"
)

// Options say which bundle to generate.
type Options struct {
	// Root is the repository root; config/ is read from there.
	Root string
	// Config is the kustomization rendered into the bundle: config/default under Root when
	// empty, or a user's overlay of it (images, patches, ...).
	Config string
	// Version is the operator's semantic version, without a leading "v".
	Version string
	// Image is the manager's image, which also runs the proxies.
	Image string
	// Channels the bundle is published in, and the default among them.
	Channels       []string
	DefaultChannel string
	// Upgrade is where OLM may upgrade this version from (csv.go).
	Upgrade
	// Platforms the image is built for, as os/arch (csv.go); none means OLM's default,
	// linux/amd64.
	Platforms []string
}

// Files are generated files by path relative to the repository root.
type Files map[string][]byte

// Generate builds the bundle's files.
func Generate(o Options) (Files, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	config := o.Config
	if config == "" {
		config = filepath.Join(o.Root, defaultConfigDir)
	}
	objs, err := Render(config)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", config, err)
	}
	p, err := classify(objs)
	if err != nil {
		return nil, err
	}
	if err := p.addMonitoring(o.Root); err != nil {
		return nil, err
	}
	csv, err := buildCSV(o, p)
	if err != nil {
		return nil, err
	}
	files := Files{}
	if files[CSVFile], err = marshalCSV(csv); err != nil {
		return nil, err
	}
	for _, crd := range p.crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		if files[ManifestsDir+"/"+group+"_"+plural+".yaml"], err = yaml.Marshal(crd.Object); err != nil {
			return nil, err
		}
	}
	for _, obj := range p.extras {
		gvk := obj.GroupVersionKind()
		name := strings.Join(slices.DeleteFunc([]string{obj.GetName(), gvk.Group, gvk.Version, strings.ToLower(gvk.Kind)},
			func(s string) bool { return s == "" }), "_")
		if files[ManifestsDir+"/"+name+".yaml"], err = yaml.Marshal(obj.Object); err != nil {
			return nil, err
		}
	}
	labels := o.annotations()
	if files[AnnotationsFile], err = yaml.Marshal(map[string]any{"annotations": labels}); err != nil {
		return nil, err
	}
	files[DockerfileName] = dockerfile(labels)
	return files, nil
}

func (o Options) validate() error {
	if _, err := semver.Parse(o.Version); err != nil {
		return fmt.Errorf("version %q: %w (give x.y.z, without a leading v)", o.Version, err)
	}
	if o.Image == "" || strings.ContainsAny(o.Image, " \t\n") {
		return fmt.Errorf("image %q is not an image reference", o.Image)
	}
	if len(o.Channels) == 0 || !slices.Contains(o.Channels, o.DefaultChannel) {
		return fmt.Errorf("default channel %q must be one of the channels %q", o.DefaultChannel, o.Channels)
	}
	return o.validateDayTwo()
}

// annotations are the bundle's metadata, in annotations.yaml and as image labels.
func (o Options) annotations() map[string]string {
	return map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         PackageName,
		"operators.operatorframework.io.bundle.channels.v1":        strings.Join(o.Channels, ","),
		"operators.operatorframework.io.bundle.channel.default.v1": o.DefaultChannel,
		"com.redhat.openshift.versions":                            OpenShiftVersions,
	}
}

func dockerfile(labels map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by `make bundle` (hack/bundlegen) from config/: do not edit.\n")
	b.WriteString("# Build from the repository root: docker build -f bundle.Dockerfile -t <bundle image> .\n")
	b.WriteString("FROM scratch\n\n")
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "LABEL %s=%s\n", k, labels[k])
	}
	b.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	return b.Bytes()
}

// Write replaces the bundle under root with files: bundle/manifests and bundle/metadata are
// emptied first, so that nothing stale stays behind.
func Write(root string, files Files) error {
	for _, dir := range []string{ManifestsDir, MetadataDir} {
		if err := os.RemoveAll(filepath.Join(root, dir)); err != nil {
			return err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}
