package gatewaytenant

import (
	"maps"
	"strings"
	"testing"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
	"github.com/gatewaytenant/gatewaytenant-operator/controllers/dataplane"
)

func TestResolveDataClass(t *testing.T) {
	preset := func(name string) *v1alpha1.GatewayDataPlane {
		dp, err := dataplane.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		return dp
	}
	withDefault := preset("emerald")
	withDefault.Spec.GatewayService.DataClass.DefaultClass = "medium"
	cases := []struct {
		desc       string
		plane      *v1alpha1.GatewayDataPlane
		class      v1alpha1.DataClassName
		wantReason string // empty: accepted
		wantClass  v1alpha1.DataClassName
		wantLabels map[string]string
		wantMsg    string
	}{
		{desc: "no classes, none named", plane: preset("silver")},
		{desc: "a class on a data plane without classes", plane: preset("gold"), class: "medium",
			wantReason: v1alpha1.ReasonDataClassNotAllowed,
			wantMsg:    `spec.dataClass: GatewayDataPlane "aps-gold" has no data classes (spec.gatewayService.dataClass); remove spec.dataClass "medium"`},
		{desc: "a class on a data plane without gatewayService", plane: &v1alpha1.GatewayDataPlane{}, class: "medium",
			wantReason: v1alpha1.ReasonDataClassNotAllowed, wantMsg: "has no data classes"},
		{desc: "required and missing", plane: preset("emerald"),
			wantReason: v1alpha1.ReasonDataClassRequired,
			wantMsg:    `spec.dataClass: GatewayDataPlane "aps-emerald" files every service under a data class and has no default; set spec.dataClass to one of [public, medium, high]`},
		{desc: "a class the data plane lacks", plane: preset("emerald"), class: "low",
			wantReason: v1alpha1.ReasonDataClassNotAllowed,
			wantMsg:    `spec.dataClass: GatewayDataPlane "aps-emerald" has no data class "low"; use one of [public, medium, high]`},
		{desc: "medium on Emerald", plane: preset("emerald"), class: "medium",
			wantClass: "medium", wantLabels: map[string]string{"DataClass": "Medium"}},
		{desc: "high on Emerald", plane: preset("emerald"), class: "high",
			wantClass: "high", wantLabels: map[string]string{"DataClass": "High"}},
		{desc: "the data plane's default", plane: withDefault,
			wantClass: "medium", wantLabels: map[string]string{"DataClass": "Medium"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got := resolveDataClass(&v1alpha1.GatewayTenantSpec{DataClass: c.class}, c.plane)
			if got.reason != c.wantReason || !strings.Contains(got.message, c.wantMsg) {
				t.Fatalf("reason %q message %q, want %q containing %q", got.reason, got.message, c.wantReason, c.wantMsg)
			}
			var name v1alpha1.DataClassName
			if got.class != nil {
				name = got.class.Name
			}
			if name != c.wantClass {
				t.Errorf("class %q, want %q", name, c.wantClass)
			}
			labels := workloadLabels(dataPlaneResult{plane: c.plane, dataClass: got.class})
			if !maps.Equal(labels, c.wantLabels) {
				t.Errorf("workload labels %v, want %v", labels, c.wantLabels)
			}
		})
	}
}

// TestDataClassDecidesAcceptance: a refused data class is the tenant's Accepted condition,
// after the data plane and environments resolve.
func TestDataClassDecidesAcceptance(t *testing.T) {
	emerald, err := dataplane.Preset("emerald")
	if err != nil {
		t.Fatal(err)
	}
	planes := []v1alpha1.GatewayDataPlane{*emerald}
	if got := resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, planes); got.reason != v1alpha1.ReasonDataClassRequired {
		t.Errorf("no class on Emerald: %s %s", got.reason, got.message)
	}
	if got := resolveDataPlane(&v1alpha1.GatewayTenantSpec{Environments: []v1alpha1.EnvironmentName{"dev"}}, planes); got.reason != v1alpha1.ReasonEnvironmentNotFound {
		t.Errorf("an unknown environment is said first: %s %s", got.reason, got.message)
	}
	got := resolveDataPlane(&v1alpha1.GatewayTenantSpec{DataClass: "medium"}, planes)
	if !got.accepted() || got.dataClass == nil || got.dataClass.Name != "medium" || !strings.HasSuffix(got.message, ", data class medium") {
		t.Errorf("medium on Emerald: %s %s %+v", got.reason, got.message, got.dataClass)
	}
}

// TestProxyPodsCarryTheWorkloadLabels: the data-class label goes on the proxy's pods, never
// over the operator's own labels, and never into the selector.
func TestProxyPodsCarryTheWorkloadLabels(t *testing.T) {
	up := tlsResult("api", 8443)
	tenant := tenantWith(up)
	ups := proxyUpstreams(tenant, []upstreamResult{up})
	settings := ProxySettings{Image: "example/proxy:1", Replicas: 1}

	plain := proxyDeployment(tenant, ups, proxyConfig{data: []byte("a")}, settings, nil)
	labelled := proxyDeployment(tenant, ups, proxyConfig{data: []byte("a")}, settings, map[string]string{
		"DataClass": "Medium", v1alpha1.LabelTenant: "someone-else",
	})
	if got := labelled.Spec.Template.Labels["DataClass"]; got != "Medium" {
		t.Errorf("pod label DataClass = %q, want Medium", got)
	}
	if got := labelled.Spec.Template.Labels[v1alpha1.LabelTenant]; got != tenant.Name {
		t.Errorf("pod label %s = %q: a workload label must not replace the operator's", v1alpha1.LabelTenant, got)
	}
	if _, ok := plain.Spec.Template.Labels["DataClass"]; ok {
		t.Error("without workload labels the pods carry none")
	}
	if !maps.Equal(labelled.Spec.Selector.MatchLabels, plain.Spec.Selector.MatchLabels) {
		t.Errorf("selector %v changed with the workload labels (was %v): selectors are immutable",
			labelled.Spec.Selector.MatchLabels, plain.Spec.Selector.MatchLabels)
	}
}
