package gatewaytenant

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func TestComputeStatusReadyFollowsTheFirstFailingCondition(t *testing.T) {
	silver := plane("aps-silver", true, "test", "prod")
	accepted := resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, []v1alpha1.GatewayDataPlane{silver})
	good := upstreamResult{upstream: v1alpha1.Upstream{Name: "a", Host: "a.ns.svc", Port: 80}, reason: v1alpha1.ReasonReady, message: "ok"}
	bad := upstreamResult{upstream: v1alpha1.Upstream{Name: "b", Host: "b.ns.svc", Port: 81}, reason: v1alpha1.ReasonPortNotFound, message: "port"}
	cases := []struct {
		desc       string
		obs        observation
		wantReady  metav1.ConditionStatus
		wantReason string
	}{
		{desc: "all good", obs: observation{dataPlane: accepted, upstreams: []upstreamResult{good}},
			wantReady: metav1.ConditionTrue, wantReason: v1alpha1.ReasonReady},
		{desc: "data plane first", obs: observation{dataPlane: resolveDataPlane(&v1alpha1.GatewayTenantSpec{DataPlane: "x"}, nil), upstreams: []upstreamResult{bad}},
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonDataPlaneNotFound},
		{desc: "then upstreams", obs: observation{dataPlane: accepted, upstreams: []upstreamResult{good, bad}},
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonInvalidUpstreams},
		{desc: "then writes", obs: observation{dataPlane: accepted, upstreams: []upstreamResult{good}, applyErr: errors.New("boom")},
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonApplyFailed},
		{desc: "then the proxy", obs: observation{dataPlane: accepted, upstreams: []upstreamResult{good},
			proxyReady: condition(v1alpha1.ConditionProxyReady, false, v1alpha1.ReasonProxyProgressing, "0 of 2")},
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonProxyProgressing},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			c.obs.generation = 7
			if c.obs.proxyReady.Type == "" {
				c.obs.proxyReady = condition(v1alpha1.ConditionProxyReady, true, v1alpha1.ReasonNotRequired, "no TLS")
			}
			st := computeStatus(&v1alpha1.GatewayTenantStatus{}, c.obs)
			ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady)
			if ready.Status != c.wantReady || ready.Reason != c.wantReason {
				t.Fatalf("Ready %s/%s, want %s/%s", ready.Status, ready.Reason, c.wantReady, c.wantReason)
			}
			for _, cond := range st.Conditions {
				if cond.ObservedGeneration != 7 {
					t.Errorf("%s has observedGeneration %d", cond.Type, cond.ObservedGeneration)
				}
			}
			for _, u := range st.Upstreams {
				valid := u.Name == "a"
				if (u.GatewayHost != "") != valid {
					t.Errorf("upstream %s gatewayHost %q", u.Name, u.GatewayHost)
				}
			}
		})
	}
}

func TestComputeStatusKeepsTransitionTimesOfUnchangedConditions(t *testing.T) {
	obs := observation{generation: 1, dataPlane: resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, []v1alpha1.GatewayDataPlane{plane("p", true, "test")}),
		upstreams:  []upstreamResult{{upstream: v1alpha1.Upstream{Name: "a"}, reason: v1alpha1.ReasonReady}},
		proxyReady: condition(v1alpha1.ConditionProxyReady, true, v1alpha1.ReasonNotRequired, "no TLS")}
	first := computeStatus(&v1alpha1.GatewayTenantStatus{}, obs)
	past := metav1.NewTime(metav1.Now().Add(-3600e9))
	for i := range first.Conditions {
		first.Conditions[i].LastTransitionTime = past
	}
	second := computeStatus(&first, obs)
	for _, c := range second.Conditions {
		if !c.LastTransitionTime.Equal(&past) {
			t.Errorf("%s transition time moved", c.Type)
		}
	}
}
