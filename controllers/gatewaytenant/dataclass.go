package gatewaytenant

// The tenant's data class, judged against its data plane's classes: it goes into the
// data-class tag of status.gatewayConfig (gatewayconfig.go) and, where the cluster requires a
// data-class label on workloads, onto the proxy's pods.

import (
	"fmt"
	"strings"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// dataClassResult is the tenant's class on its data plane: nil class when the data plane has
// no data classes; reason empty when the tenant's spec.dataClass is acceptable.
type dataClassResult struct {
	class   *v1alpha1.DataClass
	reason  string
	message string
}

// resolveDataClass judges spec.dataClass against plane. A class on a data plane without
// classes, or one the data plane does not have, is refused; a missing class is the data
// plane's default, and refused where the data plane has none: the operator does not guess
// how sensitive a tenant's data is.
func resolveDataClass(spec *v1alpha1.GatewayTenantSpec, plane *v1alpha1.GatewayDataPlane) dataClassResult {
	var policy *v1alpha1.DataClassSpec
	if gs := plane.Spec.GatewayService; gs != nil {
		policy = gs.DataClass
	}
	name := spec.DataClass
	switch {
	case policy == nil && name == "":
		return dataClassResult{}
	case policy == nil:
		return dataClassResult{reason: v1alpha1.ReasonDataClassNotAllowed, message: fmt.Sprintf(
			"spec.dataClass: GatewayDataPlane %q has no data classes (spec.gatewayService.dataClass); remove spec.dataClass %q",
			plane.Name, name)}
	case name == "" && policy.DefaultClass == "":
		return dataClassResult{reason: v1alpha1.ReasonDataClassRequired, message: fmt.Sprintf(
			"spec.dataClass: GatewayDataPlane %q files every service under a data class and has no default; set spec.dataClass to one of %s",
			plane.Name, classNames(policy))}
	case name == "":
		name = policy.DefaultClass
	}
	class := policy.Class(name)
	if class == nil {
		return dataClassResult{reason: v1alpha1.ReasonDataClassNotAllowed, message: fmt.Sprintf(
			"spec.dataClass: GatewayDataPlane %q has no data class %q; use one of %s", plane.Name, name, classNames(policy))}
	}
	return dataClassResult{class: class}
}

func classNames(policy *v1alpha1.DataClassSpec) string {
	names := make([]string, 0, len(policy.Classes))
	for _, c := range policy.Classes {
		names = append(names, string(c.Name))
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// workloadLabels are the labels the data plane's cluster requires on the tenant's pods: its
// data-class label with the tenant's class's value, or none.
func workloadLabels(dp dataPlaneResult) map[string]string {
	if dp.plane == nil || dp.dataClass == nil {
		return nil
	}
	gs := dp.plane.Spec.GatewayService
	if gs == nil || gs.DataClass == nil || gs.DataClass.WorkloadLabelKey == "" || dp.dataClass.WorkloadLabelValue == "" {
		return nil
	}
	return map[string]string{gs.DataClass.WorkloadLabelKey: dp.dataClass.WorkloadLabelValue}
}
