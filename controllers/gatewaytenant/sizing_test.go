package gatewaytenant

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// A tenant's spec.proxy over the platform's defaults, within its bounds: out of bounds is
// refused naming the field and the bound.
func TestSizeFor(t *testing.T) {
	platform := ProxySettings{Replicas: 2, MaxReplicas: 4,
		MaxResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}}
	q := resource.MustParse
	for _, tc := range []struct {
		desc    string
		sizing  *v1alpha1.ProxySizing
		want    func(t *testing.T, s proxySize)
		wantErr string
	}{
		{desc: "no spec.proxy: the platform's defaults", want: func(t *testing.T, s proxySize) {
			if s.replicas != 2 || s.resources.Requests.Memory().String() != "64Mi" || s.resources.Limits.Cpu().String() != "1" {
				t.Errorf("got %d replicas, %v", s.replicas, s.resources)
			}
		}},
		{desc: "replicas and memory within bounds; the rest stays default",
			sizing: &v1alpha1.ProxySizing{Replicas: ptr.To[int32](4), Resources: &v1alpha1.ProxyResources{
				Requests: corev1.ResourceList{corev1.ResourceMemory: q("128Mi")}, Limits: corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}}},
			want: func(t *testing.T, s proxySize) {
				if s.replicas != 4 || s.resources.Requests.Memory().String() != "128Mi" || s.resources.Limits.Memory().String() != "1Gi" ||
					s.resources.Requests.Cpu().String() != "50m" {
					t.Errorf("got %d replicas, %v", s.replicas, s.resources)
				}
			}},
		{desc: "too many replicas", sizing: &v1alpha1.ProxySizing{Replicas: ptr.To[int32](5)},
			wantErr: "spec.proxy.replicas: 5 is above the platform's maximum of 4"},
		{desc: "limit above the maximum",
			sizing:  &v1alpha1.ProxySizing{Resources: &v1alpha1.ProxyResources{Limits: corev1.ResourceList{corev1.ResourceMemory: q("2Gi")}}},
			wantErr: "spec.proxy.resources.limits.memory: 2Gi is above the platform's maximum of 1Gi"},
		{desc: "request above the maximum",
			sizing:  &v1alpha1.ProxySizing{Resources: &v1alpha1.ProxyResources{Requests: corev1.ResourceList{corev1.ResourceCPU: q("3")}}},
			wantErr: "spec.proxy.resources.requests.cpu: 3 is above the platform's maximum of 2"},
		{desc: "request above the (default) limit",
			sizing:  &v1alpha1.ProxySizing{Resources: &v1alpha1.ProxyResources{Requests: corev1.ResourceList{corev1.ResourceMemory: q("512Mi")}}},
			wantErr: "spec.proxy.resources: the memory request 512Mi is above its limit 256Mi"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tenant := &v1alpha1.GatewayTenant{Spec: v1alpha1.GatewayTenantSpec{Proxy: tc.sizing}}
			got, err := platform.sizeFor(tenant)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, got)
		})
	}
}
