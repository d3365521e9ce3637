package crd

import (
	"os"
	"path/filepath"
	"testing"
)

// Every file of bases/ is embedded and is a CRD of the operator's group.
func TestCRDs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 || len(crds) != len(files) {
		t.Fatalf("%d CRDs embedded, %d files in bases/", len(crds), len(files))
	}
	for _, c := range crds {
		if c.Spec.Group != "gatewaytenant.io" || c.Name != c.Spec.Names.Plural+"."+c.Spec.Group {
			t.Errorf("CRD %s of group %s", c.Name, c.Spec.Group)
		}
	}
	if _, err := os.Stat(filepath.Join("bases", "gatewaytenant.io_gatewaytenants.yaml")); err != nil {
		t.Error(err)
	}
}
