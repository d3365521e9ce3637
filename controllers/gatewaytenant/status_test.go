package gatewaytenant

import (
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

func TestComputeStatusReadyFollowsTheFirstFailingCondition(t *testing.T) {
	silver := plane("aps-silver", true, "test", "prod")
	accepted := resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, []v1alpha1.GatewayDataPlane{silver})
	good := upstreamResult{upstream: v1alpha1.Upstream{Name: "a", Host: "a.ns.svc", Port: 80}, reason: v1alpha1.ReasonReady, message: "ok"}
	goodTLS := good
	goodTLS.upstream.TLS = &v1alpha1.UpstreamTLS{}
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
		{desc: "then the proxy", obs: observation{dataPlane: accepted, upstreams: []upstreamResult{goodTLS},
			proxyUpstreams: []proxyUpstream{{upstreamResult: goodTLS}}, proxyHost: "t-proxy.ns.svc", proxyDeployment: proxyDeploymentWith(2, 1, 0, 0)},
			wantReady: metav1.ConditionFalse, wantReason: v1alpha1.ReasonProxyProgressing},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			c.obs.generation = 7
			st := computeStatus(&v1alpha1.GatewayTenantStatus{}, &c.obs)
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
	obs := &observation{generation: 1, dataPlane: resolveDataPlane(&v1alpha1.GatewayTenantSpec{}, []v1alpha1.GatewayDataPlane{plane("p", true, "test")}),
		upstreams: []upstreamResult{{upstream: v1alpha1.Upstream{Name: "a"}, reason: v1alpha1.ReasonReady}}}
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

// proxyDeploymentWith is a proxy Deployment at generation 2 wanting replicas, whose status has
// seen observedGeneration and has updated and available replicas.
func proxyDeploymentWith(replicas int32, observed int64, updated, available int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "t-proxy", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, AvailableReplicas: available},
	}
}

func TestProxyReadyCondition(t *testing.T) {
	plain := upstreamResult{upstream: v1alpha1.Upstream{Name: "p"}, reason: v1alpha1.ReasonReady}
	tls := upstreamResult{upstream: v1alpha1.Upstream{Name: "t", TLS: &v1alpha1.UpstreamTLS{}}, reason: v1alpha1.ReasonReady}
	badTLS := tls
	badTLS.reason = v1alpha1.ReasonInvalidCACertificateRef
	serving := func(o *observation) {
		o.upstreams = []upstreamResult{plain, tls}
		o.proxyUpstreams = []proxyUpstream{{upstreamResult: tls}}
		o.proxyDeployment = proxyDeploymentWith(2, 2, 2, 2)
	}
	for _, c := range []struct {
		desc       string
		tweak      func(*observation)
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{"every replica of the latest generation available", func(*observation) {}, metav1.ConditionTrue, v1alpha1.ReasonReady},
		{"no TLS upstream", func(o *observation) {
			o.upstreams, o.proxyUpstreams, o.proxyDeployment = []upstreamResult{plain}, nil, nil
		},
			metav1.ConditionTrue, v1alpha1.ReasonNotRequired},
		{"no valid TLS upstream", func(o *observation) {
			o.upstreams, o.proxyUpstreams, o.proxyDeployment = []upstreamResult{badTLS}, nil, nil
		},
			metav1.ConditionFalse, v1alpha1.ReasonNoValidUpstreams},
		{"Deployment not written", func(o *observation) { o.proxyDeployment = nil }, metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing},
		{"new generation not yet observed", func(o *observation) { o.proxyDeployment = proxyDeploymentWith(2, 1, 2, 2) },
			metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing},
		{"replicas not yet updated", func(o *observation) { o.proxyDeployment = proxyDeploymentWith(2, 2, 1, 2) },
			metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing},
		{"replicas not yet available", func(o *observation) { o.proxyDeployment = proxyDeploymentWith(2, 2, 2, 1) },
			metav1.ConditionFalse, v1alpha1.ReasonProxyProgressing},
	} {
		t.Run(c.desc, func(t *testing.T) {
			obs := &observation{}
			serving(obs)
			c.tweak(obs)
			got := proxyReadyCondition(obs)
			if got.Status != c.wantStatus || got.Reason != c.wantReason {
				t.Fatalf("ProxyReady %s/%s (%s), want %s/%s", got.Status, got.Reason, got.Message, c.wantStatus, c.wantReason)
			}
		})
	}
}
