package kustomize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Build renders testdata/overlay as kustomize v5 did (testdata/want.yaml): prefix and
// namespace on the right kinds, Namespace renamed, references following their targets and
// only those.
func TestBuildMatchesKustomize(t *testing.T) {
	got, err := Build(filepath.Join("testdata", "overlay"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadObjects(filepath.Join("testdata", "want.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	key := func(o *unstructured.Unstructured) string {
		return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
	}
	wantByKey := map[string]*unstructured.Unstructured{}
	for _, o := range want {
		wantByKey[key(o)] = o
	}
	if len(got) != len(want) {
		t.Errorf("got %d objects, want %d", len(got), len(want))
	}
	for _, o := range got {
		w, ok := wantByKey[key(o)]
		if !ok {
			t.Errorf("unexpected object %s", key(o))
			continue
		}
		if !equality.Semantic.DeepEqual(o.Object, w.Object) {
			g, _ := yaml.Marshal(o.Object)
			x, _ := yaml.Marshal(w.Object)
			t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", key(o), g, x)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		desc, kustomization, wantErr string
	}{
		{"unknown field", "resources: []\npatches: []\n", "unknown field"},
		{"file outside the root", "resources: [../base/objects.yaml]\n", "is not in or below"},
		{"missing resource", "resources: [nothere.yaml]\n", "nothere.yaml"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "k")
			if err := os.CopyFS(filepath.Dir(dir), os.DirFS("testdata")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(tc.kustomization), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Build(dir); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Build error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
