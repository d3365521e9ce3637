package gatewaytenant

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func plane(name string, def bool, envs ...v1alpha1.EnvironmentName) v1alpha1.GatewayDataPlane {
	dp := v1alpha1.GatewayDataPlane{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.GatewayDataPlaneSpec{Default: def}}
	for _, e := range envs {
		dp.Spec.Environments = append(dp.Spec.Environments, v1alpha1.DataPlaneEnvironment{
			Name: e, NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{"environment": string(e)}},
		})
	}
	return dp
}

func TestResolveDataPlane(t *testing.T) {
	silver := plane("aps-silver", true, "test", "prod")
	gold := plane("aps-gold", false, "test", "prod")
	cases := []struct {
		desc       string
		spec       v1alpha1.GatewayTenantSpec
		planes     []v1alpha1.GatewayDataPlane
		wantReason string
		wantPlane  string
		wantEnvs   string
		wantMsg    string
	}{
		{desc: "default plane, all environments", planes: []v1alpha1.GatewayDataPlane{silver, gold},
			wantReason: v1alpha1.ReasonAccepted, wantPlane: "aps-silver", wantEnvs: "[test, prod]"},
		{desc: "named plane, chosen environments in the tenant's order", planes: []v1alpha1.GatewayDataPlane{silver, gold},
			spec:       v1alpha1.GatewayTenantSpec{DataPlane: "aps-gold", Environments: []v1alpha1.EnvironmentName{"prod", "test"}},
			wantReason: v1alpha1.ReasonAccepted, wantPlane: "aps-gold", wantEnvs: "[prod, test]"},
		{desc: "named plane missing", planes: []v1alpha1.GatewayDataPlane{silver},
			spec:       v1alpha1.GatewayTenantSpec{DataPlane: "aps-bronze"},
			wantReason: v1alpha1.ReasonDataPlaneNotFound, wantMsg: `GatewayDataPlane "aps-bronze" not found; known data planes: [aps-silver]`},
		{desc: "no default", planes: []v1alpha1.GatewayDataPlane{gold},
			wantReason: v1alpha1.ReasonNoDefaultDataPlane, wantMsg: "name one of [aps-gold]"},
		{desc: "no planes at all", wantReason: v1alpha1.ReasonNoDefaultDataPlane, wantMsg: "name one of (none)"},
		{desc: "two defaults", planes: []v1alpha1.GatewayDataPlane{silver, plane("other", true, "test")},
			wantReason: v1alpha1.ReasonAmbiguousDefaultDataPlane, wantMsg: "marked default, [aps-silver, other]"},
		{desc: "unknown environment", planes: []v1alpha1.GatewayDataPlane{silver},
			spec:       v1alpha1.GatewayTenantSpec{Environments: []v1alpha1.EnvironmentName{"test", "dev"}},
			wantReason: v1alpha1.ReasonEnvironmentNotFound, wantMsg: `has no environment "dev"; it has [test, prod]`},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got := resolveDataPlane(&c.spec, c.planes)
			if got.reason != c.wantReason {
				t.Fatalf("reason %q, want %q (%s)", got.reason, c.wantReason, got.message)
			}
			if !strings.Contains(got.message, c.wantMsg) {
				t.Errorf("message %q does not contain %q", got.message, c.wantMsg)
			}
			if !got.accepted() {
				return
			}
			if got.plane.Name != c.wantPlane || environmentNames(got.environments) != c.wantEnvs {
				t.Errorf("got %s %s, want %s %s", got.plane.Name, environmentNames(got.environments), c.wantPlane, c.wantEnvs)
			}
		})
	}
}

func TestCheckUpstream(t *testing.T) {
	base := func() *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "api"},
				Ports: []corev1.ServicePort{
					{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
					{Port: 8443, TargetPort: intstr.FromInt32(9443), Protocol: corev1.ProtocolTCP},
				},
			},
		}
	}
	cases := []struct {
		desc       string
		host       string
		port       int32
		svc        func() *corev1.Service
		wantReason string
		wantPort   string
	}{
		{desc: "numeric target port", host: "api.ns.svc", port: 8443, svc: base, wantReason: v1alpha1.ReasonReady, wantPort: "9443"},
		{desc: "named target port", host: "api.ns.svc", port: 80, svc: base, wantReason: v1alpha1.ReasonReady, wantPort: "http"},
		{desc: "unset target port is the Service port", host: "api.ns.svc", port: 8443, wantReason: v1alpha1.ReasonReady, wantPort: "8443",
			svc: func() *corev1.Service { s := base(); s.Spec.Ports[1].TargetPort = intstr.IntOrString{}; return s }},
		{desc: "other namespace", host: "api.other.svc", port: 8443, svc: base, wantReason: v1alpha1.ReasonHostNotInNamespace},
		{desc: "no Service", host: "api.ns.svc", port: 8443, svc: func() *corev1.Service { return nil }, wantReason: v1alpha1.ReasonServiceNotFound},
		{desc: "target port given as the port", host: "api.ns.svc", port: 9443, svc: base, wantReason: v1alpha1.ReasonPortNotFound},
		{desc: "no selector", host: "api.ns.svc", port: 8443, wantReason: v1alpha1.ReasonServiceWithoutSelector,
			svc: func() *corev1.Service { s := base(); s.Spec.Selector = nil; return s }},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got := checkUpstream("ns", v1alpha1.Upstream{Name: "u", Host: c.host, Port: c.port}, c.svc())
			if got.reason != c.wantReason {
				t.Fatalf("reason %q, want %q (%s)", got.reason, c.wantReason, got.message())
			}
			if !strings.Contains(got.message(), `upstream "u"`) {
				t.Errorf("message %q does not name the upstream", got.message())
			}
			if c.wantPort == "" {
				if got.ports != nil || got.podSelector != nil {
					t.Errorf("invalid upstream opens ports %v to %v", got.ports, got.podSelector)
				}
				return
			}
			if len(got.ports) != 1 || got.ports[0].Port.String() != c.wantPort || *got.ports[0].Protocol != corev1.ProtocolTCP {
				t.Errorf("ports %v, want TCP %s", got.ports, c.wantPort)
			}
		})
	}
}

func TestGatewayPeersPinNamespaceNamesWithoutChangingTheDataPlane(t *testing.T) {
	dp := plane("p", true, "test")
	dp.Spec.Environments[0].NamespaceNames = []string{"264e6f-test"}
	peers := gatewayPeers(dp.Spec.Environments)
	if len(peers) != 1 || len(peers[0].NamespaceSelector.MatchExpressions) != 1 {
		t.Fatalf("peers %+v", peers)
	}
	req := peers[0].NamespaceSelector.MatchExpressions[0]
	if req.Key != labelNamespaceName || req.Operator != metav1.LabelSelectorOpIn || req.Values[0] != "264e6f-test" {
		t.Errorf("requirement %+v", req)
	}
	if len(dp.Spec.Environments[0].NamespaceSelector.MatchExpressions) != 0 {
		t.Error("gatewayPeers changed the data plane's selector")
	}
}
