package gatewaytenant

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// computeStatus returns the tenant's new status from the old one and an observation. The old
// status is only read for the last transition times, which meta.SetStatusCondition keeps
// when a condition does not change.
func computeStatus(old *v1alpha1.GatewayTenantStatus, obs *observation) v1alpha1.GatewayTenantStatus {
	st := v1alpha1.GatewayTenantStatus{
		ObservedGeneration: obs.generation,
		Conditions:         append([]metav1.Condition(nil), old.Conditions...),
	}
	if obs.dataPlane.plane != nil {
		st.DataPlane = obs.dataPlane.plane.Name
	}
	set := func(conds *[]metav1.Condition, c metav1.Condition) {
		c.ObservedGeneration = obs.generation
		meta.SetStatusCondition(conds, c)
	}

	if obs.conflict != "" {
		// An older tenant owns a Service port this one names: every condition says so, and
		// no upstream has a status, since nothing serves them.
		for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionResolvedRefs, v1alpha1.ConditionNetworkPolicyReady,
			v1alpha1.ConditionProxyReady, v1alpha1.ConditionReady} {
			set(&st.Conditions, condition(typ, false, v1alpha1.ReasonConflicted, obs.conflict))
		}
		return st
	}
	accepted := acceptedCondition(obs)
	resolved := resolvedRefsCondition(obs)
	netpol := networkPolicyCondition(obs)
	for _, u := range obs.upstreams {
		us := v1alpha1.UpstreamStatus{Name: u.upstream.Name, Conditions: oldUpstreamConditions(old, u.upstream.Name)}
		us.GatewayHost, us.GatewayPort = gatewayAddress(obs, u)
		c := condition(v1alpha1.ConditionReady, u.valid(), u.reason, u.message)
		if u.valid() && u.warning != "" {
			c.Reason, c.Message = v1alpha1.ReasonCertificateExpiringSoon, u.warning
		}
		var verified *metav1.Condition
		if v, ok := obs.dataPath.verdicts[u.upstream.Name]; ok {
			vc := verifiedCondition(u.upstream.Name, v, meta.FindStatusCondition(us.Conditions, v1alpha1.ConditionVerified))
			set(&us.Conditions, vc)
			verified = &vc
		} else {
			meta.RemoveStatusCondition(&us.Conditions, v1alpha1.ConditionVerified)
		}
		if u.valid() {
			c = dataPathReady(u, c, verified, obs.dataPath, obs.now)
		}
		set(&us.Conditions, c)
		st.Upstreams = append(st.Upstreams, us)
	}

	chain := []metav1.Condition{accepted, resolved, netpol, proxyReadyCondition(obs)}
	for _, c := range append(chain, dataPathSummary(summarise(obs, chain...), st.Upstreams)) {
		set(&st.Conditions, c)
	}
	return st
}

// gatewayAddress is what the tenant writes in the gateway for an upstream: the upstream itself
// when it is plain, the proxy Service when it speaks TLS, nothing while it is invalid.
func gatewayAddress(obs *observation, u upstreamResult) (string, int32) {
	if !u.valid() {
		return "", 0
	}
	if u.upstream.TLS == nil {
		return u.upstream.Host, u.upstream.Port
	}
	for _, pu := range obs.proxyUpstreams {
		if pu.upstream.Name == u.upstream.Name {
			return obs.proxyHost, pu.servicePort
		}
	}
	return "", 0
}

func oldUpstreamConditions(old *v1alpha1.GatewayTenantStatus, name string) []metav1.Condition {
	for _, u := range old.Upstreams {
		if u.Name == name {
			return append([]metav1.Condition(nil), u.Conditions...)
		}
	}
	return nil
}

func condition(typ string, ok bool, reason, message string) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

func acceptedCondition(obs *observation) metav1.Condition {
	return condition(v1alpha1.ConditionAccepted, obs.dataPlane.accepted(), obs.dataPlane.reason, obs.dataPlane.message)
}

func resolvedRefsCondition(obs *observation) metav1.Condition {
	var invalid []string
	for _, u := range obs.upstreams {
		if !u.valid() {
			invalid = append(invalid, u.message)
		}
	}
	if len(invalid) > 0 {
		return condition(v1alpha1.ConditionResolvedRefs, false, v1alpha1.ReasonInvalidUpstreams,
			fmt.Sprintf("%d of %d upstreams are invalid: %s", len(invalid), len(obs.upstreams), strings.Join(invalid, "; ")))
	}
	return condition(v1alpha1.ConditionResolvedRefs, true, v1alpha1.ReasonResolvedRefs,
		fmt.Sprintf("all %d upstreams resolved", len(obs.upstreams)))
}

func networkPolicyCondition(obs *observation) metav1.Condition {
	const typ = v1alpha1.ConditionNetworkPolicyReady
	if !obs.dataPlane.accepted() {
		return condition(typ, false, obs.dataPlane.reason,
			"NetworkPolicies are left as they are until the data plane resolves: "+obs.dataPlane.message)
	}
	if obs.applyErr != nil {
		return condition(typ, false, v1alpha1.ReasonApplyFailed, "writing objects failed, retrying: "+obs.applyErr.Error())
	}
	var names []string
	for _, u := range obs.upstreams {
		if u.valid() {
			names = append(names, u.upstream.Name)
		}
	}
	if len(names) == 0 {
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams, "no upstream is valid, so no NetworkPolicy is opened")
	}
	return condition(typ, true, v1alpha1.ReasonReady,
		fmt.Sprintf("gateway environments %s may reach upstreams [%s]", environmentNames(obs.dataPlane.environments), strings.Join(names, ", ")))
}

// reachableMessage begins the message of a True Ready condition; dataPathSummary narrows it
// when the data path is not known to work yet.
const reachableMessage = "all %d upstreams are reachable from the gateway"

// summarise is the Ready condition: the first condition that is not True decides it.
func summarise(obs *observation, chain ...metav1.Condition) metav1.Condition {
	for _, c := range chain {
		if c.Status != metav1.ConditionTrue {
			return condition(v1alpha1.ConditionReady, false, c.Reason, c.Message)
		}
	}
	msg := fmt.Sprintf(reachableMessage, len(obs.upstreams))
	var warnings []string
	for _, u := range obs.upstreams {
		if u.warning != "" {
			warnings = append(warnings, u.warning)
		}
	}
	if len(warnings) > 0 {
		// Still Ready: traffic gets through. The reason shows in kubectl get, and an event
		// is raised when it appears.
		return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonCertificateExpiringSoon,
			msg+", but "+strings.Join(warnings, "; "))
	}
	return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, msg)
}

// proxyReadyCondition is ProxyReady: the proxy Deployment has all its replicas available for
// its latest generation.
func proxyReadyCondition(obs *observation) metav1.Condition {
	const typ = v1alpha1.ConditionProxyReady
	switch {
	case !slices.ContainsFunc(obs.upstreams, func(u upstreamResult) bool { return u.upstream.TLS != nil }):
		return condition(typ, true, v1alpha1.ReasonNotRequired, "no upstream uses TLS, so no proxy runs")
	case len(obs.proxyUpstreams) == 0:
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams, "no TLS upstream is valid, so the proxy is left as it is")
	case obs.proxySizeErr != nil:
		return condition(typ, false, v1alpha1.ReasonProxySizeNotAllowed, obs.proxySizeErr.Error()+"; the proxy keeps the size it had")
	case obs.proxyDeployment == nil:
		return condition(typ, false, v1alpha1.ReasonProxyProgressing, "the proxy Deployment is not written yet")
	}
	dep := obs.proxyDeployment
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	if st.ObservedGeneration < dep.Generation || st.UpdatedReplicas < want || st.AvailableReplicas < want {
		return condition(typ, false, v1alpha1.ReasonProxyProgressing,
			fmt.Sprintf("proxy Deployment %s: %d of %d replicas updated and available", dep.Name, min(st.UpdatedReplicas, st.AvailableReplicas), want))
	}
	if o := obs.proxyOutdated; o != nil {
		return condition(typ, true, v1alpha1.ReasonProxyOutdated, outdatedMessage(o))
	}
	return condition(typ, true, v1alpha1.ReasonReady, fmt.Sprintf("proxy Deployment %s: %d replicas available", dep.Name, st.AvailableReplicas))
}
