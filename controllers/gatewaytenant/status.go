package gatewaytenant

// The tenant's status, computed once from what was observed and what the write phase did: one
// function per condition, each called once, and per-upstream views (upstreams.go). Every
// message is rendered once from what the observation and the outcome hold. Pure.

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// computeStatus returns the tenant's new status from the old one, the observation and the
// outcome of the write phase. The old status is read for the last transition times, which
// meta.SetStatusCondition keeps when a condition does not change, for the rule against
// flapping of Verified, and for where the gateway reaches a plain upstream kept at its last
// good spec.
func computeStatus(old *v1alpha1.GatewayTenantStatus, obs *observation, out *outcome, tenant string) v1alpha1.GatewayTenantStatus {
	st := v1alpha1.GatewayTenantStatus{
		ObservedGeneration: obs.generation,
		Conditions:         append([]metav1.Condition(nil), old.Conditions...),
	}
	set := func(c metav1.Condition) {
		c.ObservedGeneration = obs.generation
		meta.SetStatusCondition(&st.Conditions, c)
	}
	if obs.conflict != nil {
		// An older tenant owns a Service port this one names: every condition says so, and
		// no upstream has a status, since nothing serves them.
		for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionResolvedRefs, v1alpha1.ConditionNetworkPolicyReady,
			v1alpha1.ConditionProxyReady, v1alpha1.ConditionReady} {
			set(condition(typ, false, v1alpha1.ReasonConflicted, obs.conflict.message()))
		}
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionBackendTLSPolicyReady)
		return st
	}
	if obs.dataPlane.plane != nil {
		st.DataPlane = obs.dataPlane.plane.Name
	}
	views := upstreamViews(old, obs, tenant)
	st.Upstreams = upstreamStatuses(old, views, obs.generation)
	set(acceptedCondition(obs))
	set(resolvedRefsCondition(obs, views))
	set(networkPolicyReadyCondition(obs, out, views))
	set(proxyReadyCondition(obs, out))
	if c, ok := backendTLSPolicyReadyCondition(obs, out); ok {
		set(c)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionBackendTLSPolicyReady)
	}
	set(readyCondition(st.Conditions, views))
	st.GatewayConfig = gatewayConfig(obs.gatewayID, obs.dataPlane, st.Upstreams)
	return st
}

func condition(typ string, ok bool, reason, message string) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

// acceptedCondition is Accepted: the data plane and environments resolve.
func acceptedCondition(obs *observation) metav1.Condition {
	return condition(v1alpha1.ConditionAccepted, obs.dataPlane.accepted(), obs.dataPlane.reason, obs.dataPlane.message)
}

// resolvedRefsCondition is ResolvedRefs: every upstream is valid, including the material the
// proxy replicas check for the operator (a Secret, a pod certificate); Unknown while no replica
// has reported on such material.
func resolvedRefsCondition(obs *observation, views []upstreamView) metav1.Condition {
	const typ = v1alpha1.ConditionResolvedRefs
	var invalid, pending []string
	for _, v := range views {
		switch {
		case !v.result.valid():
			invalid = append(invalid, v.result.message())
		case v.refsFailed:
			invalid = append(invalid, v.ready.Message)
		case v.refsPending:
			pending = append(pending, v.ready.Message)
		}
	}
	switch {
	case len(invalid) > 0:
		return condition(typ, false, v1alpha1.ReasonInvalidUpstreams,
			fmt.Sprintf("%d of %d upstreams are invalid: %s", len(invalid), len(obs.upstreams), strings.Join(invalid, "; ")))
	case len(pending) > 0:
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonAwaitingProxyReport,
			Message: fmt.Sprintf("%d of %d upstreams await a proxy replica's report: %s", len(pending), len(obs.upstreams), strings.Join(pending, "; "))}
	}
	return condition(typ, true, v1alpha1.ReasonResolvedRefs, fmt.Sprintf("all %d upstreams resolved", len(obs.upstreams)))
}

// networkPolicyReadyCondition is NetworkPolicyReady: the NetworkPolicies of every upstream the
// gateway reaches (valid, or kept at its last good spec) are in place.
func networkPolicyReadyCondition(obs *observation, out *outcome, views []upstreamView) metav1.Condition {
	const typ = v1alpha1.ConditionNetworkPolicyReady
	if !obs.dataPlane.accepted() {
		return condition(typ, false, obs.dataPlane.reason,
			"NetworkPolicies are left as they are until the data plane resolves: "+obs.dataPlane.message)
	}
	if err := out.errOf(partPolicies); err != nil {
		return condition(typ, false, v1alpha1.ReasonApplyFailed, "writing NetworkPolicies failed, retrying: "+err.Error())
	}
	var names []string
	for _, v := range views {
		switch v.served {
		case servedValid:
			names = append(names, v.result.upstream.Name)
		case servedLastGood:
			names = append(names, v.result.upstream.Name+" (last good spec)")
		}
	}
	if len(names) == 0 {
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams, "no upstream is valid, so no NetworkPolicy is opened")
	}
	return condition(typ, true, v1alpha1.ReasonReady,
		fmt.Sprintf("gateway environments %s may reach upstreams [%s]", environmentNames(obs.dataPlane.environments), strings.Join(names, ", ")))
}

// proxyReadyCondition is ProxyReady: the proxy serves every TLS upstream it should. While it
// rolls out it stays True as long as replicas (old or new) are available: the gateway's
// traffic gets through.
func proxyReadyCondition(obs *observation, out *outcome) metav1.Condition {
	const typ = v1alpha1.ConditionProxyReady
	dep := out.deployment
	if dep == nil {
		dep = obs.deployment // not written: as it stands
	}
	switch {
	case !obs.hasTLS():
		return condition(typ, true, v1alpha1.ReasonNotRequired, "no upstream uses TLS, so no proxy runs")
	case !obs.proxyNeeded():
		return condition(typ, true, v1alpha1.ReasonNotRequired, fmt.Sprintf(
			"the gateway of data plane %q verifies TLS upstreams itself through BackendTLSPolicies, so no proxy runs", obs.dataPlane.plane.Name))
	case len(obs.served) == 0:
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams, "no TLS upstream is valid, so the proxy is left as it is")
	case out.sizeRefused != nil:
		return condition(typ, false, v1alpha1.ReasonProxySizeNotAllowed, out.sizeRefused.Error()+"; the proxy keeps the size it had")
	case out.errOf(partProxy) != nil:
		return condition(typ, false, v1alpha1.ReasonApplyFailed, "writing the proxy's objects failed, retrying: "+out.errOf(partProxy).Error())
	case dep == nil:
		return condition(typ, false, v1alpha1.ReasonProxyProgressing, "the proxy Deployment is not written yet")
	}
	if r := rolloutOf(dep); !r.done() {
		return condition(typ, r.available > 0, v1alpha1.ReasonProxyProgressing, r.message())
	}
	if out.held != nil {
		return condition(typ, true, v1alpha1.ReasonProxyOutdated, out.held.message())
	}
	return condition(typ, true, v1alpha1.ReasonReady, fmt.Sprintf("proxy Deployment %s: %d replicas available", dep.Name, dep.Status.AvailableReplicas))
}

// backendTLSPolicyReadyCondition is BackendTLSPolicyReady, and whether the tenant has it: on a
// data plane in BackendTLSPolicy mode, or when writing a BackendTLSPolicy failed. True when
// the policy of every upstream the gateway verifies is written.
func backendTLSPolicyReadyCondition(obs *observation, out *outcome) (metav1.Condition, bool) {
	const typ = v1alpha1.ConditionBackendTLSPolicyReady
	err := out.errOf(partBackendTLS)
	switch {
	case err != nil:
		return condition(typ, false, v1alpha1.ReasonApplyFailed, "writing BackendTLSPolicies failed, retrying: "+err.Error()), true
	case obs.tlsMode != v1alpha1.UpstreamTLSModeBackendTLSPolicy:
		return metav1.Condition{}, false
	case !obs.hasTLS():
		return condition(typ, true, v1alpha1.ReasonNotRequired, "no upstream uses TLS, so no BackendTLSPolicy is written"), true
	case !obs.backendTLSServed:
		return condition(typ, false, v1alpha1.ReasonBackendTLSPolicyUnavailable, fmt.Sprintf(
			"data plane %q has its gateway verify TLS upstreams through BackendTLSPolicy, but this cluster did not serve gateway.networking.k8s.io/v1 "+
				"BackendTLSPolicies when the operator started; nothing is written for the TLS upstreams, and what they had stays", obs.dataPlane.plane.Name)), true
	case len(obs.direct) == 0:
		return condition(typ, false, v1alpha1.ReasonNoValidUpstreams,
			"no TLS upstream can be verified through a BackendTLSPolicy as its spec stands, so none is written; those of a last good spec stay as they were"), true
	}
	names := make([]string, 0, len(obs.direct))
	for _, d := range obs.direct {
		names = append(names, d.desired.Name)
	}
	return condition(typ, true, v1alpha1.ReasonReady, fmt.Sprintf("BackendTLSPolicies [%s] are written; the gateway of data plane %q verifies the TLS upstreams",
		strings.Join(names, ", "), obs.dataPlane.plane.Name)), true
}

// rollout is where a Deployment's rollout stands, from its spec and status.
type rollout struct {
	name                     string
	want, updated, available int32
	observed                 bool // the Deployment controller has seen the latest spec
}

func rolloutOf(dep *appsv1.Deployment) rollout {
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	return rollout{name: dep.Name, want: want, updated: st.UpdatedReplicas, available: st.AvailableReplicas,
		observed: st.ObservedGeneration >= dep.Generation}
}

func (r rollout) done() bool { return r.observed && r.updated >= r.want && r.available >= r.want }

func (r rollout) message() string {
	switch {
	case !r.observed:
		return fmt.Sprintf("proxy Deployment %s rolls out a change the Deployment controller has not picked up yet; %d replicas of the previous one available",
			r.name, r.available)
	case r.updated < r.want:
		return fmt.Sprintf("proxy Deployment %s rolls out: %d of %d replicas updated, %d available", r.name, r.updated, r.want, r.available)
	}
	return fmt.Sprintf("proxy Deployment %s: %d of %d replicas available", r.name, r.available, r.want)
}

// readyCondition is Ready: the first of the tenant's conditions that is not True decides it
// (False, or Unknown), then the first upstream that is not Ready. When True, it says
// "reachable" only of what is: it names the upstreams whose data path is not known to work
// yet, and warns of certificates that expire soon.
func readyCondition(conditions []metav1.Condition, views []upstreamView) metav1.Condition {
	for _, typ := range []string{v1alpha1.ConditionAccepted, v1alpha1.ConditionResolvedRefs, v1alpha1.ConditionNetworkPolicyReady,
		v1alpha1.ConditionProxyReady, v1alpha1.ConditionBackendTLSPolicyReady} {
		if c := meta.FindStatusCondition(conditions, typ); c != nil && c.Status != metav1.ConditionTrue {
			return metav1.Condition{Type: v1alpha1.ConditionReady, Status: c.Status, Reason: c.Reason, Message: c.Message}
		}
	}
	var notes, warnings []string
	for _, v := range views {
		if v.ready.Status != metav1.ConditionTrue {
			return metav1.Condition{Type: v1alpha1.ConditionReady, Status: v.ready.Status, Reason: v.ready.Reason, Message: v.ready.Message}
		}
		if v.note != "" {
			notes = append(notes, v.note)
		}
		if v.warning != "" {
			warnings = append(warnings, v.warning)
		}
	}
	msg := fmt.Sprintf("all %d upstreams are reachable from the gateway", len(views))
	if len(notes) > 0 {
		msg = fmt.Sprintf("all %d upstreams are configured; %s", len(views), strings.Join(notes, "; "))
	}
	if len(warnings) == 0 {
		return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonReady, msg)
	}
	// Still Ready: traffic gets through. The reason shows in kubectl get, and an event is
	// raised when it appears.
	return condition(v1alpha1.ConditionReady, true, v1alpha1.ReasonCertificateExpiringSoon, msg+", but "+strings.Join(warnings, "; "))
}
