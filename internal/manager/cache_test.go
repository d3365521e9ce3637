package manager

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// bookkept is metadata as the API server returns it: managedFields, kubectl's last-applied
// copy, and what the operator does read.
func bookkept(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: "team-a", UID: "uid-1", ResourceVersion: "42", Generation: 3,
		Labels:          map[string]string{"app": "api"},
		Annotations:     map[string]string{lastAppliedAnnotation: `{"a":"very long copy"}`, "team": "a"},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: "GatewayTenant", Name: "t", UID: "owner"}},
	}
}

func fullService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: bookkept("api"),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"app": "api"}, ClusterIP: "10.0.0.7",
			Ports:           []corev1.ServicePort{{Name: "https", Port: 8443, TargetPort: intstr.FromInt32(9443), Protocol: corev1.ProtocolTCP}},
			SessionAffinity: corev1.ServiceAffinityNone, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func TestTrimService(t *testing.T) {
	tests := []struct {
		desc   string
		mutate func(*corev1.Service)
		want   func(in *corev1.Service) *corev1.Service
	}{{
		desc: "a Service of a tenant keeps what the checks read and what a safe write needs",
		want: func(in *corev1.Service) *corev1.Service {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{
					Name: "api", Namespace: "team-a", UID: "uid-1", ResourceVersion: "42", Generation: 3,
					Labels: in.Labels, Annotations: map[string]string{"team": "a"}, OwnerReferences: in.OwnerReferences,
				},
				Spec: corev1.ServiceSpec{Type: in.Spec.Type, Selector: in.Spec.Selector, Ports: in.Spec.Ports},
			}
		},
	}, {
		desc:   "the operator's own proxy Service stays whole but for bookkeeping",
		mutate: func(s *corev1.Service) { s.Labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue },
		want: func(in *corev1.Service) *corev1.Service {
			out := in.DeepCopy()
			out.ManagedFields, out.Annotations = nil, map[string]string{"team": "a"}
			return out
		},
	}, {
		desc:   "only the last-applied annotation: no annotations left",
		mutate: func(s *corev1.Service) { delete(s.Annotations, "team") },
		want: func(in *corev1.Service) *corev1.Service {
			return &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{
					Name: "api", Namespace: "team-a", UID: "uid-1", ResourceVersion: "42", Generation: 3,
					Labels: in.Labels, OwnerReferences: in.OwnerReferences,
				},
				Spec: corev1.ServiceSpec{Type: in.Spec.Type, Selector: in.Spec.Selector, Ports: in.Spec.Ports},
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			in := fullService(tt.mutate)
			want := tt.want(in.DeepCopy())
			got, err := trimService(in)
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("trimService:\n got %+v\nwant %+v", got, want)
			}
			again, _ := trimService(got)
			if !equality.Semantic.DeepEqual(again, want) {
				t.Errorf("trimService is not idempotent: %+v", again)
			}
		})
	}
}

func TestTrimReferenced(t *testing.T) {
	in := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: bookkept("upstream-ca")}
	got, err := trimReferenced(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{TypeMeta: in.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: "upstream-ca", Namespace: "team-a", UID: "uid-1", ResourceVersion: "42", Generation: 3, OwnerReferences: in.OwnerReferences,
	}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("trimReferenced:\n got %+v\nwant %+v", got, want)
	}
}

// TestTrimTrustBundle: a ClusterTrustBundle's metadata keeps its labels, which selectors
// match, and nothing else but what names and versions it.
func TestTrimTrustBundle(t *testing.T) {
	in := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "certificates.k8s.io/v1", Kind: "ClusterTrustBundle"},
		ObjectMeta: bookkept("example.com:upstreams:v1")}
	in.Namespace = ""
	got, err := trimTrustBundle(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{TypeMeta: in.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: "example.com:upstreams:v1", UID: "uid-1", ResourceVersion: "42", Generation: 3, OwnerReferences: in.OwnerReferences,
		Labels: map[string]string{"app": "api"},
	}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("trimTrustBundle:\n got %+v\nwant %+v", got, want)
	}
}

func TestStripBookkeeping(t *testing.T) {
	tenant := &v1alpha1.GatewayTenant{ObjectMeta: bookkept("t")}
	tenant.Annotations = map[string]string{lastAppliedAnnotation: "{}"}
	if _, err := stripBookkeeping(tenant); err != nil {
		t.Fatal(err)
	}
	if tenant.ManagedFields != nil || tenant.Annotations != nil {
		t.Errorf("managedFields %v, annotations %v: want both gone", tenant.ManagedFields, tenant.Annotations)
	}
	if tenant.Labels["app"] != "api" || tenant.ResourceVersion != "42" {
		t.Errorf("stripped more than bookkeeping: %+v", tenant.ObjectMeta)
	}
}

func TestTrimBackendTLSPolicy(t *testing.T) {
	full := func() *gwapiv1.BackendTLSPolicy {
		return &gwapiv1.BackendTLSPolicy{
			ObjectMeta: bookkept("theirs"),
			Spec: gwapiv1.BackendTLSPolicySpec{
				TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{
					{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: "api"}, SectionName: ptr.To(gwapiv1.SectionName("https"))},
					{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "inference.networking.k8s.io", Kind: "InferencePool", Name: "pool"}},
				},
				Validation: gwapiv1.BackendTLSPolicyValidation{Hostname: "api.example", WellKnownCACertificates: ptr.To(gwapiv1.WellKnownCACertificatesSystem)},
				Options:    map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"example.com/x": "y"},
			},
			Status: gwapiv1.PolicyStatus{Ancestors: []gwapiv1.PolicyAncestorStatus{{ControllerName: "example.com/gw",
				Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted"}}}}},
		}
	}

	got, err := trimBackendTLSPolicy(full())
	if err != nil {
		t.Fatal(err)
	}
	in := full()
	want := &gwapiv1.BackendTLSPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: "team-a", UID: "uid-1", ResourceVersion: "42", Generation: 3, OwnerReferences: in.OwnerReferences},
		Spec:       gwapiv1.BackendTLSPolicySpec{TargetRefs: in.Spec.TargetRefs[:1]},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("someone else's policy:\n got %+v\nwant %+v", got, want)
	}

	own := full()
	own.Labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	got, err = trimBackendTLSPolicy(own)
	if err != nil {
		t.Fatal(err)
	}
	keep := full()
	keep.Labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	keep.ManagedFields, keep.Annotations = nil, map[string]string{"team": "a"}
	if !equality.Semantic.DeepEqual(got, keep) {
		t.Errorf("the operator's own policy:\n got %+v\nwant %+v", got, keep)
	}
}
