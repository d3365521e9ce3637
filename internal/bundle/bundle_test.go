package bundle

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func options(tweaks ...func(*Options)) Options {
	o := Options{
		Root: "../..", Version: "1.2.3", Image: "registry.example/op:v1.2.3",
		Channels: []string{"candidate", "stable"}, DefaultChannel: "stable",
	}
	for _, tw := range tweaks {
		tw(&o)
	}
	return o
}

func TestGenerateOptions(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		tweak   func(*Options)
		wantErr string
	}{
		{"leading v", func(o *Options) { o.Version = "v1.2.3" }, "without a leading v"},
		{"no image", func(o *Options) { o.Image = "" }, "not an image reference"},
		{"default channel not a channel", func(o *Options) { o.DefaultChannel = "fast" }, "must be one of the channels"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := Generate(options(tc.tweak)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Generate error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// The CSV takes the version, image and channels given; a digest-pinned image, and only that,
// makes the bundle claim disconnected support.
func TestGenerateCSV(t *testing.T) {
	for _, tc := range []struct {
		image, wantDisconnected string
	}{
		{"registry.example/op:v1.2.3", "false"},
		{"registry.example/op@sha256:" + strings.Repeat("a", 64), "true"},
	} {
		files, err := Generate(options(func(o *Options) { o.Image = tc.image }))
		if err != nil {
			t.Fatal(err)
		}
		var csv struct {
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				Version       string                   `json:"version"`
				RelatedImages []struct{ Image string } `json:"relatedImages"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(files[CSVFile], &csv); err != nil {
			t.Fatal(err)
		}
		a := csv.Metadata.Annotations
		if csv.Metadata.Name != "gatewaytenant-operator.v1.2.3" || csv.Spec.Version != "1.2.3" || a["containerImage"] != tc.image {
			t.Errorf("CSV %s version %s image %s", csv.Metadata.Name, csv.Spec.Version, a["containerImage"])
		}
		if got := a["features.operators.openshift.io/disconnected"]; got != tc.wantDisconnected {
			t.Errorf("image %s: disconnected = %q, want %q", tc.image, got, tc.wantDisconnected)
		}
		if len(csv.Spec.RelatedImages) != 2 || csv.Spec.RelatedImages[0].Image != tc.image {
			t.Errorf("relatedImages = %v", csv.Spec.RelatedImages)
		}
		if !strings.Contains(string(files[AnnotationsFile]), "channels.v1: candidate,stable") {
			t.Errorf("annotations.yaml:\n%s", files[AnnotationsFile])
		}
	}
}

// What config/default may hold that a bundle cannot carry is refused, not dropped.
func TestClassifyRefuses(t *testing.T) {
	base, err := Render("../../config/default")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, extra, wantErr string
	}{
		{"NetworkPolicy", "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np, namespace: x}\nspec: {podSelector: {}}\n",
			"NetworkPolicy np of config/default cannot ship in an OLM bundle"},
		{"binding to a user", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: gatewaytenant-metrics-reader}\nsubjects: [{kind: User, name: jane}]\n",
			"OLM grants permissions to ServiceAccounts only"},
		{"binding to a missing role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: x}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: nothere}\nsubjects: [{kind: ServiceAccount, name: sa}]\n",
			"does not hold"},
		{"binding a group to a missing role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: nothere}\nsubjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:authenticated}]\n",
			"ClusterRoleBinding b binds ClusterRole nothere, which config/default does not hold"},
		{"unbound Role", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: lonely, namespace: x}\nrules: []\n",
			"Role lonely of config/default cannot ship"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			extra, err := ParseObjects([]byte(tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			objs := append(append([]*unstructured.Unstructured{}, base...), extra...)
			if _, err := classify(objs); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("classify error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// A binding that grants groups of people (every authenticated user reads data planes) ships
// as an object with its ClusterRole; it grants the operator nothing.
func TestClassifyShipsBindingsForPeople(t *testing.T) {
	objs, err := Render("../../config/default")
	if err != nil {
		t.Fatal(err)
	}
	p, err := classify(objs)
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]bool{}
	for _, o := range p.extras {
		shipped[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, want := range []string{"ClusterRoleBinding/gatewaytenant-dataplane-readers", "ClusterRole/gatewaytenant-dataplane-reader"} {
		if !shipped[want] {
			t.Errorf("%s does not ship as an object of the bundle; shipped: %v", want, shipped)
		}
	}
	for _, perm := range p.clusterPermissions {
		if perm.ServiceAccountName != "gatewaytenant-controller-manager" {
			t.Errorf("cluster permissions for %s: only the manager's ServiceAccount gets any", perm.ServiceAccountName)
		}
	}
}
