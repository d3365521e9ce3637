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

// preset is what differs between the reference platform's clusters.
type preset struct {
	// label is the value of the "name" label the cluster's gateway namespaces carry.
	label string
	// dataClass is how the cluster classifies data; nil where it does not.
	dataClass *v1alpha1.DataClassSpec
}

// emeraldDataClass is the Emerald cluster's data classification. The gateway files each
// service under aps.route.dataclass.<class>, for the classes public, medium and high; every
// pod must carry the label DataClass with Low, Medium or High (docs/gateway-config.md cites
// both). That public corresponds to the pod label Low is this preset's reading, not a
// documented fact; a platform admin who knows otherwise writes a data plane of their own.
var emeraldDataClass = v1alpha1.DataClassSpec{
	Tag: "aps.route.dataclass." + v1alpha1.DataClassPlaceholder,
	Classes: []v1alpha1.DataClass{
		{Name: "public", WorkloadLabelValue: "Low"},
		{Name: "medium", WorkloadLabelValue: "Medium"},
		{Name: "high", WorkloadLabelValue: "High"},
	},
	WorkloadLabelKey: "DataClass",
}

// presets are the reference platform's clusters.
var presets = map[string]preset{
	"silver":  {label: "264e6f"},
	"gold":    {label: "b8840c"},
	"golddr":  {label: "b8840c"},
	"emerald": {label: "cc9a8a", dataClass: &emeraldDataClass},
}

// PresetNames lists the built-in presets, sorted.
func PresetNames() []string { return slices.Sorted(maps.Keys(presets)) }

// ValidatePreset says, naming the presets there are, when name is none of them.
func ValidatePreset(name string) error {
	if _, ok := presets[name]; !ok {
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
	p := presets[name]
	dp := &v1alpha1.GatewayDataPlane{
		ObjectMeta: metav1.ObjectMeta{
			Name: ObjectName(name),
			Labels: map[string]string{
				LabelPreset:             name,
				v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue,
			},
		},
		Spec: v1alpha1.GatewayDataPlaneSpec{Default: true, GatewayService: gatewayService(p)},
	}
	for _, env := range presetEnvironments {
		dp.Spec.Environments = append(dp.Spec.Environments, v1alpha1.DataPlaneEnvironment{
			Name: env,
			NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{
				"environment": string(env),
				"name":        p.label,
			}},
			// The platform names a gateway namespace <name label>-<environment>. Pinning the
			// name keeps out namespaces that copy the labels.
			NamespaceNames: []string{p.label + "-" + string(env)},
		})
	}
	return dp, nil
}

// gatewayService is the reference platform's service definition: the gwa CLI's GatewayService
// documents, tagged ns.<gateway id>, over HTTP (to the upstream Service, or to the tenant's
// proxy), with the cluster's data classes where it has them. Every field is set, defaults
// included, so that the stored spec equals the preset's.
func gatewayService(p preset) *v1alpha1.GatewayServiceSpec {
	gs := &v1alpha1.GatewayServiceSpec{
		Format:       v1alpha1.GatewayServiceFormatGWA,
		NamespaceTag: "ns." + v1alpha1.GatewayIDPlaceholder,
		Protocol:     "http",
	}
	if p.dataClass != nil {
		gs.DataClass = p.dataClass.DeepCopy()
	}
	return gs
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
