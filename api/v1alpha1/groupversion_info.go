// Package v1alpha1 holds the gatewaytenant.io/v1alpha1 API: GatewayDataPlane, a gateway data
// plane that calls into this cluster, and GatewayTenant, what one namespace exposes to it.
//
// +kubebuilder:object:generate=true
// +groupName=gatewaytenant.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "gatewaytenant.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this API with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this API to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
