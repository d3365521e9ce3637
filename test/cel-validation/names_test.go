package celvalidation

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/gatewaytenant/gatewaytenant-operator/internal/harness"
)

// shippedCRDs reads the CRDs the operator installs.
func shippedCRDs(t *testing.T) []apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if len(files) < 2 {
		t.Fatalf("want both CRDs under config/crd/bases, found %v", files)
	}
	var crds []apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crds = append(crds, crd)
	}
	return crds
}

// TestCategoriesClashWithNoResourceName: kubectl expands a category before it looks for a
// resource, so a category named like a resource turns `kubectl get <resource> NAME` into a
// list over several kinds ("you must specify only one resource").
func TestCategoriesClashWithNoResourceName(t *testing.T) {
	names := map[string]string{} // name -> what it names
	var categories []string
	for _, crd := range shippedCRDs(t) {
		n := crd.Spec.Names
		names[n.Plural] = crd.Name + " plural"
		names[n.Singular] = crd.Name + " singular"
		names[strings.ToLower(n.Kind)] = crd.Name + " kind"
		for _, s := range n.ShortNames {
			names[s] = crd.Name + " short name"
		}
		categories = append(categories, n.Categories...)
	}
	if len(categories) == 0 {
		t.Fatal("the CRDs declare no category")
	}
	slices.Sort(categories)
	categories = slices.Compact(categories)
	for _, c := range categories {
		if what, ok := names[c]; ok {
			t.Errorf("category %q equals the %s", c, what)
		}
	}

	// Every resource the API server serves, as kubectl's discovery sees it.
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		for _, r := range l.APIResources {
			for _, c := range categories {
				if c == r.Name || c == r.SingularName || slices.Contains(r.ShortNames, c) {
					t.Errorf("category %q equals a name of %s %s", c, l.GroupVersion, r.Name)
				}
			}
		}
	}
}

// TestKubectlGetOneTenant resolves the words of `kubectl get gatewaytenant my-api` and
// `kubectl get gatewaytenant-all` the way kubectl does: categories first, then resources.
func TestKubectlGetOneTenant(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	expander := restmapper.NewDiscoveryCategoryExpander(dc)
	for _, word := range []string{"gatewaytenant", "gatewaytenants", "gt", "gatewaydataplane", "gdp"} {
		if grs, ok := expander.Expand(word); ok {
			t.Errorf("%q expands as a category to %v: kubectl get %s NAME would fail", word, grs, word)
		}
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewShortcutExpander(restmapper.NewDiscoveryRESTMapper(groups), dc, nil)
	gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: "gatewaytenant"})
	if err != nil || gvr.Resource != "gatewaytenants" || gvr.Group != "gatewaytenant.io" {
		t.Errorf("gatewaytenant resolves to %v, %v; want gatewaytenants.gatewaytenant.io", gvr, err)
	}
	grs, ok := expander.Expand("gatewaytenant-all")
	want := []schema.GroupResource{{Group: "gatewaytenant.io", Resource: "gatewaydataplanes"}, {Group: "gatewaytenant.io", Resource: "gatewaytenants"}}
	slices.SortFunc(grs, func(a, b schema.GroupResource) int { return strings.Compare(a.String(), b.String()) })
	if !ok || !slices.Equal(grs, want) {
		t.Errorf("category gatewaytenant-all expands to %v, want %v", grs, want)
	}
}
