// Package dataplane knows the reference platform's gateway data planes, detects which one a
// cluster uses, and keeps it as the cluster's default GatewayDataPlane.
package dataplane

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// LabelPreset marks a GatewayDataPlane the manager keeps from a preset; its value is the
// preset's name.
const LabelPreset = "gatewaytenant.io/preset"

// Environments of the reference platform's gateway, each namespace labelled
// environment=<name>.
var presetEnvironments = []v1alpha1.EnvironmentName{"test", "prod"}

// clusterLabels maps each reference cluster to the value of the "name" label its gateway
// namespaces carry.
var clusterLabels = map[string]string{
	"silver": "264e6f",
	"gold":   "b8840c",
	"golddr": "b8840c",
}

// PresetNames lists the built-in presets, sorted.
func PresetNames() []string { return slices.Sorted(maps.Keys(clusterLabels)) }

// ValidatePreset says, naming the presets there are, when name is none of them.
func ValidatePreset(name string) error {
	if _, ok := clusterLabels[name]; !ok {
		return fmt.Errorf("unknown data-plane preset %q: use one of %s", name, strings.Join(PresetNames(), ", "))
	}
	return nil
}

// ObjectName is the name of the GatewayDataPlane kept from a preset.
func ObjectName(preset string) string { return "aps-" + preset }

// Preset returns the GatewayDataPlane of a built-in preset, marked default.
func Preset(name string) (*v1alpha1.GatewayDataPlane, error) {
	if err := ValidatePreset(name); err != nil {
		return nil, err
	}
	label := clusterLabels[name]
	dp := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{
			Name: ObjectName(name),
			Labels: map[string]string{
				LabelPreset:             name,
				v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
			},
		},
		Spec: v1alpha1.GatewayDataPlaneSpec{Default: true},
	}
	for _, env := range presetEnvironments {
		dp.Spec.Environments = append(dp.Spec.Environments, v1alpha1.DataPlaneEnvironment{
			Name: env,
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{
				"environment": string(env),
				"name":        label,
			}},
			// The platform names a gateway namespace <name label>-<environment>. Pinning the
			// name keeps out namespaces that copy the labels.
			NamespaceNames: []string{label + "-" + string(env)},
		})
	}
	return dp, nil
}

// keepAdminNamespaceNames returns the preset's spec with the namespace names a platform admin
// set on the kept object: those are the admin's to change (a renamed gateway namespace), the
// rest of the spec is the preset's. An environment whose names were emptied gets the preset's
// back, so a preset never runs unpinned.
func keepAdminNamespaceNames(desired v1alpha1.GatewayDataPlaneSpec, existing *v1alpha1.GatewayDataPlaneSpec) v1alpha1.GatewayDataPlaneSpec {
	out := *desired.DeepCopy()
	for i := range out.Environments {
		if env := existing.Environment(out.Environments[i].Name); env != nil && len(env.NamespaceNames) > 0 {
			out.Environments[i].NamespaceNames = slices.Clone(env.NamespaceNames)
		}
	}
	return out
}
