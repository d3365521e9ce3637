package bundle

import (
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/operators/v1alpha1"
	"sigs.k8s.io/yaml"
)

// Channels, upgrade edges and platforms: bad options are refused naming the option, good ones
// land in the CSV as spec.replaces, olm.skipRange and the os/arch labels.
func TestGenerateDayTwoOptions(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		tweak   func(*Options)
		wantErr string
		check   func(t *testing.T, csv *v1alpha1.ClusterServiceVersion)
	}{
		{desc: "unknown channel", tweak: func(o *Options) { o.Channels = []string{"beta"}; o.DefaultChannel = "beta" },
			wantErr: `channel "beta": must be one of`},
		{desc: "replaces not a version", tweak: func(o *Options) { o.Replaces = "v1.2.2" }, wantErr: `replaces "v1.2.2"`},
		{desc: "replaces not older", tweak: func(o *Options) { o.Replaces = "1.2.3" }, wantErr: "must be below the version"},
		{desc: "skip range not a range", tweak: func(o *Options) { o.SkipRange = "before 1.2" }, wantErr: `skip range "before 1.2"`},
		{desc: "skip range holds the version", tweak: func(o *Options) { o.SkipRange = "<=1.2.3" }, wantErr: "must not include the version"},
		{desc: "platform not os/arch", tweak: func(o *Options) { o.Platforms = []string{"amd64"} }, wantErr: `platform "amd64"`},
		{desc: "upgrade edges and platforms", tweak: func(o *Options) {
			o.Replaces, o.SkipRange = "1.2.2", ">=1.0.0 <1.2.3"
			o.Platforms = []string{"linux/amd64", "linux/arm64"}
		}, check: func(t *testing.T, csv *v1alpha1.ClusterServiceVersion) {
			if csv.Spec.Replaces != "gatewaytenant-operator.v1.2.2" {
				t.Errorf("spec.replaces = %q", csv.Spec.Replaces)
			}
			if got := csv.Annotations["olm.skipRange"]; got != ">=1.0.0 <1.2.3" {
				t.Errorf("olm.skipRange = %q", got)
			}
			want := map[string]string{"operatorframework.io/os.linux": "supported",
				"operatorframework.io/arch.amd64": "supported", "operatorframework.io/arch.arm64": "supported"}
			for k, v := range want {
				if csv.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, csv.Labels[k], v)
				}
			}
			if len(csv.Labels) != len(want) {
				t.Errorf("labels %v, want %v", csv.Labels, want)
			}
		}},
		{desc: "first release: no edges", tweak: func(*Options) {}, check: func(t *testing.T, csv *v1alpha1.ClusterServiceVersion) {
			if _, ok := csv.Annotations["olm.skipRange"]; ok || csv.Spec.Replaces != "" {
				t.Errorf("replaces %q, skipRange %q: want neither", csv.Spec.Replaces, csv.Annotations["olm.skipRange"])
			}
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			files, err := Generate(options(tc.tweak))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Generate error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			csv := &v1alpha1.ClusterServiceVersion{}
			if err := yaml.Unmarshal(files[CSVFile], csv); err != nil {
				t.Fatal(err)
			}
			tc.check(t, csv)
		})
	}
}
