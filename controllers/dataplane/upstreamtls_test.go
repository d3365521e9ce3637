package dataplane

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func TestUpstreamTLSCondition(t *testing.T) {
	btls := func(s *v1alpha1.BackendTLSPolicySettings) *v1alpha1.GatewayDataPlaneSpec {
		return &v1alpha1.GatewayDataPlaneSpec{UpstreamTLS: &v1alpha1.UpstreamTLSSpec{Mode: v1alpha1.UpstreamTLSModeBackendTLSPolicy, BackendTLSPolicy: s}}
	}
	tests := []struct {
		desc     string
		spec     *v1alpha1.GatewayDataPlaneSpec
		served   bool
		status   metav1.ConditionStatus
		reason   string
		contains string
	}{
		{"no mode: the proxy", &v1alpha1.GatewayDataPlaneSpec{}, false, metav1.ConditionTrue, v1alpha1.ReasonProxyVerifies, "proxy"},
		{"BackendTLSPolicy, served", btls(nil), true, metav1.ConditionTrue, v1alpha1.ReasonGatewayVerifies, "higher minimum version are refused"},
		{"BackendTLSPolicy with an option", btls(&v1alpha1.BackendTLSPolicySettings{MinVersionOption: "example.com/min"}), true,
			metav1.ConditionTrue, v1alpha1.ReasonGatewayVerifies, "in option example.com/min"},
		{"BackendTLSPolicy, not served", btls(nil), false, metav1.ConditionFalse, v1alpha1.ReasonBackendTLSPolicyUnavailable, "restart the operator"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c := upstreamTLSCondition(tt.spec, tt.served)
			if c.Type != v1alpha1.ConditionUpstreamTLSReady || c.Status != tt.status || c.Reason != tt.reason || !strings.Contains(c.Message, tt.contains) {
				t.Errorf("got %+v", c)
			}
		})
	}
}
