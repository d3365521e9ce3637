package gatewaytenant

// TLS upstreams verified by the gateway. On a data plane whose spec.upstreamTLS.mode is
// BackendTLSPolicy, a TLS upstream gets no proxy: the gateway (a Gateway API implementation)
// reaches its pods directly and verifies it through a gateway.networking.k8s.io/v1
// BackendTLSPolicy the tenant owns, which targets the upstream's Service port by name. What a
// BackendTLSPolicy cannot express is refused, never dropped; another BackendTLSPolicy on the
// same Service port that takes precedence is reported; what the implementation says of the
// policy in status.ancestors becomes the upstream's BackendTLSPolicyAccepted condition.
// Pure: observe.go reads the policies, write.go writes them.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewaytenant/gatewaytenant-operator/api/v1alpha1"
)

// directUpstream is a TLS upstream the gateway reaches directly and verifies through the
// tenant's BackendTLSPolicy.
type directUpstream struct {
	upstreamResult
	// portName is the name of the Service port the upstream names: the policy's sectionName.
	portName string
	// stored is the tenant's BackendTLSPolicy of the upstream as read; nil when there is none.
	stored *gwapiv1.BackendTLSPolicy
	// desired is the policy the upstream needs.
	desired *gwapiv1.BackendTLSPolicy
}

// written says whether the stored policy is the desired one: what the implementation
// reported on it is about the tenant's current spec.
func (d directUpstream) written() bool {
	return d.stored != nil && d.desired != nil && covers(&d.desired.Spec, &d.stored.Spec)
}

// backendTLSEnv is what the judge of a data plane in BackendTLSPolicy mode reads.
type backendTLSEnv struct {
	// served says whether the API server serves BackendTLSPolicies.
	served   bool
	tenant   string
	plane    string
	settings v1alpha1.BackendTLSPolicySettings
	// services are the Services of the tenant's namespace its upstreams name, by name.
	services map[string]*corev1.Service
	// own are the tenant's BackendTLSPolicies by upstream name; others are the rest of the
	// namespace's.
	own    map[string]*gwapiv1.BackendTLSPolicy
	others []gwapiv1.BackendTLSPolicy
}

// backendTLSPolicyName names the BackendTLSPolicy of one upstream of a tenant. The dot parts
// the tenant from the upstream, as in the NetworkPolicies' names.
func backendTLSPolicyName(tenant, upstream string) string { return tenant + "." + upstream }

// splitPolicies parts a namespace's BackendTLSPolicies into those the tenant controls, by
// upstream name (from the label, or from the name when someone removed the labels), and the
// others.
func splitPolicies(tenant *v1alpha1.GatewayTenant, all []gwapiv1.BackendTLSPolicy) (map[string]*gwapiv1.BackendTLSPolicy, []gwapiv1.BackendTLSPolicy) {
	own := map[string]*gwapiv1.BackendTLSPolicy{}
	var others []gwapiv1.BackendTLSPolicy
	for i := range all {
		p := &all[i]
		if !metav1.IsControlledBy(p, tenant) {
			others = append(others, *p)
			continue
		}
		upstream := p.Labels[v1alpha1.LabelUpstream]
		if upstream == "" {
			upstream = strings.TrimPrefix(p.Name, tenant.Name+".")
		}
		own[upstream] = p
	}
	return own, others
}

// refusal says why a BackendTLSPolicy cannot have the gateway verify the TLS upstream u (its
// Service and port checked): the API is not served, its tls asks for what a policy cannot
// say, its Service port has no name, or another BackendTLSPolicy takes precedence on that
// port. Empty when none of these holds. The certificate references are judged after it.
func (env backendTLSEnv) refusal(u v1alpha1.Upstream) (reason, detail string) {
	svcName, _ := splitHost(u.Host)
	port := servicePort(env.services[svcName], u.Port)
	switch {
	case !env.served:
		return v1alpha1.ReasonBackendTLSPolicyUnavailable, fmt.Sprintf("data plane %q has its gateway verify TLS upstreams through BackendTLSPolicy "+
			"(spec.upstreamTLS.mode), but this cluster did not serve gateway.networking.k8s.io/v1 BackendTLSPolicies when the operator started: "+
			"nothing is written for it, and what it had stays. The platform team installs the Gateway API standard CRDs (v1.4 or later) and restarts the operator", env.plane)
	case len(inexpressible(u.TLS, env.settings)) > 0:
		return v1alpha1.ReasonNotExpressibleInBackendTLSPolicy, fmt.Sprintf("data plane %q has its gateway verify TLS upstreams through BackendTLSPolicy "+
			"(spec.upstreamTLS.mode), which cannot express %s. Nothing is written that would look enforced: remove these fields, or use a data plane whose mode is Proxy",
			env.plane, strings.Join(inexpressible(u.TLS, env.settings), "; "))
	case port.Name == "":
		return v1alpha1.ReasonServicePortUnnamed, fmt.Sprintf("port %d of Service %q has no name, and a BackendTLSPolicy targets a Service port by its name "+
			"(sectionName): name the port in the Service's spec.ports, e.g. name: https", u.Port, svcName)
	}
	if p := precedingPolicy(env.others, env.own[u.Name], svcName, port.Name); p != nil {
		return v1alpha1.ReasonConflicted, conflictDetail(p, env.own[u.Name], svcName, port.Name)
	}
	return "", ""
}

// directUpstreams are the valid TLS upstreams of results, judged with env's refusal: the
// gateway verifies them. Their detail says so.
func directUpstreams(results []upstreamResult, env backendTLSEnv) ([]upstreamResult, []directUpstream) {
	out := slices.Clone(results)
	var direct []directUpstream
	for i, r := range out {
		if !r.valid() || r.upstream.TLS == nil {
			continue
		}
		svcName, _ := splitHost(r.upstream.Host)
		port := servicePort(env.services[svcName], r.upstream.Port)
		out[i].detail = fmt.Sprintf("the gateway reaches Service %q port %s directly and verifies it through BackendTLSPolicy %q",
			svcName, port.Name, backendTLSPolicyName(env.tenant, r.upstream.Name))
		direct = append(direct, directUpstream{upstreamResult: out[i], portName: port.Name, stored: env.own[r.upstream.Name]})
	}
	return out, direct
}

// inexpressible lists, field by field, what the upstream's tls asks for that a
// BackendTLSPolicy cannot express on an implementation with settings s.
func inexpressible(t *v1alpha1.UpstreamTLS, s v1alpha1.BackendTLSPolicySettings) []string {
	var out []string
	if t.ClientCertificateRef != nil {
		out = append(out, "tls.clientCertificateRef (Gateway API sets the client certificate a gateway presents to upstreams on the Gateway, for all of them, not per upstream)")
	}
	if t.PodCertificate != nil {
		out = append(out, "tls.podCertificate (Gateway API sets the client certificate a gateway presents to upstreams on the Gateway, from a Secret, not a pod certificate of the gateway's pods)")
	}
	for i, ref := range t.Validation.CACertificateRefs {
		if refKind(ref) == kindClusterTrustBundle {
			out = append(out, fmt.Sprintf("tls.validation.caCertificateRefs[%d] %s (BackendTLSPolicy in the Gateway API this operator is built with references CAs in ConfigMaps and Secrets of the upstream's namespace, not ClusterTrustBundles: publish the CA in a ConfigMap, e.g. with trust-manager)",
				i, refName(ref)))
		}
	}
	if t.VerifyDepth != nil {
		out = append(out, "tls.verifyDepth (a BackendTLSPolicy cannot bound a chain's depth)")
	}
	if minVersion(t) > s.DefaultMinVersion && s.MinVersionOption == "" {
		out = append(out, fmt.Sprintf("tls.minVersion %s (the gateway's implementation accepts TLS %s by default, and the data plane names no option for a minimum version in spec.upstreamTLS.backendTLSPolicy.minVersionOption)",
			minVersion(t), s.DefaultMinVersion))
	}
	if usesWellKnown(t, v1alpha1.WellKnownCAOpenShiftServiceCA) {
		out = append(out, fmt.Sprintf("tls.validation.wellKnownCACertificates %s (the operator's own bundle, which the gateway does not know: reference the CA with caCertificateRefs)",
			v1alpha1.WellKnownCAOpenShiftServiceCA))
	}
	return out
}

// minVersion is the upstream's tls.minVersion, 1.2 when unset (the schema's default).
func minVersion(t *v1alpha1.UpstreamTLS) v1alpha1.TLSVersion {
	if t.MinVersion == "" {
		return v1alpha1.TLSVersion12
	}
	return t.MinVersion
}

// precedingPolicy is the BackendTLSPolicy of others that targets Service svc on port (or the
// whole Service) and takes precedence over the tenant's own (nil when it has none yet), by
// Gateway API's rule: the older by creation time, then by namespace/name. Nil when none does.
func precedingPolicy(others []gwapiv1.BackendTLSPolicy, own *gwapiv1.BackendTLSPolicy, svc, port string) *gwapiv1.BackendTLSPolicy {
	var first *gwapiv1.BackendTLSPolicy
	for i := range others {
		p := &others[i]
		if targets(p, svc, port) && (first == nil || precedes(p, first)) {
			first = p
		}
	}
	if first == nil || own != nil && precedes(own, first) {
		return nil
	}
	return first
}

// targets says whether p targets Service svc on the port named port, or the whole Service.
func targets(p *gwapiv1.BackendTLSPolicy, svc, port string) bool {
	return slices.ContainsFunc(p.Spec.TargetRefs, func(t gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
		return t.Group == "" && t.Kind == "Service" && string(t.Name) == svc &&
			(t.SectionName == nil || *t.SectionName == "" || string(*t.SectionName) == port)
	})
}

// precedes orders BackendTLSPolicies as Gateway API does: creation time, then namespace/name.
func precedes(a, b *gwapiv1.BackendTLSPolicy) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// conflictDetail says which policy takes precedence on the Service port, why, and what to do.
func conflictDetail(p, own *gwapiv1.BackendTLSPolicy, svc, port string) string {
	target := fmt.Sprintf("Service %q port %s", svc, port)
	if !slices.ContainsFunc(p.Spec.TargetRefs, func(t gwapiv1.LocalPolicyTargetReferenceWithSectionName) bool {
		return t.SectionName != nil && *t.SectionName != ""
	}) {
		target = fmt.Sprintf("Service %q (all its ports)", svc)
	}
	created := p.CreationTimestamp.UTC().Format(time.RFC3339)
	why := fmt.Sprintf("it was created at %s, before this upstream's policy could be", created)
	if own != nil {
		why = fmt.Sprintf("it is older (created %s)", created)
		if p.CreationTimestamp.Equal(&own.CreationTimestamp) {
			why = fmt.Sprintf("it was created in the same second (%s) and its name sorts first, which decides a tie", created)
		}
	}
	return fmt.Sprintf("BackendTLSPolicy %q, which the operator did not write, already targets %s and takes precedence by Gateway API's rule: %s. "+
		"The operator never changes a policy it does not own: delete it, or expose another Service port", p.Name, target, why)
}

// desiredBackendTLSPolicy is the BackendTLSPolicy of a TLS upstream the gateway verifies: it
// targets the upstream's Service port by name, with the tenant's validation as it is (the
// hostname defaulted to the upstream's host) and, when the implementation has an option for
// it, the tenant's minimum TLS version.
func desiredBackendTLSPolicy(tenant *v1alpha1.GatewayTenant, d directUpstream, s v1alpha1.BackendTLSPolicySettings) *gwapiv1.BackendTLSPolicy {
	t := d.upstream.TLS
	svc, _ := splitHost(d.upstream.Host)
	section := gwapiv1.SectionName(d.portName)
	v := gwapiv1.BackendTLSPolicyValidation{
		WellKnownCACertificates: t.Validation.WellKnownCACertificates,
		Hostname:                gwapiv1.PreciseHostname(d.upstream.Host),
		SubjectAltNames:         slices.Clone(t.Validation.SubjectAltNames),
	}
	if t.Validation.Hostname != nil {
		v.Hostname = *t.Validation.Hostname
	}
	for _, ref := range t.Validation.CACertificateRefs {
		v.CACertificateRefs = append(v.CACertificateRefs, gwapiv1.LocalObjectReference{
			Group: ref.Group, Kind: gwapiv1.Kind(caRefKind(ref)), Name: gwapiv1.ObjectName(ref.Name),
		})
	}
	p := &gwapiv1.BackendTLSPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name:      backendTLSPolicyName(tenant.Name, d.upstream.Name),
			Namespace: tenant.Namespace,
			Labels:    upstreamLabels(tenant.Name, d.upstream.Name),
		},
		Spec: gwapiv1.BackendTLSPolicySpec{
			TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{
				LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: "", Kind: "Service", Name: gwapiv1.ObjectName(svc)},
				SectionName:                &section,
			}},
			Validation: v,
		},
	}
	if s.MinVersionOption != "" {
		p.Spec.Options = map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{gwapiv1.AnnotationKey(s.MinVersionOption): gwapiv1.AnnotationValue(minVersion(t))}
	}
	return p
}

// ancestorsCondition is the BackendTLSPolicyAccepted condition of an upstream from what the
// implementations reported in status.ancestors of its policy p (nil: not written yet).
// False as soon as one ancestor refuses p's current generation (Accepted, then ResolvedRefs),
// with that implementation's reason; True when every ancestor accepted it and resolved its
// references (or does not report ResolvedRefs); Unknown otherwise. A condition without an
// observedGeneration is taken as current.
func ancestorsCondition(name string, p *gwapiv1.BackendTLSPolicy) metav1.Condition {
	const typ = v1alpha1.ConditionBackendTLSPolicyAccepted
	if p == nil || len(p.Status.Ancestors) == 0 {
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonAwaitingImplementation,
			Message: fmt.Sprintf("no Gateway API implementation has reported on BackendTLSPolicy %q yet; one does once a route of its Gateway sends traffic to the Service", name)}
	}
	current := func(c *metav1.Condition) bool {
		return c != nil && (c.ObservedGeneration == 0 || c.ObservedGeneration >= p.Generation)
	}
	var accepted, pending []string
	for _, a := range p.Status.Ancestors {
		acc := meta.FindStatusCondition(a.Conditions, string(gwapiv1.PolicyConditionAccepted))
		res := meta.FindStatusCondition(a.Conditions, string(gwapiv1.BackendTLSPolicyConditionResolvedRefs))
		for _, c := range []*metav1.Condition{acc, res} {
			if current(c) && c.Status == metav1.ConditionFalse {
				return condition(typ, false, c.Reason, fmt.Sprintf("%s refuses BackendTLSPolicy %q (%s %s): %s", ancestorName(a), name, c.Type, c.Reason, c.Message))
			}
		}
		if current(acc) && acc.Status == metav1.ConditionTrue && (res == nil || current(res) && res.Status == metav1.ConditionTrue) {
			accepted = append(accepted, ancestorName(a))
		} else {
			pending = append(pending, ancestorName(a))
		}
	}
	if len(pending) > 0 {
		return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: v1alpha1.ReasonAwaitingImplementation,
			Message: fmt.Sprintf("%s %s not reported on generation %d of BackendTLSPolicy %q yet", strings.Join(pending, ", "),
				plural(len(pending), "has", "have"), p.Generation, name)}
	}
	return condition(typ, true, v1alpha1.ReasonAccepted, fmt.Sprintf("BackendTLSPolicy %q is accepted, its references resolved, by %s", name, strings.Join(accepted, ", ")))
}

// policyAcceptedCondition is the BackendTLSPolicyAccepted condition of an upstream the
// gateway verifies: Unknown while its policy is not written as the spec asks (what the
// implementation reported is about an older one), else what the implementation reported.
func policyAcceptedCondition(d directUpstream) metav1.Condition {
	if d.stored != nil && !d.written() {
		return metav1.Condition{Type: v1alpha1.ConditionBackendTLSPolicyAccepted, Status: metav1.ConditionUnknown,
			Reason: v1alpha1.ReasonAwaitingImplementation, Message: fmt.Sprintf("BackendTLSPolicy %q is being updated to the upstream's spec", d.desired.Name)}
	}
	return ancestorsCondition(d.desired.Name, d.stored)
}

// ancestorName names an ancestor as a person finds it: "Gateway <ns>/<name> (controller <c>)".
func ancestorName(a gwapiv1.PolicyAncestorStatus) string {
	ref := a.AncestorRef
	kind := "Gateway"
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	name := string(ref.Name)
	if ref.Namespace != nil {
		name = string(*ref.Namespace) + "/" + name
	}
	if ref.SectionName != nil {
		name += " listener " + string(*ref.SectionName)
	}
	return fmt.Sprintf("%s %s (controller %s)", kind, name, a.ControllerName)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// keptOnProxy are the upstreams the proxy keeps serving in BackendTLSPolicy mode: the TLS
// upstreams the gateway cannot verify (refused, or invalid) that the proxy served, at their
// last good spec, so that a switch of mode never takes away a path before its new one is in
// place.
func keptOnProxy(results []upstreamResult, last map[string]upstreamResult) []upstreamResult {
	var out []upstreamResult
	for _, r := range results {
		if good, ok := last[r.upstream.Name]; ok && r.upstream.TLS != nil && !r.valid() {
			out = append(out, good)
		}
	}
	return out
}

// keptDirect are, in Proxy mode, the TLS upstreams of the spec that have a BackendTLSPolicy of
// the tenant's (own, by upstream name) while the proxy does not serve them yet with every
// replica available (dep, the proxy Deployment as stored; last, what its configuration
// serves): they keep the policy and the NetworkPolicy straight to their pods until it does.
func keptDirect(tenant *v1alpha1.GatewayTenant, own map[string]*gwapiv1.BackendTLSPolicy, dep *appsv1.Deployment, last map[string]upstreamResult) map[string]bool {
	rolledOut := dep != nil && rolloutOf(dep).done()
	kept := map[string]bool{}
	for _, u := range tenant.Spec.Upstreams {
		if _, served := last[u.Name]; u.TLS != nil && own[u.Name] != nil && !(rolledOut && served) {
			kept[u.Name] = true
		}
	}
	return kept
}
