package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnvironmentName names a gateway environment such as "test" or "prod".
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type EnvironmentName string

// GatewayDataPlaneSpec describes a gateway data plane and how to recognise its namespaces.
type GatewayDataPlaneSpec struct {
	// default marks the data plane used by tenants that name none. At most one data plane
	// should be the default; tenants that name none are refused while several are.
	//
	// +optional
	Default bool `json:"default,omitempty"`

	// environments are the gateway environments of this data plane, each with the
	// namespaces its gateway pods run in.
	//
	// +required
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	Environments []DataPlaneEnvironment `json:"environments"`

	// gatewayService says how this data plane's gateway wants each tenant upstream described
	// (document format, tags, protocol, data classes), so that the operator renders it into
	// each tenant's status.gatewayConfig. Unset: no document is rendered.
	//
	// +optional
	GatewayService *GatewayServiceSpec `json:"gatewayService,omitempty"`

	// upstreamTLS says who verifies the tenants' TLS upstreams: the operator's proxy (the
	// default) or the gateway itself through BackendTLSPolicies (docs/gateway-api.md).
	//
	// +optional
	UpstreamTLS *UpstreamTLSSpec `json:"upstreamTLS,omitempty"`
}

// DataPlaneEnvironment is one environment of a gateway data plane.
type DataPlaneEnvironment struct {
	// name of the environment, e.g. "test" or "prod"; tenants list it in spec.environments.
	//
	// +required
	Name EnvironmentName `json:"name"`

	// namespaceSelector selects the namespaces the gateway of this environment runs in.
	// It becomes the namespaceSelector of the tenants' NetworkPolicy ingress peers. It must
	// require at least one label (matchLabels, or a matchExpressions term with In or
	// Exists). Labels alone can be copied onto any namespace by whoever may label it: set
	// namespaceNames too.
	//
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && self.matchExpressions.exists(e, e.operator == 'In' || e.operator == 'Exists'))",message="namespaceSelector must require a label (matchLabels, or a matchExpressions term with operator In or Exists): an empty selector, or one of only NotIn and DoesNotExist terms, admits nearly every namespace"
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// namespaceNames optionally pins the gateway namespaces by name as well. The operator
	// adds kubernetes.io/metadata.name, which the API server sets and tenants cannot
	// spoof, to the peer's namespace selector.
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	NamespaceNames []string `json:"namespaceNames,omitempty"`
}

// GatewayDataPlaneStatus is the observed state of a GatewayDataPlane.
type GatewayDataPlaneStatus struct {
	// observedGeneration is the generation this status was computed for.
	//
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// source says where this data plane came from: "preset:<name>" when the manager
	// created it from a built-in preset, empty when a person created it.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Source string `json:"source,omitempty"`

	// environments lists the names of spec.environments, for `kubectl get gatewaydataplanes`
	// (a printer column shows only the first match of a path into a list of objects).
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Environments []EnvironmentName `json:"environments,omitempty"`

	// conditions describe the state of the data plane.
	//
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GatewayDataPlane is a gateway data plane that calls into this cluster, and how to recognise
// its namespaces per environment.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=gdp,categories=gatewaytenant-all
// +kubebuilder:printcolumn:name="Default",type=boolean,JSONPath=`.spec.default`
// +kubebuilder:printcolumn:name="Environments",type=string,JSONPath=`.status.environments`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GatewayDataPlane struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec describes the data plane.
	//
	// +required
	Spec GatewayDataPlaneSpec `json:"spec"`

	// status is the observed state of the data plane.
	//
	// +optional
	Status GatewayDataPlaneStatus `json:"status,omitempty"`
}

// GatewayDataPlaneList is a list of GatewayDataPlanes.
//
// +kubebuilder:object:root=true
type GatewayDataPlaneList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GatewayDataPlane `json:"items"`
}

// Environment returns the environment called name, or nil.
func (s *GatewayDataPlaneSpec) Environment(name EnvironmentName) *DataPlaneEnvironment {
	for i := range s.Environments {
		if s.Environments[i].Name == name {
			return &s.Environments[i]
		}
	}
	return nil
}

func init() {
	SchemeBuilder.Register(&GatewayDataPlane{}, &GatewayDataPlaneList{})
}
