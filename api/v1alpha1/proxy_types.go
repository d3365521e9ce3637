package v1alpha1

import corev1 "k8s.io/api/core/v1"

// ProxySizing sizes a tenant's TLS proxy. Each field has the platform's default (the
// manager's --proxy-replicas and --proxy-resources) and may not exceed the platform's
// bounds (--proxy-max-replicas, --proxy-max-resources); a tenant beyond them gets
// ProxyReady=False with reason ProxySizeNotAllowed and keeps the proxy it had.
type ProxySizing struct {
	// replicas of the proxy. Above 1 the proxy gets a PodDisruptionBudget.
	//
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the proxy container: cpu and memory requests and limits. What is not
	// set keeps the platform's default.
	//
	// +optional
	Resources *ProxyResources `json:"resources,omitempty"`
}

// ProxyResources are the cpu and memory of the proxy container.
type ProxyResources struct {
	// requests: cpu and memory the scheduler reserves for each proxy pod.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, k == 'cpu' || k == 'memory')",message="only cpu and memory may be requested"
	Requests corev1.ResourceList `json:"requests,omitempty"`

	// limits: the most cpu and memory each proxy pod may use.
	//
	// +optional
	// +kubebuilder:validation:MaxProperties=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, k == 'cpu' || k == 'memory')",message="only cpu and memory may be limited"
	Limits corev1.ResourceList `json:"limits,omitempty"`
}
